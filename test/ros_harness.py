"""Real-ROS test harness: nodes in separate processes, a probe node in the test process.

Nothing here mocks ROS. Processes run in their own process group so that stop_all() also
ends anything they started; every wait has a timeout and says what it waited for.
"""
from __future__ import annotations

import gc
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from support import REPO_ROOT, TEST_DIR, checkout_env, module_cmd, sim_node_cmd

from dp_ros.ros import processes
from dp_ros.ros.background_node import BackgroundNode
from dp_ros.ros.conversions import time_to_ns

__all__ = ['LATCHED', 'REPO_ROOT', 'RELIABLE', 'TEST_DIR', 'Proc', 'ProcessGroup', 'RosProbe',
           'module_cmd', 'sim_node_cmd']

# the QoS of the sim's and the node's event topics (rewards, results, diagnostics) and of
# the latched ones (episode_result, episode_start): late joiners get the last messages
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Until the process has printed `text`; fails early, with its log, if it exits."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if not self.alive():
                raise AssertionError(f'{self.name} exited: {self.log()[-2000:]}')
            if time.monotonic() > deadline:
                raise TimeoutError(f'{self.name} did not print {text!r}: {self.log()[-2000:]}')
            time.sleep(0.05)


def own_domain() -> dict[str, str]:
    """The environment of a node expected to exit at start (a refused configuration): a
    ROS domain away from the test's. A participant that appeared and exited within its
    discovery left the test's probe, alive meanwhile, unable to reach a later node's
    services: /dp_policy/change_state was listed but never available in 120 s (Fast DDS
    3.2.3 wheels, 2026-12-05: 3 of 3 pytest runs, about half of a script's runs; none
    without the short-lived node, nor with one that ran 6 s before it was stopped)."""
    return {'ROS_DOMAIN_ID': str((int(os.environ.get('ROS_DOMAIN_ID', '0')) + 116) % 232)}


class ProcessGroup:
    """Starts processes with the test's ROS environment and always cleans them up."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Proc:
        full_env = checkout_env(PYTHONUNBUFFERED='1', **(env or {}))
        log_path = self.log_dir / f'{name}.log'
        popen = processes.start_logged(argv, log_path, env=full_env, cwd=cwd or REPO_ROOT)
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 10.0) -> int | None:
        """SIGINT (as Ctrl-C in a launch), then SIGTERM, then SIGKILL of the whole group."""
        return processes.stop(proc.popen, timeout)

    def stop_all(self) -> None:
        """Ctrl-C to every process at once, then wait for each (as `ros2 launch` and
        `dp-ros sim` stop theirs): their shutdowns overlap."""
        for proc in reversed(self.procs):
            processes.interrupt(proc.popen)
        for proc in reversed(self.procs):
            processes.stop(proc.popen, interrupted=True)

    def print_logs(self, tail: int = 4000) -> None:
        for proc in self.procs:
            print(f'----- {proc.name} (rc={proc.popen.poll()}) -----\n{proc.log()[-tail:]}')


_FROZEN = []  # whether freeze_test_process ran in this process


def freeze_test_process() -> None:
    """Once per process: collect, then keep every object that exists now out of later
    collections (gc.freeze, as node_main's freeze_built_objects does for the nodes). They are
    the test process's start-up state: the modules pytest imported collecting the tests
    (torch, rclpy, numpy, ...), half a million objects in a whole run, whose full collection
    took 0.3-0.5 s (0.5-0.7 s with a test's own objects), every thread of the process stopped
    meanwhile: the probe's feeders fell silent past a node's max_input_age_s (0.4 s), which
    stopped the arm as on stale inputs. What is made afterwards is collected as usual (1 ms
    for a full collection then); an object frozen here is still freed when nothing refers to
    it, only never in a collection of cycles."""
    if not _FROZEN:
        _FROZEN.append(True)
        gc.collect()
        gc.freeze()


class RosProbe(BackgroundNode):
    """A node of the test process with its own context, spun on a background thread; the
    first one freezes the test process's start-up objects (freeze_test_process)."""

    def __init__(self, name: str):
        freeze_test_process()
        self._lock = threading.Lock()
        super().__init__(name)

    def collect(self, msg_type: Any, topic: str, qos: QoSProfile | int | None = None) -> list:
        """Subscribe and return the list that incoming messages are appended to."""
        received: list = []

        def on_msg(msg):
            with self._lock:
                received.append(msg)

        self.node.create_subscription(msg_type, topic, on_msg,
                                      qos if qos is not None else qos_profile_sensor_data)
        return received

    def publisher(self, msg_type: Any, topic: str, qos: QoSProfile | int = 10):
        return self.node.create_publisher(msg_type, topic, qos)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise TimeoutError(f'timed out after {timeout:.1f}s waiting for {what}')

    def wait_for_messages(self, received: list, count: int, timeout: float,
                          what: str = 'messages') -> list:
        self.wait_for(lambda: len(received) >= count, timeout, f'{count} {what}')
        with self._lock:
            return list(received)

    def wait_for_more(self, received: list, topic: str, more: int, timeout: float) -> list:
        """`more` messages after those in `received` now (a collect() list of `topic`). A
        timeout says what the test cannot see afterwards: how many came, how old the newest
        one's stamp is, and who publishes the topic in the graph now (a node gone quiet, or
        gone)."""
        n = len(received)
        try:
            return self.wait_for_messages(received, n + more, timeout,
                                          f'messages on {topic} ({more} more)')
        except TimeoutError as exc:
            raise TimeoutError(f'{exc}: {self.describe_silence(received, topic, n)}') from None

    def describe_silence(self, received: list, topic: str, since: int) -> str:
        with self._lock:
            newest = received[-1] if received else None
            got = len(received) - since
        stamp = getattr(getattr(newest, 'header', None), 'stamp', None)
        age = ('' if stamp is None else f', the newest stamped '
               f'{(self.node.get_clock().now().nanoseconds - time_to_ns(stamp)) / 1e9:.1f} s ago')
        writers = [f"{i.node_namespace.rstrip('/')}/{i.node_name}"
                   for i in self.node.get_publishers_info_by_topic(topic)]
        return f'{got} came{age}; publishers of {topic} in the graph: {writers}'

    def wait_for_subscribers(self, publisher, count: int = 1, timeout: float = 15.0) -> None:
        self.wait_for(lambda: publisher.get_subscription_count() >= count, timeout,
                      f'{count} subscriber(s) on {publisher.topic_name}')

    def wait_for_matched_readers(self, msg_type: Any, topic: str, count: int,
                                 timeout: float = 30.0) -> None:
        """Until `count` readers of `topic` are in the graph and matched by a reliable writer
        of this third participant (made and destroyed here): a proxy for a node's writers
        matching them, which the graph alone does not show (a reliable writer matches
        reliable and best-effort readers alike)."""
        self.wait_for(lambda: self.node.count_subscribers(topic) >= count, timeout,
                      f'{count} reader(s) of {topic} in the graph')
        writer = self.publisher(msg_type, topic, RELIABLE)
        try:
            self.wait_for_subscribers(writer, count, timeout)
        finally:
            self.node.destroy_publisher(writer)

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 15.0):
        return super().call(srv_type, name, request, timeout)

    def lifecycle_state(self, node: str = '/dp_policy', timeout: float = 60.0) -> int:
        """A lifecycle node's primary state id (lifecycle_msgs/State), from its get_state."""
        return self.call(GetState, f'{node}/get_state', GetState.Request(),
                         timeout=timeout).current_state.id

    def change_lifecycle_state(self, transition_id: int, node: str = '/dp_policy',
                               timeout: float = 120.0) -> bool:
        """Whether the lifecycle node took the transition (its change_state's success)."""
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(ChangeState, f'{node}/change_state', request, timeout=timeout).success
