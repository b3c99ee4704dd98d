"""Behaviour of the policy artifact (dp_ros/policy/checkpoint.py) and the normalizer
(dp_ros/policy/normalizer.py) that their own tests left unpinned (a mutation review).

Pinned: what policy.json records (the control period given, the parameter count); that
color_jitter stays editable, that a reformatted policy.json (keys reordered, 1.0 written 1)
is no hand edit, and how the hand-edit message counts and shortens what changed; the
read checks' boundaries and kinds (100 levels of nesting, a policy.json that is a directory
or not UTF-8, no format_version, both control-period names); an unreadable weights record
and a malformed config as CheckpointErrors naming the file; inf statistics named at save;
fp16 weights loading as fp32 and the mis-shaped-tensor list cut after 20. The normalizer:
range_eps 1e-4, unnormalize's dimension check, from_dict's refusal of a list and of an
entry without a kind, and non-finite data as a UserError.

Each test kills a mutant that the modules' other tests let live: a limit moved by one, a
field left out of policy.json, a check dropped, an exception kind not caught. The last
tests pin four defects found on the way, mended: hand-edited values of the wrong kind (a
400-digit control period, a weights record that is no object, a statistic that is no list of
numbers, a shape_meta entry or color_jitter of the wrong kind) are errors naming them, not
tracebacks.
"""
from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from support import (  # noqa: F401 (fixture)
    as_saved_before_the_config_record,
    one_torch_thread,
    small_image_config,
)

from dp_ros.errors import UserError
from dp_ros.policy.checkpoint import (
    METADATA_FILE,
    SAVED_CONFIG_KEY,
    WEIGHTS_FILE,
    CheckpointError,
    check_unedited,
    load_policy,
    read_policy_metadata,
    save_policy,
)
from dp_ros.policy.diffusion import DiffusionPolicy, count_parameters
from dp_ros.policy.normalizer import NonFiniteDataError, Normalizer


def make_policy(**overrides) -> DiffusionPolicy:
    """The checkpoint tests' tiny policy: a 32 px camera, 2-D state and action."""
    rng = np.random.default_rng(0)
    norm = Normalizer.from_data({'action': rng.uniform(0, 512, (50, 2)),
                                 'agent_pos': rng.uniform(0, 512, (50, 2))})
    return DiffusionPolicy(small_image_config(**overrides), norm).eval()


@pytest.fixture(scope='module')
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny policy saved with a 50 ms control period; read, never written."""
    return save_policy(make_policy(), tmp_path_factory.mktemp('saved') / 'policy',
                       control_period_s=0.05)


def copy_edited(saved: Path, into: Path, edit=None, text: str | None = None) -> Path:
    """A copy of `saved` whose policy.json is `edit(meta)` (in place) or raw `text`."""
    shutil.copytree(saved, into)
    meta = json.loads((into / METADATA_FILE).read_text())
    if edit is not None:
        edit(meta)
    (into / METADATA_FILE).write_text(json.dumps(meta, indent=2) if text is None else text)
    return into


def refusal(directory: Path) -> str:
    """check_unedited's message for the policy at `directory` (which must be refused)."""
    with pytest.raises(CheckpointError) as info:
        check_unedited(directory, read_policy_metadata(directory))
    return str(info.value)


# ------------------------------------------------------------------ what a save records

def test_the_control_period_and_parameter_count_are_recorded(saved: Path):
    """policy.json holds the period the save was given (the node's timer) and the count of
    the network's parameters (push's model card), not defaults."""
    meta = read_policy_metadata(saved)
    assert meta['control_period_s'] == 0.05
    assert meta['weights']['num_parameters'] == count_parameters(load_policy(saved))
    assert meta['weights']['num_parameters'] > 0


def test_the_weights_metadata_is_sorted_whatever_the_header_length(tmp_path: Path):
    """The save sorts the weights' metadata (safetensors writes it in a random order), also
    where the header fills its 8-byte-aligned length exactly: eight colour-jitter values of
    consecutive lengths cover every padding."""
    for i in range(8):
        jitter = float('0.' + '1' * (i + 1))  # 0.1, 0.11, ...: one more character each
        policy = make_policy(color_jitter=(jitter, 0.0, 0.0, 0.0))
        for j in range(2):  # the library's order is random: one save may be sorted by luck
            path = save_policy(policy, tmp_path / f'p{i}_{j}') / WEIGHTS_FILE
            with open(path, 'rb') as f:
                header = json.loads(f.read(int.from_bytes(f.read(8), 'little')))
            keys = list(header['__metadata__'])
            assert keys == sorted(keys), (jitter, keys)


# ------------------------------------------------------------------ edits after the save

def test_color_jitter_may_be_edited_after_the_save(saved: Path, tmp_path: Path):
    """color_jitter is training-only augmentation: an edit leaves the policy loadable."""
    def edit(meta):
        meta['config']['color_jitter'] = [0.3, 0.3, 0.2, 0.05]

    policy = load_policy(copy_edited(saved, tmp_path / 'jitter', edit))
    assert policy.config.color_jitter == (0.3, 0.3, 0.2, 0.05)


def test_a_policy_json_with_its_keys_reordered_is_no_edit(saved: Path, tmp_path: Path):
    """A JSON tool that writes keys in another order changes no value: still loads."""
    meta = json.loads((saved / METADATA_FILE).read_text())
    text = json.dumps(meta, sort_keys=True, indent=1)
    assert text != json.dumps(meta, indent=1)  # the normalizer's keys are not sorted
    load_policy(copy_edited(saved, tmp_path / 'sorted', text=text))


def test_a_float_written_as_a_whole_number_is_no_edit(tmp_path: Path):
    """resnet_width 1.0 written as 1 (as JavaScript writes it) is the same value."""
    path = save_policy(make_policy(resnet_width=1.0), tmp_path / 'wide')
    text = (path / METADATA_FILE).read_text()
    assert '"resnet_width": 1.0' in text
    (path / METADATA_FILE).write_text(text.replace('"resnet_width": 1.0', '"resnet_width": 1'))
    meta = read_policy_metadata(path)
    assert meta['config']['resnet_width'] == 1 and isinstance(meta['config']['resnet_width'], int)
    check_unedited(path, meta)


# eight edits PolicyConfig accepts, each changing one field the weights were trained with
EIGHT_EDITS = {'clip_sample': False, 'prediction_type': 'sample', 'beta_schedule': 'linear',
               'n_obs_steps': 3, 'kernel_size': 3, 'feature_dim': 32,
               'num_keypoints': 16, 'diffusion_step_embed_dim': 64}


def test_eight_changes_are_all_named(saved: Path, tmp_path: Path):
    """Up to eight changed fields are each named, with no 'more' count."""
    message = refusal(copy_edited(saved, tmp_path / 'eight',
                                  lambda meta: meta['config'].update(EIGHT_EDITS)))
    for name in EIGHT_EDITS:
        assert f'{name}: ' in message, name
    assert 'more' not in message


def test_a_ninth_change_is_counted_not_named(saved: Path, tmp_path: Path):
    """Nine changes: the first eight (by name) are named and one is counted."""
    nine = {**EIGHT_EDITS, 'resnet_width': 0.5}
    message = refusal(copy_edited(saved, tmp_path / 'nine',
                                  lambda meta: meta['config'].update(nine)))
    named = sorted(name for name in nine if f'{name}: ' in message)
    assert named == sorted(nine)[:8]
    assert '; and 1 more.' in message


def test_a_changed_value_is_shown_up_to_60_characters(saved: Path, tmp_path: Path):
    """A value up to 60 characters of JSON is shown whole; a longer one is cut to 57 and
    '...' (the message stays one readable line)."""
    def names(first: str, second: str):
        def edit(meta):
            meta['config']['shape_meta']['obs']['agent_pos']['names'] = [first, second]
        return edit

    exact = json.dumps(['x' * 26, 'y' * 26])
    assert len(exact) == 60
    message = refusal(copy_edited(saved, tmp_path / 'sixty', names('x' * 26, 'y' * 26)))
    assert f'shape_meta.obs.agent_pos.names: {exact} (saved: null)' in message

    longer = json.dumps(['x' * 27, 'y' * 26])
    message = refusal(copy_edited(saved, tmp_path / 'longer', names('x' * 27, 'y' * 26)))
    assert f'shape_meta.obs.agent_pos.names: {longer[:57]}... (saved: null)' in message


def with_record(saved: Path, into: Path, record: str) -> Path:
    """A copy of `saved` whose weights hold `record` as their record of the saved config."""
    shutil.copytree(saved, into)
    path = into / WEIGHTS_FILE
    with safe_open(str(path), framework='pt') as f:
        metadata = dict(f.metadata())
    save_file(load_file(str(path)), str(path), metadata={**metadata, SAVED_CONFIG_KEY: record})
    return into


@pytest.mark.parametrize('record', ['{"horizon": ', '{"horizon": "sixteen"}'])
def test_an_unreadable_record_is_a_checkpoint_error(saved: Path, tmp_path: Path, record: str):
    """Weights whose record of the saved config is no JSON, or no config, are named as such
    (a CheckpointError, not a JSONDecodeError or ValueError traceback)."""
    policy = with_record(saved, tmp_path / 'record', record)
    for check in (lambda: load_policy(policy),
                  lambda: check_unedited(policy, read_policy_metadata(policy))):
        with pytest.raises(CheckpointError, match='its record of the saved config is '
                                                  'unreadable'):
            check()


def test_check_unedited_leaves_missing_weights_to_the_loader(saved: Path, tmp_path: Path):
    """No model.safetensors: check_unedited says nothing, load_policy names the file."""
    policy = copy_edited(saved, tmp_path / 'no_weights')
    (policy / WEIGHTS_FILE).unlink()
    assert check_unedited(policy, read_policy_metadata(policy)) is None
    with pytest.raises(CheckpointError, match=r'model\.safetensors not found'):
        load_policy(policy)


@pytest.mark.parametrize('field,value', [('color_jitter', 5), ('horizon', 'sixteen')])
def test_a_malformed_config_is_a_checkpoint_error_before_the_edit_check(
        saved: Path, tmp_path: Path, field: str, value: object):
    """check_unedited (before nodes start, before an upload) names policy.json for a config
    PolicyConfig refuses, whether as a TypeError or a ValueError."""
    policy = copy_edited(saved, tmp_path / 'bad', lambda meta: meta['config'].update(
        {field: value}))
    message = refusal(policy)
    assert message.startswith(f'{policy / METADATA_FILE}: ')
    with pytest.raises(CheckpointError) as info:
        load_policy(policy)
    assert str(info.value).startswith(f'{policy / METADATA_FILE}: ')


# ------------------------------------------------------------------ reading policy.json

def nested(levels: int) -> object:
    """Lists nested `levels` deep: [] is one level."""
    value: object = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_a_policy_json_nested_exactly_100_levels_is_read(saved: Path, tmp_path: Path):
    """The object itself is level 1; 100 levels are read, 101 refused."""
    ok = copy_edited(saved, tmp_path / 'ok', lambda meta: meta.update(provenance=nested(99)))
    assert read_policy_metadata(ok)['provenance'] == nested(99)
    deep = copy_edited(saved, tmp_path / 'deep', lambda meta: meta.update(
        provenance=nested(100)))
    with pytest.raises(CheckpointError, match='nested more than 100 levels'):
        read_policy_metadata(deep)


def test_a_policy_json_that_is_a_directory_is_not_a_policy(tmp_path: Path):
    (tmp_path / 'policy' / METADATA_FILE).mkdir(parents=True)
    with pytest.raises(CheckpointError, match='not found: not a dp_ros policy directory'):
        read_policy_metadata(tmp_path / 'policy')


def test_a_policy_json_that_is_not_utf8_is_named(saved: Path, tmp_path: Path):
    """Latin-1 bytes in policy.json (a hand edit in another encoding) name the file and the
    byte, not a UnicodeDecodeError traceback."""
    policy = copy_edited(saved, tmp_path / 'latin1')
    text = (policy / METADATA_FILE).read_text().replace('"provenance": {', '"provenance": '
                                                         '{"note": "caf\u00e9", ', 1)
    (policy / METADATA_FILE).write_bytes(text.encode('latin-1'))
    with pytest.raises(CheckpointError, match=r'policy\.json is not UTF-8 text \(invalid '
                                              r'continuation byte at byte \d+\)'):
        read_policy_metadata(policy)


def test_a_policy_json_without_format_version_is_refused(saved: Path, tmp_path: Path):
    policy = copy_edited(saved, tmp_path / 'noversion', lambda meta: meta.pop('format_version'))
    with pytest.raises(CheckpointError, match='format_version None, this code reads 1'):
        read_policy_metadata(policy)


@pytest.mark.parametrize('version', [True, 1.0, '1'])
def test_a_format_version_that_only_equals_1_is_refused(saved: Path, tmp_path: Path, version):
    """JSON true and 1.0 compare equal to 1 in Python: a hand-edited version of no dp_ros
    was read as version 1; so was a normalizer 'version' of true."""
    policy = copy_edited(saved, tmp_path / 'v', lambda meta: meta.update(format_version=version))
    with pytest.raises(CheckpointError, match=f'format_version {version!r}, this code reads 1'):
        read_policy_metadata(policy)
    d = Normalizer.from_data({'action': np.array([[0.0, 2.0], [1.0, 3.0]])}).to_dict()
    Normalizer.from_dict(d)
    with pytest.raises(ValueError, match=f'normalizer format version {version!r} is not 1'):
        Normalizer.from_dict({**d, 'version': version})


def test_the_new_control_period_name_wins_over_a_stale_old_one(saved: Path, tmp_path: Path):
    """A policy.json holding both names is read by control_period_s, without the old name's
    deprecation warning."""
    policy = copy_edited(saved, tmp_path / 'both', lambda meta: meta.update(control_period=0.2))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        meta = read_policy_metadata(policy)
    assert meta['control_period_s'] == 0.05


# ------------------------------------------------------------------ statistics at save

def test_infinite_statistics_are_refused_naming_their_path(tmp_path: Path):
    """inf, as NaN, is no JSON: the save names where it is and writes nothing."""
    policy = make_policy()
    policy.normalizer.stats['agent_pos']['max'][0] = float('inf')
    with pytest.raises(ValueError, match=r'NaN or inf at normalizer\.fields\.agent_pos\.max\.0'):
        save_policy(policy, tmp_path / 'policy')
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ the weights

def test_half_precision_weights_load_as_fp32(tmp_path: Path):
    """Weights saved in fp16 (a half-precision training's) load as fp32 unless a dtype is
    asked: the same values, the dtype the samplers expect."""
    policy = make_policy()
    half = {k: v.half() if v.is_floating_point() else v for k, v in policy.state_dict().items()}
    path = save_policy(policy, tmp_path / 'half', state_dict=half)
    loaded = load_policy(path)
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, half[name].float() if half[name].is_floating_point()
                           else half[name]), name


def mis_shaped(policy: DiffusionPolicy, count: int) -> dict:
    """The policy's state_dict with its first `count` floating tensors one element longer."""
    weights = dict(policy.state_dict())
    names = [k for k, v in weights.items() if v.is_floating_point()][:count]
    assert len(names) == count
    for name in names:
        weights[name] = torch.zeros(weights[name].numel() + 1)
    return weights


def test_twenty_shape_mismatches_are_all_listed(tmp_path: Path):
    policy = make_policy()
    with pytest.raises(CheckpointError, match=r'shape mismatches \(20\):') as info:
        save_policy(policy, tmp_path / 'policy', state_dict=mis_shaped(policy, 20))
    lines = str(info.value).splitlines()
    assert sum(' vs config ' in line for line in lines) == 20
    assert not any('more' in line for line in lines)


def test_a_21st_shape_mismatch_is_counted_not_listed(tmp_path: Path):
    policy = make_policy()
    with pytest.raises(CheckpointError, match=r'shape mismatches \(21\):') as info:
        save_policy(policy, tmp_path / 'policy', state_dict=mis_shaped(policy, 21))
    lines = str(info.value).splitlines()
    assert sum(' vs config ' in line for line in lines) == 20
    assert lines[-1] == '    ... and 1 more'
    assert not tmp_path.joinpath('policy').exists()


# ------------------------------------------------------------------ the normalizer

def test_a_millimetre_range_is_scaled_and_a_range_under_1e_4_only_shifted():
    """range_eps is 1e-4 (recorded in policy.json): a gripper that moves 1 mm (in metres) is
    scaled to [-1, 1]; a dimension that moves 0.05 mm is only shifted to 0."""
    norm = Normalizer.from_data({'action': np.array([[0.5, 0.2], [0.501, 0.20005]])})
    assert norm.to_dict()['range_eps'] == 1e-4
    got = norm.normalize('action', torch.tensor([[0.501, 0.20005]]))
    assert got[0, 0].item() == pytest.approx(1.0, abs=1e-3)
    assert got[0, 1].item() == pytest.approx(0.00005, abs=1e-6)


def test_unnormalize_checks_the_last_dimension_as_normalize_does():
    """A one-wide tensor for a two-wide action would broadcast into a wrong action: refused."""
    norm = Normalizer.from_data({'action': np.array([[0.0, 10.0], [2.0, 30.0]])})
    for convert in (norm.normalize, norm.unnormalize):
        with pytest.raises(ValueError, match=r"normalizer 'action': last dimension must be 2, "
                                             r'got shape \(3, 1\)'):
            convert('action', torch.zeros(3, 1))


@pytest.mark.parametrize('d,match', [
    ([{'version': 1}], 'normalizer must be a mapping, got list'),
    ({'version': 1, 'fields': {'action': {'scale': [1.0], 'offset': [0.0]}}},
     "normalizer field 'action': unknown kind None"),
])
def test_from_dict_refuses_a_list_or_an_entry_without_a_kind(d: object, match: str):
    with pytest.raises(ValueError, match=match):
        Normalizer.from_dict(d)


def test_non_finite_data_is_a_user_error():
    """NaN data is the dataset's fault: a UserError (one line from the commands, which add
    the dataset's name), not a bare ValueError traceback."""
    with pytest.raises(NonFiniteDataError, match="normalizer data 'action': non-finite") as info:
        Normalizer.from_data({'action': np.array([[0.0], [np.nan]])})
    assert isinstance(info.value, UserError)


# ------------------------------------------------------------------ hand-edited files refused
def test_a_control_period_beyond_a_float_is_a_checkpoint_error(saved: Path, tmp_path: Path):
    """math.isfinite of an int too large for a float raised OverflowError: a 400-digit
    control_period_s was a traceback, not the CheckpointError of every other bad period."""
    policy = copy_edited(saved, tmp_path / 'huge', text=(saved / METADATA_FILE).read_text()
                         .replace('"control_period_s": 0.05', '"control_period_s": 1' + '0' * 400))
    with pytest.raises(CheckpointError, match='control_period_s must be > 0 s and finite'):
        read_policy_metadata(policy)


@pytest.mark.parametrize('record', ['[]', 'null', '"x"'])
def test_a_record_that_is_no_object_is_a_checkpoint_error(saved: Path, tmp_path: Path,
                                                          record: str):
    """A weights record that is JSON and no object reached with_final_block_groups, whose
    config.get raised AttributeError from load_policy and check_unedited."""
    policy = with_record(saved, tmp_path / 'record', record)
    with pytest.raises(CheckpointError, match='its record of the saved config is unreadable '
                                              r'\(the saved config is no mapping'):
        check_unedited(policy, read_policy_metadata(policy))
    with pytest.raises(CheckpointError, match='its record of the saved config is unreadable'):
        load_policy(policy)


@pytest.mark.parametrize('record, says', [
    ('{}', 'shape_meta, horizon, n_obs_steps, n_action_steps and 14 more'),
    ('{"horizon": 16}', 'shape_meta, n_obs_steps, n_action_steps, down_dims and 13 more')])
def test_a_record_lacking_config_fields_is_unreadable(saved: Path, tmp_path: Path, record: str,
                                                      says: str):
    """A record of `{}` was read as the dataclass defaults, which the edit check then named
    as the saved values ('horizon: 16 (saved: 16)'-like lines of fields never saved)."""
    policy = with_record(saved, tmp_path / 'record', record)
    with pytest.raises(CheckpointError, match=r'its record of the saved config is unreadable '
                                              rf'\(it lacks {says}\)'):
        check_unedited(policy, read_policy_metadata(policy))


@pytest.mark.parametrize('value, says', [
    (None, "its 'min' must be a list of numbers (one per dimension), got None"),
    ('abc', "its 'min' must be a list of numbers (one per dimension), got 'abc'"),
    ([0.0, True], "its 'min' must be a list of numbers"),
    ([0.0, '1'], "its 'min' must be a list of numbers")])
def test_a_statistic_that_is_no_list_of_numbers_is_named(value: object, says: str):
    """A statistic was copied with list(): null was "'NoneType' object is not iterable",
    naming neither field nor statistic, and a string was kept as its letters (written back
    by the next save)."""
    d = Normalizer.from_data({'action': np.array([[0.0, 2.0], [1.0, 3.0]])}).to_dict()
    d['fields']['action']['min'] = value
    with pytest.raises(ValueError, match=re.escape(f"normalizer field 'action': {says}")):
        Normalizer.from_dict(d)


def test_saved_statistics_are_read_back_as_written():
    d = Normalizer.from_data({'action': np.array([[0.0, 2.0], [1.0, 3.0]])}).to_dict()
    d['fields']['action']['min'] = [0, 2.0]  # an int as a hand edit writes it: kept
    assert Normalizer.from_dict(d).to_dict()['fields']['action']['min'] == [0, 2.0]


@pytest.mark.parametrize('check', ['load_policy', 'check_unedited'])
@pytest.mark.parametrize('edit, says', [
    (lambda m: m['config']['shape_meta']['obs'].update(agent_pos=None),
     "shape_meta.obs 'agent_pos' must be a mapping (type, shape), got None"),
    (lambda m: m['config']['shape_meta']['obs'].update(agent_pos=[2]),
     "shape_meta.obs 'agent_pos' must be a mapping (type, shape), got [2]"),
    (lambda m: m['config']['shape_meta'].update(action='x'),
     "shape_meta.action must be a mapping, got 'x'"),
    (lambda m: m['config']['shape_meta'].update(obs='x'),
     "shape_meta.obs must be a mapping, got 'x'"),
    (lambda m: m['config'].update(color_jitter=5),
     'color_jitter 5 must be 4 numbers (brightness, contrast, saturation, hue)'),
    (lambda m: m['config'].update(color_jitter='abcd'),
     "color_jitter 'abcd' must be 4 numbers"),
], ids=['obs-entry-null', 'obs-entry-list', 'action-string', 'obs-string', 'jitter-int',
        'jitter-string'])
def test_a_config_entry_of_the_wrong_kind_is_a_checkpoint_error_naming_it(
        saved: Path, tmp_path: Path, check: str, edit, says: str):
    """PolicyConfig called .get on each shape_meta entry and iterated color_jitter: a
    policy.json entry of the wrong kind was an AttributeError traceback (or a TypeError
    naming no field), not the CheckpointError naming policy.json and the entry."""
    policy = copy_edited(saved, tmp_path / 'entry', edit)
    with pytest.raises(CheckpointError, match=r'policy\.json: ' + re.escape(says)):
        if check == 'load_policy':
            load_policy(policy)
        else:
            check_unedited(policy, read_policy_metadata(policy))


@pytest.mark.parametrize('edit, says', [
    (lambda f: f['action'].update(kind='image'),
     "normalizer 'action' is of kind 'image', not 'limits'"),
    (lambda f: f['image'].update(scale=[5.0, 5.0, 5.0], offset=[0.0, 0.0, 0.0]),
     "normalizer 'image' (a camera) must be of kind 'image' with one scale and offset, got "
     "'image' of dimension 3"),
    (lambda f: f['image'].update(kind='limits'),
     "normalizer 'image' (a camera) must be of kind 'image'"),
], ids=['action-as-image', 'image-three-scales', 'image-as-limits'])
def test_a_normalizer_entry_of_the_wrong_kind_is_refused_at_load(saved: Path, tmp_path: Path,
                                                                 edit, says: str):
    """In a file saved before the weights' record (no digest to catch the edit): an 'action'
    entry of kind 'image' skipped the dimension check, and a camera's scale of 3 values
    loaded and failed at the first chunk (a broadcast RuntimeError)."""
    policy = copy_edited(saved, tmp_path / 'kind', lambda m: edit(m['normalizer']['fields']))
    as_saved_before_the_config_record(policy)
    with pytest.raises(CheckpointError, match=re.escape(says)):
        load_policy(policy)
