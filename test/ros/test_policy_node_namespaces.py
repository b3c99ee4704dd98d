"""Two policy nodes in one domain under different namespaces (`-r __ns:=/left`, `/right`)
must be told apart by an operator: on /diagnostics (one DiagnosticArray topic for the whole
robot, which an aggregator or rqt_robot_monitor keys by status name) and in their start-up
log. Pinned: each status is named by the node's fully qualified name
('/left/dp_policy: policy', as diagnostic_updater's use_fqn names it); the start-up line names
the topics as subscribed and published (namespace and -r applied), not as written; a
--params-file block meant for the node that misses it (renamed by -r __node:=, misspelt) is
warned once each, not dropped silently (dp_ros/ros/param_files.py)."""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros.test_policy_node import RELIABLE
from support import module_cmd

pytestmark = pytest.mark.ros

STALE_FILE = """\
/dp_policy:
  ros__parameters:
    max_velocity: [1.0, 1.0]
/dp_polcy:
  ros__parameters:
    max_velocty: [1.0, 1.0]
"""


def namespaced_cmd(checkpoint, ns: str, *ros_args: str) -> list[str]:
    params = dict(checkpoint=str(checkpoint), device='cpu', cpu_threads=1,
                  image_topics='[cam/image_raw]', joint_state_topic='joint_states',
                  state_joint_names='[jx,jy]', action_joint_names='[jx,jy]',
                  action_topic='joint_trajectory', diagnostics_period_s=0.2)
    args = ['-r', f'__ns:={ns}', *ros_args]
    for k, v in params.items():
        args += ['-p', f'{k}:={v}']
    return module_cmd('dp_ros.ros.policy_node', '--ros-args', *args)


def test_two_namespaced_policy_nodes_publish_distinct_diagnostic_statuses(ros_processes,
                                                                         ros_probe,
                                                                         checkpoint):
    """Both nodes used to publish ('dp_policy: policy', 'cpu'): one entry flipping between
    the arms, a WARN of one overwritten by the other's OK."""
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    left = ros_processes.start('left', namespaced_cmd(checkpoint, '/left'))
    right = ros_processes.start('right', namespaced_cmd(checkpoint, '/right'))
    for proc in (left, right):
        proc.wait_for_log('warm-up', 120.0)
    n = len(diags)
    expected = {'/left/dp_policy: policy', '/right/dp_policy: policy'}

    def names() -> set[str]:
        return {s.name for msg in list(diags)[n:] for s in msg.status}

    # Wait for both rather than for a count: the probe may match one node's publisher a
    # while after the other's on a loaded machine (one CI run saw 10 arrays all from /left).
    try:
        ros_probe.wait_for(lambda: expected <= names(), 30.0, 'diagnostics of both nodes')
    except TimeoutError as exc:
        raise TimeoutError(f'{exc}: statuses seen {sorted(names())}; '
                           f"{ros_probe.describe_silence(diags, '/diagnostics', n)}") from None
    assert names() == expected, names()


def test_the_start_up_log_names_subscribed_topics_and_unapplied_param_blocks(
        ros_processes, checkpoint, tmp_path):
    """Under __ns:=/left, renamed to left_policy, with a file whose blocks say /dp_policy and
    /dp_polcy: the start line names /left/cam/image_raw and /left/joint_trajectory, and each
    block is warned once, naming the file and the node."""
    stale = tmp_path / 'stale.yaml'
    stale.write_text(STALE_FILE)
    proc = ros_processes.start('left', namespaced_cmd(
        checkpoint, '/left', '-r', '__node:=left_policy', '--params-file', str(stale)))
    proc.wait_for_log('warm-up', 120.0)
    log = proc.log()
    line = next(line for line in log.splitlines() if 'warm-up' in line)
    assert "'/left/cam/image_raw'" in line, line
    assert '/left/joint_trajectory' in line, line
    for block in ('/dp_policy', '/dp_polcy'):
        warning = (f"parameter file {stale}: its block '{block}' matches no node here (this "
                   'node is /left/left_policy): its parameters were not applied')
        assert log.count(warning) == 1, log
