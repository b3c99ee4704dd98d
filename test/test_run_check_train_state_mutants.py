"""Behaviour of the checks `dp-ros train` runs before torch loads (training/run_check.py),
the saved train state a resume reads (training/train_state_file.py, train_state.py) and the
one-run-per-folder rule (training/run_dir.py) that their other tests left unpinned (a
mutation review): every config key a resume refuses names its own reason, and every key it
honours is accepted and listed as a change; an --output that is the dataset or inside it is
refused; a missing train.init_from is named before the dataset is looked for.

Each test kills a mutant that the modules' other tests let live. check_resume and check_run
are called on a real 1-step run of the small synthetic store (test/tiny_runs.py) and on
copies of its state.json. Two defects found on the way are pinned, mended: a state.json
that is not UTF-8, or whose entries are of the wrong kind (a position that is a list, no
position, a step 'x'), was a traceback; it is a TrainStateError naming the file and entry.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import SMALL_LENGTHS, small_arrays, small_config, write_small_store

from training.config import TrainConfig
from training.download import STORE
from training.errors import DatasetError, TrainConfigError, TrainStateError
from training.lerobot_source import open_training_store
from training.replay_buffer import ReplayBuffer
from training.run_check import (
    available_memory,
    check_disk,
    check_resume,
    check_run,
    refusal,
    resolve_control_period,
    snapshots_to_write,
)
from training.run_dir import (
    carry_best,
    remove_save_leftovers,
    set_aside_earlier_run,
    set_aside_what,
)
from training.train_state import (
    Position,
    Progress,
    load_tensors,
    restore_train_state,
    save_train_state,
)
from training.train_state_file import (
    find_train_state,
    read_state,
    snapshot_name,
    snapshot_step,
)
from training.trainer import Trainer, train

_OPTIMIZER = "the saved optimizer state keeps the run's own lr"
_EMA = "the saved EMA keeps the run's own decay settings"
_SEED = 'the data order and the noise continue the streams of the saved seed'
_SPLIT = "the run's training and validation episodes were drawn with the saved split"
_KEYS = 'the weights and the normalizer were fitted on the saved observation and action keys'


def _config(store: Path, **sections: dict) -> TrainConfig:
    """A 1-step run, saved at its step, on the small synthetic store."""
    return small_config(store, **{**sections, 'train': {'max_steps': 1, 'checkpoint_every': 1,
                                                        **sections.get('train', {})}})


@pytest.fixture(scope='module')
def store(tmp_path_factory) -> Path:
    return write_small_store(tmp_path_factory.mktemp('data') / 'small.zarr')


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory, store) -> Path:
    """A 1-step run with its train state (read only: copy it to change it)."""
    run = tmp_path_factory.mktemp('saved') / 'run'
    train(_config(store), run)
    return run


def _saved(run: Path) -> dict[str, Any]:
    return json.loads((run / 'train_state' / 'state.json').read_text())


def _resume(run: Path, cfg: TrainConfig) -> tuple[str, ...]:
    """check_resume of `cfg` against the run's train state (the saved run's policy), its
    control period resolved from the store as check_run does."""
    dataset = cfg.data.resolved_zarr_path()
    resolve_control_period(cfg, dataset, open_training_store(dataset))
    policy_cfg = check_run(_config(dataset), run, 'never').policy_cfg
    return check_resume(run / 'train_state', _saved(run), cfg, policy_cfg)


# ---------------------------------------------------------------------------- resume tables
REFUSED = [
    ('optim', 'lr', 1e-3, _OPTIMIZER), ('optim', 'betas', [0.9, 0.99], _OPTIMIZER),
    ('optim', 'eps', 1e-6, _OPTIMIZER), ('optim', 'weight_decay', 0.5, _OPTIMIZER),
    ('ema', 'power', 0.5, _EMA), ('ema', 'max_value', 0.99, _EMA),
    ('ema', 'min_value', 0.1, _EMA), ('ema', 'inv_gamma', 2.0, _EMA),
    ('ema', 'update_after_step', 3, _EMA),
    ('train', 'seed', 7, _SEED),
    ('data', 'val_ratio', 0.3, _SPLIT), ('data', 'max_train_episodes', 2, _SPLIT),
    ('data', 'split_seed', 7, _SPLIT), ('data', 'exclude_episodes', [0], _SPLIT),
    ('data', 'image_key', 'camera', _KEYS), ('data', 'state_key', 'joints', _KEYS),
    ('data', 'action_key', 'command', _KEYS), ('data', 'rgb_keys', {'image': 'img'}, _KEYS),
    ('data', 'low_dim_keys', {'agent_pos': 'state'}, _KEYS),
    ('train', 'init_from', 'RUN', 'train.init_from only starts a fresh run'),
]


@pytest.mark.parametrize('section, key, value, reason', REFUSED,
                         ids=[f'{s}.{k}' for s, k, _, _ in REFUSED])
def test_a_resume_refuses_each_setting_the_train_state_brings_its_own_of(
        saved_run, store, section, key, value, reason):
    """Changed since the save, each of these is refused with its own reason (not as a key
    the resume does not know, and never accepted), so that config.yaml never records a value
    the run did not use."""
    value = str(saved_run) if value == 'RUN' else value
    with pytest.raises(TrainStateError) as err:
        _resume(saved_run, _config(store, **{section: {key: value}}))
    assert f'{section}.{key} ' in str(err.value) and reason in str(err.value)


TAKES_EFFECT = [
    ('data', 'format', 'zarr'), ('data', 'batch_size', 2), ('data', 'num_workers', 1),
    ('data', 'pin_memory', True), ('data', 'persistent_workers', True),
    ('data', 'drop_last', True), ('data', 'device_batches', True),
    ('optim', 'lr_scheduler', 'constant'), ('optim', 'lr_warmup_steps', 3),
    ('optim', 'grad_accum_steps', 2), ('optim', 'max_grad_norm', 0.5),
    ('optim', 'fused', False), ('ema', 'enabled', False), ('ema', 'foreach', False),
    ('train', 'max_steps', 5), ('train', 'mixed_precision', 'bf16'), ('train', 'cpu', False),
    ('train', 'channels_last', False), ('train', 'num_threads', 2),
    ('train', 'torch_compile', 'default'), ('train', 'tf32', False), ('train', 'log_every', 3),
    ('train', 'val_every', 3), ('train', 'val_max_batches', 2),
    ('train', 'action_mse_every', 3), ('train', 'eval_every', 3),
    ('train', 'checkpoint_every', 3), ('train', 'snapshot_every', 3),
    ('train', 'keep_snapshots', 2), ('train', 'final_eval', True),
    ('train', 'progress', True), ('train', 'control_period_s', 0.2),
    ('eval', 'max_steps', 50),
]


@pytest.mark.parametrize('section, key, value', TAKES_EFFECT,
                         ids=[f'{s}.{k}' for s, k, _ in TAKES_EFFECT])
def test_a_resume_applies_each_setting_the_loop_reads_afresh(saved_run, store, section, key,
                                                              value):
    """Changed since the save, each of these takes effect from the resume step on: accepted,
    and listed as the change it is."""
    changes = _resume(saved_run, _config(store, **{section: {key: value}}))
    assert len(changes) == 1 and changes[0].startswith(f'{section}.{key} '), changes
    assert changes[0].endswith(f'-> {json.dumps(value)}')


def test_a_moved_dataset_is_a_change_that_takes_effect(saved_run, store, tmp_path):
    """data.zarr_path: the same episodes read from another place resume (a change listed)."""
    moved = tmp_path / 'small.zarr'
    shutil.copytree(store, moved)
    assert _resume(saved_run, _config(moved)) == (f'data.zarr_path "{store}" -> "{moved}"',)


# ---------------------------------------------------------------------------- run directory
def test_an_output_that_is_the_dataset_or_inside_it_is_refused(store, tmp_path):
    """The run's checkpoints and train state would be written into the store: refused,
    saying which; a link to the store is the store. A dataset inside the run directory, or
    a run directory beside the dataset, is fine."""
    with pytest.raises(TrainConfigError, match=r'--output \S+ is the dataset \S+: the run '
                                               'would be written into the store'):
        check_run(_config(store), store)
    with pytest.raises(TrainConfigError, match='is inside the dataset'):
        check_run(_config(store), store / 'runs' / 'a')
    link = tmp_path / 'link'
    link.symlink_to(store)
    with pytest.raises(TrainConfigError, match='is the dataset'):
        check_run(_config(store), link)
    with pytest.raises(TrainConfigError, match='is inside the dataset'):
        check_run(_config(store), link / 'run')
    check_run(_config(store), store.parent / 'beside')
    inner = tmp_path / 'run' / 'small.zarr'
    shutil.copytree(store, inner)
    check_run(_config(inner), tmp_path / 'run')


def test_a_missing_init_checkpoint_is_named_before_the_dataset(tmp_path):
    """train.init_from is looked for before the dataset: with both missing, the error names
    the checkpoint (as it would once the dataset is fixed)."""
    cfg = _config(tmp_path / 'absent.zarr', train={'init_from': str(tmp_path / 'nothing')})
    with pytest.raises(FileNotFoundError, match='train.init_from=.*no policy checkpoint'):
        check_run(cfg, tmp_path / 'run')


# ---------------------------------------------------------------------------- check_run
def test_a_run_whose_excluded_episodes_leave_no_training_episode_is_refused(store, tmp_path):
    """data.exclude_episodes taking every episode the split draws for training: a
    DatasetError naming the exclusion before the data loads (not 'no windows' after)."""
    with pytest.raises(DatasetError, match='data.exclude_episodes takes every one drawn for '
                                           r'training \(\[1, 2, 3, 4\]\)'):
        check_run(_config(store, data={'exclude_episodes': [1, 2, 3, 4]}), tmp_path / 'run')
    check_run(_config(store, data={'exclude_episodes': [0, 1, 2, 3]}), tmp_path / 'run')


def test_an_evaluation_the_sim_cannot_run_is_refused_at_the_start(store, tmp_path):
    """The sim renders square images; the store's are 8 x 10: a config error at the start,
    saying how to train without the evaluation, not a crash at the first one."""
    cfg = _config(store, eval={'n_episodes': 1, 'max_steps': 3, 'n_video_episodes': 0},
                  train={'eval_every': 1})
    with pytest.raises(TrainConfigError, match='square images.*eval.n_episodes=0'):
        check_run(cfg, tmp_path / 'run')


def test_an_evaluation_with_more_denoising_steps_than_the_policy_has_is_refused(store,
                                                                                 tmp_path):
    cfg = _config(store, eval={'num_inference_steps': 100_000})
    with pytest.raises(TrainConfigError, match=r'eval.num_inference_steps.*, or null'):
        check_run(cfg, tmp_path / 'run')


def test_a_resume_on_a_dataset_with_an_episode_appended_is_refused(saved_run, store, tmp_path):
    """The split was drawn over 5 episodes: with a 6th the resumed run would draw another
    (its validation episodes trained on). Refused naming the change; the same episodes
    copied elsewhere resume."""
    arrays = small_arrays()
    grown = {k: np.concatenate([v, v[:8]]) for k, v in arrays.items()}
    more = tmp_path / 'more.zarr'
    ReplayBuffer.from_arrays(grown, np.cumsum([*SMALL_LENGTHS, 8])).save_to(more)
    with pytest.raises(TrainStateError, match=r'the dataset \S+ changed since it was saved '
                                              r'\(6 episodes, 5 when the split was drawn\)'):
        check_run(_config(more), saved_run, str(saved_run))
    same = tmp_path / 'same.zarr'
    shutil.copytree(store, same)
    assert check_run(_config(same), saved_run, str(saved_run)).changed == (
        f'data.zarr_path "{store}" -> "{same}"',)


# ---------------------------------------------------------------------------- run directory
def _a_run(folder: Path, config_text: str = 'old: run\n') -> dict[str, str]:
    """Every file and folder a run writes, each with its own content: {relative path: text}."""
    files = {'config.yaml': config_text, 'log.jsonl': '{"event": "step"}\n',
             'tb/events.out': 'tb', 'curves.png': 'png', 'media/eval_0.mp4': 'mp4',
             'checkpoints/latest/policy.json': '{}', 'checkpoints/best/policy.json': '{}',
             'train_state/state.json': '{"format": "dp_ros.train_state"}'}
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return files


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob('*')
            if p.is_file()}


def test_a_new_run_sets_every_file_of_the_old_one_aside_whole(tmp_path):
    """Config, log, TensorBoard, curves, media, checkpoints and train state move together
    into earlier_runs/1 (nothing of the old run left beside the new one's, nothing lost);
    a file of the user's stays where it is."""
    run = tmp_path / 'run'
    files = _a_run(run)
    (run / 'notes.txt').write_text('mine')
    dest = set_aside_earlier_run(run, 'new: run\n')
    assert dest == run / 'earlier_runs' / '1'
    assert _tree(dest) == files
    assert sorted(p.name for p in run.iterdir()) == ['earlier_runs', 'notes.txt']
    assert set_aside_what(dest) == (f'the run that was there is in {dest} (continue it '
                                    f'there: --output {dest})')


def test_an_earlier_run_goes_one_past_the_highest_number(tmp_path):
    """earlier_runs/1 and /3 there (2 removed by the user), and names that are no number: the
    next is 4, never over a kept run."""
    run = tmp_path / 'run'
    for name in ('1', '3', 'best_one', '2a'):
        (run / 'earlier_runs' / name).mkdir(parents=True)
        (run / 'earlier_runs' / name / 'keep').write_text(name)
    _a_run(run)
    assert set_aside_earlier_run(run, 'new\n') == run / 'earlier_runs' / '4'
    for name in ('1', '3', 'best_one', '2a'):
        assert (run / 'earlier_runs' / name / 'keep').read_text() == name


def test_only_this_commands_own_config_alone_is_rewritten(tmp_path):
    """config.yaml alone, the one this run writes: this command stopped in its start-up,
    nothing set aside. Any other config.yaml alone (another run's, one not UTF-8) is set
    aside, said as a config.yaml alone."""
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'config.yaml').write_text('same\n')
    assert set_aside_earlier_run(run, 'same\n') is None
    assert (run / 'config.yaml').read_text() == 'same\n'
    assert set_aside_earlier_run(tmp_path / 'empty', 'same\n') is None
    dest = set_aside_earlier_run(run, 'other\n')
    assert (dest / 'config.yaml').read_text() == 'same\n' and not (run / 'config.yaml').exists()
    assert set_aside_what(dest) == (f'the config.yaml that was there (not the one this run '
                                    f'writes) is in {dest}')
    (run / 'config.yaml').write_bytes(b'\xff\xfe not utf-8')
    dest = set_aside_earlier_run(run, 'other\n')
    assert dest == run / 'earlier_runs' / '2'
    assert (dest / 'config.yaml').read_bytes() == b'\xff\xfe not utf-8'


def test_a_run_stopped_before_its_first_save_is_said_to_have_nothing_to_continue(tmp_path):
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'config.yaml').write_text('old\n')
    (run / 'log.jsonl').write_text('{}\n')
    dest = set_aside_earlier_run(run, 'old\n')  # its config.yaml is this run's: not alone
    assert dest is not None and set_aside_what(dest) == (
        f'what a run stopped before its first save left there is in {dest} (no train state: '
        'nothing to continue)')


def test_a_continued_run_brings_its_best_checkpoint_but_never_over_one(tmp_path):
    """checkpoints/best of the run continued is copied whole (the original kept); a run
    folder that has its own best keeps it; a run without a best brings none."""
    old, new = tmp_path / 'old', tmp_path / 'new'
    _a_run(old)
    (old / 'checkpoints' / 'best' / 'model.safetensors').write_text('weights')
    copied = carry_best(old / 'train_state', new)
    assert copied == new / 'checkpoints' / 'best'
    assert _tree(copied) == _tree(old / 'checkpoints' / 'best')
    assert (old / 'checkpoints' / 'best' / 'model.safetensors').is_file()
    assert [p.name for p in (new / 'checkpoints').iterdir()] == ['best']  # no staging copy
    (old / 'checkpoints' / 'best' / 'policy.json').write_text('{"newer": 1}')
    assert carry_best(old / 'train_state', new) is None
    assert (copied / 'policy.json').read_text() == '{}'
    assert carry_best(tmp_path / 'nothing' / 'train_state', tmp_path / 'third') is None
    assert not (tmp_path / 'third').exists()


def test_a_start_removes_what_killed_saves_left_and_nothing_else(tmp_path):
    """The staging copies of checkpoints/latest, best and step_N, the train state's staging
    folder and a swap's put-aside train state: removed, counted; the run's own files and a
    file of the user's that merely looks alike are kept."""
    run = tmp_path / 'run'
    _a_run(run)
    ckpt = run / 'checkpoints'
    left = [ckpt / '.latest.tmp-1a2b3c4d', ckpt / '.best.tmp-1a2b3c4d',
            ckpt / '.step_000010.tmp-1a2b3c4d', run / '.train_state.tmp',
            run / '.train_state.old-1a2b3c4d']
    for path in left:
        path.mkdir()
        (path / 'model.safetensors').write_bytes(b'x' * 100)
    (ckpt / '.mine.tmp-1a2b3c4d').write_text('user')
    kept = _tree(run)
    assert remove_save_leftovers(run) == (5, 500)
    assert not any(p.exists() for p in left)
    assert _tree(run) == {k: v for k, v in kept.items()
                          if not any(k.startswith(p.relative_to(run).as_posix()) for p in left)}
    assert (ckpt / '.mine.tmp-1a2b3c4d').is_file()


# ---------------------------------------------------------------------------- warm start, state
def test_a_fresh_run_warm_starts_from_the_checkpoint_it_names(saved_run, store, tmp_path):
    """train.init_from naming a run directory: the run warm-starts from its
    checkpoints/latest; resuming, the train state has the weights and there is none."""
    cfg = _config(store, train={'init_from': str(saved_run)})
    assert check_run(cfg, tmp_path / 'new').init_from == saved_run / 'checkpoints' / 'latest'
    assert check_run(_config(store), saved_run).init_from is None


def _state_copy(saved_run: Path, tmp_path: Path, **changes: Any) -> Path:
    """A run folder holding a copy of the saved run's state.json with `changes`."""
    run = tmp_path / 'copy'
    (run / 'train_state').mkdir(parents=True)
    (run / 'train_state' / 'state.json').write_text(json.dumps({**_saved(saved_run),
                                                                **changes}))
    return run


@pytest.mark.parametrize('split', [None, [5, 'abc'], 'old'])
def test_a_state_without_a_split_record_resumes_with_a_warning(saved_run, store, tmp_path,
                                                               caplog, split):
    """No split record (an older dp_ros), or none that can be read: the episodes cannot be
    checked, said, and the run resumes."""
    run = _state_copy(saved_run, tmp_path, split=split)
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        check_run(_config(store), run)
    assert any('records no split' in m for m in caplog.messages)


def test_a_state_json_that_is_not_utf8_is_named_as_no_train_state(tmp_path):
    """A damaged state.json (bytes overwritten) escaped as a UnicodeDecodeError traceback."""
    (tmp_path / 'train_state').mkdir()
    (tmp_path / 'train_state' / 'state.json').write_bytes(
        b'{"format": "dp_ros.train_state", "position": "\xff\xfe"}')
    with pytest.raises(TrainStateError, match='state.json is not valid JSON .*--resume never '
                                              'starts over'):
        read_state(tmp_path / 'train_state')


@pytest.mark.parametrize('entry, value, says', [
    ('position', [1], "its 'position' is list, not an object"),
    ('config', [1], "its 'config' is list, not an object"),
    ('policy_config', [1], "its 'policy_config' is list, not an object"),
    ('normalizer', [1], "its 'normalizer' is list, not an object"),
    ('optimizer', None, "its 'optimizer' is NoneType, not an object"),
    ('position', {'step': 'x', 'epoch': 0, 'batch': 0}, "its 'position' step is 'x', not a "
                                                         'whole number >= 0'),
    ('position', {'step': -1}, "its 'position' step is -1"),
    ('position', {'step': True}, "its 'position' step is True"),
    ('position', {'epoch': 0, 'batch': 0}, "its 'position' has no step"),
    ('position', {'step': 1, 'row': 0}, "its 'position' holds 'row'"),
])
def test_a_state_json_entry_of_the_wrong_kind_is_named(saved_run, store, tmp_path, entry,
                                                        value, says):
    """A state.json of the right format whose entries are of the wrong kind (a hand edit,
    another tool's write) crashed check_run with an AttributeError, TypeError or ValueError
    traceback, or passed it and failed at the restore (KeyError): a TrainStateError naming
    the file and the entry."""
    run = _state_copy(saved_run, tmp_path, **{entry: value})
    with pytest.raises(TrainStateError, match=r'state\.json: ' + re.escape(says)
                       + '.*--resume never starts over'):
        check_run(_config(store), run)


def test_a_state_json_without_a_position_is_named(saved_run, store, tmp_path):
    """No 'position' at all passed check_run (as step 0) and failed in the restore."""
    run = _state_copy(saved_run, tmp_path)
    state = run / 'train_state' / 'state.json'
    saved = json.loads(state.read_text())
    del saved['position']
    state.write_text(json.dumps(saved))
    with pytest.raises(TrainStateError, match="state.json: it has no 'position'"):
        check_run(_config(store), run)


def test_a_state_saved_without_an_ema_resumes_only_without_one(saved_run, store, tmp_path):
    """A run trained with ema.enabled false has no EMA to continue: resumed with the EMA
    off, refused with it on (naming why and the way on)."""
    saved = _saved(saved_run)
    config = {**saved['config'], 'ema': {**saved['config']['ema'], 'enabled': False}}
    run = _state_copy(saved_run, tmp_path, ema=None, config=config)
    assert check_run(_config(store, ema={'enabled': False}), run).changed == ()
    with pytest.raises(TrainStateError, match=r'ema.enabled false -> true \(\S+ has no EMA to '
                                              r'continue\)'):
        check_run(_config(store), run)


def test_where_the_data_was_recorded_from_is_no_change_of_the_network():
    """A camera appended at another rate, other topics: the sources of an observation change
    no weight, and resume; its shape does not."""
    assert refusal('policy.shape_meta.obs.agent_pos.sources[0].rate_hz') is None
    assert refusal('policy.shape_meta.obs.image.sources') is None
    assert refusal('policy.shape_meta.obs.agent_pos.shape') == (
        'the saved weights are those of the saved network and data shapes')


def test_a_changed_sampling_setting_is_one_change_that_takes_effect(saved_run, store):
    """policy.num_inference_steps changes no weight: resumed, listed once (not once from the
    config's policy section and again from the resolved policy)."""
    cfg = _config(store)
    cfg.policy['num_inference_steps'] = 1
    assert check_run(cfg, saved_run).changed == ('policy.num_inference_steps 2 -> 1',)


def test_a_refused_change_of_a_shape_is_named_once(saved_run, store):
    """The whole state as agent_pos (5 columns, trained on 2): refused for the keys and for
    the network, the shape named once although the normalizer's widths differ too."""
    with pytest.raises(TrainStateError) as err:
        check_run(_config(store, data={'low_dim_keys': {'agent_pos': 'state'}}), saved_run)
    message = str(err.value)
    assert 'data.low_dim_keys null -> {"agent_pos": "state"}' in message
    assert message.count('policy.shape_meta.obs.agent_pos.shape') == 1, message
    assert 'policy.shape_meta.obs.agent_pos.shape [2] -> [5]' in message


def test_joint_names_recorded_since_the_save_are_no_change(saved_run, store, tmp_path):
    """The same episodes, their action's joint names recorded since (a newer conversion):
    the run trained before names were recorded resumes; names are unknown there, not other."""
    named = tmp_path / 'named.zarr'
    shutil.copytree(store, named)
    zarr.open_group(str(named), mode='r+')['data']['action'].attrs['names'] = ['x', 'y']
    checked = check_run(_config(named), saved_run, str(saved_run))
    assert checked.policy_cfg.shape_meta['action']['names'] == ['x', 'y']
    assert checked.changed == (f'data.zarr_path "{store}" -> "{named}"',)


def test_an_old_state_fitted_on_a_one_wide_observation_this_policy_lacks_is_refused(
        saved_run, store, tmp_path):
    """A state saved before policy_config was recorded: its normalizer is what says the
    weights read a 1-wide observation (a gripper) this config's policy does not give."""
    saved = _saved(saved_run)
    fields = {**saved['normalizer']['fields'],
              'gripper': {**saved['normalizer']['fields']['agent_pos'], 'scale': [1.0],
                          'offset': [0.0], 'min': [0.0], 'max': [1.0], 'mean': [0.5],
                          'std': [0.1]}}
    run = _state_copy(saved_run, tmp_path, policy_config=None,
                      normalizer={**saved['normalizer'], 'fields': fields})
    with pytest.raises(TrainStateError, match=r'policy.shape_meta.obs.gripper.shape "1 '
                                              r'normalized dimensions" -> null'):
        check_run(_config(store), run)


def test_a_refused_value_is_written_whole_up_to_sixty_characters(saved_run, store):
    """The refusal says what the config sets: a list of 37 characters whole, one of 70 cut
    at 60 with '...'."""
    eleven = list(range(11))  # '[0, 1, ..., 10]': 37 characters
    with pytest.raises(TrainStateError, match=r'data.exclude_episodes null -> '
                                              r'\[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\] \('):
        _resume(saved_run, _config(store, data={'exclude_episodes': eleven}))
    many = list(range(100, 114))  # 70 characters
    with pytest.raises(TrainStateError) as err:
        _resume(saved_run, _config(store, data={'exclude_episodes': many}))
    assert f'-> {json.dumps(many)[:57]}... (' in str(err.value)


def test_an_unset_control_period_is_the_one_the_dataset_records(store, tmp_path):
    """train.control_period_s left null: the store's recorded 20 Hz, not the 10 Hz default."""
    recorded = tmp_path / 'recorded.zarr'
    shutil.copytree(store, recorded)
    zarr.open_group(str(recorded), mode='r+').attrs['control_period_s'] = 0.05
    cfg = _config(recorded)
    check_run(cfg, tmp_path / 'run')
    assert cfg.train.control_period_s == 0.05


# ---------------------------------------------------------------------------- memory, disk
def _proc(tmp_path: Path, cgroup_line: str) -> Path:
    """A /proc with 4 GB MemAvailable and this process in `cgroup_line`'s group."""
    proc = tmp_path / 'proc'
    (proc / 'self').mkdir(parents=True)
    (proc / 'meminfo').write_text('MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n')
    (proc / 'self' / 'cgroup').write_text(cgroup_line + '\n')
    return proc


def _limit(folder: Path, limit: int | str, usage: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'memory.max').write_text(f'{limit}\n')
    (folder / 'memory.current').write_text(f'{usage}\n')


def test_a_cgroup_over_its_limit_has_no_room_left(tmp_path):
    """Usage past the limit (cache it cannot drop): nothing available, not a negative size."""
    proc, root = _proc(tmp_path, '0::/job'), tmp_path / 'cgroup'
    _limit(root / 'job', 2**30, 2**31)
    assert available_memory(root, proc) == (0, f'the limit in {root}/job/memory.max')


def test_a_limit_on_the_top_cgroup_counts(tmp_path):
    """A process in the root group ('0::/', a container's own namespace): the limit written
    at the top of the hierarchy is the one there is."""
    proc, root = _proc(tmp_path, '0::/'), tmp_path / 'cgroup'
    _limit(root, 2**30, 2**28)
    assert available_memory(root, proc) == (3 * 2**28, f'the limit in {root}/memory.max')


def test_a_cgroup_limit_counts_where_it_is_below_the_free_memory(tmp_path):
    """A limit of 2**60 or near it (cgroup v1's "no limit") leaves MemAvailable the figure;
    one below it is the memory available."""
    proc, root = _proc(tmp_path, '0::/job'), tmp_path / 'cgroup'
    _limit(root / 'job', 2**60, 0)
    assert available_memory(root, proc) == (4000000 * 1024, 'MemAvailable')
    _limit(root / 'job', 2**60 - 1, 0)
    assert available_memory(root, proc)[0] == 4000000 * 1024  # the least of both
    _limit(root / 'job', 2**31, 0)
    assert available_memory(root, proc)[0] == 2**31


def test_a_run_resumed_at_its_last_step_writes_no_more_snapshots():
    """max_steps 1000, a snapshot every 300: 300, 600, 900 and 1000 from the start; none
    from step 1000 (the one at max_steps is written), one from 950."""
    cfg = TrainConfig.from_dict({'train': {'max_steps': 1000, 'snapshot_every': 300},
                                 'eval': {'n_episodes': 0}})
    assert snapshots_to_write(cfg, 0) == 4
    assert snapshots_to_write(cfg, 950) == 1
    assert snapshots_to_write(cfg, 1000) == 0


def test_a_disk_with_exactly_one_train_state_free_is_not_refused():
    """Room for one train state (4 x the weights) and no more: warned, not refused."""
    cfg = TrainConfig.from_dict({'train': {'max_steps': 1000}, 'eval': {'n_episodes': 0}})
    (warning,) = check_disk(cfg, 2**20, 4 * 2**20, Path('run'))
    assert 'less than its next save needs' in warning
    with pytest.raises(TrainConfigError, match='less than one train state'):
        check_disk(cfg, 2**20, 4 * 2**20 - 1, Path('run'))


def test_an_evaluating_run_counts_its_best_checkpoint_on_the_disk():
    """train state 400 + latest 100 + best 100 MiB: 550 MiB free is short for a run that
    evaluates (it keeps checkpoints/best), enough for one that does not."""
    def cfg(n_episodes: int) -> TrainConfig:
        return TrainConfig.from_dict({'train': {'max_steps': 1000, 'checkpoint_every': 0,
                                                'eval_every': 100},
                                      'eval': {'n_episodes': n_episodes}})
    mib = 2**20
    (warning,) = check_disk(cfg(1), 100 * mib, 550 * mib, Path('run'))
    assert 'less than the run writes (about 600 MiB' in warning
    assert check_disk(cfg(0), 100 * mib, 550 * mib, Path('run')) == []


def test_a_missing_paper_dataset_says_where_to_download_it(tmp_path):
    """The paper's Push-T store missing where the config reads it: the download command
    with the --dest that puts it there; another missing store: the plain command."""
    paper = tmp_path / 'data' / STORE
    with pytest.raises(FileNotFoundError, match=f'dp-ros download-pusht --dest {tmp_path}/data`'):
        check_run(_config(paper), tmp_path / 'run')
    with pytest.raises(FileNotFoundError, match=r"run `dp-ros download-pusht` \(the paper's"):
        check_run(_config(tmp_path / 'mine.zarr'), tmp_path / 'run')


def test_snapshot_folders_are_named_by_six_digit_steps():
    """checkpoints/step_000500: the names `ls` sorts by step up to 999,999, read back by
    their step whatever the width (step_1000000), and nothing else read as one."""
    assert snapshot_name(500) == 'step_000500'
    assert snapshot_name(1_000_000) == 'step_1000000'
    assert snapshot_step(Path('checkpoints') / snapshot_name(500)) == 500
    assert snapshot_step('step_1000000') == 1_000_000
    assert snapshot_step('.step_000500.tmp-1a2b3c4d') is None
    assert snapshot_step('step_000500.old') is None


def test_a_resume_path_whose_state_json_is_no_file_is_no_train_state(tmp_path):
    """--resume PATH: a state.json that is a folder is no train state there (named), not an
    IsADirectoryError from reading it."""
    (tmp_path / 'run' / 'train_state' / 'state.json').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='no train state'):
        find_train_state(str(tmp_path / 'run'), tmp_path / 'other')
    with pytest.raises(FileNotFoundError, match='no train state'):
        find_train_state(str(tmp_path / 'run' / 'train_state'), tmp_path / 'other')


def test_an_old_state_whose_config_has_no_policy_section_is_compared_as_the_default_policy(
        saved_run, store, tmp_path):
    """Saved before policy_config was recorded, with `policy: null` in its config: the run
    trained the default policy, which does not fit this store's 8 x 10 images: refused
    naming the state and why, not a traceback."""
    saved = _saved(saved_run)
    run = _state_copy(saved_run, tmp_path, policy_config=None,
                      config={**saved['config'], 'policy': None})
    with pytest.raises(TrainStateError, match=r'train_state: its policy section does not load '
                                              r'\(crop_shape \(84, 84\) is larger'):
        check_run(_config(store), run)


def test_a_truncated_train_state_file_is_named_as_damaged(saved_run, tmp_path):
    """A weights file cut short (an interrupted copy, a full disk): a TrainStateError naming
    it and the way on; safetensors' own error does not name the file."""
    cut = tmp_path / 'model.safetensors'
    data = (saved_run / 'train_state' / 'model.safetensors').read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(TrainStateError, match=f'{cut} is damaged or truncated .*--resume '
                                              'never starts over'):
        load_tensors(cut)


@pytest.fixture(scope='module')
def trainer(tmp_path_factory, store) -> Trainer:
    """A fresh run's trainer on the small store (nothing trained)."""
    return Trainer(_config(store), tmp_path_factory.mktemp('fresh') / 'run', resume='never')


def test_a_state_missing_its_rng_file_resumes_reseeded_with_a_warning(saved_run, trainer,
                                                                      tmp_path, caplog):
    """Saved by one process but its rng_rank0 file gone (copied without it): the weights,
    optimizer and position are restored, the RNG streams reseeded, and the log says so."""
    state = tmp_path / 'run' / 'train_state'
    shutil.copytree(saved_run / 'train_state', state)
    (state / 'rng_rank0.safetensors').unlink()
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        progress = restore_train_state(state, read_state(state), trainer.parts, rank=0,
                                       world=1, device=trainer.device)
    assert 'not bit-exact' in caplog.text
    assert progress.position.step == 1 and progress.window_loss_sum is None


def test_a_save_that_fails_midway_leaves_the_previous_state_and_no_staging_copy(trainer,
                                                                                tmp_path):
    """A save whose state.json cannot be written (here a config value JSON cannot hold)
    leaves the previous train state whole and no half-written copy to fill the disk."""
    run = tmp_path / 'run'
    save_train_state(run, trainer.accelerator, trainer.parts, Progress(Position(step=2)),
                     trainer.cfg.to_dict())
    before = _tree_bytes(run / 'train_state')
    with pytest.raises(TypeError, match='not JSON serialisable'):
        save_train_state(run, trainer.accelerator, trainer.parts, Progress(Position(step=4)),
                         {**trainer.cfg.to_dict(), 'note': object()})
    assert sorted(p.name for p in run.iterdir()) == ['train_state']
    assert _tree_bytes(run / 'train_state') == before
    assert read_state(run / 'train_state')['position']['step'] == 2


def test_a_saved_states_weights_are_as_readable_as_its_state_json(trainer, tmp_path):
    """Another user (the robot's, a colleague resuming) can read the weights if they can
    read state.json: safetensors' owner-only temporary file mode is not kept."""
    umask = os.umask(0o022)  # the usual one, whatever this test process was given
    try:
        path = save_train_state(tmp_path / 'run', trainer.accelerator, trainer.parts,
                                Progress(Position(step=2)), trainer.cfg.to_dict())
    finally:
        os.umask(umask)
    mode = (path / 'state.json').stat().st_mode & 0o777
    assert mode == 0o644
    assert {p.name: p.stat().st_mode & 0o777 for p in path.glob('*.safetensors')} == {
        name: mode for name in ('model.safetensors', 'ema.safetensors',
                                'optimizer.safetensors', 'rng_rank0.safetensors')}


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_best_checkpoint_that_cannot_be_read_is_not_said_to_be_a_full_disk(tmp_path):
    """A copy that fails for the source's sake (a dangling link in it) is raised as it is,
    naming the file, not as a disk to free; no half copy is left behind."""
    old, new = tmp_path / 'old', tmp_path / 'new'
    _a_run(old)
    (old / 'checkpoints' / 'best' / 'model.safetensors').symlink_to(tmp_path / 'gone')
    with pytest.raises(shutil.Error, match='model.safetensors'):
        carry_best(old / 'train_state', new)
    assert list((new / 'checkpoints').iterdir()) == []
