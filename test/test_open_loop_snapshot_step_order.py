"""A long run's step_* snapshots in step order. snapshot_name pads to 6 digits, so past
999,999 steps (hours on a GPU for a small network) the names stop sorting by step
(step_1000000 < step_200000), and `dp-ros open-loop RUN/checkpoints/step_*` receives them
in that shell order. The names stay as they are (a wider padding would mix two widths in a
resumed run's folder); the readers order snapshots by their number instead."""
from __future__ import annotations

from pathlib import Path

from training.open_loop import PolicyEntry, in_step_order
from training.train_state_file import snapshot_step
from training.trainer import snapshot_name


def test_snapshot_names_give_back_their_step_past_a_million_steps():
    steps = [200_000, 999_999, 1_000_000, 1_200_000]
    names = [snapshot_name(s) for s in steps]
    assert sorted(names) != names  # why readers must not sort by name
    assert sorted(names, key=snapshot_step) == names
    assert [snapshot_step(Path('run/checkpoints') / n) for n in names] == steps
    assert snapshot_step('best') is None and snapshot_step('step_12a') is None


def _entry(name: str) -> PolicyEntry:
    return PolicyEntry(name, Path('run/checkpoints') / name, {}, None)  # type: ignore[arg-type]


def test_open_loop_takes_shell_ordered_snapshots_in_step_order():
    """`best RUN/checkpoints/step_*` in the shell's (name) order: best stays first, the
    snapshots follow in step order."""
    given = ['best', 'step_1000000', 'step_1200000', 'step_200000', 'step_999999', 'latest']
    got = [e.arg for e in in_step_order([_entry(n) for n in given])]
    assert got == ['best', 'step_200000', 'step_999999', 'step_1000000', 'step_1200000',
                   'latest']
