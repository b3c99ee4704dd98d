"""A policy directory from a colleague or the Hub is data, not code: load_policy refuses what
would hang, allocate gigabytes, or surface as a traceback with a one-line CheckpointError
naming the file. That covers an absurd noise schedule, horizon or camera size (the weights do
not constrain them), integer or NaN weights, and policy.json nested thousands deep. A Hub
revision cannot climb out of the cache with '..'."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (autouse)

from dp_ros.policy.checkpoint import CheckpointError, load_policy, read_policy_metadata
from dp_ros.policy.hub import HubError, parse_hub_spec


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('tiny') / 'policy')


def edited(tmp_path: Path, source: Path, **config: object) -> Path:
    """A copy of `source` whose policy.json config has `config`'s fields."""
    policy = shutil.copytree(source, tmp_path / 'policy')
    meta = json.loads((policy / 'policy.json').read_text())
    meta['config'].update(config)
    (policy / 'policy.json').write_text(json.dumps(meta))
    return policy


def with_weights(tmp_path: Path, source: Path, change) -> Path:
    """A copy of `source` whose model.safetensors has one tensor replaced by change(tensor)."""
    from safetensors.torch import load_file, save_file

    policy = shutil.copytree(source, tmp_path / 'policy')
    weights = load_file(policy / 'model.safetensors')
    key = 'model.final_conv.1.weight'
    weights[key] = change(weights[key])
    save_file(weights, policy / 'model.safetensors')
    return policy


@pytest.mark.parametrize('steps', [10 ** 15, 10 ** 8])
def test_an_absurd_num_train_timesteps_is_refused_before_the_schedule_is_built(
        tmp_path, tiny, steps):
    """num_train_timesteps 10^15 ('linear') was a torch allocation of petabytes as a
    traceback, 10^8 (cosine) a Python list of betas: a minute and 4 GB before anything was
    said. The cap is named with policy.json."""
    policy = edited(tmp_path, tiny, num_train_timesteps=steps,
                    beta_schedule='linear' if steps > 10 ** 10 else 'squaredcos_cap_v2')
    with pytest.raises(CheckpointError, match=r'policy\.json: num_train_timesteps .*1\.\.10000'):
        load_policy(policy)


def test_an_absurd_horizon_is_refused_at_load(tmp_path, tiny):
    """horizon 2^30 loaded (the weights do not depend on it), then the first chunk drew
    gigabytes of noise; n_action_steps is bounded by the horizon."""
    policy = edited(tmp_path, tiny, horizon=2 ** 30)
    with pytest.raises(CheckpointError, match=r'policy\.json: horizon 1073741824 is above 4096'):
        load_policy(policy)


def test_an_absurd_camera_shape_is_refused_at_load(tmp_path, tiny):
    """A camera of 10^5 x 10^5 pixels loaded too (the encoder's grid is built per call)."""
    meta = json.loads((tiny / 'policy.json').read_text())
    shape_meta = meta['config']['shape_meta']
    shape_meta['obs']['image']['shape'] = [3, 100_000, 100_000]
    policy = edited(tmp_path, tiny, shape_meta=shape_meta)
    with pytest.raises(CheckpointError, match=r"policy\.json: rgb obs 'image' shape .*4096"):
        load_policy(policy)


@pytest.mark.parametrize('dtype', ['int64', 'bool'])
def test_integer_weights_are_a_checkpoint_error(tmp_path, tiny, dtype):
    """A tensor of the right shape stored as int64 or bool was load_state_dict's RuntimeError
    ('Only Tensors of floating point ... can require gradients') as a traceback."""
    import torch

    policy = with_weights(tmp_path, tiny, lambda t: t.to(getattr(torch, dtype)))
    with pytest.raises(CheckpointError, match=rf'model\.safetensors(.|\n)*final_conv.*{dtype}'):
        load_policy(policy)


@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_non_finite_weights_are_refused_at_load(tmp_path, tiny, value):
    """NaN or inf weights loaded silently; the node then refused every chunk, but only once
    activated. The first such tensor is named."""
    def poison(t):
        t = t.clone()
        t.view(-1)[0] = value
        return t

    policy = with_weights(tmp_path, tiny, poison)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor "
                                              r"'model\.final_conv\.1\.weight' holds NaN"):
        load_policy(policy)


@pytest.mark.parametrize('where', ['top', 'config', 'normalizer'])
def test_a_policy_json_nested_too_deep_is_a_checkpoint_error(tmp_path, tiny, where):
    """200,000 nested lists (valid JSON) was json's RecursionError traceback, since only
    JSONDecodeError was caught; 600 in the config parsed but overflowed deepcopy."""
    policy = shutil.copytree(tiny, tmp_path / 'policy')
    if where == 'top':
        text = '{"a": ' + '[' * 200_000 + ']' * 200_000 + '}'
    else:
        meta = json.loads((policy / 'policy.json').read_text())
        text = json.dumps(meta).replace(f'"{where}": {{', f'"{where}": {{"zz": '
                                        + '[' * 600 + ']' * 600 + ', ', 1)
    (policy / 'policy.json').write_text(text)
    with pytest.raises(CheckpointError, match=r'policy\.json is nested more than 100 levels'):
        read_policy_metadata(policy)
    with pytest.raises(CheckpointError, match=r'policy\.json'):
        load_policy(policy)


@pytest.mark.parametrize('revision', ['../../../elsewhere/ref', '/etc/passwd', 'a..b'])
def test_a_hub_revision_leaving_the_cache_is_refused(revision):
    """huggingface_hub joins the revision to the cache's refs/ folder as it is: '..' or a
    leading '/' left the cache (no git ref holds either); a repository id's '..' already was
    refused."""
    with pytest.raises(HubError, match='revision'):
        parse_hub_spec(f'hf://org/name@{revision}')


def test_ordinary_hub_revisions_are_kept():
    """Branches, tags, PR refs and commits pass unchanged."""
    for revision in ('main', 'v1.0', 'refs/pr/1', 'a' * 40):
        assert parse_hub_spec(f'hf://org/name@{revision}') == ('org/name', revision)
