"""What the nodes make of the parameters they are given, each node in its own process.

A name the node does not declare (a misspelt limit, on the command line or in a parameter
file's `/**:` block) and a topic name rcl would refuse end the process at start: one line
naming the parameter, exit 2 (rclpy kept the misspelt name aside without a word, and the
policy node loaded the model before a bad topic failed in a traceback-like three lines).
rclpy's own names pass. The sim's run-time max_steps takes only an integer in its range
(rclpy checks the range of an integer alone: 0.5 became 0, 'abc' ended the sim), and a
refused value in an atomic set applies none of the others.
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import time

import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters, SetParametersAtomically
from ros.test_policy_node import node_cmd
from ros_harness import LATCHED, ProcessGroup, module_cmd, sim_node_cmd
from std_msgs.msg import String

pytestmark = pytest.mark.ros

NS = '/param_checks'
SIM = f'{NS}/pusht_sim'
POLICY_MODULES = ['dp_ros.ros.policy_node', 'dp_ros.ros.policy_lifecycle_node']


def policy_cmd(module: str, checkpoint, **params) -> list[str]:
    cmd = node_cmd(checkpoint, **params)
    return [*cmd[:2], module, *cmd[3:]]


SIM_TOPIC_PARAMS = ['image_topic:=cam-era', 'reset_service:=re//set']


@pytest.fixture(scope='module')
def refused(tmp_path_factory, checkpoint):
    """Every start this module expects refused, all started at once (each its own process,
    its own log; a refused one exits at start, so none waits on another), keyed by test.
    All have exited (or are stopped) before the fixture returns: none is left to meet the
    run-time tests' sim."""
    root = tmp_path_factory.mktemp('refused')
    typo_file = root / 'typo.yaml'
    typo_file.write_text('/**:\n  ros__parameters:\n    mode: realtime\n    max_step: 3\n')
    commands = {
        'sim_typo': sim_node_cmd('mode:=realtime', 'max_stepz:=3', namespace=NS),
        'sim_file_typo': module_cmd('sim_bridge.pusht_sim_node', '--ros-args', '-r',
                                    f'__ns:={NS}', '--params-file', str(typo_file)),
        'policy_types': policy_cmd('dp_ros.ros.policy_node', checkpoint,
                                   episode_start_topic='/diagnostics'),
    }
    for module in POLICY_MODULES:
        commands[f'policy_typo {module}'] = policy_cmd(module, checkpoint, max_velocty=0.001)
        commands[f'policy_topic {module}'] = policy_cmd(
            module, checkpoint, action_topic='/arm/joint-trajectory')
    for param in SIM_TOPIC_PARAMS:
        commands[f'sim_topic {param}'] = sim_node_cmd(param, namespace=NS)
    group = ProcessGroup(root / 'proc_logs')
    procs = {key: group.start(key.replace(' ', '_').replace('/', '_').replace(':', '_'), cmd)
             for key, cmd in commands.items()}
    try:
        deadline = time.monotonic() + 60.0  # refused_at_start asserts each exit code
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
        yield procs
    finally:
        group.stop_all()


def refused_at_start(proc) -> str:
    """The one line of a start refused for its configuration (exit 2, no traceback). A start
    that has not ended after two minutes more fails naming how far its log got (one that
    loads the policy first is slow on a loaded machine: nine start at once)."""
    try:
        code = proc.popen.wait(120)
    except subprocess.TimeoutExpired:
        pytest.fail(f'{proc.name} still running after the fixture\'s minute and 120 s more; '
                    f'its log ends: {proc.log()[-3000:]}')
    assert code == 2, proc.log()[-3000:]
    log = proc.log()
    lines = [line for line in log.splitlines() if 'invalid configuration' in line]
    assert len(lines) == 1 and 'Traceback' not in log, log
    assert log.strip().splitlines()[-1] == lines[0], log  # nothing after it: one line
    return lines[0]


# --- names the node does not declare ---------------------------------------------------------

def test_a_misspelt_sim_parameter_ends_the_sim_naming_the_closest(refused):
    line = refused_at_start(refused['sim_typo'])
    assert "unknown parameter(s) ['max_stepz']" in line and 'did you mean max_steps' in line


def test_a_misspelt_key_in_a_parameter_files_wildcard_block_is_refused(refused):
    line = refused_at_start(refused['sim_file_typo'])
    assert "['max_step'] for node /param_checks/pusht_sim" in line
    assert 'did you mean max_steps' in line


@pytest.mark.parametrize('module', POLICY_MODULES)
def test_a_misspelt_policy_limit_ends_the_node_before_the_policy_loads(refused, module):
    proc = refused[f'policy_typo {module}']
    line = refused_at_start(proc)
    assert "['max_velocty']" in line and 'did you mean max_velocity' in line
    assert 'warm-up' not in proc.log()


def test_rclpys_own_parameters_and_the_deprecated_name_still_load(ros_processes, ros_probe,
                                                                  tmp_path):
    """use_sim_time, a QoS override (declared with its publisher, later) and control_rate_hz
    (declared by the sim apart from its config) are names the node knows."""
    path = tmp_path / 'own.yaml'
    path.write_text('/**/pusht_sim:\n  ros__parameters:\n    use_sim_time: false\n'
                    '    control_rate_hz: 10\n    qos_overrides:\n      /clock:\n'
                    '        publisher:\n          depth: 5\n')
    proc = ros_processes.start('sim_own', module_cmd(
        'sim_bridge.pusht_sim_node', '--ros-args', '-r', f'__ns:={NS}', '--params-file',
        str(path), '-p', 'autostart:=false'))
    proc.wait_for_log('Push-T sim', 60.0)
    assert proc.alive()


# --- topic names rcl refuses -----------------------------------------------------------------

@pytest.mark.parametrize('module', POLICY_MODULES)
def test_a_bad_topic_name_ends_the_policy_node_before_the_policy_loads(refused, module):
    """The lifecycle node started fine and failed each configure silently, after loading."""
    proc = refused[f'policy_topic {module}']
    line = refused_at_start(proc)
    assert "parameter action_topic: '/arm/joint-trajectory' is not a valid topic name" in line
    assert 'warm-up' not in proc.log()


def test_a_topic_rcl_refuses_for_a_second_message_type_is_one_line(refused):
    """Defect: the plain node ended in a traceback (the managed one's configure test:
    test_lifecycle_configure_failure.py)."""
    assert 'rcl refused an entity' in refused_at_start(refused['policy_types'])


@pytest.mark.parametrize('param, message', [
    (SIM_TOPIC_PARAMS[0], "parameter image_topic: 'cam-era' is not a valid topic name"),
    (SIM_TOPIC_PARAMS[1], "parameter reset_service: 're//set' is not a valid service "
                          'name'),
])
def test_a_bad_sim_topic_or_service_name_is_one_line_naming_the_parameter(refused, param,
                                                                          message):
    assert message in refused_at_start(refused[f'sim_topic {param}'])


# --- the sim's run-time parameters -----------------------------------------------------------

def integer(value: int) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)


def start_realtime_sim(ros_processes):
    """A sim stepping 20-step episodes at 10 Hz, one after the other."""
    proc = ros_processes.start('sim_runtime', sim_node_cmd('mode:=realtime', 'max_steps:=20',
                                                           namespace=NS))
    proc.wait_for_log('Push-T sim', 60.0)
    return proc


def set_max_steps(probe, value: ParameterValue) -> tuple[bool, str]:
    request = SetParameters.Request(parameters=[Parameter(name='max_steps', value=value)])
    (result,) = probe.call(SetParameters, f'{SIM}/set_parameters', request, timeout=30.0).results
    return result.successful, result.reason


def max_steps(probe) -> ParameterValue:
    request = GetParameters.Request(names=['max_steps'])
    return probe.call(GetParameters, f'{SIM}/get_parameters', request).values[0]


def test_run_time_max_steps_is_an_integer_in_range_and_an_atomic_set_is_all_or_nothing(
        ros_processes, ros_probe):
    """0.5 was taken and cut to 0 (while get_parameters said 0.5), 'abc' ended the sim.
    Then, on the same sim (the refused values changed nothing, checked): max_steps 3 was
    applied before initial_state was refused: 3-step episodes while get_parameters said 20."""
    results = ros_probe.collect(String, f'{NS}/episode_result', LATCHED)
    proc = start_realtime_sim(ros_processes)
    for value in (ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=0.5),
                  ParameterValue(type=ParameterType.PARAMETER_STRING, string_value='abc'),
                  ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=True),
                  integer(0)):
        ok, reason = set_max_steps(ros_probe, value)
        assert not ok and 'max_steps' in reason, (value, reason)
    assert max_steps(ros_probe) == integer(20)
    assert proc.alive() and 'Traceback' not in proc.log()

    seen = len(results)
    request = SetParametersAtomically.Request(parameters=[
        Parameter(name='max_steps', value=integer(3)),
        Parameter(name='initial_state', value=ParameterValue(
            type=ParameterType.PARAMETER_DOUBLE_ARRAY,
            double_array_value=[9999.0, 0.0, 0.0, 0.0, 0.0]))])
    reply = ros_probe.call(SetParametersAtomically, f'{SIM}/set_parameters_atomically',
                           request, timeout=30.0)
    assert not reply.result.successful and 'initial_state' in reply.result.reason
    assert max_steps(ros_probe) == integer(20)
    ended = ros_probe.wait_for_messages(results, seen + 1, 30.0, 'the next episode end')
    assert json.loads(ended[seen].data)['steps'] == 20, ended[seen].data

    assert set_max_steps(ros_probe, integer(4)) == (True, '')  # a valid one applies at once
    seen = len(results)
    ended = ros_probe.wait_for_messages(results, seen + 2, 30.0, 'two more episode ends')
    assert json.loads(ended[seen + 1].data)['steps'] == 4, ended[seen + 1].data
    assert proc.alive() and 'Traceback' not in proc.log()


def test_qos_overrides_in_the_parameters_change_the_topics_qos(ros_processes, ros_probe,
                                                               checkpoint):
    """Defect: qos_overrides.* passed the unknown-parameter check but no publisher or
    subscription took them: a QoS meant to match a driver was silently not applied."""
    from rclpy.qos import ReliabilityPolicy

    sim = ros_processes.start('sim', sim_node_cmd(
        f'qos_overrides.{NS}/image_raw.publisher.reliability:=reliable', namespace=NS))
    policy = ros_processes.start('policy', node_cmd(checkpoint, **{
        'qos_overrides./arm/joint_states.subscription.reliability': 'reliable'}))

    def qos(kind: str, topic: str, node: str):
        get = getattr(ros_probe.node, f'get_{kind}_info_by_topic')
        ros_probe.wait_for(lambda: any(i.node_name == node for i in get(topic)), 90.0,
                           f'the {kind} of {node} on {topic}')
        return next(i.qos_profile for i in get(topic) if i.node_name == node)

    camera = qos('publishers', f'{NS}/image_raw', 'pusht_sim')
    assert camera.reliability == ReliabilityPolicy.RELIABLE  # sensor data: best effort
    joints = qos('subscriptions', '/arm/joint_states', 'dp_policy')
    assert joints.reliability == ReliabilityPolicy.RELIABLE  # the node's default: best effort
    assert sim.alive() and policy.alive()
