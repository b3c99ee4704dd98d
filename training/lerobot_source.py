"""A LeRobotDataset v3.0 as the training code's replay buffer: `dp-ros train` reads either.

open_training_store(path) is what training/dataset.py opens its data with: a zarr store as
before, or, for a directory with meta/info.json, a read-only store over the LeRobot dataset
with the same surface (data, episode_ends, n_steps, n_episodes, keys()). Its arrays are named
as the training config names them: a LeRobot feature name (observation.image,
observation.state, action) or the zarr name it maps from (img, state, action: the Push-T
configs work unchanged). Numeric columns are read when the store opens; a camera is decoded
from its videos once, on first access, into uint8 (N, H, W, 3), the same in-RAM array the
zarr path makes, so that shapes can be checked before anything is decoded.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from training.lerobot_convert import DEFAULT_KEY_MAP
from training.lerobot_format import (
    DEFAULT_FEATURES,
    DEFAULT_TOLERANCE_S,
    LeRobotFormatError,
    LeRobotReader,
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
    """A camera's frames, decoded from the videos on first access (read_array slices it).

    Its chunks are those a zarr store of these frames has: read_array then reads (and
    `dp-ros inspect` checks) it in blocks of a few MB, not all frames in one block."""

    def __init__(self, reader: LeRobotReader, feature: str, timestamps: np.ndarray,
                 tolerance_s: float) -> None:
        self.reader, self.feature = reader, feature
        self.timestamps, self.tolerance_s = timestamps, tolerance_s
        h, w, c = reader._frame_shape(feature)
        self.shape = (int(reader.info['total_frames']), h, w, c)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4
        self.chunks = (time_chunk_length((h, w, c), self.dtype), h, w, c)
        self.attrs = feature_attrs(reader.features[feature])  # bag2zarr's camera crop
        self._frames: np.ndarray | None = None

    def frames(self) -> np.ndarray:
        if self._frames is None:
            self._frames = self.reader.camera_frames(
                self.feature, timestamps=self.timestamps, tolerance_s=self.tolerance_s,
                progress=True)
        return self._frames

    def __getitem__(self, item: Any) -> np.ndarray:
        return self.frames()[item]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.frames() if dtype is None else self.frames().astype(dtype)

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
                                              self.tolerance_s)
            return self._cameras[name]
        if name in self._columns:
            return self._columns[name]
        raise LeRobotFormatError(f'{self.location}: feature {name!r} is of dtype '
                                 f'{self.reader.features[name]["dtype"]!r}, not numeric')

    def keys(self) -> list[str]:
        return [k for k in self.reader.features if k not in DEFAULT_FEATURES]

    def attrs(self, key: str) -> dict[str, Any]:
        """As ReplayBuffer.attrs, from the feature's info.json entry (camera_crop, names)."""
        name = _Features(self)._name(key)
        if name is None:
            raise KeyError(key)
        return feature_attrs(self.reader.features[name])

    def root_attrs(self) -> dict[str, Any]:
        """As ReplayBuffer.root_attrs: the dataset's recording rate (meta/info.json fps)."""
        return {'fps': self.reader.fps}

    def __repr__(self) -> str:
        return (f'LeRobotStore({self.location}, {self.n_episodes} episodes, {self.n_steps} '
                f'steps, {self.keys()})')
