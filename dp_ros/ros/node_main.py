"""The one `main()` of every dp_ros node executable: init, build, spin, shut down cleanly.

A configuration error (ValueError, a bad parameter or name; a ROS_DOMAIN_ID or
RMW_IMPLEMENTATION rcl cannot use, checked before rclpy.init) is one line on stderr naming the
problem and exit code 2, never a traceback. An RMW_IMPLEMENTATION rcl cannot load ends the
process as rclpy is imported (exit 102), before this module runs: the node executables check
it first (processes.run_node_executable). A node may define `start()` (called once it is
in the executor), `shutdown()` (called before it is destroyed) and `finished()` (spinning stops
when it returns True, e.g. a worker thread that ended); `exit_code()` gives the return value.

A stop (Ctrl-C, SIGTERM) while rclpy and the executor are made ends the run quietly, exit 0,
before the node is built; rclpy's own signal handlers go in after them.

Spinning is spin_once with a short timeout, so a stop request (a flag the signal handler of
interrupt_without_rclpy_shutdown sets) and finished() are seen within 0.1 s even when no
message arrives.

Once a node has started, what it built (torch, the policy, the messages: about 330,000
objects for the policy node) is frozen out of Python's cyclic garbage collector
(freeze_built_objects). The interpreter's exit made several full collections of them: the
policy node took 1.1 s from Ctrl-C to exit, 0.3 s frozen (this machine). A full collection
while running would hold the GIL about 0.16 s; none ran in 3,000 chunks sampled in steady
state, so this is a guard, not a measured gain there.
"""
from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.duration import Duration
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.signals import SignalHandlerOptions, install_signal_handlers, uninstall_signal_handlers

from dp_ros.errors import UserError
from dp_ros.held_signals import STOP_SIGNALS, signals_held_back, signals_noted
from dp_ros.ros import clock_guard
from dp_ros.ros.processes import check_ros_environment

CONFIG_ERRORS = (ValueError, ParameterException, NameValidationException)
SPIN_PERIOD_S = 0.1
# s a node that finished itself keeps spinning before it is destroyed: the reply of the
# service call that finished it (the lifecycle's shutdown transition) reaches the caller;
# destroyed at once, its writer dropped the unacknowledged reply and the caller waited out
# its timeout (seen in a loaded CI run)
FINISHED_LINGER_S = 0.5
# set by the first Ctrl-C / SIGTERM once interrupt_without_rclpy_shutdown() is installed
STOP_REQUESTED = threading.Event()


def run_node(make_node: Callable[[], Node], name: str, argv: list[str] | None = None) -> int:
    args = sys.argv if argv is None else [name, *argv]
    try:  # rcl's own errors for these are misleading ('invalid arguments') or a log line only
        check_ros_environment(os.environ)
    except UserError as exc:
        print(f'{name}: {exc}', file=sys.stderr)
        return 2
    # rclpy's signal handlers go in once the executor is whole: a stop inside the executor's
    # __init__ (a command stopping the sim it had just started, seen in CI) shut the context
    # down under it (rclpy's handler runs on whichever thread the kernel picks) or raised
    # there, and the half-made executor's __del__ printed an AttributeError traceback at
    # exit. A stop that came meanwhile ends the run before the node is built: exit 0
    with signals_noted(STOP_SIGNALS) as came:
        try:
            rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        except RCLError as exc:  # --ros-args rcl cannot parse, e.g. -p names:=[x,y] (y: bool)
            print(f'{name}: invalid arguments: {exc}', file=sys.stderr)
            return 2
        STOP_REQUESTED.clear()
        clock_guard.install()  # before the node subscribes to /clock (use_sim_time)
        executor = SingleThreadedExecutor()
    node = None
    try:
        install_signal_handlers(SignalHandlerOptions.ALL)  # what rclpy.init installs by default
        if came:
            return 0
        try:
            node = make_node()
        except Exception as exc:
            if not rclpy.ok():  # SIGTERM while the node was built (a policy loading, warming
                return 0  # up): rclpy's own handler shut the context down, so what was built
                # next failed (RCLError, NotInitializedException): a stop, as Ctrl-C's
            if isinstance(exc, CONFIG_ERRORS):
                print(f'{name}: invalid configuration: {one_line(exc)}', file=sys.stderr)
                return 2
            if isinstance(exc, RCLError):  # what rcl refuses to create, e.g. one topic
                print(f'{name}: invalid configuration: rcl refused an entity: '  # under two
                      f'{one_line(exc)}', file=sys.stderr)  # types
                return 2
            raise
        executor.add_node(node)
        if hasattr(node, 'start'):
            node.start()
        freeze_built_objects()
        finished = getattr(node, 'finished', lambda: False)
        while rclpy.ok() and not STOP_REQUESTED.is_set() and not finished():
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
        if finished():  # a service ended it (the lifecycle's shutdown): its reply was only
            linger(executor, FINISHED_LINGER_S)  # handed to DDS, which drops it at once
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # a second Ctrl-C here (while the stop's delivery is awaited) came as a
        # KeyboardInterrupt that skipped the rest: the worker left sampling inside torch and
        # rclpy not shut down, the interpreter's exit aborted (SIGABRT, exit -6). Bounded
        # (the acknowledgement budget, the worker's close, the executor's): held back, then
        # delivered
        with signals_held_back():
            if node is not None:
                if hasattr(node, 'shutdown'):
                    node.shutdown()
                executor.remove_node(node)
                node.destroy_node()
            executor.shutdown(timeout_sec=1.0)
            if rclpy.ok():
                rclpy.shutdown()
                uninstall_signal_handlers()  # as rclpy.shutdown does after a default init
    exit_code = getattr(node, 'exit_code', None)
    return int(exit_code()) if exit_code is not None else 0


def linger(executor: SingleThreadedExecutor, seconds: float) -> None:
    """Spin `seconds` more (the acknowledgements of what was sent last), unless stopped."""
    deadline = time.monotonic() + seconds
    while rclpy.ok() and not STOP_REQUESTED.is_set() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=min(SPIN_PERIOD_S, max(deadline - time.monotonic(), 0)))


def one_line(exc: Exception) -> str:
    """The message on one line: rclpy's name errors add the name and a caret on lines of
    their own (a topic name rcl refuses when the publisher is made)."""
    lines = [line.strip() for line in str(exc).splitlines()]
    return ' '.join(line for line in lines if line and set(line) != {'^'})


def freeze_built_objects() -> None:
    """Collect once, then keep every object that exists now out of later collections (they
    are start-up state that lives as long as the node; what is made afterwards is collected
    as usual). A node that releases such state (the lifecycle node's cleanup) calls
    gc.unfreeze() first, so that its cycles can be collected."""
    gc.collect()
    gc.freeze()


def interrupt_without_rclpy_shutdown() -> None:
    """Ctrl-C / SIGTERM stop spinning with the context still valid, so shutdown() can publish
    the hold (rclpy's own handlers shut the context down first).

    The first signal only sets STOP_REQUESTED: an exception raised wherever the signal lands
    can surface inside rclpy's bindings as another error (a flood of messages made 8 of 30
    Ctrl-Cs end in "RuntimeError: Unable to convert call argument '0'" from take_message, a
    traceback instead of a clean stop). A second signal raises KeyboardInterrupt, for a
    process stuck in a callback.
    """
    def request_stop(*_):
        if STOP_REQUESTED.is_set():
            raise KeyboardInterrupt
        STOP_REQUESTED.set()

    uninstall_signal_handlers()
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def wait_for_acks(publishers: Iterable[Publisher], budget_s: float) -> bool:
    """Until every reliable subscriber has acknowledged what `publishers` sent (a stop
    delivered before the node goes), or budget_s has passed in all: one unresponsive
    subscriber on each of several topics cost the budget once per topic. True when all
    acknowledged."""
    deadline = time.monotonic() + budget_s
    acked = True
    for publisher in publishers:
        left_ns = max(0, int((deadline - time.monotonic()) * 1e9))  # 0 checks, never blocks
        acked = publisher.wait_for_all_acked(Duration(nanoseconds=left_ns)) and acked
    return acked
