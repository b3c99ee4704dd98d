"""A policy without a low-dim observation (data.low_dim_keys: {}, or a policy.shape_meta of
cameras alone) is refused by check_run in one line: the policy node feeds the joint states as
a low-dim observation and refuses such a checkpoint, so training it (which went through)
would make a policy nothing runs, as run_check refuses differently wrapped yaws."""
from __future__ import annotations

import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from dp_ros.runtime.policy_node_config import PolicyNodeConfig, load_setup
from training.errors import TrainConfigError
from training.run_check import check_run
from training.trainer import train

IMAGE_ONLY = {'obs': {'image': {'shape': [3, 8, 10], 'type': 'rgb'}}, 'action': {'shape': [2]}}


def test_empty_low_dim_keys_are_refused_at_the_start(tmp_path):
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store, data={'low_dim_keys': {}})
    with pytest.raises(TrainConfigError, match=r'^data\.low_dim_keys is empty: an image-only '
                                               r'policy, which the policy node refuses.*'
                                               r'\{agent_pos: state\}$'):
        check_run(cfg, tmp_path / 'run', 'never')
    assert not (tmp_path / 'run').exists()


def test_a_shape_meta_of_cameras_alone_is_refused_at_the_start(tmp_path):
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store)
    cfg.policy = {**cfg.policy, 'shape_meta': IMAGE_ONLY}
    with pytest.raises(TrainConfigError, match='^policy.shape_meta has no low_dim observation'):
        check_run(cfg, tmp_path / 'run', 'never')


def test_a_policy_with_a_state_trains_into_one_the_node_loads(tmp_path):
    """What the refusal points to: the same camera with the state trains, and the node's
    setup takes the checkpoint."""
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store, data={'low_dim_keys': {'agent_pos': 'state[0:2]'}},
                       train={'max_steps': 1, 'checkpoint_every': 1})
    train(cfg, tmp_path / 'run')
    node = PolicyNodeConfig(checkpoint=str(tmp_path / 'run' / 'checkpoints' / 'latest'),
                            image_topics=['/camera/image_raw'], state_joint_names=['x', 'y'],
                            action_joint_names=['j0', 'j1'])
    load_setup(node)
