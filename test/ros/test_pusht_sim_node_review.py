"""Review of sim_bridge/pusht_sim_node.py's wiring (hand mutation testing): what
test_pusht_sim_node.py and test_node_parameter_checks.py left unpinned.

The sim in its own process, the probe as the policy. Asserted: the QoS of its topics as the
graph shows them (the camera best effort, the commands reliable, results latched), the
waiting observation republished in lockstep, a lockstep wait without any deadline woken by
the trajectory itself, an initial state set at run time, a realtime reset. Order, counts and
stamps, never timing.
"""
from __future__ import annotations

import json

import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
from ros.test_pusht_sim_node import (
    NS,
    RELIABLE,
    Streams,
    start_sim,
    start_sim_when_heard,
)
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from dp_ros.ros.conversions import time_to_ns

pytestmark = pytest.mark.ros

DT_NS = 100_000_000


def test_the_topics_qos_as_the_graph_shows_them(ros_processes, ros_probe):
    """Camera: best effort (sensor data: a late frame is worth nothing); joint states and
    trajectories reliable (a lost chunk is a lost command); results and episode starts
    latched (a late joiner learns the running episode)."""
    start_sim(ros_processes, 'sim_qos', 'autostart:=false')
    node = ros_probe.node

    def info(kind: str, topic: str):
        get = getattr(node, f'get_{kind}_info_by_topic')
        ros_probe.wait_for(lambda: any(i.node_name == 'pusht_sim' for i in get(topic)), 60.0,
                           f'the sim\'s {kind} on {topic}')
        return next(i.qos_profile for i in get(topic) if i.node_name == 'pusht_sim')

    assert info('publishers', f'{NS}/image_raw').reliability == ReliabilityPolicy.BEST_EFFORT
    assert info('publishers', f'{NS}/joint_states').reliability == ReliabilityPolicy.RELIABLE
    assert info('subscriptions', f'{NS}/joint_trajectory').reliability == \
        ReliabilityPolicy.RELIABLE
    for topic in (f'{NS}/episode_result', f'{NS}/episode_start'):
        assert info('publishers', topic).durability == DurabilityPolicy.TRANSIENT_LOCAL, topic


def test_lockstep_republishes_the_waiting_observation(ros_processes, ros_probe):
    """While a lockstep step waits for its action, its observation goes out again every
    obs_republish_period_s (late subscribers get it): the same stamp, several times."""
    joints = ros_probe.collect(JointState, f'{NS}/joint_states', RELIABLE)
    start_sim(ros_processes, 'sim_republish', 'seeds:=[7]', 'action_wait_timeout_s:=0.0',
              'obs_republish_period_s:=0.2')  # start_sim's 0.3 s first, then this one
    ros_probe.wait_for(lambda: sum(time_to_ns(m.header.stamp) == 0 for m in list(joints)) >= 3,
                       60.0, 'the step-0 observation three times')
    assert {time_to_ns(m.header.stamp) for m in list(joints)} == {0}  # no step without action


def test_a_trajectory_wakes_a_lockstep_wait_without_any_deadline(ros_processes, ros_probe):
    """action_wait_timeout_s 0 (wait forever) and obs_republish_period_s 0 (never): the
    waiting step has no deadline to wake it, only the trajectory that brings its action."""
    streams = Streams(ros_probe)
    start_sim_when_heard(ros_processes, streams, 'sim_no_deadline', 'seeds:=[7]',
                         'max_steps:=3', 'auto_reset:=false', 'action_wait_timeout_s:=0.0',
                         'obs_republish_period_s:=0.0')  # started once both hear each other
    streams.joint_at(0, timeout=30.0)
    streams.send([[200.0, 300.0]] * 3, 0)  # steps 0, 1, 2 in one chunk
    for k in (1, 2, 3):
        streams.joint_at(k * DT_NS, timeout=30.0)
    result = streams.result(timeout=30.0)[-1]
    assert result == {**result, 'seed': 7, 'steps': 3, 'reason': 'max_steps',
                      'action_timeouts': 0}


def test_an_initial_state_set_at_run_time_starts_the_next_episode(ros_processes, ros_probe):
    """initial_state set through set_parameters applies from the next episode: its step 0
    has the agent where the state puts it (not the seed's random start)."""
    streams = Streams(ros_probe)
    start_sim(ros_processes, 'sim_initial_state', 'autostart:=false', 'seeds:=[3]',
              'action_wait_timeout_s:=0.0')
    node = ros_probe.node
    ros_probe.wait_for(lambda: node.count_publishers(f'{NS}/joint_states') >= 1, 60.0,
                       'the sim publishers')
    state = [150.0, 400.0, 300.0, 300.0, 0.5]  # agent x, y; block x, y, angle
    request = SetParameters.Request(parameters=[Parameter(name='initial_state', value=(
        ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=state)))])
    (result,) = ros_probe.call(SetParameters, f'{NS}/pusht_sim/set_parameters', request,
                               timeout=30.0).results
    assert result.successful, result.reason
    reply = ros_probe.call(Trigger, f'{NS}/reset', Trigger.Request())
    assert reply.success, reply.message
    first = streams.joint_at(0, timeout=30.0)  # republished while it waits: never missed
    assert list(first.position[:2]) == pytest.approx(state[:2], abs=1e-6), list(first.position)


def test_realtime_a_reset_mid_episode_runs_the_next_episode(ros_processes, ros_probe):
    """Realtime: ~/reset mid-episode ends it (reason reset) and the worker steps the new
    episode from its own step 0 tick to its end (a tick of the old episode never fits it)."""
    streams = Streams(ros_probe)
    start_sim_when_heard(ros_processes, streams, 'sim_rt_reset', 'mode:=realtime',
                         'seeds:=[5, 6]', 'max_steps:=200', 'auto_reset:=false')
    ros_probe.wait_for_messages(streams.joints, 3, 30.0, 'steps of the first episode')
    reply = ros_probe.call(Trigger, f'{NS}/reset', Trigger.Request())
    assert reply.success and 'seed=6' in reply.message, reply.message
    first = streams.result(1)[0]
    assert first == {**first, 'seed': 5, 'reason': 'reset'}
    starts = ros_probe.wait_for_messages(streams.starts, 2, 10.0, 'the second episode start')
    start_ns = json.loads(starts[-1].data)['start_ns']
    # steps of the new episode, on its own grid, keep coming
    ros_probe.wait_for(lambda: sum(time_to_ns(m.header.stamp) >= start_ns + 3 * DT_NS
                                   for m in list(streams.joints)) >= 3, 30.0,
                       'steps of the second episode')
