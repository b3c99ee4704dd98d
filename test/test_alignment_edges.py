"""Edges of the alignment rule the main tests leave open: what an invalid pick reports."""
from __future__ import annotations

import numpy as np

from dp_ros.runtime.alignment import sample_at_or_before

MS = 1_000_000


def test_invalid_picks_have_index_0_as_documented():
    """Invalid picks are index 0, as documented: callers index with them before masking."""
    index, valid = sample_at_or_before(np.array([100 * MS, 200 * MS]),
                                       np.array([0, 150 * MS, 500 * MS]), 50 * MS)
    assert index.tolist() == [0, 0, 0] and valid.tolist() == [False, True, False]
    index, valid = sample_at_or_before(np.zeros(0, dtype=np.int64), np.array([0, MS]), MS)
    assert index.tolist() == [0, 0] and valid.tolist() == [False, False]
