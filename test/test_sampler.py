"""Sequence sampler: the paper's window indices and edge padding, splits by episode."""
from __future__ import annotations

import numpy as np
import pytest

from training.replay_buffer import ReplayBuffer
from training.sampler import SequenceSampler, create_indices, downsample_mask, get_val_mask


def paper_loop_indices(episode_ends, sequence_length, episode_mask, pad_before, pad_after):
    """Line-by-line restatement of the paper's create_indices loop, as an oracle."""
    pad_before = min(max(pad_before, 0), sequence_length - 1)
    pad_after = min(max(pad_after, 0), sequence_length - 1)
    rows = []
    for i in range(len(episode_ends)):
        if not episode_mask[i]:
            continue
        start_idx = 0 if i == 0 else episode_ends[i - 1]
        episode_length = episode_ends[i] - start_idx
        for idx in range(-pad_before, episode_length - sequence_length + pad_after + 1):
            buffer_start = max(idx, 0) + start_idx
            buffer_end = min(idx + sequence_length, episode_length) + start_idx
            start_offset = buffer_start - (idx + start_idx)
            end_offset = (idx + sequence_length + start_idx) - buffer_end
            rows.append([buffer_start, buffer_end, start_offset, sequence_length - end_offset])
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


@pytest.fixture
def small_buffer() -> ReplayBuffer:
    """Episodes of 3 and 5 steps; step i holds x = 10 * i and y = (i, -i)."""
    steps = np.arange(8)
    return ReplayBuffer.from_arrays(
        {'x': 10 * steps, 'y': np.stack([steps, -steps], axis=1).astype(np.float32)}, [3, 8])


def test_hand_made_windows_horizon4_pad1_pad2(small_buffer):
    sampler = SequenceSampler(small_buffer, sequence_length=4, pad_before=1, pad_after=2)
    expected_rows = [
        # episode 0 (steps 0..2): start -1, 0, 1
        [0, 3, 1, 4], [0, 3, 0, 3], [1, 3, 0, 2],
        # episode 1 (steps 3..7): start -1, 0, 1, 2, 3
        [3, 6, 1, 4], [3, 7, 0, 4], [4, 8, 0, 4], [5, 8, 0, 3], [6, 8, 0, 2],
    ]
    expected_steps = [
        [0, 0, 1, 2], [0, 1, 2, 2], [1, 2, 2, 2],
        [3, 3, 4, 5], [3, 4, 5, 6], [4, 5, 6, 7], [5, 6, 7, 7], [6, 7, 7, 7],
    ]
    np.testing.assert_array_equal(sampler.indices, expected_rows)
    assert sampler.indices.dtype == np.int64
    assert len(sampler) == 8
    for i, steps in enumerate(expected_steps):
        window = sampler.sample_sequence(i)
        np.testing.assert_array_equal(window['x'], 10 * np.array(steps))
        np.testing.assert_array_equal(window['y'], np.stack([steps, np.negative(steps)], 1))
        assert window['y'].dtype == np.float32


def test_episode_mask_and_keys(small_buffer):
    sampler = SequenceSampler(small_buffer, 4, pad_before=1, pad_after=2, keys=['x'],
                              episode_mask=np.array([False, True]))
    assert len(sampler) == 5
    assert list(sampler.sample_sequence(0)) == ['x']
    np.testing.assert_array_equal(sampler.sample_sequence(0)['x'], [30, 30, 40, 50])
    empty = SequenceSampler(small_buffer, 4, episode_mask=np.zeros(2, dtype=bool))
    assert len(empty) == 0 and empty.indices.shape == (0, 4)
    with pytest.raises(KeyError, match="no key 'z'"):
        SequenceSampler(small_buffer, 4, keys=['z'])


def test_padding_is_clamped_and_short_episodes_skipped():
    ends = np.array([3, 8])
    mask = np.ones(2, dtype=bool)
    # pads beyond sequence_length - 1 clamp to it, as in the paper
    np.testing.assert_array_equal(create_indices(ends, 4, mask, pad_before=9, pad_after=9),
                                  create_indices(ends, 4, mask, pad_before=3, pad_after=3))
    # without padding, an episode shorter than the window gives no windows
    rows = create_indices(ends, 4, mask)
    np.testing.assert_array_equal(rows, [[3, 7, 0, 4], [4, 8, 0, 4]])
    with pytest.raises(ValueError, match='episode_mask shape'):
        create_indices(ends, 4, np.ones(3, dtype=bool))


def test_create_indices_equals_paper_loop_on_random_buffers():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lengths = rng.integers(1, 30, size=rng.integers(1, 8))
        ends = np.cumsum(lengths)
        mask = rng.random(len(ends)) < 0.7
        seq = int(rng.integers(1, 20))
        pad_before, pad_after = (int(v) for v in rng.integers(-1, 20, size=2))
        ours = create_indices(ends, seq, mask, pad_before=pad_before, pad_after=pad_after)
        np.testing.assert_array_equal(
            ours, paper_loop_indices(ends, seq, mask, pad_before, pad_after),
            err_msg=f'ends={ends} mask={mask} seq={seq} pads={pad_before},{pad_after}')


def test_sampler_reads_zarr_backed_buffers(tmp_path, small_buffer):
    small_buffer.save_to(tmp_path / 'small.zarr')
    on_disk = SequenceSampler(ReplayBuffer.open(tmp_path / 'small.zarr'), 4, 1, 2)
    in_memory = SequenceSampler(small_buffer, 4, 1, 2)
    for i in range(len(in_memory)):
        for key in ('x', 'y'):
            np.testing.assert_array_equal(on_disk.sample_sequence(i)[key],
                                          in_memory.sample_sequence(i)[key])


def test_val_mask_as_the_paper():
    # Push-T defaults of the paper: 206 episodes, val_ratio 0.02, seed 42 -> 4 episodes
    mask = get_val_mask(206, 0.02, seed=42)
    assert mask.dtype == bool and mask.sum() == 4
    np.testing.assert_array_equal(
        np.nonzero(mask)[0],
        np.sort(np.random.default_rng(seed=42).choice(206, size=4, replace=False)))
    np.testing.assert_array_equal(mask, get_val_mask(206, 0.02, seed=42))
    assert not np.array_equal(mask, get_val_mask(206, 0.02, seed=43))
    assert get_val_mask(10, 0.0).sum() == 0
    assert get_val_mask(10, 0.001).sum() == 1  # at least one validation episode
    assert get_val_mask(10, 1.0).sum() == 9  # and at least one left for training
    assert get_val_mask(10, 0.26).sum() == 3  # round(2.6)


def test_downsample_mask_caps_training_episodes():
    mask = np.zeros(50, dtype=bool)
    mask[::2] = True  # 25 candidates
    capped = downsample_mask(mask, 10, seed=1)
    assert capped.sum() == 10
    assert not np.any(capped & ~mask)
    np.testing.assert_array_equal(capped, downsample_mask(mask, 10, seed=1))
    np.testing.assert_array_equal(downsample_mask(mask, None), mask)
    np.testing.assert_array_equal(downsample_mask(mask, 25), mask)
    np.testing.assert_array_equal(downsample_mask(mask, 100), mask)
    assert downsample_mask(mask, 0).sum() == 0


@pytest.mark.parametrize('pad_before, pad_after', [(0, 0), (1, 2), (3, 3)])
def test_first_k_steps_are_the_full_windows_first_k(small_buffer, pad_before, pad_after):
    full = SequenceSampler(small_buffer, 4, pad_before, pad_after)
    first = SequenceSampler(small_buffer, 4, pad_before, pad_after, key_first_k={'y': 2})
    for i in range(len(full)):
        a, b = full.sample_sequence(i), first.sample_sequence(i)
        np.testing.assert_array_equal(b['x'], a['x'])  # other keys: whole windows
        assert b['y'].shape == (2, 2) and b['y'].dtype == np.float32
        np.testing.assert_array_equal(b['y'], a['y'][:2])


def test_first_k_must_name_a_sampled_key_within_the_window(small_buffer):
    with pytest.raises(ValueError, match='key_first_k'):
        SequenceSampler(small_buffer, 4, key_first_k={'y': 5})
    with pytest.raises(ValueError, match='key_first_k'):
        SequenceSampler(small_buffer, 4, keys=['x'], key_first_k={'y': 1})
