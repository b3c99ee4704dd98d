"""A leader arm's commands as trajectory_msgs/JointTrajectory at 10 Hz, five points 20 ms
apart (stamped, the first point due at the stamp), 20 ms out of phase with the 10 Hz camera
that sets the grid. README: "The action is the command due at t_k"; trajectory_targets:
"the active trajectory at t is the latest one stamped at or before t; its target is the last
point due at or before t". Pinned: the slack that lets a jittered grid time find its point
stays under half of each trajectory's own point spacing (not half the control period
whatever the spacing), so a point due later than t_k is never taken for it; the policy
node's chunks (points one period apart) keep the slack they had.
"""
from __future__ import annotations

import numpy as np
import zarr
from bag_support import MS, T0

from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.resample import point_slack, trajectory_targets

POINT_SPACING = 20 * MS
PHASE = 20 * MS  # command i stamped at T0 + 100 ms * i + 20 ms


def test_the_action_is_the_point_due_at_the_step_not_one_due_later(tmp_path):
    """At t_k = T0 + 100 ms * k the controller runs command k - 1 (command k is stamped 20 ms
    later), whose last point due by then is point 4 (value 100 (k - 1) + 4); a point of
    command k, due 20..40 ms after t_k, is not the command due at t_k."""
    bag = tmp_path / 'bag'
    messages = []
    for i in range(20):
        t = T0 + i * 100 * MS
        messages.append((t + 5 * MS, '/cam/image_raw', 'img', i, t))
        messages.append((t + PHASE + 2 * MS, '/leader/joint_trajectory', 'cmd', i, t + PHASE))
    for i in range(200):
        t = T0 + i * 10 * MS
        messages.append((t + MS, '/joint_states', 'js', i, t))
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for recv, topic, kind, i, t in sorted(messages, key=lambda m: m[0]):
            if kind == 'img':
                rec.write(topic, 'sensor_msgs/msg/Image', recv,
                          image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
            elif kind == 'js':
                rec.write(topic, 'sensor_msgs/msg/JointState', recv,
                          joint_state_message(ts, ['j1'], [i / 100], t))
            else:
                points = (100 * i + np.arange(5, dtype=float)).reshape(5, 1)
                rec.write(topic, 'trajectory_msgs/msg/JointTrajectory', recv,
                          trajectory_message(ts, ['j1'], points, t, POINT_SPACING))
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['j1']},
                 'action': {'joint_trajectory': '/leader/joint_trajectory',
                            'joints': ['j1']}}})
    bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False)
    data = zarr.open(str(tmp_path / 'out.zarr'), mode='r')['data']
    k = data['img'][:, 0, 0, 0].astype(int)
    action = np.asarray(data['action'][:, 0])
    due_by_then = 100 * (k - 1) + 4
    assert np.all(action <= due_by_then), (
        f'steps {k[:4].tolist()}: actions {action[:4].tolist()}, the points due by then '
        f'{due_by_then[:4].tolist()}')


def test_the_slack_follows_each_trajectorys_point_spacing():
    """Half the closest spacing, less a nanosecond, capped by the slack given; a single point
    has no spacing: the slack given."""
    assert point_slack(np.array([0, 20, 40]) * MS, 50 * MS) == 10 * MS - 1
    assert point_slack(np.array([0, 100, 200]) * MS, 50 * MS - 1) == 50 * MS - 1
    assert point_slack(np.array([100]) * MS, 50 * MS - 1) == 50 * MS - 1


def test_a_grid_time_a_little_early_still_finds_its_point_in_a_chunk():
    """The node's chunks (points one 100 ms period apart): a grid time 3 ms early (jitter)
    still takes the point due at it, with both spacings in one stream."""
    period = 100 * MS
    stamps = np.array([0, 1000 * MS])
    dues = [np.arange(4) * period, 1000 * MS + np.arange(5) * 20 * MS]
    positions = [np.arange(4.0).reshape(4, 1), 10 + np.arange(5.0).reshape(5, 1)]
    grid = np.array([97, 197, 297, 1000 + 27, 1000 + 57]) * MS
    values, ok = trajectory_targets(stamps, dues, positions, grid, period, 1, period // 2 - 1)
    assert ok.all()
    # 27 ms into the dense one: its point due at 20 ms (the one due at 40 is 13 ms away);
    # 57 ms: the one due at 60, 3 ms early, not the one due at 80
    np.testing.assert_array_equal(values[:, 0], [1, 2, 3, 11, 13])
