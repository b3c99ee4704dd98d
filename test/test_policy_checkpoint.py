"""The policy artifact: exact round trip, clear mismatch errors, atomic writes, no pickle."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from support import as_saved_before_the_config_record, make_tiny_checkpoint, small_image_config

from dp_ros.policy import checkpoint
from dp_ros.policy.checkpoint import (
    CheckpointError,
    load_policy,
    read_policy_metadata,
    save_policy,
)
from dp_ros.policy.config import PolicyConfig
from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer

torch.set_num_threads(1)


def tiny_config(**overrides) -> PolicyConfig:
    return small_image_config(**{'sampler': 'ddim', 'num_inference_steps': 5, **overrides})


def make_policy(**overrides) -> DiffusionPolicy:
    config = tiny_config(**overrides)
    rng = np.random.default_rng(0)
    norm = Normalizer.from_data({'action': rng.uniform(0, 512, (100, 2)),
                                 'agent_pos': rng.uniform(0, 512, (100, 2))})
    torch.manual_seed(0)
    return DiffusionPolicy(config, norm).eval()


def obs(batch: int = 2) -> dict:
    g = torch.Generator().manual_seed(3)
    return {'image': torch.rand(batch, 2, 3, 32, 32, generator=g),
            'agent_pos': torch.rand(batch, 2, 2, generator=g) * 512}


def sample(policy: DiffusionPolicy, sampler: str = 'ddpm', steps: int = 10) -> torch.Tensor:
    return policy.predict_action(obs(), torch.Generator().manual_seed(11), sampler,
                                 steps)['action_pred']


def test_save_load_gives_bit_identical_samples(tmp_path):
    policy = make_policy()
    path = save_policy(policy, tmp_path / 'pol', control_period_s=0.1,
                       provenance={'dataset': 'pusht_cchi_v7_replay.zarr', 'epoch': 3})
    assert sorted(p.name for p in path.iterdir()) == ['model.safetensors', 'policy.json']
    loaded = load_policy(path)
    assert not loaded.training
    for sampler in ('ddpm', 'ddim'):
        assert torch.equal(sample(policy, sampler), sample(loaded, sampler))
    assert loaded.config == policy.config

    meta = read_policy_metadata(path)
    assert meta['control_period_s'] == 0.1
    assert meta['provenance'] == {'dataset': 'pusht_cchi_v7_replay.zarr', 'epoch': 3}
    assert meta['obs_keys'] == {'rgb': ['image'], 'low_dim': ['agent_pos']}
    assert meta['obs_shapes'] == {'image': [3, 32, 32], 'agent_pos': [2]}
    assert meta['action_dim'] == 2
    assert meta['config']['sampler'] == 'ddim' and meta['config']['num_inference_steps'] == 5
    assert set(meta['normalizer']['fields']) == {'action', 'agent_pos', 'image'}


def test_state_dict_argument_saves_those_weights(tmp_path):
    policy = make_policy()
    ema = {k: v + 0.01 if v.is_floating_point() else v for k, v in policy.state_dict().items()}
    path = save_policy(policy, tmp_path / 'ema', state_dict=ema)
    loaded = load_policy(path)
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ema[k]), k
    with pytest.raises(CheckpointError, match='missing keys'):
        save_policy(policy, tmp_path / 'bad', state_dict={'model.final_conv.1.bias': ema[
            'model.final_conv.1.bias']})
    assert not (tmp_path / 'bad').exists()


def test_weights_that_do_not_match_the_config_are_named(tmp_path):
    """A policy.json edited after the save is named as such (the weights record what was
    saved with them); one beside weights without that record (saved before 2026-12-06) by
    the tensors that do not fit."""
    path = save_policy(make_policy(), tmp_path / 'pol')
    meta = json.loads((path / 'policy.json').read_text())
    meta['config']['num_keypoints'] = 4  # the weights were trained with 8
    (path / 'policy.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as err:
        load_policy(path)
    assert 'is not what model.safetensors was trained and saved with: num_keypoints: 4 ' \
           '(saved: 8)' in str(err.value)
    as_saved_before_the_config_record(path)
    with pytest.raises(CheckpointError) as err:
        load_policy(path)
    msg = str(err.value)
    prefix = 'obs_encoder.cameras.image'
    assert 'shape mismatches (3):' in msg
    assert f'{prefix}.pool.keypoint_net.weight: file [8, 128, 1, 1] vs config [4, 128, 1, 1]' in msg
    assert f'{prefix}.pool.keypoint_net.bias: file [8] vs config [4]' in msg
    assert f'{prefix}.linear.weight: file [16, 16] vs config [16, 8]' in msg
    assert 'missing' not in msg and 'unexpected' not in msg

    path = save_policy(make_policy(), tmp_path / 'pol2')
    weights = load_file(str(path / 'model.safetensors'))
    del weights['model.final_conv.1.bias']
    weights['model.extra.weight'] = torch.zeros(3)
    save_file(weights, str(path / 'model.safetensors'))
    with pytest.raises(CheckpointError) as err:
        load_policy(path)
    msg = str(err.value)
    assert 'missing keys (1): model.final_conv.1.bias' in msg
    assert 'unexpected keys (1): model.extra.weight' in msg


def test_bad_metadata_is_reported(tmp_path):
    path = save_policy(make_policy(), tmp_path / 'pol')
    meta = json.loads((path / 'policy.json').read_text())
    meta['config']['lr'] = 1e-4
    (path / 'policy.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"unknown PolicyConfig keys \['lr'\]"):
        load_policy(path)
    with pytest.raises(CheckpointError, match='not a dp_ros policy directory'):
        read_policy_metadata(tmp_path)
    with pytest.raises(ValueError, match='not JSON-serialisable'):
        save_policy(make_policy(), tmp_path / 'x', provenance={'when': object()})
    assert not (tmp_path / 'x').exists()


def test_interrupted_save_keeps_the_old_artifact(tmp_path, monkeypatch):
    """A crash while writing (here: the weights writer fails half way) changes nothing."""
    old_policy = make_policy()
    path = save_policy(old_policy, tmp_path / 'pol', provenance={'version': 'old'})
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def failing_save(path, tensors, metadata):
        with open(path, 'wb') as f:
            f.write(b'\x00' * 100)  # half a file
        raise OSError('disk full')

    monkeypatch.setattr(checkpoint, '_write_safetensors', failing_save)  # save_policy's writer
    with pytest.raises(OSError, match='disk full'):
        save_policy(make_policy(), path, provenance={'version': 'new'})
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ['pol']  # no temp directory left behind
    monkeypatch.undo()

    # a completed save replaces the whole directory
    save_policy(make_policy(down_dims=(8, 16)), path, provenance={'version': 'new'})
    assert read_policy_metadata(path)['provenance'] == {'version': 'new'}
    assert load_policy(path).config.down_dims == (8, 16)
    assert [p.name for p in tmp_path.iterdir()] == ['pol']


def test_load_in_bf16_samples(tmp_path):
    path = save_policy(make_policy(), tmp_path / 'pol')
    policy = load_policy(path, dtype=torch.bfloat16)
    assert policy.dtype == torch.bfloat16
    out = sample(policy, 'ddim', 4)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_weights_file_is_safetensors_not_pickle(tmp_path):
    path = save_policy(make_policy(), tmp_path / 'pol')
    raw = (path / 'model.safetensors').read_bytes()
    header_len = int.from_bytes(raw[:8], 'little')
    header = json.loads(raw[8:8 + header_len])
    assert 'model.final_conv.1.weight' in header
    assert not raw.startswith(b'PK') and b'\x80\x02' not in raw[:2]  # not a torch.save zip/pickle


def test_an_old_artifact_with_control_period_loads_with_a_deprecation_warning(tmp_path):
    path = make_tiny_checkpoint(tmp_path / 'old')
    meta = json.loads((path / 'policy.json').read_text())
    meta['control_period'] = meta.pop('control_period_s')
    (path / 'policy.json').write_text(json.dumps(meta))
    with pytest.warns(DeprecationWarning, match="'control_period' is the old name"):
        assert read_policy_metadata(path)['control_period_s'] == 0.1
