"""`dp-ros open-loop runA/checkpoints/step_200000 runB/checkpoints/step_100000` reported runB
first: in_step_order sorted every step_* snapshot by its step wherever it came from,
contradicting 'in the order given'. Pinned: snapshots are put in step order only among
those of the same folder, in the places that folder's snapshots hold; other runs' keep the
order given (test/test_open_loop_snapshot_step_order.py pins the one-folder case)."""
from __future__ import annotations

from pathlib import Path

from training.open_loop import PolicyEntry, in_step_order


def _entry(path: str) -> PolicyEntry:
    return PolicyEntry(path, Path(path), {}, None)  # type: ignore[arg-type]


def _order(given: list[str]) -> list[str]:
    return [e.arg for e in in_step_order([_entry(p) for p in given])]


def test_snapshots_of_two_runs_keep_the_order_given():
    given = ['runA/checkpoints/step_200000', 'runB/checkpoints/step_100000']
    assert _order(given) == given


def test_each_runs_snapshots_are_sorted_in_their_own_places():
    """runA's snapshots (shell order: 1000000 before 200000) and runB's, interleaved with
    other policies: each run's are in step order in the places its snapshots held."""
    given = ['runA/checkpoints/step_1000000', 'runB/checkpoints/step_300000', 'best',
             'runA/checkpoints/step_200000', 'runB/checkpoints/step_100000']
    assert _order(given) == ['runA/checkpoints/step_200000', 'runB/checkpoints/step_100000',
                             'best', 'runA/checkpoints/step_1000000',
                             'runB/checkpoints/step_300000']


def test_one_folder_named_two_ways_is_one_folder():
    """run/checkpoints/ and run/checkpoints/../checkpoints/ are the same folder."""
    given = ['run/checkpoints/step_1000000', 'run/checkpoints/../checkpoints/step_200000']
    assert _order(given) == list(reversed(given))
