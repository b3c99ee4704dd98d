"""A realtime sim refuses sim time (use_sim_time:=true), at start and at run time.

A realtime sim paces its steps on the node clock. On sim time that clock stays at 0 without a
/clock publisher (the sim publishes /clock only in lockstep): it published step 0's
observation and then waited for ever, alive and silent (a global `/**: use_sim_time: true`
file, or the policy node's lockstep flags copied, got there). It now exits 2 at start with
one line, as the policy node refuses lockstep without use_sim_time, and refuses the
parameter set at run time.
"""
from __future__ import annotations

import time

import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros.test_pusht_sim_node import NS, Streams, start_sim

from dp_ros.ros.conversions import time_to_ns

pytestmark = pytest.mark.ros

REFUSAL = ('pusht_sim: invalid configuration: parameter use_sim_time:=true needs '
           'mode:=lockstep')


def sim_time(value: bool) -> SetParameters.Request:
    return SetParameters.Request(parameters=[Parameter(name='use_sim_time', value=ParameterValue(
        type=ParameterType.PARAMETER_BOOL, bool_value=value))])


def test_a_realtime_sim_on_sim_time_refuses_to_start_in_one_line(ros_processes):
    proc = start_sim(ros_processes, 'sim_rt_sim_time', 'mode:=realtime', 'use_sim_time:=true',
                     'seeds:=[1]', 'max_steps:=5')
    assert proc.popen.wait(timeout=60) == 2, proc.log()
    lines = [line for line in proc.log().splitlines() if line.strip()]
    assert lines[-1].startswith(REFUSAL), lines
    assert 'Traceback' not in proc.log()


def test_a_running_realtime_sim_refuses_sim_time_and_keeps_stepping(ros_processes, ros_probe):
    streams = Streams(ros_probe)
    proc = start_sim(ros_processes, 'sim_rt_set_sim_time', 'mode:=realtime', 'seeds:=[1]',
                     'max_steps:=1000')
    ros_probe.wait_for_messages(streams.joints, 1, 30.0)
    (result,) = ros_probe.call(SetParameters, f'{NS}/pusht_sim/set_parameters', sim_time(True),
                               timeout=30.0).results
    assert not result.successful and result.reason.startswith(REFUSAL.split(': ', 2)[2])
    (result,) = ros_probe.call(SetParameters, f'{NS}/pusht_sim/set_parameters', sim_time(False),
                               timeout=30.0).results
    assert result.successful, result.reason
    seen = len(streams.joints)
    deadline = time.monotonic() + 15.0
    while len(streams.joints) < seen + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stamps = [time_to_ns(m.header.stamp) for m in list(streams.joints)[seen:]]
    assert len(stamps) >= 3 and stamps == sorted(stamps) and stamps[0] > 0, stamps
    assert proc.alive() and 'Traceback' not in proc.log()


def test_a_lockstep_sim_on_sim_time_still_runs(ros_processes, ros_probe):
    """Lockstep on its own /clock (the launch files give the policy node use_sim_time; a
    global file gives it the sim too): unchanged, it starts and publishes step 0."""
    streams = Streams(ros_probe)
    proc = start_sim(ros_processes, 'sim_ls_sim_time', 'mode:=lockstep', 'use_sim_time:=true',
                     'seeds:=[1]', 'max_steps:=5')
    ros_probe.wait_for_messages(streams.joints, 1, 30.0)
    assert proc.alive() and 'Traceback' not in proc.log()
