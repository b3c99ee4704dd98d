"""The order training batches come in: a function of (seed, epoch, rank) only, so a resumed
run continues the exact sequence an uninterrupted run would have seen."""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from training.errors import DatasetError


class EpochBatches:
    """Shuffled batches of one rank: epoch e's order depends only on (seed, e).

    Indices are padded to a multiple of the world size (as DistributedSampler) and dealt
    out round-robin, so every rank has the same number of batches per epoch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 drop_last: bool = False) -> None:
        if n < 1:
            raise DatasetError('the training set has no windows: check the dataset '
                               '(data.zarr_path), data.max_train_episodes, data.val_ratio and '
                               'policy.horizon')
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world, self.drop_last = rank, world, drop_last
        per_rank = math.ceil(n / world)
        self.per_epoch = per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)
        if self.per_epoch < 1:
            raise DatasetError(f'{n} training windows over {world} ranks give no full batch of '
                               f'{batch_size} (data.drop_last=true): lower data.batch_size or '
                               'set data.drop_last=false')

    def epoch(self, epoch: int) -> list[list[int]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.n, generator=gen).tolist()
        padding = math.ceil(self.n / self.world) * self.world - self.n
        # repeated as often as it takes, as DistributedSampler pads: with fewer windows than
        # half the ranks one copy is too short, and a rank left without a batch waited for
        # ever (positions found nothing to yield) while the others waited on it
        order += (order * math.ceil(padding / self.n))[:padding]
        mine = order[self.rank::self.world]
        batches = [mine[i:i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        return batches[:self.per_epoch]


def batch_index_resized(index: int, old_size: int, new_size: int) -> int:
    """The next batch index in an epoch whose batches were `old_size` windows and are now
    `new_size` (data.batch_size changed on a resume): the epoch's order of windows is the
    same (EpochBatches.epoch slices one permutation), so the run goes on at the window it
    reached, not at the batch number, which would skip or repeat part of the epoch. Rounded
    down: the first new batch may repeat up to new_size - 1 windows, none is skipped."""
    return index * old_size // new_size


def positions(batches: EpochBatches, epoch: int, start: int
              ) -> Iterator[tuple[int, int, list[int]]]:
    """(epoch, index_in_epoch, the batch's indices) forever from position (epoch, start)."""
    while True:
        for i, indices in enumerate(batches.epoch(epoch)[start:], start):
            yield epoch, i, indices
        epoch, start = epoch + 1, 0


def loader_generator(batches: EpochBatches, epoch: int) -> torch.Generator:
    """The generator a DataLoader draws its workers' base seed from, a function of (seed,
    epoch, rank): without one it draws from the global torch RNG, once per loader, and the
    loader a resume makes mid-epoch drew once more than the uninterrupted run's."""
    return torch.Generator().manual_seed(
        (batches.seed * 1_000_003 + epoch) * 4_099 + batches.rank + 1)


def iterate_batches(dataset: Dataset, batches: EpochBatches, epoch: int, start: int,
                    num_workers: int, pin_memory: bool, persistent_workers: bool,
                    ) -> Iterator[tuple[int, int, Any]]:
    """Yield (epoch, index_in_epoch, batch) forever from position (epoch, start).

    persistent_workers (with num_workers > 0): one loader over all epochs, whose workers
    serve every epoch (and load the next epoch's first batches while this one ends); else a
    loader per epoch, whose workers end with it. The batches are the same either way."""
    if persistent_workers and num_workers > 0:
        at = positions(batches, epoch, start)
        loader = DataLoader(dataset, batch_sampler=(indices for _, _, indices in at),
                            num_workers=num_workers, pin_memory=pin_memory,
                            generator=loader_generator(batches, epoch))
        for (e, i, _), batch in zip(positions(batches, epoch, start), loader, strict=False):
            yield e, i, batch
        return
    while True:
        todo = batches.epoch(epoch)[start:]
        if todo:
            loader = DataLoader(dataset, batch_sampler=todo, num_workers=num_workers,
                                pin_memory=pin_memory, generator=loader_generator(batches, epoch))
            for i, batch in enumerate(loader):
                yield epoch, start + i, batch
        epoch, start = epoch + 1, 0


def to_device(x: Any, device: torch.device) -> Any:
    """A (nested dict) batch onto the device; non-tensors pass through."""
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    return x.to(device, non_blocking=True) if torch.is_tensor(x) else x
