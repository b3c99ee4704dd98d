"""README: "The store records its control_period_s (training takes it as the policy's;
appending at another period is refused)". A store that went to LeRobot and back (`dp-ros
convert`) records its rate as fps, as LeRobot does: bag2zarr's append check reads it the
way training does, so bags sampled at another period are refused there too (found by
exploratory testing: they were appended, the store then saying fps 10 and control_period_s
0.2 at once)."""
from __future__ import annotations

import numpy as np
import yaml

from dp_ros.bags.recorder import BagRecorder, joint_state_message
from training import bag2zarr, lerobot_convert
from training.replay_buffer import ReplayBuffer

T0 = 1_700_000_000_000_000_000


def _bag(path, period_ns, n=12):
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for k in range(n):
            t = T0 + k * period_ns
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t,
                      joint_state_message(ts, ['j1'], np.array([float(k)]), t))
    return path


def _config(tmp_path, period):
    path = tmp_path / f'cfg_{period}.yaml'
    path.write_text(yaml.safe_dump({
        'control_period_s': period,
        'keys': {'state': {'joint_state': '/joint_states', 'joints': ['j1']},
                 'action': {'future_of': 'state'}}}))
    return path


def _bag2zarr(bag, cfg, out):
    return bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(out), '--no-progress'])


def test_a_store_back_from_lerobot_refuses_bags_of_another_period(tmp_path, capsys):
    first = tmp_path / 'first.zarr'
    assert _bag2zarr(_bag(tmp_path / 'a', 100_000_000), _config(tmp_path, 0.1), first) == 0
    assert lerobot_convert.main([str(first), str(tmp_path / 'le'), '--no-progress']) == 0
    back = tmp_path / 'back.zarr'
    assert lerobot_convert.main([str(tmp_path / 'le'), str(back), '--no-progress']) == 0
    assert ReplayBuffer.open(back).n_episodes == 1

    # the same append to the bag2zarr store is refused (README); to the round-tripped one?
    slow_bag, slow_cfg = _bag(tmp_path / 'b', 200_000_000), _config(tmp_path, 0.2)
    assert _bag2zarr(slow_bag, slow_cfg, first) == 2
    rc = _bag2zarr(slow_bag, slow_cfg, back)
    store = ReplayBuffer.open(back)
    assert rc == 2 and store.n_episodes == 1, (
        f'bags at 0.2 s appended to a 10 fps store (rc {rc}, {store.n_episodes} episodes, '
        f'root attrs {store.root_attrs()})')
