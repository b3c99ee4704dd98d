"""The policy artifact as files: what save_policy writes and what load_policy reads from a
policy.json edited by hand (or damaged), on the tiny Push-T policy of
support.make_tiny_checkpoint.

Pinned: the saved weights are readable by another user (the robot's), as policy.json is; a
save never replaces a file that is no policy; and every malformed policy.json (non-finite
normalizer statistics, a control period that is no positive number, whole numbers written
as floats, a string for a bool, a normalizer that lacks a key, JSON of the wrong kind) is a
CheckpointError naming what is wrong: one line in the CLI, not NaN actions, a torch
TypeError at the first chunk or an AttributeError traceback.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import torch
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (fixture)

from dp_ros.policy.checkpoint import (
    METADATA_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_policy,
    read_policy_metadata,
    save_policy,
)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('tiny') / 'policy')


def edited(tiny: Path, into: Path, edit=None, text: str | None = None) -> Path:
    """A copy of the tiny checkpoint whose policy.json is edited (a dict edit or raw text)."""
    into.mkdir(parents=True)
    shutil.copy(tiny / WEIGHTS_FILE, into / WEIGHTS_FILE)
    meta = json.loads((tiny / METADATA_FILE).read_text())
    if edit is not None:
        edit(meta)
    (into / METADATA_FILE).write_text(json.dumps(meta) if text is None else text)
    return into


def observation(batch: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {'image': torch.rand(batch, 2, 3, 96, 96, generator=gen),
            'agent_pos': torch.rand(batch, 2, 2, generator=gen) * 400}


def test_saved_weights_have_the_mode_of_policy_json(tmp_path: Path):
    """model.safetensors was 0600 (safetensors writes through an owner-only temporary file)
    while policy.json was 0644: the robot's user could read the config but not load it."""
    saved = make_tiny_checkpoint(tmp_path / 'policy')
    modes = {name: stat.S_IMODE((saved / name).stat().st_mode)
             for name in (WEIGHTS_FILE, METADATA_FILE)}
    assert modes[WEIGHTS_FILE] == modes[METADATA_FILE], {k: oct(v) for k, v in modes.items()}
    umask = os.umask(0)
    os.umask(umask)
    assert modes[WEIGHTS_FILE] == 0o666 & ~umask  # what a plain open() makes


def test_save_refuses_to_replace_a_regular_file(tiny: Path, tmp_path: Path):
    """A file at the target is no policy: refused and left as it was, as a foreign
    non-empty directory is (it was silently replaced by the policy directory)."""
    target = tmp_path / 'results.json'
    target.write_text('precious')
    with pytest.raises(CheckpointError, match='is not a policy directory'):
        save_policy(load_policy(tiny), target)
    assert target.is_file() and target.read_text() == 'precious'
    assert [p.name for p in tmp_path.iterdir()] == ['results.json']  # no temporary left


@pytest.mark.parametrize('value', ['NaN', 'Infinity', '-Infinity', '1e-40'])
def test_a_normalizer_scale_without_a_finite_inverse_is_refused_at_load(tiny: Path,
                                                                       tmp_path: Path,
                                                                       value: str):
    """json reads NaN and Infinity, which save_policy refuses to write: they made NaN or 0
    actions; a subnormal scale (1e-40) made inf ones (unnormalize divides by it)."""
    meta = json.loads((tiny / METADATA_FILE).read_text())
    scale = json.dumps(meta['normalizer']['fields']['action']['scale'])
    text = json.dumps(meta).replace(scale, f'[{value}, 1.0]')
    directory = edited(tiny, tmp_path / 'p', text=text)
    with pytest.raises(CheckpointError, match="normalizer field 'action'.*finite"):
        load_policy(directory)


def test_a_non_finite_normalizer_offset_is_refused_at_load(tiny: Path, tmp_path: Path):
    directory = edited(tiny, tmp_path / 'p', lambda m: m['normalizer']['fields']['agent_pos']
                       .__setitem__('offset', [float('nan'), 0.0]))
    with pytest.raises(CheckpointError, match="normalizer field 'agent_pos'.*finite"):
        load_policy(directory)


@pytest.mark.parametrize('period', [0, -0.1, None, float('nan'), float('inf'), True, '0.1'])
def test_a_control_period_that_is_no_positive_number_is_refused(tiny: Path, tmp_path: Path,
                                                                period):
    """save_policy refuses control_period_s <= 0; reading does too (the node turned -0.1
    into dt_ns = -100 ms, 0 into dt_ns = 0, NaN into a bare ValueError)."""
    directory = edited(tiny, tmp_path / 'p',
                       lambda m: m.__setitem__('control_period_s', period))
    with pytest.raises(CheckpointError, match='control_period_s must be > 0 s and finite'):
        read_policy_metadata(directory)


@pytest.mark.parametrize('period', [0, -0.1, float('inf'), True])
def test_save_and_read_share_the_control_period_rule(tiny: Path, tmp_path: Path, period):
    with pytest.raises(ValueError, match='control_period_s must be > 0 s and finite'):
        save_policy(load_policy(tiny), tmp_path / 'p', control_period_s=period)
    assert not (tmp_path / 'p').exists()


@pytest.mark.parametrize('field,value', [('horizon', 16.0), ('n_obs_steps', 2.0),
                                         ('n_action_steps', 8.0), ('kernel_size', 5.0),
                                         ('num_keypoints', 32.0), ('n_groups', 8.0),
                                         ('feature_dim', 64.0), ('horizon', '16')])
def test_an_int_field_written_otherwise_is_refused_naming_it(tiny: Path, tmp_path: Path,
                                                             field: str, value):
    """save_policy writes ints; 16.0 passed validation and then crashed in torch (a TypeError
    traceback at load, or at the first chunk for horizon and n_action_steps)."""
    directory = edited(tiny, tmp_path / 'p',
                       lambda m: m['config'].__setitem__(field, value))
    with pytest.raises(CheckpointError, match=f'config.{field} must be an integer, got '):
        load_policy(directory)


@pytest.mark.parametrize('field,value,what', [('clip_sample', 'false', 'true or false'),
                                              ('clip_sample', 0, 'true or false'),
                                              ('resnet_width', '0.25', 'a number'),
                                              ('sampler', 1, 'a string')])
def test_a_scalar_of_another_type_is_refused(tiny: Path, tmp_path: Path, field: str, value,
                                             what: str):
    """'false' (a string) is truthy: the policy clipped although the file said false; '0.25'
    made 64 * '0.25' a repeated string."""
    directory = edited(tiny, tmp_path / 'p',
                       lambda m: m['config'].__setitem__(field, value))
    with pytest.raises(CheckpointError, match=f'config.{field} must be {what}, got '):
        load_policy(directory)


def test_a_normalizer_lacking_a_low_dim_key_is_a_checkpoint_error(tiny: Path, tmp_path: Path):
    """The artifact's own inconsistency is a CheckpointError (one line in the CLI), not the
    bare ValueError of DiffusionPolicy's constructor (a traceback in `dp-ros eval`)."""
    directory = edited(tiny, tmp_path / 'p',
                       lambda m: m['normalizer']['fields'].pop('agent_pos'))
    with pytest.raises(CheckpointError, match="lacks 'agent_pos'"):
        load_policy(directory)


def test_a_normalizer_scale_of_another_length_is_a_checkpoint_error(tiny: Path,
                                                                    tmp_path: Path):
    def edit(meta: dict) -> None:
        entry = meta['normalizer']['fields']['agent_pos']
        entry['scale'], entry['offset'] = [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]

    with pytest.raises(CheckpointError, match="'agent_pos' has dimension 3"):
        load_policy(edited(tiny, tmp_path / 'p', edit))


@pytest.mark.parametrize('text', ['[1, 2]', '"policy"', 'null'])
def test_a_policy_json_that_is_no_object_is_a_checkpoint_error(tiny: Path, tmp_path: Path,
                                                               text: str):
    """Valid JSON of the wrong kind: CheckpointError, not AttributeError: 'list' ... 'get'."""
    directory = edited(tiny, tmp_path / 'p', text=text)
    with pytest.raises(CheckpointError, match='expected a JSON object'):
        read_policy_metadata(directory)


@pytest.mark.parametrize('key', ['config', 'normalizer'])
def test_a_section_that_is_no_object_is_a_checkpoint_error(tiny: Path, tmp_path: Path,
                                                           key: str):
    """'normalizer': [] was an AttributeError in load_policy and `dp-ros inspect`."""
    directory = edited(tiny, tmp_path / 'p', lambda m: m.__setitem__(key, []))
    with pytest.raises(CheckpointError, match=f"'{key}' must be a JSON object, got list"):
        read_policy_metadata(directory)


@pytest.mark.parametrize('edit', [
    lambda m: m['normalizer'].__setitem__('fields', []),
    lambda m: m['normalizer']['fields'].__setitem__('action', [1.0, 2.0]),
], ids=['fields', 'entry'])
def test_a_normalizer_part_that_is_no_object_is_a_checkpoint_error(tiny: Path,
                                                                   tmp_path: Path, edit):
    with pytest.raises(CheckpointError, match='must be a mapping'):
        load_policy(edited(tiny, tmp_path / 'p', edit))


def test_the_tiny_copy_itself_loads(tiny: Path, tmp_path: Path):
    """Control: the unedited copy loads and samples (the helpers above are sound)."""
    policy = load_policy(edited(tiny, tmp_path / 'p'))
    assert policy.predict_action(observation())['action'].shape == (1, 8, 2)
    assert read_policy_metadata(tmp_path / 'p')['control_period_s'] == 0.1
