"""What killed saves leave beside their outputs (dp_ros/atomic_dir.py): staging_leftovers
finds exactly the names the savers make (staging_dir's mkdtemp folders, staging_path's
copies, a swap's put-aside old copy) for the targets named, nothing wider: a run folder
holds the user's own files too; run_dir.remove_save_leftovers removes them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dp_ros.atomic_dir import remove_all, staging_dir, staging_leftovers, staging_path
from training.run_dir import remove_save_leftovers


def test_staging_leftovers_match_the_savers_names_only(tmp_path):
    """The names of a process that is gone, of this process (a container's command is pid 1
    at every run: a killed run's copy had it; called at a write's start, this process has
    none of its own), and those of older versions, without the pid; not those of another
    running process."""
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
    try:
        target = tmp_path / 'latest'
        own = [staging_dir(target), staging_path(target)]
        own[1].mkdir()

        def of(pid: int) -> list[Path]:
            return [p.with_name(p.name.replace(f'-{os.getpid()}-', f'-{pid}-')) for p in own]

        made = [*own, *of(gone.pid), tmp_path / '.latest.tmp-abcdefgh',
                tmp_path / '.latest.old-0123abcd']
        others = ['.latest.tmp-short', '.latest.tmp', 'latest', '.best.tmp-abcdefgh',
                  '.latest.old-ABCDEFGH', 'x.latest.tmp-abcdefgh', '.latest.lock']
        for path in [*made[2:], *of(live.pid), *(tmp_path / name for name in others)]:
            path.mkdir()
        assert staging_leftovers(tmp_path, 'latest') == sorted(made)
        assert staging_leftovers(tmp_path, 'best') == [tmp_path / '.best.tmp-abcdefgh']
        assert staging_leftovers(tmp_path / 'missing', 'latest') == []
    finally:
        live.kill()
        live.wait()


def test_remove_all_counts_the_bytes_freed(tmp_path):
    folder = staging_dir(tmp_path / 'latest')
    (folder / 'model.safetensors').write_bytes(b'x' * 1000)
    (tmp_path / 'f').write_bytes(b'y' * 10)
    assert remove_all([folder, tmp_path / 'f']) == 1010
    assert list(tmp_path.iterdir()) == []


def test_a_run_folder_loses_its_save_leftovers_only(tmp_path):
    """checkpoints/'s latest, best and step_N staging copies, `.train_state.tmp` and a
    swap's old train state go; the checkpoints, the train state and other hidden files
    stay."""
    run = tmp_path / 'run'
    ckpt = run / 'checkpoints'
    keep = [ckpt / 'latest', ckpt / 'step_000010', ckpt / '.notes', run / 'train_state',
            run / '.mine.tmp-abcdefgh']
    gone = [ckpt / '.latest.tmp-abc_0xyz', ckpt / '.best.tmp-12345678',
            ckpt / '.step_1000000.tmp-abcdefgh', ckpt / '.step_000010.old-0123abcd',
            run / '.train_state.tmp', run / '.train_state.old-89abcdef']
    for path in [*keep, *gone]:
        path.mkdir(parents=True)
    (gone[0] / 'model.safetensors').write_bytes(b'x' * 100)
    assert remove_save_leftovers(run) == (len(gone), 100)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in gone)
    assert remove_save_leftovers(run) == (0, 0)


def test_staging_dir_is_readable_by_others(tmp_path):
    """0755, not mkdtemp's 0700: a policy swapped in from it loads for another user."""
    assert (staging_dir(Path(tmp_path) / 'latest').stat().st_mode & 0o777) == 0o755
