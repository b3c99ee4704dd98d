"""A run's train_state/state.json, found and read without torch: `dp-ros train` checks the
state it would resume from before torch loads (training/run_check.py); training/train_state.py
writes and restores the whole directory.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.errors import TrainStateError

STATE_DIR = 'train_state'
STATE_FILE = 'state.json'
STATE_FORMAT = 'dp_ros.train_state'
STATE_VERSION = 1


def find_train_state(resume: str, run_dir: Path) -> Path | None:
    """--resume auto|never|PATH -> the train_state directory to load, or None."""
    if resume == 'never':
        return None
    if resume == 'auto':
        path = run_dir / STATE_DIR
        return path if (path / STATE_FILE).is_file() else None
    path = Path(resume)
    if (path / STATE_DIR / STATE_FILE).is_file():
        path = path / STATE_DIR
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f'--resume {resume}: no train state ({STATE_FILE}) there')
    return path


def read_state(path: Path) -> dict[str, Any]:
    """state.json of a train_state directory, checked to be one."""
    try:
        saved = json.loads((path / STATE_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise TrainStateError(f'{path / STATE_FILE} is not valid JSON ({exc}): not a dp_ros '
                              'train state; --resume never starts over') from None
    if not isinstance(saved, dict) or saved.get('format') != STATE_FORMAT:
        raise TrainStateError(f'{path / STATE_FILE} is not a dp_ros train state (format '
                              f'{STATE_FORMAT!r}); --resume never starts over')
    return saved
