"""`dp-ros node`: a policy node's services from the pip-only environment (no `ros2` command):
~/enable, ~/reset and the managed node's lifecycle transitions, each a real process against
a real node; a node that is not there is one line and exit 2, a refusal exit 1."""
from __future__ import annotations

import pytest
from ros.test_policy_lifecycle_node import lifecycle_cmd
from ros.test_policy_node import Feeder
from support import module_cmd

pytestmark = pytest.mark.ros


def dp_ros_node(ros_processes, *args: str, env: dict[str, str] | None = None
                ) -> tuple[int, str]:
    """`dp-ros node ARGS` in a process of its own: (exit code, its output)."""
    proc = ros_processes.start('control', module_cmd('dp_ros.cli', 'node', *args), env=env)
    code = proc.popen.wait(120)
    return code, proc.log()


def test_the_managed_node_is_driven_through_its_lifecycle_and_enable(ros_processes, ros_probe,
                                                                     checkpoint):
    node = ros_processes.start('lifecycle', lifecycle_cmd(checkpoint, start_enabled=False))
    feeder = Feeder(ros_probe)
    try:
        ros_probe.wait_for(lambda: '/dp_policy/get_state' in dict(
            ros_probe.node.get_service_names_and_types()), 60.0, 'the lifecycle services')
        assert dp_ros_node(ros_processes, 'state') == (0, '/dp_policy: unconfigured\n')
        # unconfigured: no ~/enable yet; said so (it waited the whole timeout, then asked
        # whether the node runs at all)
        code, said = dp_ros_node(ros_processes, 'enable', '--timeout', '60')
        assert code == 2 and said.strip().splitlines() == [
            "dp-ros node: /dp_policy is the managed node (policy_lifecycle_node) in state "
            "'unconfigured': its ~/enable exists once it is configured (dp-ros node configure "
            '--node /dp_policy; then activate; `dp-ros node state` tells where it is)'], said
        assert dp_ros_node(ros_processes, 'configure')[0] == 0, node.log()
        code, said = dp_ros_node(ros_processes, 'enable')  # inactive: refused, said why
        assert code == 1 and 'not active' in said, said
        assert dp_ros_node(ros_processes, 'activate') == (0, '/dp_policy: activate done\n')
        code, said = dp_ros_node(ros_processes, 'enable')
        assert code == 0 and said.startswith('/dp_policy: '), said
        assert dp_ros_node(ros_processes, 'reset')[0] == 0, node.log()
        assert dp_ros_node(ros_processes, 'disable')[0] == 0, node.log()
        code, said = dp_ros_node(ros_processes, 'activate')  # active already: no transition
        assert code == 1 and 'activate refused' in said, said
        assert dp_ros_node(ros_processes, 'state') == (0, '/dp_policy: active\n')
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_a_node_that_is_not_there_is_one_line_and_exit_2(ros_processes):
    code, said = dp_ros_node(ros_processes, 'enable', '--node', 'nobody', '--timeout', '1')
    assert code == 2, said
    assert said.strip().splitlines() == [
        'dp-ros node: service /nobody/enable not available after 1 s: is the policy node '
        'running as /nobody (--node), in this ROS_DOMAIN_ID and discovery range?'], said


def test_a_domain_id_rcl_cannot_use_is_one_line_and_exit_2(ros_processes):
    """As every dp-ros command that starts ROS: not Fast DDS's log line and exit 1 (which
    says 'refused')."""
    code, said = dp_ros_node(ros_processes, 'state', '--timeout', '1',
                             env={'ROS_DOMAIN_ID': '999'})
    assert code == 2 and said.strip().splitlines() == [
        "dp-ros node: ROS_DOMAIN_ID='999' is not a domain id: set it to a whole number from 0 "
        'to 232, or unset it (0)'], said


SLOW_RESET = '''
import time, rclpy
from std_srvs.srv import Trigger
rclpy.init()
node = rclpy.create_node('slow')
def answer(request, response):
    time.sleep(120)  # a node busy (a configure loading the policy holds its executor)
    response.success = True
    return response
node.create_service(Trigger, '/slow/reset', answer)
rclpy.spin(node)
'''


def test_a_node_that_is_there_but_slow_to_answer_is_exit_3_not_absent(ros_processes,
                                                                        ros_probe):
    """A reply timeout was told as 'is the node running?', exit 2, like a node that is not
    there: a `configure && activate` script stopped though the configure went on."""
    import sys

    ros_processes.start('slow', [sys.executable, '-c', SLOW_RESET])
    ros_probe.wait_for(lambda: '/slow/reset' in dict(
        ros_probe.node.get_service_names_and_types()), 60.0, 'the slow service')
    # the timeout covers finding the service too: long enough for a loaded machine's
    # discovery (a CI run: 2 s was not), far shorter than the answer's 120 s
    code, said = dp_ros_node(ros_processes, 'reset', '--node', '/slow', '--timeout', '20')
    assert code == 3, said
    assert 'no reply from /slow/reset after 20 s: /slow is there and has not answered yet' \
        in said, said


@pytest.mark.parametrize('name', ['/dp-policy', '/1abc', '/a//b', 'left policy'])
def test_a_node_name_ros_cannot_take_is_one_line_exit_2(ros_processes, name):
    """'/dp-policy' (a hyphen: the command is dp-ros) was rclpy's traceback and exit 1."""
    code, said = dp_ros_node(ros_processes, 'state', '--node', name, '--timeout', '1')
    assert code == 2 and said.strip().splitlines() == [
        f"dp-ros node: --node {name!r} is not a node name (letters, digits and underscores, a "
        "token not starting with a digit, '/' between them: e.g. /dp_policy, "
        '/left/dp_policy)'], said


SLOW_CONFIGURE = '''
import time, rclpy
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import SetBool

class Slow(LifecycleNode):
    """As policy_lifecycle_node: ~/enable made by a configure that takes a while (a policy
    loading and warming up), which holds the single-threaded executor."""
    def __init__(self):
        super().__init__('slow_policy')
    def on_configure(self, state):
        print('configuring', flush=True)
        time.sleep(6.0)
        self.create_service(SetBool, '~/enable', self.on_enable)
        return TransitionCallbackReturn.SUCCESS
    def on_enable(self, request, response):
        response.success, response.message = True, 'enabled'
        return response

rclpy.init()
executor = SingleThreadedExecutor()
executor.add_node(Slow())
executor.spin()
'''


def test_enable_while_the_managed_node_configures_waits_for_it(ros_processes, ros_probe):
    """A launch's autostart configures the node while `dp-ros node enable` is given: its
    get_state was there without ~/enable, and the managed-node check said it was in state
    'unknown' and exited 2 where the call, waiting, would have been answered."""
    import sys

    slow = ros_processes.start('slow', [sys.executable, '-c', SLOW_CONFIGURE])
    ros_probe.wait_for(lambda: '/slow_policy/get_state' in dict(
        ros_probe.node.get_service_names_and_types()), 60.0, 'the lifecycle services')
    configure = ros_processes.start('configure', module_cmd(
        'dp_ros.cli', 'node', 'configure', '--node', '/slow_policy', '--timeout', '120'))
    ros_probe.wait_for(lambda: 'configuring' in slow.log(), 60.0, 'the configure to begin')
    code, said = dp_ros_node(ros_processes, 'enable', '--node', '/slow_policy', '--timeout',
                             '60')
    assert code == 0 and said.strip() == '/slow_policy: enabled', said
    assert configure.popen.wait(60) == 0, configure.log()
