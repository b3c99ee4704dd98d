"""A resume after a killed save on a nearly full disk (training/trainer.py).

Defect pinned (review AR3): Trainer ran check_disk before remove_save_leftovers, so the free
space it judged still held the killed save's staging copy (`.train_state.tmp`, as large as a
train state) that the removal a line later frees: the run was refused (or warned) for space
it was about to have. The leftovers now go first; check_disk reads the disk after them.
"""
from __future__ import annotations

from pathlib import Path

from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

import training.trainer as trainer_module
from training.train_state_file import STATE_STAGING


def test_the_disk_is_checked_after_a_killed_saves_leftovers_are_removed(tmp_path, monkeypatch):
    store = write_small_store(tmp_path / 'data.zarr')
    run = tmp_path / 'run'
    leftover = run / STATE_STAGING
    leftover.mkdir(parents=True)
    (leftover / 'model.safetensors').write_bytes(b'x' * 1000)
    seen: list[bool] = []

    def free_disk(path: Path) -> int | None:
        seen.append(leftover.exists())
        return None

    monkeypatch.setattr(trainer_module, 'free_disk', free_disk)
    trainer_module.Trainer(small_config(store), run)
    assert seen == [False], 'the free space was read with the killed save\'s copy still there'
