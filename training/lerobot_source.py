"""A LeRobotDataset v3.0 as the training code's replay buffer: `dp-ros train` reads either.

open_training_store(path) is what training/dataset.py opens its data with: a zarr store as
before, or, for a directory with meta/info.json, a read-only store over the LeRobot dataset
with the same surface (data, episode_ends, n_steps, n_episodes, keys()). Its arrays are named
as the training config names them: a LeRobot feature name (observation.image,
observation.state, action) or the zarr name it maps from (img, state, action: the Push-T
configs work unchanged). Numeric columns are read when the store opens; a camera's frames are
decoded from its videos where they are read (the episodes a read falls in), into uint8
(N, H, W, 3) as the zarr path reads them, so that shapes can be checked before anything is
decoded and a load of some episodes decodes those alone.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.recorded_sources import FRAME_SIZE
from training.lerobot_format import (
    DEFAULT_FEATURES,
    DEFAULT_KEY_MAP,
    DEFAULT_TOLERANCE_S,
    ImageColumn,
    LeRobotFormatError,
    LeRobotReader,
    camera_frame_size,
    feature_attrs,
    is_lerobot_dataset,
)
from training.replay_buffer import EpisodeIndex, ReplayBuffer, time_chunk_length

DATA_FORMATS = ('auto', 'zarr', 'lerobot')


def detect_format(path: str | Path) -> str:
    """'lerobot' for a directory with meta/info.json, else 'zarr'."""
    return 'lerobot' if is_lerobot_dataset(path) else 'zarr'


def check_format(path: str | Path, data_format: str) -> str:
    """The dataset's format, refusing one that contradicts `data_format` (data.format)."""
    if data_format not in DATA_FORMATS:
        raise LeRobotFormatError(f'data.format {data_format!r} is not one of {DATA_FORMATS}')
    found = detect_format(path)
    if data_format != 'auto' and Path(path).exists() and found != data_format:
        what = 'a LeRobotDataset (meta/info.json)' if found == 'lerobot' else \
            'no LeRobotDataset (no meta/info.json)'
        raise LeRobotFormatError(f'data.format is {data_format!r} but {path} is {what}')
    return found


def open_training_store(path: str | Path, data_format: str = 'auto') -> Any:
    """ReplayBuffer.open(path, 'r') for zarr; a LeRobotStore for a LeRobotDataset."""
    if check_format(path, data_format) == 'lerobot':
        return LeRobotStore(path)
    return ReplayBuffer.open(path, mode='r')


class _Camera:
    """A camera's frames, decoded from the videos where they are read (read_array slices it).

    A read decodes the episodes its steps fall in (LeRobotReader.video_episodes), so that
    loading some episodes decodes those alone, and keeps none of them afterwards but an
    episode the read stopped inside (the next block of read_array goes on in it): a load holds
    its copy of the frames, not a second one here. An 'image' feature (bytes in the parquet)
    decodes the frames a read asks for (ImageColumn), fancy and strided reads included. Its
    chunks are those a zarr store of these frames has: read_array
    then reads (and `dp-ros inspect` checks) it in blocks of a few MB, not all in one block."""

    def __init__(self, reader: LeRobotReader, feature: str, timestamps: np.ndarray,
                 tolerance_s: float, episode_ends: np.ndarray) -> None:
        self.reader, self.feature = reader, feature
        self.timestamps, self.tolerance_s = timestamps, tolerance_s
        self.episode_ends = np.asarray(episode_ends, dtype=np.int64)
        h, w, c = reader._frame_shape(feature)
        reader.check_video_size(feature)  # reads allocate their blocks from this shape
        self.shape = (int(reader.info['total_frames']), h, w, c)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4
        self.chunks = (time_chunk_length((h, w, c), self.dtype), h, w, c)
        self.attrs = feature_attrs(reader.features[feature])  # bag2zarr's camera crop
        video = reader.features[feature]['dtype'] == 'video'
        self._images = None if video else ImageColumn(reader, feature)  # an 'image' feature
        # (episode, its frames): the episode the last read stopped inside; None: none held
        self._frames: tuple[int, np.ndarray] | None = None

    def _all(self) -> np.ndarray:
        """Every frame."""
        if self._images is not None:
            return self._images.rows(0, self.shape[0])
        return self.reader.camera_frames(self.feature, timestamps=self.timestamps,
                                         tolerance_s=self.tolerance_s, progress=True)

    def _rows(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop-1, decoding only the episodes they fall in."""
        if stop <= start:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        if self._images is not None:
            return self._images.rows(start, stop)
        ends = self.episode_ends
        starts = ends - np.diff(ends, prepend=0)
        first = int(np.searchsorted(ends, start, side='right'))
        last = int(np.searchsorted(ends, stop - 1, side='right'))
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        kept, self._frames = self._frames, None
        tail = kept[1] if kept is not None and kept[0] == last else None  # once decoded
        missing: list[int] = []
        for e in range(first, last + 1):
            if kept is not None and e == kept[0]:
                self._put(out, start, stop, e, kept[1])
            elif ends[e] > starts[e]:
                missing.append(e)
        decoded = self.reader.video_episodes(self.feature, self.timestamps,
                                             tolerance_s=self.tolerance_s, episodes=missing)
        for e, frames in decoded if missing else ():
            self._put(out, start, stop, e, frames)  # dropped once copied, but the last
            tail = frames if e == last else tail
        if stop < ends[last]:  # the next read goes on in this episode
            self._frames = (last, tail)
        return out

    def _put(self, out: np.ndarray, start: int, stop: int, episode: int,
             frames: np.ndarray) -> None:
        """An episode's frames that fall in start..stop-1, into out."""
        first = int(self.episode_ends[episode]) - len(frames)
        lo, hi = max(start, first), min(stop, int(self.episode_ends[episode]))
        out[lo - start:hi - start] = frames[lo - first:hi - first]

    def __getitem__(self, item: Any) -> np.ndarray:
        if isinstance(item, tuple) and item:  # (steps, pixels...): the steps first
            frames = self[item[0]]
            steps = () if isinstance(item[0], (int, np.integer)) else (slice(None),)
            return frames[(*steps, *item[1:])]
        n = self.shape[0]
        if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            i = int(item) + n if item < 0 else int(item)
            if not 0 <= i < n:
                raise IndexError(f'index {int(item)} is out of bounds for {n} frames')
            return self._rows(i, i + 1)[0]
        if isinstance(item, slice) and item.step in (None, 1):
            start, stop, _ = item.indices(n)
            return self._rows(start, max(start, stop))
        if self._images is not None:  # fancy or strided steps: those frames alone
            steps = np.arange(n)[item]
            return self._images.take(steps).reshape(*steps.shape, *self.shape[1:])
        return self._all()[item]  # a video's fancy or strided steps

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        frames = self._all()
        return frames if dtype is None else frames.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


class _Features(Mapping[str, Any]):
    """Feature arrays by LeRobot name or by the zarr name that maps to it."""

    def __init__(self, store: LeRobotStore) -> None:
        self.store = store

    def _name(self, key: str) -> str | None:
        features = self.store.reader.features
        if key in features and key not in DEFAULT_FEATURES:
            return key
        mapped = self.store.key_map.get(key)
        return mapped if mapped in features else None

    def __getitem__(self, key: str) -> Any:
        name = self._name(key)
        if name is None:
            raise KeyError(key)
        return self.store.array(name)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._name(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.keys())

    def __len__(self) -> int:
        return len(self.store.keys())


class LeRobotStore(EpisodeIndex):
    """The read side of a ReplayBuffer over a LeRobotDataset v3.0 directory."""

    def __init__(self, path: str | Path, key_map: Mapping[str, str] | None = None,
                 tolerance_s: float = DEFAULT_TOLERANCE_S) -> None:
        self.location = str(path)
        self.reader = LeRobotReader(path)
        self.key_map = dict(DEFAULT_KEY_MAP if key_map is None else key_map)
        self.tolerance_s = tolerance_s
        self._episode_ends = self.reader.episode_ends()
        columns = [*self.reader.numeric_keys, 'timestamp']
        self._columns = self.reader.read_columns(columns)
        self._cameras: dict[str, _Camera] = {}

    @property
    def data(self) -> Mapping[str, Any]:
        return _Features(self)

    def array(self, name: str) -> Any:
        if name in self.reader.camera_keys:
            if name not in self._cameras:
                self._cameras[name] = _Camera(self.reader, name,
                                              self._columns['timestamp'].reshape(-1),
                                              self.tolerance_s, self._episode_ends)
            return self._cameras[name]
        if name in self._columns:
            return self._columns[name]
        raise LeRobotFormatError(f'{self.location}: feature {name!r} is of dtype '
                                 f'{self.reader.features[name]["dtype"]!r}, not numeric')

    def keys(self) -> list[str]:
        return [k for k in self.reader.features if k not in DEFAULT_FEATURES]

    def attrs(self, key: str) -> dict[str, Any]:
        """As ReplayBuffer.attrs, from the feature's info.json entry (camera_crop, names); a
        camera's frame_size too (camera_frame_size)."""
        name = _Features(self)._name(key)
        if name is None:
            raise KeyError(key)
        attrs = feature_attrs(self.reader.features[name])
        size = camera_frame_size(self.reader, name)
        return attrs if size is None else {**attrs, FRAME_SIZE: size}

    def root_attrs(self) -> dict[str, Any]:
        """As ReplayBuffer.root_attrs: the dataset's recording rate (meta/info.json fps)."""
        return {'fps': self.reader.fps}

    def __repr__(self) -> str:
        return (f'LeRobotStore({self.location}, {self.n_episodes} episodes, {self.n_steps} '
                f'steps, {self.keys()})')
