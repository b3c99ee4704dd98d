"""Review tests of dp_ros/ros/node_main.py: real run_node processes (`python -c`, this checkout)
with small nodes: a configuration error is one line on stderr and exit 2, start()/finished()/
exit_code()/shutdown() are honoured, the stop flag is cleared per run, the first signal only
asks to stop, and wait_for_acks reports every topic."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from ros_harness import RELIABLE, ProcessGroup, RosProbe, module_cmd
from sensor_msgs.msg import JointState
from support import checkout_env, nonempty_lines

from dp_ros.ros.node_main import wait_for_acks

pytestmark = pytest.mark.ros

PRELUDE = textwrap.dedent('''
    import os, signal, sys
    from rclpy.node import Node
    from std_msgs.msg import String
    from dp_ros.ros import node_main
    from dp_ros.ros.node_main import run_node

    class Ticker(Node):
        """Ticks on a timer; finished after 3 ticks; exit code 3."""
        def __init__(self):
            super().__init__('review_ticker')
            self.ticks = 0
            self.create_timer(0.01, self.tick)
        def tick(self):
            self.ticks += 1
        def start(self):
            print('started', flush=True)
        def finished(self):
            return self.ticks >= 3
        def exit_code(self):
            return 3
        def shutdown(self):
            print(f'shutdown after {self.ticks} ticks', flush=True)
''')


def run_code(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', PRELUDE + textwrap.dedent(code), *args],
                          env=checkout_env(), capture_output=True, text=True, timeout=30)


def test_a_value_error_while_building_is_one_line_on_stderr_and_exit_2():
    """make_node raising ValueError: `<name>: invalid configuration: <message>` on stderr
    only, exit code 2, no traceback."""
    proc = run_code('''
        def make():
            raise ValueError('image_topics must not be empty')
        sys.exit(run_node(make, 'review_node'))
    ''')
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ''
    assert nonempty_lines(proc.stderr) == [
        'review_node: invalid configuration: image_topics must not be empty']


def test_an_invalid_topic_name_is_one_line_without_the_caret():
    """rclpy's name error spreads over lines (name, caret): reported as one line, exit 2."""
    proc = run_code('''
        def make():
            node = Node('review_topic')
            node.create_publisher(String, 'bad topic', 10)
            return node
        sys.exit(run_node(make, 'review_node'))
    ''')
    assert proc.returncode == 2, proc.stderr
    lines = nonempty_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith('review_node: invalid configuration: ') and '^' not in lines[0]
    assert 'bad topic' in lines[0]


def test_ros_arguments_rcl_cannot_parse_are_exit_2():
    """`--ros-args -p novalue` (no :=) is refused by rcl: one line, exit 2."""
    proc = run_code('sys.exit(run_node(Ticker, "review_node"))\n', '--ros-args', '-p',
                    'novalue')
    assert proc.returncode == 2, proc.stderr
    assert 'review_node: invalid arguments' in proc.stderr and 'Traceback' not in proc.stderr


def test_start_finished_exit_code_and_shutdown_are_honoured():
    """start() runs once added, the timer ticks in the executor, finished() ends spinning,
    shutdown() runs, and exit_code() is the return value."""
    proc = run_code('sys.exit(run_node(Ticker, "review_node"))\n')
    assert proc.returncode == 3, proc.stderr
    lines = nonempty_lines(proc.stdout)
    assert lines[0] == 'started' and lines[-1].startswith('shutdown after '), proc.stdout
    assert int(lines[-1].split()[2]) >= 3


def test_a_stop_request_of_one_run_does_not_stop_the_next():
    """A signal stops the first run_node; a second run_node in the same process spins until
    its own finished()."""
    proc = run_code('''
        class Stopper(Ticker):
            def start(self):
                node_main.interrupt_without_rclpy_shutdown()
                os.kill(os.getpid(), signal.SIGINT)
            def finished(self):
                return False
            def exit_code(self):
                return 0
        print('first', run_node(Stopper, 'review_node'), flush=True)
        print('second', run_node(Ticker, 'review_node'), flush=True)
    ''')
    assert proc.returncode == 0, proc.stderr
    lines = nonempty_lines(proc.stdout)
    assert 'first 0' in lines and 'second 3' in lines, proc.stdout
    second = lines[lines.index('first 0') + 1:]
    assert second[0] == 'started' and int(second[1].split()[2]) >= 3, proc.stdout


@pytest.mark.parametrize('sig', ['SIGINT', 'SIGTERM'])
def test_the_first_signal_sets_the_flag_and_the_second_raises(sig):
    """interrupt_without_rclpy_shutdown: the first signal only sets STOP_REQUESTED (nothing
    raised), the second raises KeyboardInterrupt."""
    proc = run_code(f'''
        import time
        node_main.interrupt_without_rclpy_shutdown()
        os.kill(os.getpid(), signal.{sig})
        time.sleep(0.05)
        print('flag', node_main.STOP_REQUESTED.is_set(), flush=True)
        try:
            os.kill(os.getpid(), signal.{sig})
            time.sleep(1.0)
            print('second did not raise', flush=True)
        except KeyboardInterrupt:
            print('second raised', flush=True)
    ''')
    assert proc.returncode == 0, proc.stderr
    assert nonempty_lines(proc.stdout) == ['flag True', 'second raised'], proc.stdout


def test_wait_for_acks_is_false_when_any_topic_is_unacknowledged(tmp_path):
    """A frozen subscriber on the first topic, none on the second: False, whatever the last
    topic says."""
    group = ProcessGroup(tmp_path)
    probe = RosProbe('review_ack_waiter')
    try:
        sink = group.start('sink', module_cmd('ros.flooded_node', 'reliable', 'review_ack_a'))
        sink.wait_for_log('subscribed', timeout=60)
        frozen = probe.publisher(JointState, 'review_ack_a', RELIABLE)
        free = probe.publisher(JointState, 'review_ack_b', RELIABLE)
        probe.wait_for_subscribers(frozen, timeout=30)
        sink.popen.send_signal(signal.SIGSTOP)
        for pub in (frozen, free):
            pub.publish(JointState(name=['j'], position=[0.0]))
        assert not wait_for_acks([frozen, free], 0.5)
        sink.popen.send_signal(signal.SIGCONT)
    finally:
        probe.close()
        group.stop_all()


def test_a_second_signal_while_shutting_down_waits_for_the_shutdown_to_finish():
    """A second Ctrl-C while the node shut down (the stop's delivery awaited) was a
    KeyboardInterrupt that cut node.shutdown() short and skipped rclpy.shutdown(): the
    policy node's worker, left sampling inside torch, aborted the interpreter's exit
    (SIGABRT, exit -6). It is held until the shutdown is done, then delivered."""
    proc = run_code('''
        import time, rclpy
        class Stopper(Ticker):
            def finished(self):
                return False
            def start(self):
                node_main.interrupt_without_rclpy_shutdown()
                os.kill(os.getpid(), signal.SIGINT)  # the first: a stop request
            def shutdown(self):
                os.kill(os.getpid(), signal.SIGINT)  # the second, while shutting down
                time.sleep(0.2)
                print('shutdown finished', flush=True)
        try:
            run_node(Stopper, 'review_node')
        except KeyboardInterrupt:
            print('interrupt delivered after it', flush=True)
        print(f'rclpy ok: {rclpy.ok()}', flush=True)
    ''')
    assert nonempty_lines(proc.stdout) == ['shutdown finished', 'interrupt delivered after it',
                                           'rclpy ok: False'], proc.stdout + proc.stderr


@pytest.mark.parametrize('when', ['before_the_node', 'in_the_node'])
def test_a_sigterm_while_the_node_is_built_is_a_quiet_stop(when):
    """SIGTERM during a node's start-up (the policy loading, warming up: rclpy's own handler
    shuts the context down) made the next entity rcl could not create read as 'invalid
    configuration', exit 2: a supervisor's stop reported as a configuration error."""
    proc = run_code('''
        import time
        def make():
            node = Ticker() if sys.argv[1] == 'in_the_node' else None
            os.kill(os.getpid(), signal.SIGTERM)  # rclpy's handler: the context shut down
            time.sleep(0.2)
            if node is not None:  # what the node builds next
                node.create_publisher(String, 'late', 10)
            return node or Ticker()
        sys.exit(run_node(make, 'review_node'))
    ''', when)
    assert proc.returncode == 0 and 'invalid configuration' not in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr, proc.stderr


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_stop_inside_the_executors_construction_is_a_quiet_stop(sig):
    """A stop that lands inside SingleThreadedExecutor.__init__ (a command stopping the sim
    it had just started: a CI run of arm-record) left a half-made executor whose __del__
    printed "AttributeError: ... no attribute '_sigint_gc'" at exit (SIGTERM: rclpy's
    handler, on whichever thread the kernel picked, shut the context down under it). Now a
    stop that came while rclpy and the executor were made ends the run quietly, exit 0, before
    the node is built. The signal is sent from inside the executor's guard condition, the
    last thing its __init__ makes."""
    proc = run_code('''
        import rclpy.executors
        made = rclpy.executors.SignalHandlerGuardCondition
        def signalled(*args, **kwargs):
            os.kill(os.getpid(), int(sys.argv[1]))
            return made(*args, **kwargs)
        rclpy.executors.SignalHandlerGuardCondition = signalled
        def make():
            print('made', flush=True)
            return Ticker()
        try:
            code = run_node(make, 'review_node')
        except KeyboardInterrupt:
            code = 'interrupt escaped'
        print(f'exit {code}', flush=True)
    ''', str(int(sig)))
    assert proc.returncode == 0, proc.stderr
    assert nonempty_lines(proc.stdout) == ['exit 0'], proc.stdout + proc.stderr
    assert proc.stderr == ''
