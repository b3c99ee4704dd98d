"""Mutation review of training/run_check.py (second pass): a policy section that gives its own
shape_meta is used as given, a state saved before it recorded its policy is still refused
for a policy that no longer reads a low-dim observation its normalizer was fitted on, and
data.format must match the dataset check_run opens.

check_run is called on a real 1-step run of a synthetic 5-episode store (8x10 images)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support import one_torch_thread, tiny_policy_section  # noqa: F401 (autouse)

from training.config import TrainConfig
from training.errors import TrainStateError
from training.lerobot_format import LeRobotFormatError
from training.run_check import check_run

LENGTHS = [10, 12, 9, 14, 11]
# the store's images without agent_pos: what a policy reading the camera alone declares
IMAGE_ONLY = {'obs': {'image': {'shape': [3, 8, 10], 'type': 'rgb'}}, 'action': {'shape': [2]}}


def _config(store: Path, **sections: dict) -> TrainConfig:
    cfg = {
        'policy': tiny_policy_section(crop_shape=[6, 8], down_dims=[16, 32], num_keypoints=4,
                                      feature_dim=8, diffusion_step_embed_dim=16, horizon=8,
                                      n_action_steps=4, num_inference_steps=2),
        'data': {'zarr_path': str(store), 'batch_size': 4, 'val_ratio': 0.2},
        'train': {'max_steps': 1, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                  'eval_every': 0, 'checkpoint_every': 1, 'final_eval': False,
                  'num_threads': 1, 'progress': False, 'cpu': True},
        'eval': {'n_episodes': 0},
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    return TrainConfig.from_dict(cfg)


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory) -> tuple[Path, Path]:
    """(a 1-step run with its train state, its store)."""
    from training.replay_buffer import ReplayBuffer
    from training.trainer import train

    root = tmp_path_factory.mktemp('run_check')
    rng = np.random.default_rng(0)
    n = sum(LENGTHS)
    store = root / 'small.zarr'
    ReplayBuffer.from_arrays({'img': rng.integers(0, 256, size=(n, 8, 10, 3)).astype(np.uint8),
                              'state': rng.uniform(0, 500, size=(n, 5)),
                              'action': rng.uniform(0, 500, size=(n, 2))},
                             np.cumsum(LENGTHS)).save_to(store)
    train(_config(store), root / 'run')
    return root / 'run', store


def _image_only(store: Path) -> TrainConfig:
    return _config(store, policy={**_config(store).to_dict()['policy'],
                                  'shape_meta': IMAGE_ONLY})


def test_a_policy_section_with_its_own_shape_meta_is_used_as_given(saved_run, tmp_path):
    """shape_meta is read from the dataset only when the policy section has none: a camera-
    only policy on a store that also holds a state reads the camera only."""
    _, store = saved_run
    checked = check_run(_image_only(store), tmp_path / 'fresh', 'never')
    assert set(checked.policy_cfg.shape_meta['obs']) == {'image'}
    assert checked.policy_cfg.low_dim_keys == []
    fitted = check_run(_config(store), tmp_path / 'fresh', 'never').policy_cfg
    assert set(fitted.shape_meta['obs']) == {'image', 'agent_pos'}


def test_an_older_state_refuses_a_policy_without_an_observation_it_normalized(saved_run,
                                                                            tmp_path):
    """A state without policy_config is checked by its normalizer: agent_pos, which its
    weights read, is gone from the new policy's shape_meta, so the resume is refused."""
    run, store = saved_run
    run = Path(shutil.copytree(run, tmp_path / 'run'))
    state_file = run / 'train_state' / 'state.json'
    state = json.loads(state_file.read_text())
    del state['policy_config']
    state_file.write_text(json.dumps(state))
    with pytest.raises(TrainStateError, match=r'policy\.shape_meta\.obs\.agent_pos\.shape'):
        check_run(_image_only(store), run)


def test_data_format_lerobot_on_a_zarr_store_is_refused_by_check_run(saved_run, tmp_path):
    """data.format names what the path must be: check_run refuses a zarr store the config
    calls a LeRobotDataset before anything is read (and a new run is not started)."""
    _, store = saved_run
    with pytest.raises(LeRobotFormatError, match="data.format is 'lerobot'"):
        check_run(_config(store, data={'format': 'lerobot'}), tmp_path / 'fresh', 'never')
    assert not (tmp_path / 'fresh').exists()
