"""LeRobotDataset v3.0 on disk, written and read with pyarrow and PyAV (lerobot not imported).

The layout and its fields follow lerobot's own code (huggingface/lerobot,
src/lerobot/datasets/: utils.py, feature_utils.py, io_utils.py, dataset_metadata.py,
dataset_writer.py, dataset_reader.py, video_utils.py, compute_stats.py, and
src/lerobot/configs/video.py for the encoder defaults)::

    meta/info.json                                  codebase_version "v3.0", fps, features, ...
    meta/stats.json                                 per feature: min max mean std count q01..q99
    meta/tasks.parquet                              task (pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet        one row per episode: length, tasks, index
                                                    range, data file, video file and time span,
                                                    stats/<feature>/<stat>
    data/chunk-{c:03d}/file-{f:03d}.parquet         one row per frame, one row group per episode
    videos/<key>/chunk-{c:03d}/file-{f:03d}.mp4     consecutive episodes of one camera

A file takes episodes until it would pass data_files_size_in_mb (parquet, uncompressed) or
video_files_size_in_mb (mp4); chunk-c holds at most chunks_size files. A video file is one
stream: frame k of the file is at k / fps seconds, and an episode's frames start at its
`videos/<key>/from_timestamp`. lerobot's loader finds frame i of an episode at
from_timestamp + timestamp[i] and takes the decoded frame nearest to it, which must lie within
tolerance_s (LeRobotDataset's default 1e-4 s); LeRobotReader.video_frames does the same, allowing
each frame its float32 timestamp's spacing besides (past 2048 s in an episode that rounding alone
exceeds 1e-4 s: FLOAT32_TIMESTAMP_LIMIT_S).

Videos are encoded as lerobot's default RGB encoder does: libsvtav1, yuv420p, GOP 2, CRF 30,
preset 12; h264 (libx264) where this PyAV has no libsvtav1 encoder.
"""
from __future__ import annotations

import json
import logging
import math
import os
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dp_ros.dimension_names import NAMES, names_of
from dp_ros.errors import UserError, one_line
from dp_ros.image_fit import CAMERA_CROP
from dp_ros.recorded_sources import SOURCES

log = logging.getLogger(__name__)

CODEBASE_VERSION = 'v3.0'
DEFAULT_CHUNK_SIZE = 1000  # files per chunk directory
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 200
DEFAULT_TOLERANCE_S = 1e-4  # LeRobotDataset(tolerance_s=1e-4)
# an episode's time past which its float32 timestamps (as lerobot stores them) can be further
# than DEFAULT_TOLERANCE_S from k / fps: from 2048 s on, their spacing is 2**-12 s, half of
# it 1.2e-4 s. The reader allows each frame its timestamp's spacing (timestamp_slack) on top
# of tolerance_s; lerobot's loader does not, so the writer warns of such an episode.
FLOAT32_TIMESTAMP_LIMIT_S = 2048.0
# how far the timestamps' median frame spacing may be from 1 / fps, relative: a wrong fps is
# off by far more, float32 rounding by far less
FRAME_RATE_TOLERANCE = 0.01
# An encoder that makes no progress (a frame encoded, its end-of-stream flush returned) for
# this long is taken as hung: SVT-AV1 4.1.0 stops so now and then, using no CPU (seen at its
# flush in CI, and inside a frame in 1 of about 450 files of 1,280 96x96 frames encoded three
# at a time here). A frame takes milliseconds (the Push-T set, 96x96, encodes at about 1,140
# frames/s: bench/results/lerobot_roundtrip.json), a flush of the lookahead under a second per
# 480 px camera: the bound only catches one that stopped.
STALL_S = 120.0
# encoders an episode is given in turn when one hangs, or gives a packet out of order (SVT-AV1
# 4.1.0 now and then, 24 frames behind: the mp4 muxer refused it, 'non monotonically
# increasing dts', EINVAL; 7 of 450 conversions of 10 small videos, three converting at once
# here), before the conversion fails
ENCODE_ATTEMPTS = 2
ABORT_WAIT_S = 10.0  # an aborted video's encoder: waited for this long, then left to PyAV

INFO_PATH = 'meta/info.json'
STATS_PATH = 'meta/stats.json'
TASKS_PATH = 'meta/tasks.parquet'
EPISODES_DIR = 'meta/episodes'
CHUNK_FILE_PATTERN = 'chunk-{chunk_index:03d}/file-{file_index:03d}'
DEFAULT_EPISODES_PATH = EPISODES_DIR + '/' + CHUNK_FILE_PATTERN + '.parquet'
DEFAULT_DATA_PATH = 'data/' + CHUNK_FILE_PATTERN + '.parquet'
DEFAULT_VIDEO_PATH = 'videos/{video_key}/' + CHUNK_FILE_PATTERN + '.mp4'

# columns every frame has, appended after the dataset's own features (lerobot
# utils/constants.py DEFAULT_FEATURES)
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    'timestamp': {'dtype': 'float32', 'shape': [1], 'names': None},
    'frame_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'episode_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'task_index': {'dtype': 'int64', 'shape': [1], 'names': None},
}
DEFAULT_QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
# zarr key (the paper's Push-T layout, bag2zarr's defaults) -> LeRobot feature: `dp-ros
# convert`'s default map, and the names `dp-ros train` also takes for a LeRobot directory's
DEFAULT_KEY_MAP: dict[str, str] = {
    'img': 'observation.image',
    'state': 'observation.state',
    'action': 'action',
}
IMAGE_NAMES = ['height', 'width', 'channels']
NUMERIC_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                  'uint64', 'float16', 'float32', 'float64')
_HF_ARRAY_TYPES = {2: 'Array2D', 3: 'Array3D', 4: 'Array4D', 5: 'Array5D'}


class LeRobotFormatError(UserError, ValueError):
    """A LeRobotDataset directory that cannot be read, or data that cannot be written as one."""


def timestamp_slack(timestamps: np.ndarray) -> np.ndarray:
    """How far each float32 timestamp may be from the time it stands for (its float32
    spacing, float64 values; 0 where it is not finite): a frame read back is allowed this
    beyond tolerance_s, so that an episode past FLOAT32_TIMESTAMP_LIMIT_S reads back."""
    spacing = np.spacing(np.abs(np.asarray(timestamps, dtype=np.float32))).astype(np.float64)
    return np.where(np.isfinite(spacing), spacing, 0.0)


def check_fps(fps: Any, what: str) -> int:
    """`fps` as info.json's integer frames per second; LeRobotFormatError naming `what` for
    anything else (0, -10, '10', 12.5), which the zarr store and the training control period
    would otherwise take silently."""
    if isinstance(fps, bool) or not isinstance(fps, int | float | np.number) or \
            not 0 < fps < math.inf or int(fps) != fps:
        raise LeRobotFormatError(f'{what} is {fps!r}: a LeRobotDataset needs a positive integer '
                                 f'fps')
    return int(fps)


# ---------------------------------------------------------------------------- encoding
@dataclass
class VideoEncoding:
    """Encoder settings (lerobot configs/video.py VideoEncoderConfig defaults).

    vcodec: 'libsvtav1' (lerobot's default), 'h264' (libx264) or 'hevc'; crf: quality, lower
    is better and larger; g: keyframe interval (2: any frame decodes after at most one
    other); preset: speed (SVT-AV1 0..13, x264 names); threads: encoder threads (None: the
    codec's choice).
    """

    vcodec: str = 'libsvtav1'
    pix_fmt: str = 'yuv420p'  # the encoded pixel format (info's video.pix_fmt)
    g: int = 2
    crf: int = 30
    preset: int | str | None = None
    # 0: off; SVT-AV1's fast-decode level (clamped to 0..2); h264/hevc: > 0 tunes fastdecode
    fast_decode: int = 0
    threads: int | None = None
    # further codec options (ffmpeg names, e.g. {'tune': 'film'}), where codec_options sets
    # none of its own; hevc's x265-params follow its bframes=0
    extra_options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vcodec == 'av1':  # lerobot's alias
            self.vcodec = 'libsvtav1'
        if self.preset is None and self.vcodec == 'libsvtav1':
            self.preset = 12  # LIBSVTAV1_DEFAULT_PRESET

    def codec_options(self) -> dict[str, str]:
        """The options lerobot's VideoEncoderConfig.get_codec_options gives the codec."""
        opts: dict[str, Any] = {'g': self.g, 'crf': self.crf}
        if self.preset is not None:
            opts['preset'] = self.preset
        if self.vcodec == 'libsvtav1':
            parts = [f'fast-decode={max(0, min(2, self.fast_decode))}']
            if self.threads is not None:
                parts.append(f'lp={self.threads}')
            opts['svtav1-params'] = ':'.join(parts)
        else:
            if self.vcodec == 'hevc':
                # no B-frames: x265 puts frames before their keyframe in decoding order, and
                # lerobot's seek to a frame's time (to the keyframe at or before it; with
                # torchcodec, by approximate index) lands past it. The user's x265-params
                # follow (and may turn them back on).
                user = self.extra_options.get('x265-params')
                opts['x265-params'] = 'bframes=0' + (f':{user}' if user else '')
            if self.fast_decode:
                opts['tune'] = 'fastdecode'
            if self.threads is not None:
                opts['threads'] = self.threads
        for key, value in self.extra_options.items():
            opts.setdefault(key, value)
        return {k: str(v) for k, v in opts.items()}

    def info(self) -> dict[str, Any]:
        """The encoder's video.* entries of a video feature's info (get_video_info)."""
        return {'video.g': self.g, 'video.crf': self.crf, 'video.preset': self.preset,
                'video.fast_decode': self.fast_decode, 'video.video_backend': 'pyav',
                'video.extra_options': dict(self.extra_options)}


# the crf each encoder takes at 8 bits (SVT-AV1 0..63, x264/x265 0..51): libx264 would clamp
# a larger one silently, libsvtav1 and libx265 fail to open with a bare errno
CRF_RANGES: dict[str, tuple[int, int]] = {'libsvtav1': (0, 63), 'h264': (0, 51), 'hevc': (0, 51)}


def encoder_available(vcodec: str) -> bool:
    import av
    try:
        av.codec.Codec(_encoder_name(vcodec), 'w')
    except Exception:  # noqa: BLE001 - av raises its own UnknownCodecError / ValueError kinds
        return False
    return True


def _encoder_name(vcodec: str) -> str:
    return {'h264': 'libx264', 'hevc': 'libx265'}.get(vcodec, vcodec)


def default_encoding(**overrides: Any) -> VideoEncoding:
    """lerobot's default (libsvtav1) where PyAV has that encoder, else h264."""
    enc = VideoEncoding(**overrides)
    if 'vcodec' not in overrides and not encoder_available(enc.vcodec):
        enc = VideoEncoding(**{**overrides, 'vcodec': 'h264', 'preset': None})
    if not encoder_available(enc.vcodec):
        raise LeRobotFormatError(f'this PyAV has no {enc.vcodec!r} encoder; choose libsvtav1, '
                                 f'h264 or hevc')
    check_crf(enc, '--crf')
    return enc


def check_crf(enc: VideoEncoding, what: str) -> None:
    """enc.crf within its encoder's CRF_RANGES (`what`: how the caller names it): libx264
    clamps a larger one silently while info.json would record the one asked for."""
    low, high = CRF_RANGES.get(enc.vcodec, (enc.crf, enc.crf))
    if not low <= enc.crf <= high:
        raise LeRobotFormatError(f'{what} {enc.crf} is outside the {enc.vcodec} encoder\'s '
                                 f'range {low}..{high}')


# ---------------------------------------------------------------------------- features
def numeric_feature(array: np.ndarray, names: list[str] | None = None) -> dict[str, Any]:
    """The info.json feature of a (N, ...) numeric array (shape: one step's)."""
    dtype = np.dtype(array.dtype).name
    if dtype not in NUMERIC_DTYPES:
        raise LeRobotFormatError(f'dtype {dtype} cannot be a LeRobot feature')
    shape = list(array.shape[1:]) or [1]
    if len(shape) > 5:
        raise LeRobotFormatError(f'a LeRobot feature has at most 5 dimensions, got {shape}')
    return {'dtype': dtype, 'shape': shape, 'names': names}


def check_feature_names(names: Iterable[str]) -> None:
    """Refuse feature names lerobot cannot hold: its writer refuses a '/' in one
    (utils._validate_feature_names), and its load_stats splits stats.json's keys on '/', so
    such a feature's stats would be filed under another name."""
    names = list(names)
    bad = [name for name in names if '/' in name]
    if bad:
        raise LeRobotFormatError(
            f"LeRobot feature name {bad[0]!r} contains '/', which lerobot refuses (its "
            f"stats.json keys are split on '/'); name it without one (dp-ros convert: "
            f"--map KEY=NAME)")
    # a camera's name is a folder of videos/: '..' put its mp4s beside videos/, at the root
    bad = [name for name in names if name.strip() in ('', '.', '..')]
    if bad:
        raise LeRobotFormatError(f'LeRobot feature name {bad[0]!r} names no folder of its '
                                 'own (a camera\'s videos are filed under its name); give it '
                                 'a name (dp-ros convert: --map KEY=NAME)')


def video_feature(height: int, width: int, channels: int = 3) -> dict[str, Any]:
    return {'dtype': 'video', 'shape': [height, width, channels], 'names': list(IMAGE_NAMES)}


def feature_attrs(feature: Mapping[str, Any]) -> dict[str, Any]:
    """What a zarr array of this feature records beside its values: a camera's camera_crop
    and the recorded topics (`sources`, both written by dp-ros convert), a numeric feature's
    names when they are one distinct string per value (a list, or LeRobot's
    {'motors': [...]})."""
    attrs = {} if feature.get(SOURCES) is None else {SOURCES: list(feature[SOURCES])}
    if feature.get('dtype') in ('video', 'image'):
        crop = feature.get(CAMERA_CROP)
        return attrs if crop is None else {CAMERA_CROP: list(crop), **attrs}
    names = names_of(feature.get(NAMES), int(np.prod(feature.get('shape') or [1])))
    return attrs if names is None else {NAMES: names, **attrs}


def camera_frame_size(reader: LeRobotReader, feature: str) -> list[int] | None:
    """A camera feature's frame size [height, width] as the camera gave it: its video's (or
    images') own, which training reads unresized, so the policy node can refuse a live camera
    of another field of view. None for a numeric feature, and for frames bag2zarr cropped or
    resized before `dp-ros convert` wrote them (camera_crop or sources recorded: the sources
    carry the size before that, where known)."""
    ft = reader.features[feature]
    if feature not in reader.camera_keys or ft.get(CAMERA_CROP) is not None or \
            ft.get(SOURCES) is not None:
        return None
    h, w, _ = reader._frame_shape(feature)
    return [h, w]


def _is_scalar(ft: Mapping[str, Any]) -> bool:
    return list(ft['shape']) == [1]


def _shape_problem(key: str, ft: Mapping[str, Any]) -> str | None:
    """Why the writer cannot write a feature of this shape (None: it can): a numeric step of
    1..5 positive sizes (a scalar is [1]), a video [H, W, 3] of even positive height and width
    (yuv420p). Found when the writer is made, not as a KeyError at the first episode."""
    shape = ft.get('shape')
    if not isinstance(shape, list | tuple) or not all(
            isinstance(d, int | np.integer) and not isinstance(d, bool) for d in shape):
        return f'feature {key!r} has shape {shape!r}: a list of sizes'
    shape = [int(d) for d in shape]
    if ft.get('dtype') == 'video':
        if len(shape) != 3:
            return f'video feature {key!r} has shape {shape}: [height, width, channels]'
        h, w, c = shape
        if c != 3:
            return f'video feature {key!r} needs 3 channels, got {c}'
        if h <= 0 or w <= 0 or h % 2 or w % 2:
            return (f'video feature {key!r} is {h}x{w}: yuv420p needs an even height and width '
                    '(and a positive one)')
        return None
    if not 1 <= len(shape) <= 5:
        return (f'feature {key!r} has shape {shape}: a LeRobot feature has 1 to 5 dimensions '
                '(a scalar is [1])')
    if min(shape) <= 0:
        return f'feature {key!r} has shape {shape}: every size must be positive'
    return None


def arrow_type(ft: Mapping[str, Any]) -> pa.DataType:
    """The parquet column type of a feature, as `datasets` stores it (get_hf_features_from_features:
    Value for shape (1,), a fixed-size list for (n,), nested lists (the storage of
    Array2D..5D) beyond)."""
    base = pa.from_numpy_dtype(np.dtype(ft['dtype']))
    shape = list(ft['shape'])
    if shape == [1]:
        return base
    if len(shape) == 1:
        return pa.list_(base, shape[0])
    out = base
    for _ in shape:
        out = pa.list_(out)
    return out


def hf_feature(ft: Mapping[str, Any]) -> dict[str, Any]:
    """The `datasets` Features entry of a feature (the parquet schema's 'huggingface' metadata)."""
    shape = list(ft['shape'])
    if shape == [1]:
        return {'dtype': ft['dtype'], '_type': 'Value'}
    if len(shape) == 1:
        return {'feature': {'dtype': ft['dtype'], '_type': 'Value'}, 'length': shape[0],
                '_type': 'List'}
    return {'shape': shape, 'dtype': ft['dtype'], '_type': _HF_ARRAY_TYPES[len(shape)]}


def to_arrow(values: np.ndarray, ft: Mapping[str, Any]) -> pa.Array:
    """(n, *shape) numpy values -> the column's arrow array."""
    dtype = np.dtype(ft['dtype'])
    shape = list(ft['shape'])
    values = np.ascontiguousarray(values, dtype=dtype)
    n = len(values)
    if shape == [1]:
        return pa.array(values.reshape(n))
    flat = pa.array(values.reshape(-1))
    if len(shape) == 1:
        return pa.FixedSizeListArray.from_arrays(flat, shape[0])
    out = flat
    size = n * int(np.prod(shape))
    for dim in reversed(shape):
        size //= dim
        out = pa.ListArray.from_arrays(pa.array(np.arange(size + 1, dtype=np.int32) * dim), out)
    return out


def _list_levels(column: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    """The column as one array (chunks combined, an extension type's storage), then each
    list level's flattened values down to the leaf values (a null list's values left out)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if isinstance(column.type, pa.ExtensionType):
        column = column.storage
    levels = [column]
    while pa.types.is_list(levels[-1].type) or pa.types.is_fixed_size_list(levels[-1].type) \
            or pa.types.is_large_list(levels[-1].type):
        levels.append(levels[-1].flatten())
    return levels


def _with_rows(levels: list[pa.Array]) -> Iterator[tuple[pa.Array, np.ndarray | None]]:
    """Each level of _list_levels with the top-level row of each of its entries (None for the
    top level, its own rows), traced through the list parents only as far as asked for."""
    rows: np.ndarray | None = None
    for depth, level in enumerate(levels):
        if depth:
            parents = pc.list_parent_indices(levels[depth - 1]).to_numpy(zero_copy_only=False)
            rows = parents if rows is None else rows[parents]
        yield level, rows


def from_arrow(column: pa.ChunkedArray | pa.Array, ft: Mapping[str, Any]) -> np.ndarray:
    """A column -> (n, *shape) numpy array of the feature's dtype (shape (1,) -> (n, 1))."""
    levels = _list_levels(column)
    n = len(levels[0])
    shape = list(ft['shape'])
    out = levels[-1].to_numpy(zero_copy_only=False).astype(np.dtype(ft['dtype']), copy=False)
    if out.size != n * int(np.prod(shape)):
        raise LeRobotFormatError(f'column of {n} rows holds {out.size} values, not shape {shape}')
    _check_list_lengths(levels[:-1][:len(shape)], shape)
    return out.reshape((n, *shape))


def _check_list_lengths(lists: list[pa.Array], shape: list[int]) -> None:
    """Each list of each level holds shape[level] values: variable-length lists (list<float>,
    as tools other than HF datasets write a vector) whose total is right can still be ragged,
    a row of 3 and one of 1 for shape [2], which a reshape would re-cut into 2 and 2, moving
    a value into the next frame. LeRobotFormatError naming the first such row."""
    for depth, (level, rows) in enumerate(_with_rows(lists)):
        lengths = pc.fill_null(pc.list_value_length(level), -1).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths != shape[depth])
        if bad.size:
            k = int(bad[0])
            inner = f' at depth {depth}' if depth else ''
            raise LeRobotFormatError(
                f'row {k if rows is None else int(rows[k])} holds a list of {int(lengths[k])} '
                f'values{inner}, not {shape[depth]} (shape {shape}): lists of uneven length')


def first_null_row(column: pa.ChunkedArray | pa.Array) -> int | None:
    """The first row of a column holding a null, at its top level or inside its lists; None
    where it holds none: numpy would make a null float NaN and a null uint64 2**63 (the
    column then float64), silently."""
    levels = _list_levels(column)
    if not any(level.null_count for level in levels):
        return None
    for level, rows in _with_rows(levels):
        if level.null_count:
            k = int(pc.index(pc.is_null(level), True).as_py())
            return k if rows is None else int(rows[k])
    return None


# ---------------------------------------------------------------------------- stats
# As lerobot 0.4.4 computes them (src/lerobot/datasets/compute_stats.py): per episode,
# compute_episode_stats -> get_feature_stats -> one RunningQuantileStats.update over the
# episode's rows, quantiles read off a QUANTILE_BINS-bin histogram between the rows' min and
# max; the episodes' stats then aggregated by aggregate_feature_stats.
QUANTILE_BINS = 5000  # RunningQuantileStats(num_quantile_bins=5000)
# auto_downsample_height_width(target_size=150, max_size_threshold=300)
IMAGE_STATS_TARGET_SIZE = 150
IMAGE_STATS_MAX_SIZE = 300


def _stats_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the stats arithmetic runs in: the data's, at least float32. lerobot 0.4.4
    squares the values in their own dtype, which overflows for uint8 (images) and the other
    narrow integers (huggingface/lerobot#3682, a zero image std); its fix (#3697) promotes
    with this rule, which leaves float32, float64 and int64 data as 0.4.4 computes them."""
    return np.result_type(dtype, np.float32)


def _stat_name(q: float) -> str:
    return f'q{round(q * 100):02d}'


def _histogram_quantile(hist: np.ndarray, edges: np.ndarray, target: float) -> Any:
    """RunningQuantileStats._compute_single_quantile: the value below which `target` of the
    histogram's counts lie, interpolated linearly inside its bin."""
    cumsum = np.cumsum(hist)
    idx = int(np.searchsorted(cumsum, target))
    if idx == 0:
        return edges[0]
    if idx >= len(cumsum):
        return edges[-1]
    before = cumsum[idx - 1]
    in_bin = cumsum[idx] - before
    if in_bin == 0:
        return edges[idx]
    return edges[idx] + (target - before) / in_bin * (edges[idx + 1] - edges[idx])


def _quantile_edges(low: Any, high: Any) -> np.ndarray:
    """RunningQuantileStats' bin edges of one column (low, high: its min and max, scalars of
    the stats dtype, so the edges are of that dtype as lerobot's are)."""
    return np.linspace(low - 1e-10, high + 1e-10, QUANTILE_BINS + 1)


def _quantiles(hists: list[np.ndarray], edges: list[np.ndarray], total: int
               ) -> dict[str, np.ndarray]:
    return {_stat_name(q): np.array([_histogram_quantile(h, e, q * total)
                                     for h, e in zip(hists, edges, strict=True)])
            for q in DEFAULT_QUANTILES}


def feature_stats(values: np.ndarray, image: bool = False) -> dict[str, np.ndarray]:
    """lerobot compute_stats.get_feature_stats of one episode's frames: min max mean std count
    q01..q99. A numeric feature's rows are its values' last dimension (a (n, 9, 2) keypoint
    array gives stats of shape (2,), a (n,) or (n, 1) one (1,)), count is n; images
    (n, H, W, C) uint8: image_stats of all n frames."""
    if image:
        return image_stats(values)
    values = np.asarray(values)
    n = len(values)
    rows = values.reshape(-1, values.shape[-1] if values.ndim > 1 else 1)
    rows = rows.astype(_stats_dtype(rows.dtype), copy=False)
    if n < 2:
        # _compute_basic_stats: quantiles are the mean. (lerobot takes a one-frame episode's
        # stats over its frames, i.e. of the whole step shape for a 2-D feature, which then
        # cannot be aggregated with its other episodes'; these are over the rows, as for n >= 2.)
        mean = np.mean(rows, axis=0)
        stats = {'min': np.min(rows, axis=0), 'max': np.max(rows, axis=0), 'mean': mean,
                 'std': np.std(rows, axis=0), 'count': np.array([n], dtype=np.int64)}
        stats.update({_stat_name(q): mean.copy() for q in DEFAULT_QUANTILES})
        return stats
    # RunningQuantileStats: one update with all rows, then get_statistics
    mean = np.mean(rows, axis=0)
    variance = np.mean(rows ** 2, axis=0) - mean ** 2
    low, high = np.min(rows, axis=0), np.max(rows, axis=0)
    edges = [_quantile_edges(low[i], high[i]) for i in range(rows.shape[1])]
    hists = [np.histogram(rows[:, i], bins=edges[i])[0] for i in range(rows.shape[1])]
    return {'min': low, 'max': high, 'mean': mean, 'std': np.sqrt(np.maximum(0, variance)),
            'count': np.array([n], dtype=np.int64), **_quantiles(hists, edges, len(rows))}


def _downsample(frame: np.ndarray) -> np.ndarray:
    """lerobot compute_stats.auto_downsample_height_width of an (H, W, C) frame: a frame whose
    larger side is IMAGE_STATS_MAX_SIZE px or more keeps every k-th row and column, k =
    int(larger side / IMAGE_STATS_TARGET_SIZE) (the width's when it is larger, else the
    height's)."""
    height, width = frame.shape[:2]
    if max(height, width) < IMAGE_STATS_MAX_SIZE:
        return frame
    k = int(width / IMAGE_STATS_TARGET_SIZE) if width > height else \
        int(height / IMAGE_STATS_TARGET_SIZE)
    return frame[::k, ::k]


def image_stats(frames: np.ndarray, sample: Iterable[int] | None = None
                ) -> dict[str, np.ndarray]:
    """Per-channel stats of uint8 (n, H, W, C) frames (those at `sample`, default all), as
    lerobot computes a camera's (compute_episode_stats: sample_images, each frame
    auto-downsampled, get_feature_stats over axes (0, 2, 3), divided by 255, shape (C, 1, 1),
    count the number of frames).

    Frames are counted one at a time into per-channel counts of the 256 pixel values, so the
    memory used is a downsampled frame's and the counts: min, max and the histogram quantiles
    are those lerobot gets from the whole batch promoted to float32 (the same bins, the same
    counts); mean and std are exact sums of the counts, i.e. lerobot's formulas in exact
    arithmetic. lerobot 0.4.4 squares the uint8 pixels and overflows (its std comes out near
    0), and with the float32 promotion of its fix sums about a million values in float32: on
    Push-T's near-white frames its std is then off by up to 0.015 (of 0.07-0.10)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or len(frames.shape) != 4:
        raise LeRobotFormatError(f'image stats need uint8 (n, H, W, C) frames, got '
                                 f'{frames.dtype} {tuple(frames.shape)}')
    channels = int(frames.shape[-1])
    offsets = (np.arange(channels, dtype=np.intp) * 256)
    counts = np.zeros(channels * 256, dtype=np.int64)
    n = 0
    for i in (range(len(frames)) if sample is None else sample):
        pixels = _downsample(frames[i]).reshape(-1, channels)
        counts += np.bincount((pixels + offsets).ravel(), minlength=channels * 256)
        n += 1
    if n == 0:
        raise LeRobotFormatError('image stats of no frames')
    counts = counts.reshape(channels, 256)
    total = int(counts[0].sum())
    values = np.arange(256, dtype=np.float64)
    mean = counts @ values / total
    variance = counts @ values ** 2 / total - mean ** 2
    seen = counts > 0
    low = np.argmax(seen, axis=1).astype(np.float32)
    high = (255 - np.argmax(seen[:, ::-1], axis=1)).astype(np.float32)
    # lerobot's histogram of a float32 batch: float32 bin edges, each value counted in its bin
    pixel_values = np.arange(256, dtype=np.float32)
    edges = [_quantile_edges(low[c], high[c]) for c in range(channels)]
    hists = [np.histogram(pixel_values, bins=edges[c], weights=counts[c])[0]
             for c in range(channels)]
    stats = {'min': low, 'max': high, 'mean': mean, 'std': np.sqrt(np.maximum(0, variance)),
             **_quantiles(hists, edges, total)}
    stats = {k: (np.asarray(v, dtype=np.float64) / 255.0).reshape(channels, 1, 1)
             for k, v in stats.items()}
    stats['count'] = np.array([n], dtype=np.int64)
    return {k: stats[k] for k in ('min', 'max', 'mean', 'std', 'count',
                                  *map(_stat_name, DEFAULT_QUANTILES))}


def aggregate_stats(per_episode: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """lerobot compute_stats.aggregate_feature_stats: count-weighted means and variances
    (parallel algorithm), min of minima, max of maxima, count-weighted quantiles."""
    means = np.stack([s['mean'] for s in per_episode])
    variances = np.stack([s['std'] ** 2 for s in per_episode])
    counts = np.stack([s['count'] for s in per_episode])
    total = counts.sum(axis=0)
    while counts.ndim < means.ndim:
        counts = np.expand_dims(counts, axis=-1)
    mean = (means * counts).sum(axis=0) / total
    variance = ((variances + (means - mean) ** 2) * counts).sum(axis=0) / total
    out = {'min': np.min(np.stack([s['min'] for s in per_episode]), axis=0),
           'max': np.max(np.stack([s['max'] for s in per_episode]), axis=0),
           'mean': mean, 'std': np.sqrt(variance), 'count': total}
    for q in DEFAULT_QUANTILES:
        key = _stat_name(q)
        out[key] = (np.stack([s[key] for s in per_episode]) * counts).sum(axis=0) / total
    return out


def _image_sample(n: int) -> np.ndarray:
    """The frames of an n-frame episode its image stats are taken from: lerobot
    compute_stats.sample_indices (estimate_num_samples: all of them up to 100, then 100 up to
    about 464 frames, then int(n ** 0.75), at most 10,000), evenly spaced."""
    num = max(min(100, n), min(int(n ** 0.75), 10_000))
    return np.round(np.linspace(0, n - 1, num)).astype(np.int64)


def _jsonable(stats: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, Any]:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


# ---------------------------------------------------------------------------- writing
def _update_chunk_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    """lerobot utils.update_chunk_file_indices."""
    if file == chunks_size - 1:
        return chunk + 1, 0
    return chunk, file + 1


class _Stalled(Exception):
    """An encoder call made no progress for STALL_S (_progressing)."""


class _OutOfOrder(Exception):
    """An encoder returned a packet to be decoded before the one it returned before it."""


def _progressing(call: Callable[[], Any], beat: Callable[[], float], what: str,
                 abandon: Callable[[threading.Thread], None]) -> Any:
    """call()'s result (or its exception), run on a daemon thread while it makes progress:
    beat() is the time.monotonic() of its last step (a frame encoded, the flush returned).
    A C call that never returns cannot be interrupted, so the caller gets _Stalled once no
    step came for STALL_S, and Ctrl-C while it waits; the process can still exit. abandon(
    thread) runs when Ctrl-C (or a stop signal's exception) ends the wait with the call still
    running."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome['value'] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome['error'] = exc

    thread = threading.Thread(target=run, name='dp_ros_encoder', daemon=True)
    thread.start()
    try:
        while thread.is_alive() and time.monotonic() - beat() <= STALL_S:
            thread.join(min(0.25, STALL_S))
    except BaseException:  # Ctrl-C (or a stop signal's exception) while waiting
        if thread.is_alive():
            abandon(thread)
        raise
    if thread.is_alive():
        raise _Stalled(f'{what} made no progress for {STALL_S:g} s')
    if 'error' in outcome:
        raise outcome['error']
    return outcome['value']


def _realtime_threads() -> set[int]:
    """The threads of this process on a real-time scheduling policy (Linux; else none)."""
    tasks = Path('/proc/self/task')
    if not hasattr(os, 'sched_getscheduler') or not tasks.is_dir():
        return set()
    out = set()
    for entry in tasks.iterdir():
        try:
            if os.sched_getscheduler(int(entry.name)) in (os.SCHED_FIFO, os.SCHED_RR):
                out.add(int(entry.name))
        except OSError:  # a thread that ended meanwhile
            pass
    return out


def _back_to_ordinary_scheduling(before: set[int]) -> None:
    """Threads that went real-time since `before` (_realtime_threads) put back on SCHED_OTHER.

    SVT-AV1 4.1.0 (PyAV's libsvtav1), run as root, puts the thread that opens an encoder and
    the threads it starts on SCHED_FIFO priority 99: a conversion then took the cores from
    every other process of the machine (a robot's control loop beside it included), and
    every process started after it inherited the policy: a test's flooding ROS publisher
    started from such a process starved the test's own process for minutes. Threads that
    were real-time before (a user's chrt) keep their policy."""
    for tid in _realtime_threads() - before:
        try:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        except OSError:  # ended meanwhile
            pass


class _Segment:
    """One episode's frames, encoded by an encoder of its own into an mp4 beside the camera's
    file (_VideoFile copies its packets over)."""

    def __init__(self, path: Path, fps: int, height: int, width: int, enc: VideoEncoding):
        import av
        self.path, self.fps = path, fps
        self.container = av.open(str(path), 'w')
        self.stream = self.container.add_stream(_encoder_name(enc.vcodec), rate=fps,
                                                options=enc.codec_options())
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = enc.pix_fmt
        realtime = _realtime_threads()
        try:  # here, not at the first frame: a bad codec, option or size is named as such
            self.stream.codec_context.open()
        except av.FFmpegError as exc:
            self.container.close()
            raise LeRobotFormatError(
                f'the {enc.vcodec} encoder cannot open a {width}x{height} {enc.pix_fmt} video of '
                f'{path.parent.parent.name!r} at crf {enc.crf}: {exc.strerror or one_line(exc)}; '
                f'encode with another --vcodec (e.g. h264)') from None
        finally:
            _back_to_ordinary_scheduling(realtime)
        self.name = self.stream.codec_context.name
        self.beat = time.monotonic()  # when the encoder last made progress (_progressing)
        self.stop = False  # set when the caller gave up on it (Ctrl-C): no more frames
        self.last_dts: int | None = None  # of the last packet muxed (_mux)

    def encode(self, frames: np.ndarray) -> None:
        """The frames, then the end of stream (also after `stop`: SVT-AV1 freed without one
        prints 'Svt[error]: deinit called without sending EOS!'), and the file closed."""
        import av
        tb = Fraction(1, self.fps)
        for k, image in enumerate(frames):
            if self.stop:
                break
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format='rgb24')
            frame.pts, frame.time_base = k, tb
            self._mux(self._encode(frame))
            self.beat = time.monotonic()
        self._mux(self._flush())
        self.beat = time.monotonic()
        self.container.close()

    def _encode(self, frame: Any) -> list[Any]:
        return self.stream.encode(frame)

    def discard(self) -> None:
        """After the muxer refused a packet: the file closed as it stands and removed (its
        encoder is not flushed: its output is no longer wanted)."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - a half-written segment: nothing to save
            pass
        self.path.unlink(missing_ok=True)

    def _flush(self) -> list[Any]:
        """The encoder's last packets (what it held back for its lookahead)."""
        return self.stream.encode()

    def _mux(self, packets: list[Any]) -> None:
        """Into the segment, each after the one before: a packet out of order is refused
        here, named, before the mp4 muxer refuses it with EINVAL alone."""
        for packet in packets:
            if packet.dts is not None:
                if self.last_dts is not None and packet.dts <= self.last_dts:
                    raise _OutOfOrder(f'a packet out of order: decoding time {packet.dts} after '
                                      f'{self.last_dts}, in {packet.time_base} s')
                self.last_dts = packet.dts
            self.container.mux(packet)


def _ffmpeg_reason(exc: Exception) -> str:
    """What FFmpeg logged with an error (`log`: level, component, message; where PyAV's
    logging is on), else its text."""
    if isinstance(exc, _OutOfOrder):
        return str(exc)
    logged = getattr(exc, 'log', None)
    if logged and len(logged) == 3 and str(logged[2]).strip():
        return str(logged[2]).strip()
    return getattr(exc, 'strerror', None) or one_line(exc)


class _VideoFile:
    """One mp4 of a camera: episodes appended as one stream, frame k at k / fps.

    Each episode is encoded by an encoder of its own into a segment file beside the mp4, whose
    packets are then copied into it, their times moved on (LeRobot concatenates its
    per-episode videos alike; every episode starts on a key frame). So an encoder that hangs
    (SVT-AV1 4.1.0 stops, rarely, inside a frame or at its flush, using no CPU), or returns a
    packet out of order (which the mp4 muxer refuses), costs that episode one more encode,
    with a fresh encoder, and not the conversion: no progress for STALL_S, or a refused
    packet, gives the episode up to ENCODE_ATTEMPTS encoders; a hung one is left alone.
    """

    def __init__(self, path: Path, fps: int, height: int, width: int, enc: VideoEncoding):
        os.environ.setdefault('SVT_LOG', '1')  # SVT-AV1 prints its banner otherwise
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.fps, self.height, self.width, self.enc = path, fps, height, width, enc
        self.container: Any = None  # the mp4, opened at the first episode's packets
        self.stream: Any = None
        self.frames = 0
        self.bytes = 0
        self._segments = 0
        self._busy: threading.Thread | None = None  # an encode left by Ctrl-C
        self._hung: list[_Segment] = []  # never closed under their encoders

    def _segment(self) -> _Segment:
        self._segments += 1
        return _Segment(self.path.with_name(f'.{self.path.stem}.segment-{self._segments}.mp4'),
                        self.fps, self.height, self.width, self.enc)

    def add(self, frames: np.ndarray) -> None:
        """Encode an episode's frames (a fresh encoder where one hangs or gives packets the
        muxer refuses) and append them."""
        import av
        first, last = self.frames, self.frames + len(frames) - 1
        for attempt in range(1, ENCODE_ATTEMPTS + 1):
            segment = self._segment()  # opened before a frame: a bad codec or size is named
            what = f'the {segment.name} encoder on frames {first}-{last} of {self.path}'
            try:
                _progressing(lambda s=segment: s.encode(frames), lambda s=segment: s.beat,
                             what, lambda thread, s=segment: self._abandon(thread, s))
            except _Stalled as stalled:
                self._hung.append(segment)
                if attempt == ENCODE_ATTEMPTS:
                    raise LeRobotFormatError(
                        f'{stalled}, with {ENCODE_ATTEMPTS} encoders in turn (SVT-AV1 4.1.0 '
                        'hangs now and then): run the conversion again, or encode with '
                        '--vcodec h264') from None
                log.warning('%s; encoding them again with a fresh encoder', stalled)
                continue
            except (_OutOfOrder, av.FFmpegError) as exc:
                if isinstance(exc, OSError):  # the disk (full, read-only): not the encoder's
                    raise
                segment.discard()
                refused = f'{what} gave packets the mp4 muxer refused ({_ffmpeg_reason(exc)})'
                if attempt == ENCODE_ATTEMPTS:
                    raise LeRobotFormatError(
                        f'{refused}, with {ENCODE_ATTEMPTS} encoders in turn: run the '
                        'conversion again, or encode with --vcodec h264') from None
                log.warning('%s; encoding them again with a fresh encoder', refused)
                continue
            self._append(segment.path, len(frames))
            segment.path.unlink()
            return

    def _append(self, segment: Path, n: int) -> None:
        """A segment's packets into the mp4, moved on by the frames before them."""
        import av
        with av.open(str(segment)) as source:
            stream = source.streams.video[0]
            if self.container is None:
                self.container = av.open(str(self.path), 'w')
                self.stream = self.container.add_stream_from_template(stream, opaque=True)
            shift = Fraction(self.frames, self.fps) / stream.time_base
            if shift.denominator != 1:  # mp4 time bases are whole fractions of 1 / fps
                raise LeRobotFormatError(f'{segment}: its time base {stream.time_base} does '
                                         f'not hold frame {self.frames} at {self.fps} fps')
            copied = 0
            for packet in source.demux(stream):
                if packet.dts is None:  # the demuxer's end of stream
                    continue
                packet.pts += int(shift)
                packet.dts += int(shift)
                packet.stream = self.stream
                self.bytes += packet.size
                self.container.mux(packet)
                copied += 1
        if copied != n:
            raise LeRobotFormatError(f'{segment} holds {copied} frames, not the episode\'s {n}')
        self.frames += n

    def close(self) -> None:
        self._drop_hung()
        if self.container is not None:
            self.container.close()
            self.container = None

    def _abandon(self, thread: threading.Thread, segment: _Segment) -> None:
        """Ctrl-C while a segment encodes: its encoder is told to stop after the frame it is
        in and send its end of stream; abort() waits a little for that."""
        segment.stop = True
        self._busy = thread

    def _drop_hung(self) -> None:
        """The segment files of hung encoders (their encoders are left as they are)."""
        for segment in self._hung:
            segment.path.unlink(missing_ok=True)

    def abort(self) -> None:
        """Close without finishing, quietly: an encoder stopped by Ctrl-C is waited for up to
        ABORT_WAIT_S (it sends its end of stream), then left to PyAV."""
        busy, self._busy = self._busy, None
        if busy is not None:
            busy.join(ABORT_WAIT_S)
        self._drop_hung()
        container, self.container = self.container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - closing a cut-off mp4: nothing to save
                pass


# info.json's field of what dp_ros records beyond LeRobot's (LeRobotWriter's dp_ros): an
# extra field, which LeRobot's loader ignores as it ignores features' extra keys
DP_ROS_INFO = 'dp_ros'


class LeRobotWriter:
    """Episodes -> a new LeRobotDataset v3.0 directory (use as a context manager).

    features: the dataset's own features (info.json form: dtype 'video' with shape
    [H, W, 3], or a numeric dtype with the step shape); the default columns (timestamp,
    frame_index, episode_index, index, task_index) are added. add_episode takes one
    (n, *shape) array per feature (videos: uint8 (n, H, W, 3)) and the episode's task.
    """

    def __init__(self, root: str | Path, fps: int, features: Mapping[str, Mapping[str, Any]],
                 *, robot_type: str | None = None, encoding: VideoEncoding | None = None,
                 chunks_size: int = DEFAULT_CHUNK_SIZE,
                 data_files_size_in_mb: int = DEFAULT_DATA_FILE_SIZE_IN_MB,
                 video_files_size_in_mb: int = DEFAULT_VIDEO_FILE_SIZE_IN_MB,
                 dp_ros: Mapping[str, Any] | None = None) -> None:
        """dp_ros: what dp_ros records of the data beyond LeRobot's fields (the bags a store
        was converted from), kept in info.json under DP_ROS_INFO, which LeRobot ignores."""
        fps = check_fps(fps, 'fps')
        self.dp_ros = dict(dp_ros or {})
        check_feature_names(features)
        clash = sorted(set(features) & set(DEFAULT_FEATURES))
        if clash:
            raise LeRobotFormatError(f'feature names {clash} are reserved for LeRobot columns')
        for key, ft in features.items():  # all before the folder is made
            if ft.get('dtype') != 'video' and ft.get('dtype') not in NUMERIC_DTYPES:
                raise LeRobotFormatError(f'feature {key!r} has dtype {ft.get("dtype")!r}; this '
                                         f'writer takes video and {NUMERIC_DTYPES}')
            problem = _shape_problem(key, ft)
            if problem is not None:
                raise LeRobotFormatError(problem)
        self.fps = int(fps)
        self.features: dict[str, dict[str, Any]] = {
            k: {**dict(v), 'shape': [int(d) for d in v['shape']]} for k, v in features.items()}
        self.features.update({k: dict(v) for k, v in DEFAULT_FEATURES.items()})
        self.video_keys = [k for k, ft in self.features.items() if ft['dtype'] == 'video']
        self.columns = [k for k, ft in self.features.items() if ft['dtype'] != 'video']
        self.robot_type = robot_type
        self.encoding = encoding or (default_encoding() if self.video_keys else VideoEncoding())
        if self.video_keys:
            check_crf(self.encoding, 'the encoding\'s crf')
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        if any(self.root.iterdir()):
            raise LeRobotFormatError(f'{self.root} is not empty')
        self.chunks_size = int(chunks_size)
        self.data_mb = data_files_size_in_mb  # lerobot writes ints; smaller ones test rolling
        self.video_mb = video_files_size_in_mb
        self.schema = pa.schema(
            [pa.field(k, arrow_type(self.features[k])) for k in self.columns],
            metadata={'huggingface': json.dumps({'info': {'features': {
                k: hf_feature(self.features[k]) for k in self.columns}}})})
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict[str, Any]] = []
        self.stats: list[dict[str, dict[str, np.ndarray]]] = []
        self.total_frames = 0
        self._data_file = (0, 0)
        self._data_writer: pq.ParquetWriter | None = None
        self._data_bytes = 0
        self._data_frames = 0
        self._videos: dict[str, _VideoFile] = {}
        self._video_file: dict[str, tuple[int, int]] = {k: (0, 0) for k in self.video_keys}
        self._closed = False
        self._warned_long = False  # an episode past FLOAT32_TIMESTAMP_LIMIT_S was warned of

    def __enter__(self) -> LeRobotWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()

    # ------------------------------------------------------------------ episodes
    def add_episode(self, episode: Mapping[str, np.ndarray], task: str = '') -> None:
        if self._closed:
            raise LeRobotFormatError(f'the writer of {self.root} is closed: an episode cannot '
                                     'be added after close() or abort()')
        if not isinstance(task, str):
            raise LeRobotFormatError(f'episode {len(self.episodes)}: its task {task!r} is no '
                                     'string (tasks.parquet holds text)')
        own = [k for k in self.features if k not in DEFAULT_FEATURES]
        missing = sorted(set(own) - set(episode))
        extra = sorted(set(episode) - set(own))
        if missing or extra:
            raise LeRobotFormatError(f'episode arrays do not match the features: missing '
                                     f'{missing}, extra {extra}')
        lengths = {k: len(episode[k]) for k in own}
        n = next(iter(lengths.values()), 0)
        if n == 0 or len(set(lengths.values())) != 1:
            raise LeRobotFormatError(f'episode arrays must share a non-zero length, got {lengths}')
        ep_index = len(self.episodes)
        if (n - 1) / self.fps > FLOAT32_TIMESTAMP_LIMIT_S and not self._warned_long:
            self._warned_long = True  # once: a lab's long recordings are all alike
            log.warning("episode %d is %.0f s long: its float32 timestamps past %g s can be "
                        "more than 1e-4 s off its frames' times, which lerobot's own loader "
                        "(tolerance_s 1e-4) may refuse (dp_ros reads them back)", ep_index,
                        n / self.fps, FLOAT32_TIMESTAMP_LIMIT_S)
        task_index = self.tasks.setdefault(task, len(self.tasks))
        row: dict[str, Any] = {'episode_index': ep_index, 'tasks': [task], 'length': n}
        stats: dict[str, dict[str, np.ndarray]] = {}

        columns: dict[str, np.ndarray] = {}
        for key in own:
            ft = self.features[key]
            values = np.asarray(episode[key])
            if ft['dtype'] == 'video':
                if values.dtype != np.uint8 or list(values.shape[1:]) != ft['shape']:
                    raise LeRobotFormatError(
                        f'video {key!r}: expected uint8 frames {ft["shape"]}, got '
                        f'{values.dtype} {list(values.shape[1:])}')
                stats[key] = image_stats(values, _image_sample(n))
                continue
            step = list(values.shape[1:]) or [1]
            if step != list(ft['shape']) and not (_is_scalar(ft) and values.ndim == 1):
                raise LeRobotFormatError(f'{key!r}: expected step shape {ft["shape"]}, got {step}')
            finite = np.isfinite(values) if values.dtype.kind in 'fc' else None
            if finite is not None and not finite.all():
                frame = int(np.flatnonzero(~finite.reshape(n, -1).all(axis=1))[0])
                raise LeRobotFormatError(
                    f'{key!r} holds NaN or inf at frame {frame} of episode {ep_index} (its '
                    'stats, and a policy trained on it, would be NaN): fix the data or leave '
                    'the episode out')
            cast = values.astype(np.dtype(ft['dtype']), copy=False)
            if not np.array_equal(cast, values):
                raise LeRobotFormatError(f'{key!r}: values change when cast to {ft["dtype"]}')
            columns[key] = cast
            stats[key] = feature_stats(cast)
        frame_index = np.arange(n, dtype=np.int64)
        columns['timestamp'] = (frame_index / self.fps).astype(np.float32)
        columns['frame_index'] = frame_index
        columns['episode_index'] = np.full(n, ep_index, dtype=np.int64)
        columns['index'] = np.arange(self.total_frames, self.total_frames + n, dtype=np.int64)
        columns['task_index'] = np.full(n, task_index, dtype=np.int64)
        for key in DEFAULT_FEATURES:
            # lerobot's episode buffer holds the timestamps as Python floats (frame_index / fps)
            stats[key] = feature_stats(frame_index / self.fps if key == 'timestamp'
                                       else columns[key])

        row.update(self._write_data(columns, n))
        for key in self.video_keys:
            row.update(self._write_video(key, np.asarray(episode[key])))
        row['meta/episodes/chunk_index'] = 0
        row['meta/episodes/file_index'] = 0
        for key, ft_stats in stats.items():
            for name, value in ft_stats.items():
                row[f'stats/{key}/{name}'] = np.asarray(value).tolist()
        self.episodes.append(row)
        self.stats.append(stats)
        self.total_frames += n

    def _write_data(self, columns: dict[str, np.ndarray], n: int) -> dict[str, Any]:
        table = pa.Table.from_arrays([to_arrow(columns[k], self.features[k]) for k in self.columns],
                                     schema=self.schema)
        if self._data_writer is not None:
            per_frame = self._data_bytes / max(1, self._data_frames)
            if (self._data_bytes + per_frame * n) / 2**20 >= self.data_mb:
                self._data_writer.close()
                self._data_writer = None
                self._data_file = _update_chunk_file(*self._data_file, self.chunks_size)
        if self._data_writer is None:
            chunk, file = self._data_file
            path = self.root / DEFAULT_DATA_PATH.format(chunk_index=chunk, file_index=file)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._data_writer = pq.ParquetWriter(path, self.schema, compression='snappy',
                                                 use_dictionary=True)
            self._data_bytes = self._data_frames = 0
        self._data_writer.write_table(table)  # one row group per episode
        self._data_bytes += table.nbytes
        self._data_frames += n
        chunk, file = self._data_file
        return {'data/chunk_index': chunk, 'data/file_index': file,
                'dataset_from_index': self.total_frames,
                'dataset_to_index': self.total_frames + n}

    def _write_video(self, key: str, frames: np.ndarray) -> dict[str, Any]:
        video = self._videos.get(key)
        if video is not None:
            per_frame = video.bytes / max(1, video.frames)
            if (video.bytes + per_frame * len(frames)) / 2**20 >= self.video_mb:
                video.close()
                video = None
                self._video_file[key] = _update_chunk_file(*self._video_file[key],
                                                           self.chunks_size)
        chunk, file = self._video_file[key]
        if video is None:
            h, w, _ = self.features[key]['shape']
            path = self.root / DEFAULT_VIDEO_PATH.format(video_key=key, chunk_index=chunk,
                                                         file_index=file)
            video = self._videos[key] = _VideoFile(path, self.fps, h, w, self.encoding)
        start = video.frames
        video.add(frames)
        return {f'videos/{key}/chunk_index': chunk, f'videos/{key}/file_index': file,
                f'videos/{key}/from_timestamp': start / self.fps,
                f'videos/{key}/to_timestamp': video.frames / self.fps}

    # ------------------------------------------------------------------ finishing
    def close(self) -> dict[str, Any]:
        """Finish the files and write meta/; returns info.json's content."""
        if self._closed:
            raise LeRobotFormatError('writer already closed')
        self._closed = True
        if self._data_writer is not None:
            self._data_writer.close()
        for video in self._videos.values():
            video.close()
        if not self.episodes:
            raise LeRobotFormatError('no episodes to write')
        self._write_episodes()
        self._write_tasks()
        stats = {key: aggregate_stats([s[key] for s in self.stats]) for key in self.stats[0]}
        _write_json(self.root / STATS_PATH, _jsonable(stats))
        info = self.info()
        _write_json(self.root / INFO_PATH, info)
        return info

    def abort(self) -> None:
        """Stop without finishing (the caller removes the directory)."""
        self._closed = True
        if self._data_writer is not None:
            try:
                self._data_writer.close()
            except Exception:  # noqa: BLE001 - the files are discarded anyway
                pass
        for video in self._videos.values():
            video.abort()

    def info(self) -> dict[str, Any]:
        features = {k: dict(v) for k, v in self.features.items()}
        for key in self.video_keys:
            h, w, c = features[key]['shape']
            features[key]['info'] = {
                'video.height': h, 'video.width': w,
                'video.codec': _codec_name(self._videos[key].path), 'video.pix_fmt':
                self.encoding.pix_fmt, 'video.fps': self.fps, 'video.channels': c,
                'has_audio': False, **self.encoding.info(), 'is_depth_map': False}
        return {
            'codebase_version': CODEBASE_VERSION,
            'robot_type': self.robot_type,
            'total_episodes': len(self.episodes),
            'total_frames': self.total_frames,
            'total_tasks': len(self.tasks),
            'chunks_size': self.chunks_size,
            'data_files_size_in_mb': self.data_mb,
            'video_files_size_in_mb': self.video_mb,
            'fps': self.fps,
            'splits': {'train': f'0:{len(self.episodes)}'},
            'data_path': DEFAULT_DATA_PATH,
            'video_path': DEFAULT_VIDEO_PATH if self.video_keys else None,
            'features': features,
            **({DP_ROS_INFO: self.dp_ros} if self.dp_ros else {}),
        }

    def _write_episodes(self) -> None:
        names = list(self.episodes[0])
        arrays = {}
        for name in names:
            values = [row[name] for row in self.episodes]
            if name == 'tasks':
                arrays[name] = pa.array(values, type=pa.list_(pa.string()))
            elif name.startswith('stats/'):
                leaf: pa.DataType = pa.int64() if name.endswith('/count') else pa.float64()
                depth = np.ndim(values[0])
                typ = leaf
                for _ in range(depth):
                    typ = pa.list_(typ)
                arrays[name] = pa.array(values, type=typ)
            elif name.endswith('_timestamp'):
                arrays[name] = pa.array(values, type=pa.float64())
            else:
                arrays[name] = pa.array(values, type=pa.int64())
        path = self.root / DEFAULT_EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(arrays), path, compression='snappy')

    def _write_tasks(self) -> None:
        """tasks.parquet as pandas writes a DataFrame indexed by 'task' (lerobot reads it with
        pandas.read_parquet and looks tasks up by that index)."""
        names = list(self.tasks)
        pandas_meta = {
            'index_columns': ['task'],
            'column_indexes': [{'name': None, 'field_name': None, 'pandas_type': 'unicode',
                                'numpy_type': 'object', 'metadata': {'encoding': 'UTF-8'}}],
            'columns': [
                {'name': 'task_index', 'field_name': 'task_index', 'pandas_type': 'int64',
                 'numpy_type': 'int64', 'metadata': None},
                {'name': 'task', 'field_name': 'task', 'pandas_type': 'unicode',
                 'numpy_type': 'object', 'metadata': None}],
            'creator': {'library': 'pyarrow', 'version': pa.__version__},
            'pandas_version': '2.2.3'}
        table = pa.table({'task_index': pa.array([self.tasks[t] for t in names], pa.int64()),
                          'task': pa.array(names, pa.string())}).replace_schema_metadata(
            {'pandas': json.dumps(pandas_meta)})
        pq.write_table(table, self.root / TASKS_PATH)


def _codec_name(path: Path) -> str:
    import av
    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.codec.canonical_name


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False) + '\n')


# ---------------------------------------------------------------------------- reading
# the fields lerobot fills in info.json's path templates (datasets/utils.py DEFAULT_DATA_PATH,
# DEFAULT_VIDEO_PATH; v2.1's episode_chunk and episode_index are gone in v3.0)
TEMPLATE_FIELDS = {'data_path': ('chunk_index', 'file_index'),
                   'video_path': ('video_key', 'chunk_index', 'file_index')}


def _check_template(info_path: Path, key: str, template: str) -> None:
    """Refuse a data_path/video_path template the reader cannot fill or that leaves the
    dataset directory (absolute, or climbing out with '..'): it decides which files are read."""
    allowed = TEMPLATE_FIELDS[key]
    problem = None
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            problem = (f'fills {unknown[0]!r}, which is not one of the v3.0 fields '
                       f'{", ".join(allowed)}')
        else:
            sample = template.format(**{f: 'key' if f == 'video_key' else 0 for f in allowed})
            if _leaves_root(sample):
                problem = 'leads outside the dataset directory'
    # a brace left open, a format spec for no int, a field nested in a spec ({chunk_index:{x}},
    # which parse() does not list: format() looks it up)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        problem = f'is no path template ({one_line(exc)})'
    if problem:
        example = DEFAULT_DATA_PATH if key == 'data_path' else DEFAULT_VIDEO_PATH
        raise LeRobotFormatError(f'{info_path}: {key} {template!r} {problem} (lerobot writes '
                                 f'{example!r})')


def _leaves_root(relative: str) -> bool:
    """Whether a path from a template is absolute or climbs out with '..' (as written, not
    resolved: the Hub cache's snapshot files are links into its blobs/ and still read)."""
    return os.path.isabs(relative) or os.path.normpath(relative).split(os.sep)[0] == os.pardir


class LeRobotReader:
    """A LeRobotDataset v3.0 directory, read the way lerobot's LeRobotDataset reads it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        info_path = self.root / INFO_PATH
        if not self.root.is_dir():
            raise FileNotFoundError(f'no LeRobotDataset at {self.root}')
        if not info_path.is_file():
            raise LeRobotFormatError(f'{self.root} is not a LeRobotDataset: no {INFO_PATH}')
        try:
            self.info = json.loads(info_path.read_text())
        except json.JSONDecodeError as exc:
            raise LeRobotFormatError(f'{info_path} is not valid JSON: {exc}') from None
        except RecursionError:
            raise LeRobotFormatError(f'{info_path} is nested too deep to be an info.json') \
                from None
        if not isinstance(self.info, dict):
            raise LeRobotFormatError(f'{info_path} is not a JSON object (it holds a '
                                     f'{type(self.info).__name__})')
        version = str(self.info.get('codebase_version', ''))
        if not version.startswith('v3.'):
            raise LeRobotFormatError(
                f'{self.root} is a LeRobotDataset {version or "of unknown version"}; this reads '
                f'v3.0 (convert with lerobot: python -m '
                f'lerobot.datasets.v30.convert_dataset_v21_to_v30 --repo-id=...)')
        for key in ('fps', 'features', 'total_episodes', 'total_frames', 'data_path'):
            if key not in self.info:
                raise LeRobotFormatError(f'{info_path} has no {key!r}')
        self.fps = check_fps(self.info['fps'], f"{info_path}'s fps")
        self.features: dict[str, dict[str, Any]] = self.info['features']
        self._check_info(info_path)
        self.episodes = self._read_episodes()
        if len(self.episodes) != self.info['total_episodes']:
            raise LeRobotFormatError(
                f'{self.root}: {EPISODES_DIR} has {len(self.episodes)} episodes, info.json says '
                f'{self.info["total_episodes"]}')
        self._check_lengths()

    def _check_lengths(self) -> None:
        """Refuse episode lengths (the episodes table's) that are no counts or do not add up
        to info.json's total_frames, naming the first episode past it: buffers are sized and
        rows sliced by them (10^12 claimed: a 7 TiB allocation)."""
        total, end = self.info['total_frames'], 0
        for ep in self.episodes:
            length = ep['length']
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise LeRobotFormatError(f'{self.root}: episode {ep["episode_index"]} has '
                                         f'length {length!r}, not a count')
            end += length
            if end > total:
                raise LeRobotFormatError(
                    f'{self.root}: episode {ep["episode_index"]} claims {length} frames, '
                    f'ending at frame {end}; info.json says the dataset has {total}')
        if end != total:
            raise LeRobotFormatError(f'{self.root}: the episodes hold {end} frames, info.json '
                                     f'says {total}')

    def _check_info(self, info_path: Path) -> None:
        """Refuse info.json entries the reader would trip over later (as a KeyError deep in
        a conversion or training): each feature a dtype and a shape, counts that are counts,
        path templates where files are looked up."""
        if not isinstance(self.features, dict):
            raise LeRobotFormatError(f"{info_path}: 'features' is a "
                                     f'{type(self.features).__name__}, not a mapping of feature '
                                     f'names to their dtype and shape')
        for key, ft in self.features.items():
            shape = ft.get('shape') if isinstance(ft, dict) else None
            if not isinstance(ft, dict) or not isinstance(ft.get('dtype'), str) or \
                    not isinstance(shape, list) or \
                    not all(isinstance(d, int) and d > 0 for d in shape):
                raise LeRobotFormatError(f'{info_path}: feature {key!r} needs a dtype and a '
                                         f'shape (a list of sizes), got {ft!r}')
        for key in ('timestamp', 'index'):
            if key not in self.features:
                raise LeRobotFormatError(f'{info_path}: features has no {key!r} (every LeRobot '
                                         f'frame has one)')
        for key in ('total_episodes', 'total_frames'):
            if isinstance(self.info[key], bool) or not isinstance(self.info[key], int) or \
                    self.info[key] < 0:
                raise LeRobotFormatError(f'{info_path}: {key} is {self.info[key]!r}, not a count')
        for key in ('data_path', *(('video_path',) if self.video_keys else ())):
            if not isinstance(self.info.get(key), str):
                example = DEFAULT_DATA_PATH if key == 'data_path' else DEFAULT_VIDEO_PATH
                raise LeRobotFormatError(f'{info_path} has no {key!r} (a path template such as '
                                         f'{example!r})')
            _check_template(info_path, key, self.info[key])

    def _read_parquet(self, path: Path, required: Iterable[str],
                      keep: Callable[[str], bool] | None = None,
                      present: Iterable[str] = ()) -> pa.Table:
        """The columns `required` of a parquet file (plus those `keep` takes; those `present`
        must be there, unread): a file cut short or a column a hand edit dropped is named, not
        a pyarrow traceback."""
        name = path.relative_to(self.root)
        required = list(required)
        try:
            names = pq.read_schema(path).names
            missing = [c for c in [*required, *present] if c not in names]
            if missing:
                raise LeRobotFormatError(f'{self.root}: {name} has no column {missing[0]!r}')
            columns = list(dict.fromkeys([*required, *filter(keep or (lambda c: False), names)]))
            return pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LeRobotFormatError(f'{self.root}: {name} is not a readable parquet file '
                                     f'({reason}); copy it again') from None

    # ------------------------------------------------------------------ metadata
    @property
    def video_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft['dtype'] == 'video']

    @property
    def image_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft['dtype'] == 'image']

    @property
    def numeric_keys(self) -> list[str]:
        """The dataset's own numeric features (not the default columns)."""
        return [k for k, ft in self.features.items()
                if ft['dtype'] in NUMERIC_DTYPES and k not in DEFAULT_FEATURES]

    @property
    def camera_keys(self) -> list[str]:
        return self.video_keys + self.image_keys

    def lengths(self) -> np.ndarray:
        return np.array([ep['length'] for ep in self.episodes], dtype=np.int64)

    def episode_ends(self) -> np.ndarray:
        """Exclusive end row of each episode in dataset order, checked against the index
        ranges (rows of episode i are dataset_from_index .. dataset_to_index - 1)."""
        ends = np.cumsum(self.lengths())
        starts = ends - self.lengths()
        for ep, start, end in zip(self.episodes, starts, ends, strict=False):
            if (ep['dataset_from_index'], ep['dataset_to_index']) != (start, end):
                raise LeRobotFormatError(
                    f'{self.root}: episode {ep["episode_index"]} covers rows '
                    f'{ep["dataset_from_index"]}..{ep["dataset_to_index"]}, expected '
                    f'{start}..{end} (episodes must be stored in order)')
        return ends

    def tasks(self) -> dict[int, str]:
        path = self.root / TASKS_PATH
        if not path.is_file():
            return {}
        table = self._read_parquet(path, ['task_index'], keep=lambda c: True)
        if 'task' not in table.column_names:  # index written without a name
            others = [c for c in table.column_names if c != 'task_index']
            if not others:
                raise LeRobotFormatError(f'{path} has no task column beside task_index (lerobot '
                                         "writes the task strings as its index or 'task')")
            index_col = others[0]
            table = table.rename_columns(['task' if c == index_col else c
                                          for c in table.column_names])
        return dict(zip(table['task_index'].to_pylist(), table['task'].to_pylist(), strict=False))

    def _read_episodes(self) -> list[dict[str, Any]]:
        paths = sorted((self.root / EPISODES_DIR).glob('*/*.parquet'))
        if not paths:
            raise LeRobotFormatError(f'{self.root} is not a LeRobotDataset v3.0: no '
                                     f'{EPISODES_DIR}/chunk-*/file-*.parquet')
        required = ['episode_index', 'length', 'dataset_from_index', 'dataset_to_index',
                    'data/chunk_index', 'data/file_index',
                    *(f'videos/{key}/{column}' for key in self.video_keys
                      for column in ('chunk_index', 'file_index', 'from_timestamp'))]
        rows: list[dict[str, Any]] = []
        for path in paths:
            table = self._read_parquet(path, required, keep=lambda c: not c.startswith('stats/'))
            for column in required:
                table = self._episode_numbers(path, table, column,
                                              integral=not column.endswith('_timestamp'))
            rows.extend(table.to_pylist())
        rows.sort(key=lambda r: r['episode_index'])
        if [r['episode_index'] for r in rows] != list(range(len(rows))):
            raise LeRobotFormatError(f'{self.root}: episode indices are not 0..{len(rows) - 1}')
        return rows

    def _episode_numbers(self, path: Path, table: pa.Table, column: str, *,
                         integral: bool) -> pa.Table:
        """The table with the episodes-table `column` checked: numbers, none null, whole ones
        where `integral` (an integral float column, pandas' int column that held a NaN
        elsewhere, comes back as int64), finite. Files are named and buffers sliced by these:
        a null or 0.0 there was a TypeError or ValueError deep in the reader."""
        values = table[column]
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
        want = 'a whole number' if integral else 'a number'
        where = f'{self.root}: {path.relative_to(self.root)}: column {column!r}'
        row = first_null_row(values)
        if row is not None:
            raise LeRobotFormatError(f'{where} is null at row {row}, not {want}')
        typ = values.type
        if not (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
            raise LeRobotFormatError(f'{where} is of type {typ} (row 0: '
                                     f'{values[0].as_py()!r}), not {want}')
        if not pa.types.is_floating(typ):
            return table
        numbers = values.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = ~np.isfinite(numbers)
        if integral:
            bad |= (np.abs(numbers) >= 2.0 ** 53) | (numbers != np.round(numbers))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise LeRobotFormatError(f'{where} is {float(numbers[row])!r} at row {row}, '
                                     f'not {want}')
        if not integral:
            return table
        return table.set_column(table.column_names.index(column), column,
                                pa.array(numbers.astype(np.int64)))

    # ------------------------------------------------------------------ frames
    def data_files(self) -> list[Path]:
        files = sorted({(ep['data/chunk_index'], ep['data/file_index']) for ep in self.episodes})
        return [self._inside('data_path', chunk_index=c, file_index=f) for c, f in files]

    def _inside(self, key: str, **fields: Any) -> Path:
        """info.json's template `key` filled in, refused where it leads out of the dataset
        directory (a feature name with '..' as video_key): a dataset names its own files."""
        relative = self.info[key].format(**fields)
        if _leaves_root(relative):
            raise LeRobotFormatError(f'{self.root / INFO_PATH}: {key} {self.info[key]!r} gives '
                                     f'{relative!r}, outside the dataset directory')
        return self.root / relative

    def read_columns(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The frames' columns (default ones included) in index order, (N, *shape) arrays."""
        keys = list(keys)
        unknown = [k for k in keys if k not in self.features or
                   self.features[k]['dtype'] in ('video', 'image')]
        if unknown:
            raise LeRobotFormatError(f'{self.root} has no numeric feature {unknown[0]!r} '
                                     f'(has {self.numeric_keys})')
        check = ['episode_index'] if 'episode_index' in self.features else []
        wanted = list(dict.fromkeys([*keys, 'index', 'timestamp', *check]))
        parts: dict[str, list[np.ndarray]] = {k: [] for k in wanted}
        for path in self.data_files():
            if not path.is_file():
                raise LeRobotFormatError(f'{self.root}: data file {path} is missing')
            table = self._read_parquet(path, wanted)
            for key in wanted:
                row = first_null_row(table[key])
                if row is not None:
                    raise LeRobotFormatError(
                        f'{self.root}: {path.relative_to(self.root)}: {key!r} is null at row '
                        f'{row}: a frame needs a number in every column (a null is no value)')
                try:
                    parts[key].append(from_arrow(table[key], self.features[key]))
                except LeRobotFormatError as exc:
                    raise LeRobotFormatError(f'{self.root}: {path.relative_to(self.root)}: '
                                             f'{key!r}: {exc}') from None
        out = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()}
        index = out['index'].reshape(-1)
        total = self.info['total_frames']
        if len(index) != total or not np.array_equal(np.sort(index), np.arange(total)):
            raise LeRobotFormatError(f'{self.root}: data files hold {len(index)} frames whose '
                                     f'index is not 0..{total - 1}')
        if not np.all(np.diff(index) > 0):
            order = np.argsort(index, kind='stable')
            out = {k: v[order] for k, v in out.items()}
        if check:
            self._check_episode_rows(out['episode_index'].reshape(-1))
        self._check_frame_rate(out['timestamp'].reshape(-1))
        return {k: v for k, v in out.items() if k in keys}

    def _check_episode_rows(self, episode_index: np.ndarray) -> None:
        """Refuse an episodes table whose lengths disagree with the rows' episode_index (5 and
        5 claimed for 4 and 6 rows): frames would be cut at the wrong rows."""
        expected = np.repeat(np.arange(len(self.episodes)), self.lengths())
        wrong = np.flatnonzero(episode_index != expected)
        if len(wrong):
            got, want = int(episode_index[wrong[0]]), int(expected[wrong[0]])
            e = got if 0 <= got < want else want  # the episode that ends at the wrong row
            rows = int(np.count_nonzero(episode_index == e))
            raise LeRobotFormatError(
                f'{self.root}: episode {e} claims {int(self.lengths()[e])} frames in '
                f'{EPISODES_DIR}, the data files hold {rows} rows of it')

    def _check_frame_rate(self, timestamps: np.ndarray) -> None:
        """Refuse an fps the timestamps disagree with (fps 20 on frames 0.1 s apart): training
        takes its control period from fps. The median spacing inside episodes is compared, so
        a dropped frame or a jittery clock does not count, a wrong rate does. A timestamp
        that is no number is refused naming its frame (one NaN made the median NaN, and any
        fps passed)."""
        ends = self.episode_ends()
        stamps = timestamps.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(stamps))
        if len(bad):
            episode = int(np.searchsorted(ends, bad[0], side='right'))
            frame = int(bad[0] - (ends[episode] - self.lengths()[episode]))
            raise LeRobotFormatError(
                f'{self.root}: frame {frame} of episode '
                f'{self.episodes[episode]["episode_index"]} (row {int(bad[0])}) has timestamp '
                f'{stamps[bad[0]]}; {len(bad)} row(s) have no finite timestamp')
        gaps = np.diff(stamps)
        within = np.ones(len(gaps), dtype=bool)
        # from an episode's last row to the next (none after the last row: empty episodes last)
        cuts = ends[:-1][(ends[:-1] > 0) & (ends[:-1] < len(stamps))]
        within[cuts - 1] = False
        if not within.any():
            return
        spacing = float(np.median(gaps[within]))
        if abs(spacing * self.fps - 1.0) > FRAME_RATE_TOLERANCE:
            raise LeRobotFormatError(
                f'{self.root / INFO_PATH} says fps {self.fps} (frames {1 / self.fps:.4g} s '
                f'apart) but its timestamps are {spacing:.4g} s apart (median within episodes); '
                f'correct its fps')

    def video_path(self, key: str, episode: Mapping[str, Any]) -> Path:
        return self._inside('video_path', video_key=key,
                            chunk_index=episode[f'videos/{key}/chunk_index'],
                            file_index=episode[f'videos/{key}/file_index'])

    def camera_frames(self, key: str, *, timestamps: np.ndarray | None = None,
                      tolerance_s: float = DEFAULT_TOLERANCE_S, progress: bool = False
                      ) -> np.ndarray:
        """Every frame of a video (or image) feature, uint8 (N, H, W, C), in index order."""
        ft = self.features.get(key)
        if ft is None or ft['dtype'] not in ('video', 'image'):
            raise LeRobotFormatError(f'{self.root} has no camera feature {key!r} '
                                     f'(has {self.camera_keys})')
        if ft['dtype'] == 'image':
            return self._image_frames(key)
        if timestamps is None:
            timestamps = self.read_columns(['timestamp'])['timestamp'].reshape(-1)
        return self.video_frames(key, timestamps, tolerance_s=tolerance_s, progress=progress)

    def video_frames(self, key: str, timestamps: np.ndarray,
                     tolerance_s: float = DEFAULT_TOLERANCE_S, progress: bool = False
                     ) -> np.ndarray:
        """Every frame of a camera's videos, uint8 (N, H, W, C) in index order
        (video_episodes, gathered)."""
        shape = self._frame_shape(key)
        self.check_video_size(key)
        out = np.empty((int(self.info['total_frames']), *shape), dtype=np.uint8)
        ends = self.episode_ends()
        for i, frames in self.video_episodes(key, timestamps, tolerance_s=tolerance_s,
                                             progress=progress):
            out[ends[i] - len(frames):ends[i]] = frames
        return out

    def video_episodes(self, key: str, timestamps: np.ndarray,
                       tolerance_s: float = DEFAULT_TOLERANCE_S, progress: bool = False,
                       episodes: Iterable[int] | None = None
                       ) -> Iterator[tuple[int, np.ndarray]]:
        """(episode index, its frames uint8 (L, H, W, C)) in episode order, each video decoded
        once: row r of episode e is the decoded frame nearest to from_timestamp(e) +
        timestamps[r], which must be within tolerance_s (lerobot dataset_reader._query_videos
        + video_utils.decode_video_frames). An episode is handed over as soon as the decoding
        has passed it, so the memory is an episode's frames, not the camera's. episodes:
        these alone (the video files holding them are decoded); None: all."""
        from tqdm.auto import tqdm

        shape = self._frame_shape(key)
        ends = self.episode_ends()
        chosen = range(len(self.episodes)) if episodes is None else sorted(set(episodes))
        by_file: dict[Path, list[int]] = {}
        for i in chosen:
            by_file.setdefault(self.video_path(key, self.episodes[i]), []).append(i)
        ready: dict[int, np.ndarray] = {}  # decoded, waiting for an earlier episode
        due = 0  # chosen[due]: the next episode to hand over
        with tqdm(total=int(sum(self.episodes[i]['length'] for i in chosen)),
                  desc=f'decoding {key}', unit='frame', disable=not progress,
                  leave=False) as bar:
            for path, eps in by_file.items():
                if not path.is_file():
                    raise LeRobotFormatError(f'{self.root}: video {path} is missing')
                for i, frames in self._decode_file(key, path, eps, timestamps, tolerance_s,
                                                   shape, ends, bar):
                    ready[i] = frames
                    while due < len(chosen) and chosen[due] in ready:
                        yield chosen[due], ready.pop(chosen[due])
                        due += 1

    def _decode_file(self, key: str, path: Path, eps: list[int], timestamps: np.ndarray,
                     tolerance_s: float, shape: tuple[int, int, int], ends: np.ndarray,
                     bar: Any) -> Iterator[tuple[int, np.ndarray]]:
        """(episode, frames) of the episodes `eps` stored in one video file, each once the
        decoding is past its last frame's time (so no later frame can be nearer)."""
        import av

        lengths = {i: int(self.episodes[i]['length']) for i in eps}
        rows = np.concatenate([np.arange(ends[i] - lengths[i], ends[i]) for i in eps])
        owner = np.concatenate([np.full(lengths[i], i) for i in eps])
        query = np.concatenate([
            self.episodes[i][f'videos/{key}/from_timestamp'] +
            timestamps[ends[i] - lengths[i]:ends[i]].astype(np.float64) for i in eps])
        # each frame's tolerance: tolerance_s plus its float32 timestamp's rounding
        allowed = tolerance_s + timestamp_slack(timestamps[rows])
        limit = dict(zip(eps, np.split(allowed, np.cumsum([lengths[i] for i in eps])[:-1]),
                         strict=True))  # by episode row, for finished()
        order = np.argsort(query, kind='stable')
        rows, owner, query, allowed = rows[order], owner[order], query[order], allowed[order]
        reach = float(allowed.max()) if len(allowed) else tolerance_s  # the widest window
        # the time after which an episode can take no frame: its last query + tolerance
        finish = sorted((float((query + allowed)[owner == i].max()) if lengths[i] else
                         -np.inf, i) for i in eps)
        frames: dict[int, np.ndarray] = {}
        best: dict[int, np.ndarray] = {}
        decoded: list[float] = []  # the times of the frames decoded, to say how far off

        def finished(i: int) -> tuple[int, np.ndarray]:
            got = best.get(i, np.full(lengths[i], np.inf))
            bad = np.flatnonzero(~(got <= limit[i]))
            if len(bad):
                r = int(bad[0])
                j = int(np.flatnonzero((owner == i) & (rows == ends[i] - lengths[i] + r))[0])
                start = float(self.episodes[i][f'videos/{key}/from_timestamp'])
                off = (f'the nearest is {np.abs(np.array(decoded) - query[j]).min():.6f} s away'
                       if decoded else 'none was decoded')
                raise LeRobotFormatError(
                    f'{self.root}: {len(bad)} frames of {key!r} in episode {i} have no video '
                    f'frame within tolerance_s={tolerance_s} of their timestamp (first: '
                    f'frame {r}, timestamp {float(timestamps[ends[i] - lengths[i] + r]):.4f} s, '
                    f'at {query[j]:.6f} s of {path.relative_to(self.root)} (the episode\'s '
                    f'from_timestamp {start:.6f} s): {off}). A from_timestamp a little off '
                    'its file\'s frames (lerobot\'s writer with a codec that reorders frames, '
                    'h264 or hevc) is read with a larger tolerance: dp-ros convert '
                    '--tolerance-s')
            best.pop(i, None)
            return i, frames.pop(i, np.empty((0, *shape), dtype=np.uint8))

        k = 0  # finish[k:]: the episodes not handed over
        if not len(query):
            for _, i in finish:
                yield finished(i)
            return
        last = query[-1] + reach
        with self._decode_errors(path), av.open(str(path)) as container:
            if not container.streams.video:
                raise LeRobotFormatError(f'{self.root}: {path.relative_to(self.root)} '
                                         f'holds no video stream')
            stream = container.streams.video[0]
            self._check_stream_size(key, path, stream, shape)
            stream.thread_type = 'AUTO'
            first = query[0]
            if first > 1.0:
                container.seek(max(0, round(first / stream.time_base) - 1),
                               backward=True, any_frame=False, stream=stream)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base)
                while k < len(finish) and finish[k][0] < t:
                    yield finished(finish[k][1])
                    k += 1
                decoded.append(t)
                lo = np.searchsorted(query, t - reach, side='left')
                hi = np.searchsorted(query, t + reach, side='right')
                if hi > lo:
                    image = frame.to_ndarray(format='rgb24')
                    if image.shape != shape:  # before the episode's frames are allocated
                        raise LeRobotFormatError(
                            f'{path}: frames are {image.shape}, info.json says {shape}')
                    for j in range(lo, hi):
                        i = int(owner[j])
                        r = int(rows[j] - (ends[i] - lengths[i]))
                        if i not in frames:
                            frames[i] = np.empty((lengths[i], *shape), dtype=np.uint8)
                            best[i] = np.full(lengths[i], np.inf)
                        d = abs(query[j] - t)
                        if d < best[i][r]:
                            frames[i][r] = image
                            best[i][r] = d
                    bar.update(hi - lo)
                if t > last:
                    break
        for _, i in finish[k:]:
            yield finished(i)

    def check_video_size(self, key: str) -> None:
        """Refuse a video feature whose info.json shape its first video does not have (read
        from the stream's header, nothing decoded), before a buffer of the claimed size is
        allocated: a claim of 10^5 x 10^5 would be 30 GB a frame."""
        if self.features[key]['dtype'] != 'video' or not self.episodes:
            return
        import av

        path = self.video_path(key, self.episodes[0])
        if not path.is_file():
            raise LeRobotFormatError(f'{self.root}: video {path} is missing')
        with self._decode_errors(path), av.open(str(path)) as container:
            if container.streams.video:
                self._check_stream_size(key, path, container.streams.video[0],
                                        self._frame_shape(key))

    @staticmethod
    def _check_stream_size(key: str, path: Path, stream: Any,
                           shape: tuple[int, int, int]) -> None:
        """The video stream's own frame size (its header's) against info.json's `shape`."""
        size = (stream.codec_context.height, stream.codec_context.width)
        if all(size) and size != shape[:2]:  # 0: the header does not say; frames are checked
            raise LeRobotFormatError(f'{path}: frames of {key!r} are {(*size, 3)}, info.json '
                                     f'says {shape}')

    @contextmanager
    def _decode_errors(self, path: Path) -> Iterator[None]:
        """PyAV's errors on a video cut short or not a video, as one line naming the file."""
        import av
        try:
            yield
        except av.FFmpegError as exc:
            raise LeRobotFormatError(
                f'{self.root}: video {path.relative_to(self.root)} cannot be decoded '
                f'({exc.strerror or one_line(exc)}); copy it again') from None

    def _frame_shape(self, key: str) -> tuple[int, int, int]:
        ft = self.features[key]
        shape = list(ft['shape'])
        names = ft.get('names') or IMAGE_NAMES
        if len(shape) != 3:
            raise LeRobotFormatError(f'camera feature {key!r} has shape {shape}, expected 3-D')
        if list(names)[:1] in (['channels'], ['channel']):  # stored (C, H, W)
            shape = [shape[1], shape[2], shape[0]]
        info = ft.get('info') or {}
        depth = bool(info.get('is_depth_map') or info.get('video.is_depth_map'))
        if shape[2] != 3 or depth:
            # frames are decoded as rgb24: a depth map's 12-bit codes (lerobot >= 0.6: hevc
            # gray12le) or a 16-bit PNG would become 8-bit grey "colour", silently
            what = 'a depth map' if depth else f'{shape[2]} channel(s)'
            raise LeRobotFormatError(
                f'{self.root}: camera feature {key!r} is {what} (shape {list(ft["shape"])}): '
                'dp_ros reads colour cameras of 3 channels only; leave it out (dp-ros '
                'convert --keys; training names its cameras in data.rgb_keys)')
        return int(shape[0]), int(shape[1]), 3

    def _image_frames(self, key: str) -> np.ndarray:
        """'image' features: every frame (ImageColumn), decoded straight into its place in
        index order (one copy of the camera)."""
        column = ImageColumn(self, key)
        return column.rows(0, column.total)


class ImageColumn:
    """An 'image' camera (PNG/JPEG bytes in the data parquet, struct {bytes, path}) decoded
    where it is read, as a video camera is: rows() and take() decode the frames asked for,
    each into its place. Where each frame's bytes lie (data file, row) is read once from the
    files' index columns; a data file's image bytes are read when a frame of it is first
    asked for and kept until a frame of another file is (read_array's blocks go through a
    file in order): a training load holds its own copy of the frames and one data file's
    encoded bytes, not a second, whole decode besides; `dp-ros inspect` a block of frames and
    `dp-ros convert` an episode's, not the camera's (640x480: 0.9 MB a frame)."""

    def __init__(self, reader: LeRobotReader, key: str) -> None:
        self.reader, self.key = reader, key
        self.shape = reader._frame_shape(key)
        self.total = total = int(reader.info['total_frames'])
        self.files = reader.data_files()
        self.file_of = np.full(total, -1, dtype=np.int64)  # frame -> its data file
        self.row_of = np.zeros(total, dtype=np.int64)  # frame -> its row there
        for f, path in enumerate(self.files):
            column = reader._read_parquet(path, ['index'], present=[key])['index']
            if len(column) == 0:  # an empty file (its index column may be of type null)
                continue
            index = column.to_numpy(zero_copy_only=False) if column.null_count == 0 else None
            if index is None or not np.issubdtype(index.dtype, np.integer) or \
                    index.dtype == np.bool_:
                self._not_once(path, next((v for v in column.to_pylist()
                                           if not isinstance(v, int) or isinstance(v, bool)),
                                          None))
            outside = (index < 0) | (index >= total)
            if outside.any():
                self._not_once(path, int(index[outside][0]))
            unique, counts = np.unique(index, return_counts=True)
            again = unique[(counts > 1) | (self.file_of[unique] >= 0)]
            if again.size:
                self._not_once(path, int(again[0]))
            self.file_of[index] = f
            self.row_of[index] = np.arange(len(index))
        missing = np.flatnonzero(self.file_of < 0)
        if missing.size:
            raise LeRobotFormatError(f'{reader.root}: image {key!r} has no frame of index '
                                     f'{int(missing[0])} (of 0..{total - 1})')
        # (data file, its image cells): chunked as read, not combined (a file's bytes over
        # 2 GiB overflow a binary array's 32-bit offsets)
        self._cells: tuple[int, pa.ChunkedArray] | None = None
        self._check_size()

    def _not_once(self, path: Path, frame: Any) -> NoReturn:
        raise LeRobotFormatError(
            f'{self.reader.root}: {path.relative_to(self.reader.root)}: image {self.key!r} has '
            f'a frame of index {frame}, not once each of 0..{self.total - 1}')

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop-1, uint8 (stop - start, H, W, 3)."""
        return self.take(np.arange(start, max(start, stop)))

    def take(self, frames: np.ndarray) -> np.ndarray:
        """The frames of these indices (0..N-1, any order), uint8 (len(frames), H, W, 3)."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1)
        out = np.empty((len(frames), *self.shape), dtype=np.uint8)
        files = self.file_of[frames]
        # each file once, in the order first needed (grouped in one sort, not one pass over
        # the frames per file: a v2.1 set has a file per episode)
        order = np.argsort(files, kind='stable')
        groups = np.split(order, np.flatnonzero(np.diff(files[order])) + 1) if len(order) else []
        for group in sorted(groups, key=lambda g: int(g[0])):
            f = int(files[group[0]])
            cells = self._file_cells(f)
            for k in group.tolist():
                frame = int(frames[k])
                self._decode(cells[int(self.row_of[frame])].as_py(), frame, f, out[k])
        return out

    def _check_size(self) -> None:
        """Refuse a feature whose info.json shape its first frame does not have (read from
        the image's header, nothing decoded), before any read allocates frames of the claimed
        size (as check_video_size for a video): its data file is the one a first read needs."""
        if self.total:
            f = int(self.file_of[0])
            self._decode(self._file_cells(f)[int(self.row_of[0])].as_py(), 0, f, None)

    def _file_cells(self, f: int) -> pa.ChunkedArray:
        if self._cells is None or self._cells[0] != f:
            self._cells = None  # the last file's bytes go before the next file's are read
            table = self.reader._read_parquet(self.files[f], [self.key])
            self._cells = (f, table[self.key])
        return self._cells[1]

    def _decode(self, cell: Any, frame: int, f: int, out: np.ndarray | None) -> None:
        """Frame `frame`'s cell decoded into out (None: its size checked alone)."""
        import io

        from PIL import Image

        where = self.files[f].relative_to(self.reader.root)
        data = cell['bytes'] if isinstance(cell, dict) else cell
        if not isinstance(data, bytes):
            raise LeRobotFormatError(f'{self.reader.root}: {where}: image {self.key!r} of frame '
                                     f'{frame} holds a path, not bytes')
        try:
            image = Image.open(io.BytesIO(data))  # the header alone: size checked first
            size = (image.height, image.width)
            if size == self.shape[:2] and out is not None:
                out[...] = np.asarray(image.convert('RGB'))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            # PIL's UnidentifiedImageError (an OSError) and its kinds of damage
            raise LeRobotFormatError(
                f'{self.reader.root}: {where}: image {self.key!r} of frame {frame} does not '
                f'decode ({one_line(exc)})') from None
        if size != self.shape[:2]:
            raise LeRobotFormatError(
                f'{self.reader.root}: {where}: image {self.key!r} of frame {frame} is '
                f'{(*size, 3)}, info.json says {self.shape}')


def is_lerobot_dataset(path: str | Path) -> bool:
    return (Path(path) / INFO_PATH).is_file()


def directory_bytes(root: str | Path) -> int:
    """Bytes under a directory (the size of a converted dataset)."""
    return sum(p.stat().st_size for p in Path(root).rglob('*') if p.is_file())

