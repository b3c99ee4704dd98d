"""Writing converted episodes into a zarr replay buffer, all at once or not at all.

Episodes are written into a temporary store beside the output (a copy of it when
appending), which replaces the output by an atomic rename at the very end: an error or
Ctrl-C before that leaves the output as it was.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dp_ros.atomic_dir import replace_dir
from dp_ros.bags.reader import BagError
from training.replay_buffer import ReplayBuffer


@contextmanager
def staged_store(output: Path, overwrite: bool) -> Iterator[tuple[Path, bool]]:
    """(temporary store path, appending): the caller fills it; it replaces output on success.

    The temporary store lives beside the output (same file system, so the swap is a rename)
    and is removed whatever happens before the swap.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f'.{output.name}.bag2zarr-{os.getpid()}-{uuid.uuid4().hex[:8]}')
    appending = output.exists() and not overwrite
    try:
        if appending:
            ReplayBuffer.open(output, mode='r')  # refuse anything that is not a replay buffer
            shutil.copytree(output, tmp, symlinks=True)
        yield tmp, appending
        replace_dir(tmp, output)
    finally:
        _remove_tree(tmp)


def _remove_tree(path: Path, attempts: int = 20) -> None:
    """Remove a temporary store, also while zarr's I/O thread still finishes a write into
    it (an interrupt stops the main thread only)."""
    for _ in range(attempts):
        if not path.exists():
            return
        shutil.rmtree(path, ignore_errors=True)
        time.sleep(0.05)


class EpisodeWriter:
    """Episodes into the (staged) store at `path`, held in memory until flushed.

    A fresh store is written in one pass (ReplayBuffer.save_to: every chunk compressed once,
    about twice as fast as appending episode by episode, which rewrites the chunk an episode
    ends in); appends, and batches beyond the memory limit, go episode by episode. Appended
    episodes take the existing store's dtypes; keys and step shapes must agree with it.
    """

    def __init__(self, path: Path, appending: bool, output: Path, limit_bytes: int,
                 progress: bool = True) -> None:
        self.path = path
        self.output = output  # named in errors: the user's path, not the temporary one
        self.limit_bytes = limit_bytes
        self.progress = progress
        self.store = ReplayBuffer.open(path, mode='r+') if appending else None
        self.pending: list[dict[str, np.ndarray]] = []
        self.pending_bytes = 0
        self.episodes_added = 0
        self.steps_added = 0

    @property
    def dtypes(self) -> dict[str, np.dtype] | None:
        """The store's dtypes once it has arrays (what new episodes are converted to)."""
        if self.store is None:
            return None
        return {k: np.dtype(v.dtype) for k, v in self.store.data.items()}

    def check_keys(self, keys: Iterable[str]) -> None:
        """Appending needs the keys the store already has."""
        if self.store is None or self.store.n_episodes == 0:
            return
        have, want = set(self.store.keys()), set(keys)
        if have != want:
            raise BagError(f'cannot append to {self.output}: it holds keys {sorted(have)}, the '
                           f'config makes {sorted(want)}')

    def add(self, episode: dict[str, np.ndarray]) -> None:
        if self.store is not None:
            episode = self._match_store(episode)
        self.pending.append(episode)
        self.pending_bytes += sum(v.nbytes for v in episode.values())
        self.episodes_added += 1
        self.steps_added += len(next(iter(episode.values())))
        if self.pending_bytes >= self.limit_bytes:
            self.flush()

    def flush(self) -> ReplayBuffer | None:
        """Write what is pending; returns the store (None while nothing was written)."""
        episodes, self.pending, self.pending_bytes = self.pending, [], 0
        if not episodes:
            return self.store
        if self.store is None:
            ends = np.cumsum([len(next(iter(e.values()))) for e in episodes])
            data = {k: np.concatenate([e[k] for e in episodes]) for k in episodes[0]}
            episodes.clear()
            ReplayBuffer.from_arrays(data, ends).save_to(
                self.path, progress=None if self.progress else False)
            self.store = ReplayBuffer.open(self.path, mode='r+')
            return self.store
        for episode in episodes:
            self.store.add_episode(episode)
        return self.store

    def _match_store(self, episode: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Episodes take the existing store's dtypes; shapes must agree."""
        if self.store.n_episodes == 0:
            return episode
        out = {}
        for key, value in episode.items():
            arr = self.store.data[key]
            if tuple(arr.shape[1:]) != value.shape[1:]:
                raise BagError(f'cannot append to {self.output}: data/{key} has step shape '
                               f'{tuple(arr.shape[1:])}, the bags give {value.shape[1:]}')
            out[key] = value.astype(arr.dtype, copy=False)
        return out
