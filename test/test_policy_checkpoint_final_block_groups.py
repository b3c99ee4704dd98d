"""The UNet's final conv block took 8 GroupNorm groups whatever n_groups is in c39e57f
(2026-12-03); before, n_groups. The weights' names and shapes are the same either way and the
file stayed format_version 1, so an older n_groups-4 policy loaded as another network (actions
tens of px off). PolicyConfig.final_block_groups records it from now on; a file without it is
read as what it must be, and refused where it could be either (policy.json, a train state for
--resume, train.init_from)."""
from __future__ import annotations

import json

import pytest
import torch
from support import (  # noqa: F401
    STATE_ENTRIES,
    as_saved_before_the_config_record,
    make_tiny_checkpoint,
    one_torch_thread,
)

from dp_ros.policy.checkpoint import CheckpointError, load_policy, read_policy_metadata
from dp_ros.policy.config import PolicyConfig, with_final_block_groups
from dp_ros.policy.unet import ConditionalUnet1D
from training.errors import TrainStateError
from training.train_state_file import STATE_FILE, STATE_FORMAT, read_state
from training.warm_start import check_init_policy


def _as_older_save(directory, **config):
    """The checkpoint's policy.json as a save before final_block_groups (and color_jitter)
    wrote it, with `config` changed (its weights as such a save wrote them: no record of the
    policy.json saved with them)."""
    as_saved_before_the_config_record(directory)
    path = directory / 'policy.json'
    meta = json.loads(path.read_text())
    for name in ('final_block_groups', 'color_jitter'):
        del meta['config'][name]
    meta['config'].update(config)
    path.write_text(json.dumps(meta, indent=2))
    return directory


def _final_groups(policy) -> int:
    return policy.model.final_conv[0].block[1].num_groups


@pytest.fixture(scope='module')
def groups_4(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('g4') / 'policy', seed=3, n_groups=4)


def test_a_save_records_final_block_groups(groups_4):
    assert json.loads((groups_4 / 'policy.json').read_text())['config']['final_block_groups'] == 8


def test_an_older_n_groups_4_policy_is_refused_naming_both_possibilities(tmp_path, groups_4):
    """Saved before c39e57f its final block had 4 groups, since then 8: the file cannot say
    which, so it is refused in one line saying how to tell, not loaded as either."""
    directory = tmp_path / 'old'
    directory.mkdir()
    for name in ('policy.json', 'model.safetensors'):
        (directory / name).write_bytes((groups_4 / name).read_bytes())
    _as_older_save(directory)
    for read in (read_policy_metadata, load_policy):
        with pytest.raises(CheckpointError) as info:
            read(directory)
        message = str(info.value)
        assert '\n' not in message and 'policy.json' in message
        for part in ('n_groups 4', 'c39e57f', '"final_block_groups": 4 or 8'):
            assert part in message
    with pytest.raises(CheckpointError, match='n_groups 4'):  # train.init_from alike
        check_init_policy(directory, PolicyConfig(n_groups=4, down_dims=(32, 64, 128)))


def test_told_final_block_groups_the_older_file_loads(tmp_path, groups_4):
    directory = tmp_path / 'old'
    directory.mkdir()
    for name in ('policy.json', 'model.safetensors'):
        (directory / name).write_bytes((groups_4 / name).read_bytes())
    _as_older_save(directory, final_block_groups=4)
    assert read_policy_metadata(directory)['config']['final_block_groups'] == 4
    assert load_policy(directory).config.final_block_groups == 4


def test_the_loaded_policy_has_the_final_block_it_was_trained_with(tmp_path, groups_4):
    directory = tmp_path / 'old'
    directory.mkdir()
    for name in ('policy.json', 'model.safetensors'):
        (directory / name).write_bytes((groups_4 / name).read_bytes())
    _as_older_save(directory, final_block_groups=4)
    assert _final_groups(load_policy(directory)) == 4
    assert _final_groups(load_policy(groups_4)) == 8


def test_a_first_width_only_valid_before_is_read_as_n_groups(tmp_path, groups_4):
    """down_dims[0] 20 with n_groups 4 was only valid before c39e57f (8 groups need a
    multiple of 8): such a file's final block had 4 groups, no need to ask."""
    directory = tmp_path / 'old'
    directory.mkdir()
    (directory / 'policy.json').write_bytes((groups_4 / 'policy.json').read_bytes())
    _as_older_save(directory, down_dims=[20, 40, 80])
    config = read_policy_metadata(directory)['config']
    assert config['final_block_groups'] == 4
    assert PolicyConfig.from_dict(config).final_block_groups == 4


def test_n_groups_8_without_the_field_is_8():
    """The shipped Push-T policy (n_groups 8) and every file like it: nothing to ask."""
    config = PolicyConfig(n_groups=8).to_dict()
    del config['final_block_groups']
    assert with_final_block_groups(config, 'x') == config
    assert PolicyConfig.from_dict(config).final_block_groups == 8


def test_the_unet_builds_the_final_block_it_is_given():
    unet = ConditionalUnet1D(2, 8, down_dims=(32, 64), n_groups=4, final_block_groups=4)
    assert unet.final_conv[0].block[1].num_groups == 4
    torch.manual_seed(0)
    default = ConditionalUnet1D(2, 8, down_dims=(32, 64), n_groups=4)
    assert default.final_conv[0].block[1].num_groups == 8


def test_a_first_width_the_final_block_does_not_divide_is_refused():
    with pytest.raises(ValueError, match=r'divisible by 8 \(final_block_groups'):
        PolicyConfig(down_dims=(20, 40, 80), n_groups=4)
    assert PolicyConfig(down_dims=(20, 40, 80), n_groups=4, final_block_groups=4)


def _state(tmp_path, **saved):
    directory = tmp_path / 'train_state'
    directory.mkdir()
    (directory / STATE_FILE).write_text(json.dumps({'format': STATE_FORMAT, **STATE_ENTRIES,
                                                    **saved}))
    return directory


def test_resume_of_an_older_n_groups_4_run_is_refused(tmp_path):
    """--resume compares the saved policy with this run's: an older state's final block is
    as unknown as an older policy.json's."""
    policy = PolicyConfig(n_groups=4, down_dims=(32, 64, 128)).to_dict()
    del policy['final_block_groups']
    with pytest.raises(TrainStateError, match="n_groups 4 .*'policy_config'") as info:
        read_state(_state(tmp_path, policy_config=policy))
    assert '\n' not in str(info.value)


def test_resume_reads_what_an_older_state_must_have_trained(tmp_path):
    policy = PolicyConfig(n_groups=4, down_dims=(20, 40, 80), final_block_groups=4).to_dict()
    del policy['final_block_groups']
    saved = read_state(_state(tmp_path, policy_config=policy))
    assert saved['policy_config']['final_block_groups'] == 4
    # a state from before policy_config was saved: its config's policy section
    section = {'n_groups': 4, 'down_dims': [20, 40, 80]}
    (tmp_path / 'b').mkdir()
    saved = read_state(_state(tmp_path / 'b', config={'policy': section}))
    assert saved['config']['policy']['final_block_groups'] == 4
