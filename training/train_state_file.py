"""A run's train_state/state.json, found and read without torch: `dp-ros train` checks the
state it would resume from before torch loads (training/run_check.py); training/train_state.py
writes and restores the whole directory. Also the names of a run's step_* snapshots, which
`dp-ros open-loop` orders before torch loads.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from training.errors import TrainStateError

STATE_DIR = 'train_state'
# where save_train_state writes it first, beside it: removed at the next save or run start
STATE_STAGING = f'.{STATE_DIR}.tmp'
STATE_FILE = 'state.json'
STATE_FORMAT = 'dp_ros.train_state'
STATE_VERSION = 1
SNAPSHOT = re.compile(r'step_(\d+)')  # checkpoints/step_N: snapshot_name


def snapshot_name(step: int) -> str:
    """checkpoints/<this>: a kept snapshot (train.snapshot_every). Zero-padded to 6 digits,
    the names sort by step up to 999,999 only (step_1000000 < step_200000): readers order
    snapshots by snapshot_step, never by name (a wider padding would mix two widths in a
    resumed run's folder)."""
    return f'step_{step:06d}'


def snapshot_step(path: str | Path) -> int | None:
    """The step of a snapshot folder named by snapshot_name; None for any other name."""
    m = SNAPSHOT.fullmatch(Path(path).name)
    return int(m[1]) if m else None


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
        saved = json.loads((path / STATE_FILE).read_text(encoding='utf-8'))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a damaged file
        raise TrainStateError(f'{path / STATE_FILE} is not valid JSON ({exc}): not a dp_ros '
                              'train state; --resume never starts over') from None
    if not isinstance(saved, dict) or saved.get('format') != STATE_FORMAT:
        raise TrainStateError(f'{path / STATE_FILE} is not a dp_ros train state (format '
                              f'{STATE_FORMAT!r}); --resume never starts over')
    check_entries(path / STATE_FILE, saved)
    return with_trained_final_block_groups(path / STATE_FILE, saved)


# the entries of a state.json and whether a state may hold one as null or lack it (no EMA,
# no scaler; an older state's policy_config or config). Not 'split': one that cannot be read
# (an older dp_ros's) resumes with a warning (run_check.check_same_episodes)
OBJECT_ENTRIES = {'position': False, 'normalizer': False, 'optimizer': False,
                  'lr_scheduler': False, 'rng': False, 'config': True, 'policy_config': True,
                  'ema': True, 'scaler': True}
POSITION_FIELDS = ('step', 'epoch', 'batch')  # train_state.Position's; step always written


def check_entries(file: Path, saved: dict[str, Any]) -> None:
    """TrainStateError naming `file` and the entry where a state.json of the right format
    holds one of the wrong kind or lacks one (a hand edit, another tool's write): they were
    an AttributeError or TypeError from the resume's checks, or a KeyError at the restore."""
    def refuse(what: str) -> None:
        raise TrainStateError(f'{file}: {what}; not a train state this code can continue, '
                              '--resume never starts over')

    for key, may_lack in OBJECT_ENTRIES.items():
        value = saved.get(key)
        if value is None and may_lack:
            continue
        if not isinstance(value, dict):
            refuse(f'its {key!r} is {type(value).__name__}, not an object'
                   if key in saved else f'it has no {key!r}')
    position = saved['position']
    if 'step' not in position:
        refuse("its 'position' has no step")
    for name, value in position.items():
        if name not in POSITION_FIELDS:
            refuse(f"its 'position' holds {name!r}, not one of {list(POSITION_FIELDS)}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            refuse(f"its 'position' {name} is {value!r}, not a whole number >= 0")


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
