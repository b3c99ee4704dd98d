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
    return with_trained_final_block_groups(path / STATE_FILE, saved)


def with_trained_final_block_groups(file: Path, saved: dict[str, Any]) -> dict[str, Any]:
    """The saved policy (policy_config, or where a state has none its config's policy
    section) with the final_block_groups it trained with (config.with_final_block_groups):
    a resume compares it with this run's, so an older n_groups-4 run is not continued as
    another network. TrainStateError where the state cannot say."""
    from dp_ros.policy.config import with_final_block_groups

    saved = dict(saved)
    try:
        if isinstance(saved.get('policy_config'), dict):
            saved['policy_config'] = with_final_block_groups(
                saved['policy_config'], f"its 'policy_config' ({STATE_FILE})")
        elif isinstance(saved.get('config'), dict) \
                and isinstance(saved['config'].get('policy'), dict):
            policy = with_final_block_groups(saved['config']['policy'],
                                             f"its config's 'policy' ({STATE_FILE})")
            saved['config'] = {**saved['config'], 'policy': policy}
    except ValueError as exc:
        raise TrainStateError(f'{file}: {exc}; --resume never starts over') from None
    return saved
