"""Edges of the training data order: no windows, drop_last (full batches only, and none at
all), the seeds' independence across epochs, round-robin dealing over ranks, iteration
from a resumed position across epoch ends, persistent workers without workers, and
moving nested batches to a device."""
from __future__ import annotations

import pytest
import torch

from training.batches import EpochBatches, iterate_batches, to_device
from training.errors import DatasetError


def test_no_windows_is_a_dataset_error():
    with pytest.raises(DatasetError, match='the training set has no windows'):
        EpochBatches(0, 8, seed=0)


def test_drop_last_keeps_only_full_batches():
    keep, drop = EpochBatches(20, 8, seed=1), EpochBatches(20, 8, seed=1, drop_last=True)
    assert keep.per_epoch == 3 and [len(b) for b in keep.epoch(0)] == [8, 8, 4]
    assert drop.per_epoch == 2 and drop.epoch(0) == keep.epoch(0)[:2]
    ranks = [EpochBatches(20, 4, seed=1, rank=r, world=3, drop_last=True) for r in range(3)]
    assert [r.per_epoch for r in ranks] == [1, 1, 1]  # 7 windows a rank: one full batch
    assert all(len(b) == 4 for r in ranks for b in r.epoch(3))


def test_drop_last_without_a_full_batch_is_a_dataset_error():
    with pytest.raises(DatasetError, match='give no full batch of 8'):
        EpochBatches(7, 8, seed=0, drop_last=True)
    with pytest.raises(DatasetError, match='over 2 ranks give no full batch'):
        EpochBatches(12, 8, seed=0, world=2, drop_last=True)
    assert EpochBatches(7, 8, seed=0).per_epoch == 1


def test_each_seed_has_its_own_sequence_of_epochs():
    """Seed s's epoch e+1 is not seed s+1's epoch e (the seed is not simply added)."""
    for seed in range(3):
        a, b = EpochBatches(50, 50, seed=seed), EpochBatches(50, 50, seed=seed + 1)
        assert a.epoch(1) != b.epoch(0) and a.epoch(2) != b.epoch(1)


def test_ranks_are_dealt_the_padded_order_round_robin():
    whole = EpochBatches(11, 100, seed=5).epoch(4)[0]
    padded = whole + whole[:1]  # 12 = 11 padded to a multiple of 3
    ranks = [EpochBatches(11, 2, seed=5, rank=r, world=3) for r in range(3)]
    for r, eb in enumerate(ranks):
        assert [i for b in eb.epoch(4) for i in b] == padded[r::3]
        assert eb.per_epoch == 2


@pytest.mark.parametrize('n,world', [(3, 8), (1, 4), (2, 7)])
def test_fewer_windows_than_half_the_ranks_still_give_every_rank_its_batches(n, world):
    """The padding repeats the order as DistributedSampler's does: one copy was too short,
    the last ranks got no batch and waited for ever in positions()."""
    from training.batches import positions

    whole = EpochBatches(n, 100, seed=5).epoch(0)[0]
    padded = (whole * world)[:world]  # 1 per rank
    for rank in range(world):
        eb = EpochBatches(n, 4, seed=5, rank=rank, world=world)
        assert eb.epoch(0) == [[padded[rank]]] and eb.per_epoch == 1
        assert next(positions(eb, 0, 0)) == (0, 0, [padded[rank]])


class _Indices(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> int:
        return i


def test_iteration_continues_from_a_position_across_epoch_ends():
    eb = EpochBatches(10, 4, seed=2)  # 3 batches an epoch
    it = iterate_batches(_Indices(), eb, epoch=1, start=2, num_workers=0, pin_memory=False,
                         persistent_workers=True)
    got = [next(it) for _ in range(5)]
    assert [(e, i) for e, i, _ in got] == [(1, 2), (2, 0), (2, 1), (2, 2), (3, 0)]
    for e, i, batch in got:
        assert batch.tolist() == eb.epoch(e)[i]


def test_a_start_past_the_epoch_end_goes_on_with_the_next_epoch():
    eb = EpochBatches(10, 4, seed=2)
    it = iterate_batches(_Indices(), eb, epoch=0, start=3, num_workers=0, pin_memory=False,
                         persistent_workers=False)
    e, i, batch = next(it)
    assert (e, i, batch.tolist()) == (1, 0, eb.epoch(1)[0])


def test_to_device_moves_nested_tensors_and_passes_the_rest():
    batch = {'obs': {'image': torch.zeros(2, 3), 'names': ['a']}, 'action': torch.ones(2),
             'step': 3}
    out = to_device(batch, torch.device('cpu'))
    assert out['obs']['names'] == ['a'] and out['step'] == 3
    assert torch.equal(out['obs']['image'], batch['obs']['image'])
    assert torch.equal(out['action'], batch['action'])
