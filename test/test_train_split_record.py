"""The split a run trained with is recorded (train state, checkpoints): a resume on a dataset
whose episodes changed since (episodes appended in place, as bag2zarr appends) is refused
before anything loads, rather than drawing another split that trains on the validation
episodes; `dp-ros open-loop` does not call a redrawn split the held-out one. A state saved
before the record resumes with a warning."""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from support import DATASET_KEYS, episode_bounds
from tiny_runs import copy_episodes, run_config, saved_state, without_curves

from dp_ros.errors import UserError
from dp_ros.policy.checkpoint import read_policy_metadata
from dp_ros.policy.config import PolicyConfig
from training.config import TrainConfig
from training.errors import TrainStateError
from training.open_loop import load_windows, resolve_source, select_episodes
from training.replay_buffer import ReplayBuffer
from training.run_check import check_run
from training.trainer import Trainer, train

N = 10  # episodes: 8 train, 2 validation at val_ratio 0.2




def _config(zarr_path: Path, **train: object) -> TrainConfig:
    cfg = run_config(zarr_path, train={'max_steps': 2, 'checkpoint_every': 2, **train})
    cfg['data']['max_train_episodes'] = None
    return TrainConfig.from_dict(cfg)


def _append(store: Path, source: Path, first: int, n: int) -> None:
    """Episodes first..first+n-1 of `source` appended to `store` in place."""
    src = zarr.open(str(source), mode='r')
    starts, ends = episode_bounds(source)
    buffer = ReplayBuffer.open(store, mode='a')
    for s, e in zip(starts[first:first + n], ends[first:first + n], strict=True):
        buffer.add_episode({k: src['data'][k][s:e] for k in DATASET_KEYS})


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory, pusht_zarr) -> tuple[Path, Path]:
    """(run directory, its dataset): a 2-step run on N episodes."""
    root = tmp_path_factory.mktemp('split')
    store = copy_episodes(pusht_zarr, root / 'data.zarr', n=N)
    run = root / 'run'
    with without_curves():
        train(_config(store), run)
    return run, store


def _copies(saved_run, tmp_path) -> tuple[Path, Path]:
    run, store = saved_run
    return (Path(shutil.copytree(run, tmp_path / 'run')),
            Path(shutil.copytree(store, tmp_path / 'data.zarr')))


def test_the_train_state_and_the_checkpoint_record_the_split(saved_run):
    run, store = saved_run
    ends = ReplayBuffer.open(store).episode_ends
    record = saved_state(run).get('split')
    assert record is not None, 'the train state records no split'
    digest = hashlib.sha256(np.asarray(ends, dtype='<i8').tobytes()).hexdigest()
    assert record['n_episodes'] == N and record['episode_ends_sha256'] == digest
    assert len(record['val_episodes']) == 2 and len(record['train_episodes']) == N - 2
    assert not set(record['val_episodes']) & set(record['train_episodes'])
    assert read_policy_metadata(run / 'checkpoints' / 'latest')['provenance']['split'] == record


def test_a_resume_on_a_dataset_with_appended_episodes_is_refused(saved_run, pusht_zarr,
                                                                 tmp_path):
    run, store = _copies(saved_run, tmp_path)
    _append(store, pusht_zarr, N, 3)
    cfg = _config(store, max_steps=4)
    with pytest.raises(TrainStateError) as err:
        check_run(cfg, run)
    message = str(err.value)
    assert f'{N + 3} episodes, {N} when the split was drawn' in message
    assert str(store) in message and '--resume never' in message and '\n' not in message
    with pytest.raises(TrainStateError, match='changed since it was saved'):
        Trainer(cfg, run)
    # a new run on the grown dataset draws its own split
    assert Trainer(cfg, run, resume='never').pos.step == 0


def test_episodes_of_other_lengths_are_refused_too(saved_run, pusht_zarr, tmp_path):
    """As many episodes as before, other boundaries: another dataset at that path."""
    run, _ = saved_run
    shifted = copy_episodes(pusht_zarr, tmp_path / 'shifted.zarr', n=N,
                            change=lambda i, a: {k: v[:-1] for k, v in a.items()} if i == 3
                            else a)
    with pytest.raises(TrainStateError, match=f'{N} episodes as then, but not of the same '
                                              'lengths'):
        check_run(_config(shifted), run)


def test_the_same_episodes_resume(saved_run, tmp_path):
    run, store = _copies(saved_run, tmp_path)
    trainer = Trainer(_config(store, max_steps=4), run)
    assert trainer.pos.step == 2
    assert trainer.split == saved_state(run)['split']


def test_a_state_saved_before_the_record_resumes_with_a_warning(saved_run, pusht_zarr,
                                                                tmp_path, caplog):
    run, store = _copies(saved_run, tmp_path)
    state = saved_state(run)
    del state['split']
    (run / 'train_state' / 'state.json').write_text(json.dumps(state))
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        trainer = Trainer(_config(store, max_steps=4), run)
    assert trainer.pos.step == 2
    warnings = [r.getMessage() for r in caplog.records if 'records no split' in r.getMessage()]
    assert len(warnings) == 1 and str(store) in warnings[0]


def test_open_loop_does_not_call_a_redrawn_split_the_held_out_one(saved_run, pusht_zarr,
                                                                  tmp_path):
    run, _ = saved_run
    meta = read_policy_metadata(run / 'checkpoints' / 'latest')
    val = meta['provenance']['split']['val_episodes']
    source = resolve_source(meta, None, 'latest')
    config = PolicyConfig.from_dict(meta['config'])
    ds = load_windows(config, source, progress=False)
    assert select_episodes(None, ds, source) == ('val', val)

    # the training's dataset with episodes appended since (to a copy: the fixture is shared)
    grown = Path(shutil.copytree(source.path, tmp_path / 'grown.zarr'))
    _append(grown, pusht_zarr, N, 3)
    source.path = grown
    ds = load_windows(config, source, progress=False)
    assert np.flatnonzero(ds.val_mask).tolist() != val  # what a redraw gives
    for spec in (None, 'val', 'train'):
        with pytest.raises(UserError, match=f'changed since the policy was trained \\({N + 3} '
                                            f'episodes, {N} when'):
            select_episodes(spec, ds, source)
    with pytest.raises(UserError, match='--episodes ' + ','.join(map(str, val))):
        select_episodes('val', ds, source)
    assert select_episodes('all', ds, source) == ('all', list(range(N + 3)))


def test_open_loop_takes_the_recorded_split_over_a_draw_that_differs(saved_run):
    """--episodes val drew the split again and compared only the episodes' digest: a draw
    that came out otherwise (another numpy, an older dp_ros) scored training episodes as
    held out. The recorded episodes are the ones taken."""
    run, _ = saved_run
    meta = read_policy_metadata(run / 'checkpoints' / 'latest')
    source = resolve_source(meta, None, 'latest')
    ds = load_windows(PolicyConfig.from_dict(meta['config']), source, progress=False)
    drawn = np.flatnonzero(ds.val_mask).tolist()
    other = [e for e in range(N) if e not in drawn][:len(drawn)]
    source.split = {**source.split, 'val_episodes': other,
                    'train_episodes': [e for e in range(N) if e not in other]}
    assert select_episodes('val', ds, source) == ('val', other)
    assert select_episodes(None, ds, source) == ('val', other)
    assert select_episodes('train', ds, source)[1] == [e for e in range(N) if e not in other]
