"""Edges of the window sampler test_sampler.py leaves open: the arguments it refuses with
their own messages (a negative episode cap, a window of no steps), and the cap at the
mask's own size."""
from __future__ import annotations

import numpy as np
import pytest

from training.sampler import create_indices, downsample_mask


def test_a_negative_episode_cap_is_refused_by_name():
    mask = np.ones(5, dtype=bool)
    with pytest.raises(ValueError, match='max_n must be >= 0, got -1'):
        downsample_mask(mask, -1)
    assert downsample_mask(mask, 5).tolist() == [True] * 5


@pytest.mark.parametrize('length', [0, -3])
def test_a_window_of_no_steps_is_refused_by_name(length):
    with pytest.raises(ValueError, match=f'sequence_length must be >= 1, got {length}'):
        create_indices(np.array([4, 9]), length, np.ones(2, dtype=bool))


def test_one_step_windows_clip_the_padding_to_nothing():
    rows = create_indices(np.array([3, 5]), 1, np.ones(2, dtype=bool), pad_before=2,
                          pad_after=2)
    assert rows.tolist() == [[i, i + 1, 0, 1] for i in range(5)]
