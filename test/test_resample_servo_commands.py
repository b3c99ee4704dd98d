"""A teleop that streams one-point trajectories (MoveIt Servo's JointTrajectory output, a
leader arm's driver): stamped 0 ("now"), sent every control period, the single point due one
period after receipt, so every command is replaced just as its point falls due. README: "The
action is the command due at t_k". The trajectory in force at t_k (just received) has no
point due yet; a joint_trajectory_controller reached the point of the command it replaced
as it arrived, so that point is t_k's action (resample.trajectory_targets). bag2zarr found
no command due at any grid time and wrote nothing ("no grid time has every stream"). Where
each command is replaced before its point falls due (points two periods ahead) there is
still none, and the report says why.
"""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from bag_support import MS, T0

from dp_ros.bags.reader import BagError
from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.resample import make_grid, replaced_before_due, trajectory_targets

DT = 100 * MS
LATE = 10 * MS  # the jitter allowance at 10 Hz


def _servo_bag(path, steps: int = 30, lead_periods: int = 1) -> None:
    """10 Hz camera (frame i, value i) stamped T0 + 100 ms i + 7 ms; 100 Hz joint states; at
    T0 + 100 ms i + 2 ms a command stamped 0 whose one point (value 10 i) is due lead_periods
    periods later."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        messages = []
        for i in range(steps):
            t = T0 + i * 100 * MS
            messages.append((t + 7 * MS + 5 * MS, 'img', i, t + 7 * MS))
            messages.append((t + 2 * MS, 'cmd', i, 0))
            for k in range(10):
                messages.append((t + k * 10 * MS + MS, 'js', i * 10 + k, t + k * 10 * MS))
        for recv, kind, i, stamp in sorted(messages, key=lambda m: m[0]):
            if kind == 'img':
                rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', recv,
                          image_message(ts, np.full((4, 4, 3), i, np.uint8), stamp))
            elif kind == 'js':
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', recv,
                          joint_state_message(ts, ['j1'], [i / 100], stamp))
            else:
                rec.write('/arm_controller/joint_trajectory',
                          'trajectory_msgs/msg/JointTrajectory', recv,
                          trajectory_message(ts, ['j1'], np.array([[10.0 * i]]), 0, 100 * MS,
                                             first_index=lead_periods))


CONFIG = {'control_period_s': 0.1, 'image_dtype': 'uint8',
          'keys': {'img': {'image': '/cam/image_raw'},
                   'state': {'joint_state': '/joint_states', 'joints': ['j1']},
                   'action': {'joint_trajectory': '/arm_controller/joint_trajectory',
                              'joints': ['j1']}}}


def test_servo_style_one_point_commands_give_the_point_due_at_each_step(tmp_path):
    """Each grid step's action is the point of the command sent one period before it (due at
    the step), not 'no episode survived'."""
    bag = tmp_path / 'bag'
    _servo_bag(bag)
    bag2zarr.convert([bag], config_from_dict(CONFIG), tmp_path / 'out.zarr', progress=False)
    data = zarr.open(str(tmp_path / 'out.zarr'), mode='r')['data']
    k = data['img'][:, 0, 0, 0].astype(int)
    action = np.asarray(data['action'][:, 0])
    assert len(k) >= 20, f'only {len(k)} steps of 30'
    # step k (t = T0 + 100 k ms + 7 ms): command k - 1's point fell due at T0 + 100 k ms + 2 ms
    assert np.allclose(action, 10.0 * (k - 1)), (k[:5].tolist(), action[:5].tolist())


def test_commands_replaced_before_their_point_falls_due_are_named(tmp_path):
    """Points due two periods ahead, a command every period: no point is ever reached, so no
    step has an action; the report names that cause, not only 'no grid time has every
    stream'."""
    bag = tmp_path / 'bag'
    _servo_bag(bag, steps=10, lead_periods=2)
    reports: list = []
    with pytest.raises(BagError, match='no episode survived'):
        bag2zarr.convert([bag], config_from_dict(CONFIG), tmp_path / 'out.zarr',
                         progress=False, reports=reports)
    notes = reports[0].notes
    assert "/arm_controller/joint_trajectory: each command's points are all due after the " \
           'next command replaced it (9 of 10)' in ' '.join(notes), notes


def test_the_replaced_command_gives_the_point_due_at_the_grid_time():
    """One-point commands stamped 100 ms i, due 100 ms later: at grid time 100 ms k + 5 ms
    command k is in force with nothing due, and command k - 1's point (due 100 ms k) is the
    target; grid times a little early (slack) find it too."""
    stamps = np.arange(6) * DT
    due = [np.array([s + DT]) for s in stamps]
    pos = [np.array([[float(i)]]) for i in range(6)]
    for offset, slack in ((5 * MS, 0), (-5 * MS, 49 * MS)):
        grid = make_grid(DT, 5 * DT, DT) + offset
        values, valid = trajectory_targets(stamps, due, pos, grid, 50 * MS, 1, slack, LATE)
        assert valid.all() and values[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_the_replaced_point_counts_only_when_due_by_the_replacement():
    """The next command arrives 5 ms after the point falls due, or up to the jitter allowance
    before it: that point was the target. Arriving 20 ms before it, the point was never
    reached: no target (and no held one: none was ever found)."""
    pos = [np.array([[1.0]]), np.array([[2.0]])]
    grid = np.array([150 * MS])
    for replaced_at, ok in ((105 * MS, True), (90 * MS, True), (80 * MS, False)):
        stamps = np.array([0, replaced_at])
        due = [np.array([DT]), np.array([replaced_at + DT])]
        values, valid = trajectory_targets(stamps, due, pos, grid, 60 * MS, 1, 0, LATE)
        assert valid.tolist() == [ok] and (not ok or values[0, 0] == 1.0)
    assert replaced_before_due(np.array([0, 80 * MS]), [np.array([DT]), np.array([DT])],
                               LATE) == 1


def test_a_chunk_due_on_receipt_is_replaced_as_before():
    """A trajectory whose first point is due at its stamp (a policy node's chunk, a lockstep
    answer) replaced at the instant its later point falls due: that point never applies and
    the held target, older than the tolerance, leaves a gap, as before; a held target within
    the tolerance wins over the replaced trajectory's point, as before."""
    stamps = np.array([0, 200 * MS])
    due = [np.array([0, 100, 200]) * MS, np.array([250]) * MS]
    pos = [np.array([[0.0], [1.0], [2.0]]), np.array([[20.0]])]
    grid = make_grid(0, 3 * DT, DT)
    values, valid = trajectory_targets(stamps, due, pos, grid, 60 * MS, 1, 0, LATE)
    assert valid.tolist() == [True, True, False, True]
    # the same chunk commanded ahead (first point 50 ms after its stamp): its point due 200
    # is what the controller reached as the next one arrived
    due[0] = np.array([50, 100, 200]) * MS
    values, valid = trajectory_targets(stamps, due, pos, grid, 60 * MS, 1, 0, LATE)
    assert valid.tolist() == [False, True, True, True] and values[2, 0] == 2.0
    values, valid = trajectory_targets(stamps, due, pos, grid, 150 * MS, 1, 0, LATE)
    assert values[2, 0] == 1.0  # held from t=100, within the tolerance: unchanged
