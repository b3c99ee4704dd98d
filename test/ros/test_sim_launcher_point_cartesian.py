"""`dp-ros sim --robot point` (the default robot) with a Cartesian policy, end to end. README
(Arm twin, Cartesian targets): "the point robot takes the same topics (its pose is its x, y)".
Before, the point's parameter file's debug_path_joints [agent_x, agent_y] stayed in the pose
wiring and the policy node's check refused every such policy (exit 2). The wiring itself,
without processes: test/test_sim_launcher_pose_wiring.py."""
from __future__ import annotations

import pytest
from support import make_tiny_pose_checkpoint

pytestmark = pytest.mark.ros

TABLE = {'x': (236.0, 276.0), 'y': (236.0, 276.0)}  # px, the point's pose fields


def test_dp_ros_sim_runs_a_cartesian_policy_on_the_point_robot(tmp_path, capsys):
    """A pose policy (96 px camera, x, y, z, yaw state and action) runs its episode on the
    point instead of being refused over debug_path_joints."""
    from dp_ros.app.sim_launcher import main

    checkpoint = make_tiny_pose_checkpoint(tmp_path / 'pose', seed=4, state='pose',
                                           bounds=TABLE)
    rc = main(['--robot', 'point', '--checkpoint', str(checkpoint), '--seeds', '100000',
               '--max-steps', '3', '--no-video', '--no-progress', '--threads', '1',
               '--device', 'cpu', '--logs', str(tmp_path / 'logs')])
    captured = capsys.readouterr()
    assert 'debug_path_joints' not in captured.err, captured.err
    assert rc == 0, captured.err
    assert 'after 3 steps' in captured.out, captured.out
