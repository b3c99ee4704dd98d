"""A debug log of the observations the policy node planned on (parameter observation_log_path).

One JSON line per plan: t_obs_ns, the observation times (oldest first) and, per stream, the
stamp of each sample used, its SHA-1 (of the C-order bytes), shape and dtype, and the values
themselves when small (joint states). test/ros/test_bag_parity.py converts a bag recorded on
the node's inputs at these times and checks that bag2zarr gives the same samples.
A record is about 600 bytes (20 MB an hour at 10 plans a second): a node left logging does
not fill the disk, the file is rotated once it reaches MAX_LOG_BYTES.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.runtime.observation_history import Observation

MAX_LOGGED_VALUES = 64  # arrays up to this size are logged in full, larger ones by hash
# a full log is renamed PATH.1 (replacing the one before) and a new one begun: at most twice this
MAX_LOG_BYTES = 100 * 2**20


def sample_digest(value: Any) -> str:
    """SHA-1 of an array's C-order bytes (what bag2zarr's arrays are compared by)."""
    return hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()


def observation_record(obs: Observation) -> dict[str, Any]:
    streams: dict[str, Any] = {}
    for name, values in obs.values.items():
        arrays = [np.asarray(v) for v in values]
        entry: dict[str, Any] = {'stamps_ns': [int(s) for s in obs.stamps_ns[name]],
                                 'sha1': [sample_digest(a) for a in arrays],
                                 'shape': list(arrays[0].shape), 'dtype': str(arrays[0].dtype)}
        if arrays[0].size <= MAX_LOGGED_VALUES:
            entry['values'] = [a.tolist() for a in arrays]
        streams[name] = entry
    return {'t_obs_ns': int(obs.t_ns), 'times_ns': [int(t) for t in obs.times_ns],
            'streams': streams}


def rotated_path(path: Path) -> Path:
    """Where a full log goes: PATH.1."""
    return path.with_name(path.name + '.1')


def append_observation(path: str | Path, obs: Observation,
                       max_bytes: int = MAX_LOG_BYTES) -> None:
    """Append the observation's record to the JSON-lines file at path (created if absent);
    a file of max_bytes or more is first moved to PATH.1."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size >= max_bytes:
            path.replace(rotated_path(path))
    except FileNotFoundError:
        pass
    append_line(path, json.dumps(observation_record(obs)) + '\n')


def append_line(path: Path, line: str) -> None:
    """Append the whole line or nothing: a write the disk refuses part-way (full, over the size
    limit) is cut back off, so the log it leaves still reads (read_observation_log)."""
    data = line.encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        start = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):  # a short write: the rest, or the error saying why
                written += os.write(fd, data[written:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


class ObservationLog:
    """append_observation to `path` ('' : off) until a write fails (a full disk, its folder
    removed): then off, the failure said once by append's return, as a debug log must not
    stop a node that moves an arm."""

    def __init__(self, path: str | Path, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes

    def append(self, obs: Observation) -> str | None:
        """The record appended; None, or the message of the failure that turned the log off."""
        if not self.path:
            return None
        try:
            append_observation(self.path, obs, self.max_bytes)
        except OSError as exc:
            path, self.path = self.path, ''
            return f'observation_log_path: cannot append to {path} ({exc}): the log is off'
        return None


def read_observation_log(path: str | Path) -> list[dict[str, Any]]:
    """The records, oldest first. A cut-off last record (no newline, not JSON: a node killed
    mid-write) is left out with a warning; a bad record elsewhere is an error."""
    text = Path(path).read_text()
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if lines and not text.endswith('\n'):
        try:
            json.loads(lines[-1][1])
        except json.JSONDecodeError:
            warnings.warn(f'{path}: its last record is cut off ({len(lines[-1][1])} bytes, no '
                          'newline): left out', stacklevel=2)
            lines.pop()
    records = []
    for n, line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:  # its own "line 1" would be the record's
            raise ValueError(f'{path}: line {n} is no JSON record ({exc.msg}: column '
                             f'{exc.colno}): a log edited or written by another tool?') from None
    return records
