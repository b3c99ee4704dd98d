"""One run per run directory: a fresh start (`--resume never`, a run stopped before its first
save, another run's train state resumed here) in a folder that holds another run's files
moves them into earlier_runs/<n>/ first, never deleting them. Else the curves and
TensorBoard would mix two runs' steps, and checkpoints/best and the step_* snapshots of the
old run would sit beside the new run's as if they were its own. The old run stays whole
there and continues there (`--output <run>/earlier_runs/<n>`). A run continued in another
folder (`--resume OTHER --output NEW`) takes its checkpoints/best along: the best score it
restores is that checkpoint's.
A run starting in its folder (rank 0, the output lock held) removes what saves killed midway
left there (remove_save_leftovers): each is as large as the policy or the train state.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from dp_ros.atomic_dir import remove_all, staging_leftovers, staging_path
from dp_ros.errors import refused_copy
from training.errors import RunWriteError
from training.run_log import CURVES_FILE, LOG_FILE, TB_DIR
from training.train_state_file import SNAPSHOT, STATE_DIR, STATE_STAGING

CONFIG_FILE = 'config.yaml'
CHECKPOINTS_DIR = 'checkpoints'
MEDIA_DIR = 'media'
EARLIER_RUNS_DIR = 'earlier_runs'
BEST = 'best'  # checkpoints/best: the best closed-loop score so far
LATEST = 'latest'  # checkpoints/latest: the EMA weights of the resume point
# what a run writes into its directory (training/trainer.py), and so what one sets aside
RUN_FILES = (CONFIG_FILE, LOG_FILE, TB_DIR, CURVES_FILE, MEDIA_DIR, CHECKPOINTS_DIR,
             STATE_DIR)


def remove_save_leftovers(run_dir: Path) -> tuple[int, int]:
    """Remove the staging copies saves killed midway (SIGKILL, the OOM killer) left in
    `run_dir`: save_policy's `.latest.tmp-XXXXXXXX` (best, step_N) in checkpoints/, the train
    state's `.train_state.tmp`, a swap's put-aside old copy. Nothing else removes them (their
    dot hides them from ls), and each is as large as the policy or the train state. Only
    with the run's output lock held (a live save's copy has the same name). Returns (how
    many, bytes freed)."""
    found = [*staging_leftovers(run_dir / CHECKPOINTS_DIR, rf'{LATEST}|{BEST}|{SNAPSHOT.pattern}'),
             *staging_leftovers(run_dir, STATE_DIR)]
    if (run_dir / STATE_STAGING).exists():
        found.append(run_dir / STATE_STAGING)
    return len(found), remove_all(found)


def set_aside_earlier_run(run_dir: Path, config_text: str) -> Path | None:
    """Move another run's files out of `run_dir` into earlier_runs/<n>/ (n one past the
    highest there); returns that folder, or None when there was nothing to move. A folder
    holding config.yaml alone, the one this run writes (`config_text`), is this command
    stopped in its start-up (Ctrl-C before its first step): nothing to keep, rewritten. Any
    other config.yaml (another command's, or a file of the user's) is set aside, not lost."""
    present = [name for name in RUN_FILES if (run_dir / name).exists()]
    if not present or (present == [CONFIG_FILE] and _reads(run_dir / CONFIG_FILE) == config_text):
        return None
    parent = run_dir / EARLIER_RUNS_DIR
    taken = [int(p.name) for p in parent.glob('*') if p.name.isdigit()] if parent.is_dir() else []
    dest = parent / str(max(taken, default=0) + 1)
    dest.mkdir(parents=True)
    for name in present:
        os.replace(run_dir / name, dest / name)
    return dest


def _reads(path: Path) -> str | None:
    """The text of a file, None when it cannot be read as one (a folder, not UTF-8)."""
    try:
        return path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError):
        return None


def set_aside_what(folder: Path) -> str:
    """What a folder set_aside_earlier_run made holds, for the line that names it: a run to
    continue, a run stopped before its first save, or a config.yaml alone."""
    if (folder / STATE_DIR).is_dir():
        return f'the run that was there is in {folder} (continue it there: --output {folder})'
    if [p.name for p in folder.iterdir()] == [CONFIG_FILE]:
        return (f'the {CONFIG_FILE} that was there (not the one this run writes) is in '
                f'{folder}')
    return (f'what a run stopped before its first save left there is in {folder} (no train '
            'state: nothing to continue)')


def carry_best(state_path: Path, run_dir: Path) -> Path | None:
    """checkpoints/best of the run whose train state (`state_path`, <run>/train_state) is
    continued in `run_dir`, copied there (whole, then renamed) when run_dir has none; the
    copy, or None."""
    source = state_path.parent / CHECKPOINTS_DIR / BEST
    dest = run_dir / CHECKPOINTS_DIR / BEST
    if not source.is_dir() or dest.exists():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(dest)  # a kill leaves it: remove_save_leftovers
    try:
        shutil.copytree(source, tmp)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        refused = refused_copy(exc)  # shutil.Error: one entry per file, no errno of its own
        if refused is None:
            raise
        raise RunWriteError(f'cannot copy {source} to {dest}: {refused.strerror}; nothing was '
                            'trained yet. Free space there (or give another --output), then '
                            'run the same command again') from None
    os.replace(tmp, dest)
    return dest
