"""dry-run-report compares with a forward controller's Float64MultiArray commands.

Pinned: an arm under a forward_position_controller is trained on its std_msgs/
Float64MultiArray commands (bag2zarr's float_array) and the node streams to them
(action_stream_topics), yet `--reference` took only JointTrajectory, JointState or
PoseStamped: such an arm could be compared with its measured joints alone. The values carry
no joint names, so they are given with the topic (TOPIC=joint1,joint2: the values' order).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_dry_run_report import DRY, DT, JOINTS, OPERATOR, T0, operator_at, run

from dp_ros.bags.recorder import BagRecorder, float_array_message, trajectory_message

ARRAY = '/forward_position_controller/commands'


def _write(path, array: bool) -> None:
    """60 steps of the operator's commands (each received 1 ms before its step: in force at
    it), as JointTrajectory or as a Float64MultiArray whose values are [gripper, shoulder]
    (the dry run's joints the other way round); the dry run's 8-point chunks every 4 steps,
    two steps late."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(60):
            t = T0 + k * DT
            if array:
                rec.write(ARRAY, 'std_msgs/msg/Float64MultiArray', t - 1_000_000,
                          float_array_message(ts, operator_at(k)[::-1]))
            else:
                rec.write(OPERATOR, 'trajectory_msgs/msg/JointTrajectory', t - 1_000_000,
                          trajectory_message(ts, JOINTS, operator_at(k)[None], t, DT))
        for k in range(0, 56, 4):
            rec.write(DRY, 'trajectory_msgs/msg/JointTrajectory', T0 + k * DT + 2_000_000,
                      trajectory_message(ts, JOINTS, operator_at(np.arange(k, k + 8) - 2),
                                         T0 + k * DT, DT))


def test_a_forward_controllers_commands_are_a_reference_with_their_joints_given(tmp_path,
                                                                               capsys):
    _write(tmp_path / 'traj', array=False)
    _write(tmp_path / 'array', array=True)
    code, out, _ = run(capsys, tmp_path / 'traj', '--output', tmp_path / 't.json', '--no-plot')
    assert code == 0, out
    code, out, _ = run(capsys, tmp_path / 'array', '--output', tmp_path / 'a.json',
                       '--no-plot', '--reference', f'{ARRAY}=gripper,shoulder')
    assert code == 0, out
    traj, array = (json.loads((tmp_path / f'{n}.json').read_text()) for n in 'ta')
    assert (array['reference_topics'], array['reference_kind']) == ([ARRAY], 'float_array')
    assert array['joints'] == JOINTS and array['stamp_zero_topics'] == [ARRAY]
    m = array['metrics']  # back in the dry run's order: exact at lag +2, as the trajectories
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)
    assert m['per_joint']['rmse'] == pytest.approx(traj['metrics']['per_joint']['rmse'])
    assert m['n_steps'] >= traj['metrics']['n_steps'] - 1


@pytest.mark.parametrize(('reference', 'message'), [
    (ARRAY, 'carries no joint names: give them in the order of its values, --reference '
            f'{ARRAY}=joint1,joint2,...'),
    (f'{ARRAY}=shoulder', '2 value(s), --reference names 1 joint(s)'),
    (f'{ARRAY}=shoulder,shoulder', 'must be distinct'),
    (f'{ARRAY}=gripper,elbow', "gives none of the dry run's joints ['shoulder']"),
])
def test_a_float_array_reference_without_fitting_names_is_one_line(tmp_path, capsys,
                                                                   reference, message):
    _write(tmp_path / 'array', array=True)
    code, _, err = run(capsys, tmp_path / 'array', '--output', tmp_path / 'x.json',
                       '--reference', reference)
    assert code == 2 and message in err, err
    assert not (tmp_path / 'x.json').exists()


def test_names_are_for_a_float_array_only(tmp_path, capsys):
    _write(tmp_path / 'traj', array=False)
    code, _, err = run(capsys, tmp_path / 'traj', '--output', tmp_path / 'x.json',
                       '--reference', f'{OPERATOR}=shoulder,gripper')
    assert code == 2 and 'joint names are given for a Float64MultiArray only' in err, err
