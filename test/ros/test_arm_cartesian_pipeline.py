"""The arm twin's Cartesian path, each step its documented command: `dp-ros arm-record --mode
lockstep` (the sim steps on each command, and publishes its end effector's pose) ->
`dp-ros bag2zarr -c config/bag2zarr_pusht_arm_cartesian.yaml` (the pose as state, the pose one
step ahead as action) -> `dp-ros train -c config/train_pusht_arm_cartesian_cpu.yaml` (a tiny
model, a few steps, its closed-loop score through the in-process CartesianArmEnv). The same
bags converted with the joint config give the joint data: the two must describe one motion."""
from __future__ import annotations

import json

import numpy as np
import pytest
from ros.test_arm_pipeline import run
from support import CONFIG_DIR, PUSHT_DATASET, module_cmd

from sim_bridge.cartesian import PlanarCartesian

pytestmark = pytest.mark.ros

EPISODE = '205'  # the dataset's shortest: 49 steps


def test_record_in_lockstep_convert_to_poses_and_train_a_cartesian_arm(tmp_path):
    import zarr

    bags = tmp_path / 'bags'
    run(*module_cmd('dp_ros.cli', 'arm-record', '--mode', 'lockstep', '--output', str(bags),
                    '--episodes', EPISODE, '--dataset', str(PUSHT_DATASET), '--no-progress'))
    row = json.loads((tmp_path / 'bags_report.json').read_text())['episodes'][EPISODE]
    assert row['success'] and row['mode'] == 'lockstep', row
    assert row['unrun_steps'] == [] and row['result']['rejected'] == {}
    assert row['result']['action_timeouts'] == 0  # lockstep never waited out a command

    data = {}
    for name, config in (('joint', 'bag2zarr_pusht_arm.yaml'),
                         ('pose', 'bag2zarr_pusht_arm_cartesian.yaml')):
        data[name] = tmp_path / f'{name}.zarr'
        run(*module_cmd('dp_ros.cli', 'bag2zarr', '-c', str(CONFIG_DIR / config), '-o',
                        str(data[name]), str(bags), '--no-progress'))
    joint = zarr.open_group(str(data['joint']), mode='r')
    pose = zarr.open_group(str(data['pose']), mode='r')
    q, q_cmd = joint['data/state'][:], joint['data/action'][:]
    xy, target = pose['data/state'][:], pose['data/action'][:]
    assert pose['data/action'].attrs['names'] == ['x', 'y', 'z', 'yaw']
    assert pose['data/state'].attrs['names'] == ['x', 'y']
    assert len(q) == len(xy) >= 45 and pose['meta/episode_ends'][:].tolist() == [len(xy)]
    # lockstep data says what realtime data says: step k ran command k, reached at k + 1
    np.testing.assert_allclose(q[1:], q_cmd[:-1], atol=1e-6)
    np.testing.assert_array_equal(xy[1:], target[:-1, :2])
    # the pose data is the joint data's forward kinematics, the target the command's
    arm = PlanarCartesian.of_robot('arm', '')
    fk = np.array([arm.pose(j) for j in q_cmd.astype(np.float64)])
    np.testing.assert_allclose(target[:, :2], fk[:, :2], atol=0.05)  # px (float32 joints)
    np.testing.assert_allclose(target[:, 3], fk[:, 2], atol=1e-4)
    assert np.all(target[:, 2] == 0.0) and np.ptp(xy, axis=0).min() > 10.0  # planar; it moved

    run_dir = tmp_path / 'run'
    run(*module_cmd('training.train', '--config',
                    str(CONFIG_DIR / 'train_pusht_arm_cartesian_cpu.yaml'),
                    '--output', str(run_dir), '--max-steps', '4', f"data.zarr_path={data['pose']}",
                    'data.val_ratio=0', 'train.val_every=0', 'train.action_mse_every=0',
                    'train.checkpoint_every=2', 'train.progress=false',
                    'policy.resnet_width=0.25', 'policy.down_dims=[32,64,128]',
                    'policy.num_inference_steps=4', 'eval.n_episodes=2', 'eval.max_steps=16',
                    'eval.n_video_episodes=0'))
    scores = [json.loads(line) for line in (run_dir / 'log.jsonl').read_text().splitlines()]
    final = [r for r in scores if 'test/mean_score' in r]
    assert [r['step'] for r in final] == [4] and 0.0 <= final[0]['test/mean_score'] <= 1.0
    meta = json.loads((run_dir / 'checkpoints' / 'latest' / 'policy.json').read_text())
    assert meta['config']['shape_meta']['action']['names'] == ['x', 'y', 'z', 'yaw']
    assert meta['config']['shape_meta']['obs']['ee_pose']['names'] == ['x', 'y']
