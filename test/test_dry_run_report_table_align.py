"""The per-joint table printed by `dp-ros dry-run-report` stays aligned for real joint names
(the name column fits the longest: a fixed 20 shifted a UR row's numbers off the header)."""
from __future__ import annotations

import numpy as np
from support import MS

from dp_ros import cli
from dp_ros.bags.recorder import BagRecorder, trajectory_message

NAMES = ['left_shoulder_pan_joint', 'left_gripper_finger_joint']  # 23 and 25 characters
OPERATOR = '/left/arm_controller/joint_trajectory'
DRY = '/dp_policy/dry_run/joint_trajectory'
TRAJ = 'trajectory_msgs/msg/JointTrajectory'
T0 = 1_700_000_000 * 10**9
DT = 100 * MS


def operator_at(k) -> np.ndarray:
    k = np.asarray(k, dtype=np.float64)
    return np.stack([np.sin(0.3 * k), 0.04 * (np.cos(0.2 * k) > 0)], axis=-1)


def test_dry_run_table_columns_line_up_with_long_joint_names(tmp_path, capsys):
    """A UR-style arm with a prefix (joint names over 20 characters): each row's numbers end
    in the same columns as the header's 'rmse', 'mae', ... (the name column fits the names)."""
    bag = tmp_path / 'dry'
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(60):
            t = T0 + k * DT
            rec.write(OPERATOR, TRAJ, t + MS, trajectory_message(ts, NAMES, operator_at(k)[None],
                                                                 t, DT))
        for k in range(0, 56, 4):
            steps = np.arange(k, k + 8)
            rec.write(DRY, TRAJ, T0 + k * DT + 2 * MS,
                      trajectory_message(ts, NAMES, operator_at(steps - 2), T0 + k * DT, DT))
    code = cli.main(['dry-run-report', str(bag), '--output', str(tmp_path / 'r.json'),
                     '--no-progress', '--no-plot'])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith('joint'))
    rows = [line for line in lines if line.lstrip().startswith(tuple(NAMES))]
    assert len(rows) == 2
    ends = [header.index(col) + len(col) for col in ('rmse', 'mae', 'max')]
    for row in rows:
        got, at = [], len(row.split()[0]) + row.index(row.split()[0])
        for field in row.split()[1:4]:
            at = row.index(field, at) + len(field)
            got.append(at)
        assert got == ends, f'\n{header}\n{row}'
