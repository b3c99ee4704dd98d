"""Edges of a run's train_state/: which directory --resume finds (auto, never, a run or state
path), what read_state refuses, the RNG and optimizer round trips, the JSON of numpy and
tensor scalars, and a save over a temporary left by a killed save, then its restore (position,
best score, elapsed time, pending evaluation, optimizer and EMA state, the loss generator),
and a restore with another number of processes (reseeded, with a warning)."""
from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from support import STATE_ENTRIES, one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import copy_episodes, run_config

from training.errors import TrainStateError
from training.train_state import (
    Position,
    Progress,
    flatten_optimizer_state,
    json_default,
    load_tensors,
    restore_train_state,
    rng_restore,
    rng_snapshot,
    save_tensors,
    save_train_state,
    unflatten_optimizer_state,
)
from training.train_state_file import (
    STATE_DIR,
    STATE_FILE,
    STATE_FORMAT,
    find_train_state,
    read_state,
)


def _state_dir(run: Path) -> Path:
    path = run / STATE_DIR
    path.mkdir(parents=True)
    (path / STATE_FILE).write_text(json.dumps({'format': STATE_FORMAT, **STATE_ENTRIES}))
    return path


# ---------------------------------------------------------------------------- finding it
def test_auto_ignores_a_train_state_directory_without_its_state_json(tmp_path):
    """A train_state/ holding weights but no state.json is no state: auto starts fresh."""
    (tmp_path / STATE_DIR).mkdir()
    (tmp_path / STATE_DIR / 'model.safetensors').write_bytes(b'')
    assert find_train_state('auto', tmp_path) is None
    assert find_train_state('auto', tmp_path / 'missing') is None


def test_never_ignores_a_saved_state_and_auto_finds_it(tmp_path):
    path = _state_dir(tmp_path)
    assert find_train_state('never', tmp_path) is None
    assert find_train_state('auto', tmp_path) == path


def test_a_resume_path_is_a_run_directory_or_its_train_state(tmp_path):
    path = _state_dir(tmp_path / 'run')
    assert find_train_state(str(tmp_path / 'run'), tmp_path / 'other') == path
    assert find_train_state(str(path), tmp_path / 'other') == path


def test_a_resume_path_without_a_state_is_file_not_found(tmp_path):
    (tmp_path / 'run' / STATE_DIR).mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='no train state'):
        find_train_state(str(tmp_path / 'run'), tmp_path / 'other')
    with pytest.raises(FileNotFoundError, match='no train state'):
        find_train_state(str(tmp_path / 'run' / STATE_DIR), tmp_path / 'other')


@pytest.mark.parametrize('text', ['{"format": "dp_ros.train_st', '[1, 2]', '{"step": 3}',
                                  '{"format": "other.state"}', '"dp_ros.train_state"'])
def test_read_state_refuses_what_is_not_a_dp_ros_train_state(tmp_path, text):
    """Cut-short JSON, a list, a dict without or with another format: TrainStateError."""
    (tmp_path / STATE_FILE).write_text(text)
    with pytest.raises(TrainStateError, match='--resume never starts over'):
        read_state(tmp_path)


def test_read_state_returns_the_saved_dict(tmp_path):
    path = _state_dir(tmp_path)
    assert read_state(path) == {'format': STATE_FORMAT, **STATE_ENTRIES}


# ---------------------------------------------------------------------------- pieces
def test_json_default_writes_numpy_and_tensor_scalars_and_tuples():
    text = json.dumps({'a': np.float32(0.5), 'b': np.int64(3), 'c': torch.tensor([2.5]),
                       'd': (1, 2)}, default=json_default)
    assert json.loads(text) == {'a': 0.5, 'b': 3, 'c': 2.5, 'd': [1, 2]}
    assert json_default((1, 2)) == [1, 2]
    with pytest.raises(TypeError, match='Tensor is not JSON serialisable'):
        json_default(torch.zeros(2))
    with pytest.raises(TypeError, match='object is not JSON serialisable'):
        json_default(object())


def _draws(gen: torch.Generator) -> list:
    return [torch.rand(3).tolist(), torch.rand(2, generator=gen).tolist(),
            np.random.rand(3).tolist(), np.random.randn(1).tolist(), random.random()]


@pytest.mark.parametrize('which', range(5))
def test_every_rng_is_restored_through_safetensors_and_json(tmp_path, which):
    """torch, the loss generator, numpy (its cached gaussian too) and Python's random each
    continue from the snapshot after a round trip through the files a state is made of."""
    gen = torch.Generator().manual_seed(5)
    np.random.seed(1)
    np.random.randn(1)  # a cached gaussian: numpy's has_gauss and cached values matter
    tensors, meta = rng_snapshot(gen)
    save_tensors(tmp_path / 'rng.safetensors', tensors)
    meta = json.loads(json.dumps(meta, default=json_default))
    expected = _draws(gen)
    _draws(gen)  # move every stream on
    rng_restore(load_tensors(tmp_path / 'rng.safetensors'), meta, gen)
    assert _draws(gen)[which] == expected[which]


def _adamw_after_steps() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    for _ in range(2):
        net(torch.randn(5, 3)).square().mean().backward()
        opt.step()
        opt.zero_grad()
    return net, opt


def test_optimizer_state_round_trips_onto_the_same_parameters(tmp_path):
    """The flattened optimizer state loads back per parameter index: the next step of the
    restored optimizer equals the original's."""
    net, opt = _adamw_after_steps()
    tensors, meta = flatten_optimizer_state(opt.state_dict())
    save_tensors(tmp_path / 'opt.safetensors', tensors)
    meta = json.loads(json.dumps(meta, default=json_default))
    restored = unflatten_optimizer_state(load_tensors(tmp_path / 'opt.safetensors'), meta)
    assert sorted(restored['state']) == sorted(opt.state_dict()['state'])

    net2, _ = _adamw_after_steps()
    opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-2)
    opt2.load_state_dict(restored)
    for p, q in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(opt.state[p]['exp_avg_sq'], opt2.state[q]['exp_avg_sq'])
        p.grad = q.grad = torch.ones_like(p)
    opt.step()
    opt2.step()
    for p, q in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(p, q)


# ---------------------------------------------------------------------------- save, restore
@pytest.fixture(scope='module')
def tiny_zarr(tmp_path_factory, pusht_zarr) -> Path:
    return copy_episodes(pusht_zarr, tmp_path_factory.mktemp('data') / 'tiny.zarr')


def _trainer(zarr_path: Path, run: Path):
    from training.config import TrainConfig
    from training.trainer import Trainer

    return Trainer(TrainConfig.from_dict(run_config(zarr_path)), run)


def _step(trainer) -> None:
    """One optimizer, schedule and EMA step on made-up gradients."""
    torch.manual_seed(3)
    for p in trainer.policy.parameters():
        p.grad = torch.randn_like(p) * 0.01
    trainer.optimizer.step()
    trainer.optimizer.zero_grad()
    trainer.lr_scheduler.step()
    trainer.ema.step(trainer.policy.parameters())


def _save(trainer, run: Path, progress: Progress) -> Path:
    return save_train_state(run, trainer.accelerator, trainer.parts, progress,
                            trainer.cfg.to_dict(), split=trainer.split)


def test_a_save_over_a_killed_saves_temporary_then_a_resume_restores_it(tmp_path, tiny_zarr):
    run = tmp_path / 'run'
    a = _trainer(tiny_zarr, run)
    _step(a)
    _step(a)
    a.loss_gen.manual_seed(77)
    a.loss_gen.get_state()
    torch.rand(4, generator=a.loss_gen, device=a.loss_gen.device)
    stale = run / f'.{STATE_DIR}.tmp'
    stale.mkdir(parents=True)
    (stale / 'leftover.bin').write_bytes(b'half written')
    final = _save(a, run, Progress(Position(step=5, epoch=2, batch=3), best_score=0.25,
                                   elapsed_s=12.5, pending_eval=6))
    assert final == run / STATE_DIR and not stale.exists()
    assert not (final / 'leftover.bin').exists()
    saved = read_state(final)
    assert saved['position'] == {'step': 5, 'epoch': 2, 'batch': 3}
    assert (saved['best_score'], saved['elapsed_s'], saved['pending_eval']) == (0.25, 12.5, 6)
    assert saved['world_size'] == 1 and saved['split'] == a.split

    b = _trainer(tiny_zarr, run)
    assert (b.pos.step, b.pos.epoch, b.pos.batch) == (5, 2, 3)
    assert (b.best_score, b.elapsed_before, b.pending_eval) == (0.25, 12.5, 6)
    assert torch.equal(b.loss_gen.get_state(), a.loss_gen.get_state())
    assert b.lr_scheduler.state_dict() == a.lr_scheduler.state_dict()
    assert b.ema.optimization_step == a.ema.optimization_step == 2
    for x, y in zip(a.ema.shadow_params, b.ema.shadow_params, strict=True):
        assert torch.equal(x, y)
    for x, y in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        assert torch.equal(x, y)
    sa, sb = a.optimizer.state_dict()['state'], b.optimizer.state_dict()['state']
    assert sorted(sa) == sorted(sb) and len(sa) == len(list(a.policy.parameters()))
    for i in sa:
        for name in ('exp_avg', 'exp_avg_sq'):
            assert torch.equal(sa[i][name], sb[i][name]), (i, name)
    # the files hold them contiguous: restored laid out as their (channels-last) weights, as
    # CUDA's fused AdamW requires of the moments
    params = list(b.policy.parameters())
    assert any(not p.is_contiguous() for p in params)  # train.channels_last's weights
    for p, shadow in zip(params, b.ema.shadow_params, strict=True):
        assert shadow.stride() == p.stride()
        for name in ('exp_avg', 'exp_avg_sq'):
            assert b.optimizer.state[p][name].stride() == p.stride(), name


def test_a_state_of_another_process_count_is_resumed_reseeded_with_a_warning(
        tmp_path, tiny_zarr, caplog):
    """Saved by 2 processes, resumed by 1: the RNG streams are not restored (rank 0's file
    is there, but its streams belong to another data order), and the log says so."""
    run = tmp_path / 'run'
    a = _trainer(tiny_zarr, run)
    a.loss_gen.manual_seed(11)
    path = _save(a, run, Progress(Position(step=3, epoch=1, batch=0)))
    saved = read_state(path)
    b = _trainer(tiny_zarr, tmp_path / 'fresh')
    b.loss_gen.manual_seed(12)
    before = b.loss_gen.get_state()
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        progress = restore_train_state(path, {**saved, 'world_size': 2}, b.parts, rank=0,
                                       world=1, device=b.device)
    assert 'saved with 2 processes, now 1' in caplog.text and 'not bit-exact' in caplog.text
    assert torch.equal(b.loss_gen.get_state(), before)
    assert progress.position == Position(step=3, epoch=1, batch=0)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        restore_train_state(path, saved, b.parts, rank=0, world=1, device=b.device)
    assert 'not bit-exact' not in caplog.text
    assert torch.equal(b.loss_gen.get_state(), a.loss_gen.get_state())


def test_a_save_that_fails_at_its_rename_leaves_the_previous_state_whole(
        tmp_path, tiny_zarr, monkeypatch):
    """A save cut short where the new directory is renamed into place (a kill there, made an
    OSError of os.rename here) leaves the previous state loadable, never no state."""
    import contextlib
    import os

    run = tmp_path / 'run'
    a = _trainer(tiny_zarr, run)
    _save(a, run, Progress(Position(step=3, epoch=1, batch=0)))

    def no_rename(*args, **kwargs):
        raise OSError('killed while renaming')

    monkeypatch.setattr(os, 'rename', no_rename)
    with contextlib.suppress(OSError):
        _save(a, run, Progress(Position(step=6, epoch=2, batch=0)))
    monkeypatch.undo()
    saved = read_state(find_train_state('auto', run))
    assert saved['position']['step'] in (3, 6)
    assert sorted(p.name for p in (run / STATE_DIR).iterdir()) == sorted(
        ['state.json', 'model.safetensors', 'ema.safetensors', 'optimizer.safetensors',
         'rng_rank0.safetensors'])


def test_a_state_without_an_ema_is_refused_when_the_ema_is_on(tmp_path, tiny_zarr):
    """restore_train_state's own check (check_run refuses it first in a run)."""
    run = tmp_path / 'run'
    a = _trainer(tiny_zarr, run)
    path = _save(a, run, Progress(Position(step=3, epoch=1, batch=0)))
    (path / 'ema.safetensors').unlink()
    with pytest.raises(TrainStateError, match='has no EMA state but ema.enabled is true'):
        restore_train_state(path, {**read_state(path), 'ema': None}, a.parts, rank=0, world=1,
                            device=a.device)
