"""A run's log: log.jsonl (one JSON record per event), TensorBoard scalars and curves.png.

Every record has event, step, epoch, wall_time and elapsed_s besides its values; the
numeric values also go to TensorBoard under '<event>/<key>' (or the key itself when it
already has a '/', e.g. 'test/mean_score'). A run resumed from step T drops log.jsonl's
records past T (logged after the last save, before the stop: else a resume stopped earlier
would plot the old run's later steps as its own), appends to it (readers keep the latest
record of a step), and TensorBoard hides the events past T. A fresh start finds the folder
without another run's files (training/run_dir.py set them aside).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from dp_ros.atomic_dir import write_text
from training.errors import refused_write, run_write_error
from training.train_state import json_default
from training.train_state_file import STATE_DIR

log = logging.getLogger('dp_ros.train')

LOG_FILE = 'log.jsonl'
TB_DIR = 'tb'
CURVES_FILE = 'curves.png'


def finite(v: Any) -> bool:
    """A real number TensorBoard and the artifact metrics can hold (not bool, NaN or inf)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class RunLog:
    """Written by the main process only; on other ranks (enabled=False) every call is a no-op."""

    def __init__(self, run_dir: Path, resume_step: int = 0, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._file: IO[str] | None = None
        self._writer: Any = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter
        path = self.run_dir / LOG_FILE
        if resume_step:
            _drop_records_after(path, resume_step)
        # a resume from step T: the events past T (logged before the stop, after the save)
        # are hidden; T's own were saved with the state and stay
        self._writer = SummaryWriter(str(self.run_dir / TB_DIR),
                                     purge_step=resume_step + 1 if resume_step else None)
        self._file = _open_for_append(path)

    def emit(self, event: str, step: int, epoch: int, elapsed_s: float,
             values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {'event': event, 'step': step, 'epoch': epoch, 'wall_time': time.time(),
                  'elapsed_s': round(elapsed_s, 3), **values}
        with self._refused_log(self.run_dir / LOG_FILE):
            self._file.write(json.dumps(record, default=json_default) + '\n')
            self._file.flush()
        for k, v in values.items():
            if finite(v):
                self._writer.add_scalar(k if '/' in k else f'{event}/{k}', v, step)

    @contextmanager
    def _refused_log(self, path: Path) -> Iterator[None]:
        """A write of `path` the machine refuses as RunWriteError naming it and how to go
        on, as a refused checkpoint save says it (training/errors.py run_write_error)."""
        try:
            yield
        except OSError as exc:
            reason = refused_write(exc)
            if reason is None:
                raise
            state = self.run_dir / STATE_DIR
            kept, then = ((f'{state} keeps the last save', 'run the command again with '
                           '--resume auto (the default) to resume') if state.is_dir() else
                          ('this run saved nothing', 'run the same command again'))
            raise run_write_error(path, reason, kept, then) from None

    def plot(self) -> None:
        """curves.png from log.jsonl; a failing plot is a warning, never a stop."""
        if not self.enabled:
            return
        from training.plots import plot_training_curves
        try:
            plot_training_curves(self.run_dir / LOG_FILE, self.run_dir / CURVES_FILE)
        except Exception as err:  # noqa: BLE001 (a plot must never stop training)
            log.warning('could not plot the training curves: %s', err)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _drop_records_after(path: Path, step: int) -> None:
    """log.jsonl without the records past `step` (and a line a kill cut short), replaced
    atomically; left as it is when it has none."""
    if not path.exists():
        return
    lines = path.read_text(encoding='utf-8').splitlines(keepends=True)
    kept = [line for line in lines if (at := _step_of(line)) is not None and at <= step]
    if len(kept) == len(lines):
        return
    write_text(path, ''.join(line if line.endswith('\n') else line + '\n' for line in kept))


def _step_of(line: str) -> float | None:
    """A record's step; None for a line that is no record (cut short by a kill)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = record.get('step') if isinstance(record, dict) else None
    return step if isinstance(step, (int, float)) and not isinstance(step, bool) else None


def _open_for_append(path: Path) -> IO[str]:
    """log.jsonl for appending; a line cut short by a kill is closed first."""
    f = open(path, 'a+b')  # noqa: SIM115 (closed right here)
    if f.tell() > 0:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b'\n':
            f.write(b'\n')
    f.close()
    return open(path, 'a')  # noqa: SIM115 (closed by RunLog.close)
