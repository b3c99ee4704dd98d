"""The whole-run disk estimate counts a save's staging copies (training/run_check.check_disk).

Defect pinned (review AR3): every save after a run's first stages the new train state beside
the old one (train_state.py) and checkpoints/latest beside the old latest (save_policy)
before swapping, so at that save the disk holds two train states and two latests. The
estimate counted one: with 100 MiB weights and 600 MiB free a run of several saves passed
silently and stopped at its second save (400 + 100 written, 400 more staged). A run of one
save, and a resume (its old state already counts in the used bytes), stage nothing extra.
"""
from __future__ import annotations

from training.config import TrainConfig
from training.run_check import check_disk, saves_to_write

MIB = 2**20
W = 100 * MIB


def _cfg(**train) -> TrainConfig:
    return TrainConfig.from_dict({'train': {'max_steps': 1000, **train},
                                  'eval': {'n_episodes': 0}})


def test_a_run_of_several_saves_needs_room_for_the_staged_state_and_latest():
    """400 + 100 written, 400 + 100 staged: 1000 MiB; 600 free warns, 1000 does not."""
    (warning,) = check_disk(_cfg(checkpoint_every=100), W, 600 * MIB, 'run')
    assert '600 MiB free' in warning and 'about 1000 MiB' in warning and 'twice' in warning
    assert check_disk(_cfg(checkpoint_every=100), W, 1000 * MIB, 'run') == []


def test_one_save_or_a_resume_stages_nothing_extra():
    assert check_disk(_cfg(checkpoint_every=1000), W, 600 * MIB, 'run') == []
    assert check_disk(_cfg(checkpoint_every=0), W, 600 * MIB, 'run') == []
    assert check_disk(_cfg(checkpoint_every=100), W, 600 * MIB, 'run', start_step=500) == []


def test_saves_counted_every_checkpoint_every_and_at_max_steps():
    assert saves_to_write(_cfg(checkpoint_every=100)) == 10
    assert saves_to_write(_cfg(checkpoint_every=300)) == 4  # 300, 600, 900, 1000
    assert saves_to_write(_cfg(checkpoint_every=0)) == 1
