"""Camera observation names torch cannot take as module names: LeRobot names its cameras
observation.images.top, and nn.ModuleDict refuses '.' (a KeyError traceback after the data
had loaded). The encoder's module is named with '__' for '.', so such a policy trains, saves
and loads under its own key names; an empty name, or two names that would share one module,
are refused by the policy config in one line."""
from __future__ import annotations

import pytest
import torch
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from dp_ros.policy.checkpoint import load_policy
from dp_ros.policy.config import PolicyConfig
from training.errors import EXPECTED_ERRORS
from training.trainer import train


def test_a_lerobot_style_camera_name_trains_and_its_checkpoint_samples(tmp_path):
    """rgb key observation.images.top: a run of one step saves a policy that loads and samples
    an observation given under that very key; its weights are named with '__'."""
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store, data={'rgb_keys': {'observation.images.top': 'img'}},
                       train={'max_steps': 1, 'checkpoint_every': 1})
    train(cfg, tmp_path / 'run')
    policy = load_policy(tmp_path / 'run' / 'checkpoints' / 'latest')
    assert any(k.startswith('obs_encoder.cameras.observation__images__top.')
               for k in policy.state_dict())
    obs = {key: torch.rand(1, policy.config.n_obs_steps, *policy.config.obs_shape(key))
           for key in policy.config.obs_keys}
    chunk = policy.predict_action(obs, torch.Generator().manual_seed(0))['action']
    assert chunk.shape[0] == 1 and torch.isfinite(chunk).all()


def test_an_empty_camera_name_is_a_one_line_config_error(tmp_path):
    """rgb_keys {'': img}: one of dp-ros train's expected errors, before any step."""
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store, data={'rgb_keys': {'': 'img'}},
                       train={'max_steps': 1, 'checkpoint_every': 0})
    with pytest.raises(EXPECTED_ERRORS, match='without a name'):
        train(cfg, tmp_path / 'run')
    assert not (tmp_path / 'run' / 'checkpoints').exists()


def test_two_cameras_that_would_share_an_encoder_name_are_refused():
    """'a.b' and 'a__b' would both be module a__b: refused, naming both."""
    shape_meta = {'obs': {'a.b': {'shape': [3, 8, 8], 'type': 'rgb'},
                          'a__b': {'shape': [3, 8, 8], 'type': 'rgb'},
                          'agent_pos': {'shape': [2], 'type': 'low_dim'}},
                  'action': {'shape': [2]}}
    with pytest.raises(ValueError, match="'a.b' and 'a__b' would share"):
        PolicyConfig(shape_meta=shape_meta, crop_shape=None)
