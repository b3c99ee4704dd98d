"""data.persistent_workers ("keep workers alive between epochs", num_workers > 0) keeps them:
training/batches.py built a new DataLoader for every epoch (its batch order changes), so each
epoch started new worker processes anyway. It now runs one loader over every epoch; the
batches, and so resume exactness and the losses, are those of a loader per epoch."""
from __future__ import annotations

import os

import pytest
import torch
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import records, small_config, write_small_store
from torch.utils.data import Dataset

from training.batches import EpochBatches, iterate_batches
from training.trainer import train


class _WorkerPid(Dataset):
    """Each item is its index and the id of the process that loaded it."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([index, os.getpid()])


def _take(n: int, **loader) -> list[tuple[int, int, torch.Tensor]]:
    it = iterate_batches(_WorkerPid(), EpochBatches(10, 4, seed=3), epoch=1, start=2,
                         pin_memory=False, **loader)
    try:
        return [next(it) for _ in range(n)]
    finally:
        it.close()


def test_persistent_workers_serve_every_epoch():
    """With persistent_workers the batches of epochs 0, 1 and 2 come from the same worker
    processes."""
    batches = EpochBatches(8, 4, seed=0)
    it = iterate_batches(_WorkerPid(), batches, 0, 0, num_workers=2, pin_memory=False,
                         persistent_workers=True)
    pids: dict[int, set[int]] = {}
    for _ in range(3 * batches.per_epoch):
        epoch, _, batch = next(it)
        pids.setdefault(epoch, set()).update(batch[:, 1].tolist())
    it.close()
    assert pids[1] <= pids[0] and pids[2] <= pids[0], pids


@pytest.mark.parametrize('num_workers, persistent', [(2, True), (2, False), (0, True)])
def test_the_batches_are_those_of_a_loader_per_epoch(num_workers, persistent):
    """From a mid-epoch position (a resume's), over three epochs: the same positions and the
    same windows in the same order as without workers."""
    want = _take(8, num_workers=0, persistent_workers=False)
    got = _take(8, num_workers=num_workers, persistent_workers=persistent)
    assert [(e, i) for e, i, _ in got] == [(e, i) for e, i, _ in want]
    assert [(e, i) for e, i, _ in want][:3] == [(1, 2), (2, 0), (2, 1)]
    for (_, _, a), (_, _, b) in zip(got, want, strict=True):
        assert a[:, 0].tolist() == b[:, 0].tolist()


def test_a_run_with_persistent_workers_has_the_losses_of_one_without(tmp_path):
    """Four steps of one batch an epoch (four epochs): the logged losses with two persistent
    workers are those without workers, bit for bit."""
    store = write_small_store(tmp_path / 'small.zarr')
    losses = []
    for name, workers in (('none', 0), ('kept', 2)):
        cfg = small_config(store, data={'batch_size': 64, 'num_workers': workers,
                                        'persistent_workers': True},
                           train={'checkpoint_every': 0})
        train(cfg, tmp_path / name)
        losses.append([r['loss'] for r in records(tmp_path / name, 'train')])
    assert len(losses[0]) == 4 and losses[0] == losses[1]
