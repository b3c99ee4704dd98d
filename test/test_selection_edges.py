"""Edges of `--episodes` specs (dp_ros/selection.py): the index n itself and negative
indices are out of range, and a trailing comma is harmless."""
from __future__ import annotations

import pytest

from dp_ros.selection import EpisodeSpecError, parse_episodes


@pytest.mark.parametrize('spec', ['3', '0,3', '-1', '1,-2'])
def test_an_index_outside_0_to_n_minus_1_is_refused(spec):
    with pytest.raises(EpisodeSpecError, match='the dataset has episodes 0..2'):
        parse_episodes(spec, 3)


def test_the_last_episode_is_in_range():
    assert parse_episodes('2', 3) == [2]


def test_a_trailing_comma_or_blank_entry_is_skipped():
    assert parse_episodes('1,5,', 10) == [1, 5]
    assert parse_episodes('1, ,2', None) == [1, 2]
