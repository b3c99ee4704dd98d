"""`--episodes` specs (dp_ros/selection.py): ranges, lists, and errors that name the range."""
from __future__ import annotations

import pytest

from dp_ros.selection import parse_episodes


@pytest.mark.parametrize(('spec', 'n', 'expected'), [
    ('0:3', None, [0, 1, 2]), ('2:', 5, [2, 3, 4]), (':', 3, [0, 1, 2]), (':2', 9, [0, 1]),
    ('1,5,9', 10, [1, 5, 9]), ('7', None, [7]), ('3:100', 5, [3, 4]), ('', 4, None),
    ('3,1,3', 5, [3, 1]),  # each once, in order (arm-record recorded a repeat twice, crashed)
    (None, None, None),
])
def test_specs(spec, n, expected):
    assert parse_episodes(spec, n) == expected


@pytest.mark.parametrize(('spec', 'n', 'words'), [
    ('5', 3, 'episodes 0..2'), ('4:', 3, 'episodes 0..2'), ('a:b', 3, "expected 'A:B'"),
    ('1,x', None, "expected 'A:B'"), ('2:', None, 'needs its end'),
])
def test_bad_specs_name_the_problem(spec, n, words):
    with pytest.raises(ValueError, match=words):
        parse_episodes(spec, n)
