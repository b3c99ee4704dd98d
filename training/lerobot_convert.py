"""`dp-ros convert`: zarr replay buffer <-> LeRobotDataset v3.0, both ways, all or nothing.

    dp-ros convert data/pusht.zarr data/pusht_lerobot --fps 10      # zarr -> LeRobot
    dp-ros convert data/pusht_lerobot data/pusht_back.zarr          # LeRobot -> zarr

The direction follows the source: a directory with meta/info.json is a LeRobotDataset, anything
else a zarr store. Keys map by DEFAULT_KEY_MAP (img -> observation.image, state ->
observation.state, action -> action) plus `--map ZARR=LEROBOT`; other keys keep their names.
Images ((N, H, W, 3) arrays of 0..255) become videos (training/lerobot_format.py: lerobot's
libsvtav1 defaults), everything else parquet columns, bit for bit. Back in zarr, videos are
decoded to uint8 images (N, H, W, 3), streamed into the store an episode at a time (the
memory of one episode's frames, not the camera's), and columns keep their dtype and step
shape, except that a zarr (N,) array comes back (N, 1): LeRobot records both as shape [1] and
cannot tell them apart. Two keys that would get one name (a --map target equal to another
key's name, either way) and names containing '/' (which lerobot refuses; a zarr key with one
would be nested groups the store does not list) are refused before anything is written, and
so are an empty zarr episode and options of the other direction (--crf on LeRobot -> zarr).
A LeRobot dataset's robot_type and each episode's task (its first frame's) are kept in the
zarr store's root attributes, and the way back writes them again.

The output is written into a temporary directory beside it and swapped in at the end
(dp_ros/atomic_dir.py): an error or Ctrl-C leaves no half-written dataset, and an existing
one only goes when --overwrite is given and the new one is complete. An output that is the
source, inside it or a folder holding it is refused first (--overwrite would delete it).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dp_ros.atomic_dir import (
    check_output_apart,
    check_writable_file,
    naming,
    output_lock,
    real_target,
    remove_killed_staging,
    replace_dir,
    staging_path,
    write_text,
)
from dp_ros.dimension_names import NAMES, names_of
from dp_ros.errors import UserError
from dp_ros.image_fit import CAMERA_CROP
from dp_ros.recorded_sources import FRAME_SIZE, SOURCES
from training.bag2zarr import CONVERTED_BAGS
from training.lerobot_format import (
    DEFAULT_FEATURES,
    DEFAULT_KEY_MAP,
    DEFAULT_TOLERANCE_S,
    DP_ROS_INFO,
    ImageColumn,
    LeRobotFormatError,
    LeRobotReader,
    LeRobotWriter,
    camera_frame_size,
    check_feature_names,
    default_encoding,
    directory_bytes,
    feature_attrs,
    is_lerobot_dataset,
    numeric_feature,
    video_feature,
)
from training.replay_buffer import (
    ReplayBuffer,
    check_no_empty_episodes,
    recorded_control_period,
)
from training.zarr_writer import check_overwritable, remove_tree

DEFAULT_TASK = ''
# root attribute of a zarr store converted from LeRobot: each episode's task text, so that the
# way back gives the episodes their tasks again (a multi-task set stays multi-task)
TASKS_ATTR = 'lerobot_tasks'
# root attribute of a zarr store converted from LeRobot: info.json's robot_type, which the way
# back writes again (where --robot-type gives none)
ROBOT_TYPE_ATTR = 'lerobot_robot_type'
# the options of one direction alone (argparse dest -> option): given in the other, refused
ZARR_TO_LEROBOT_OPTIONS = {'task': '--task', 'robot_type': '--robot-type',
                           'vcodec': '--vcodec', 'crf': '--crf'}
LEROBOT_TO_ZARR_OPTIONS = {'tolerance_s': '--tolerance-s'}


class ConvertError(UserError, ValueError):
    """A conversion that cannot run: its arguments, keys or output."""


# ---------------------------------------------------------------------------- key maps
def parse_key_map(items: Sequence[str] | None, base: Mapping[str, str] | None = None
                  ) -> dict[str, str]:
    """DEFAULT_KEY_MAP (or base) updated by 'zarr_key=lerobot_key' items. An item names the
    one source of its LeRobot name: `--map my_action=action` replaces the default
    action=action (a store that also holds `action` is refused when it is converted, by
    check_renaming); two items naming one LeRobot name are refused here."""
    given: dict[str, str] = {}
    for item in items or ():
        zarr_key, sep, lerobot_key = (part.strip() for part in item.partition('='))
        if not sep or not zarr_key or not lerobot_key:
            raise ConvertError(f"--map {item!r} is not of the form ZARR_KEY=LEROBOT_KEY")
        given[zarr_key] = lerobot_key
    taken = set(given.values())
    out = {k: v for k, v in (DEFAULT_KEY_MAP if base is None else base).items()
           if k in given or v not in taken}
    out.update(given)
    lerobot_keys = list(out.values())
    dup = sorted({k for k in lerobot_keys if lerobot_keys.count(k) > 1})
    if dup:
        raise ConvertError(f'key map sends several zarr keys to {dup[0]!r}')
    return out


def inverse_key_map(key_map: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in key_map.items()}


def check_renaming(names: Mapping[str, str], source: str, target: str) -> None:
    """Refuse a renaming {source key: target name} that gives two keys one name (the second
    would silently replace the first): a --map target equal to another key's own name."""
    seen: dict[str, str] = {}
    for key, name in names.items():
        if name in seen:
            pair = sorted([seen[name], key])
            mapped = [k for k in pair if k != name]
            raise ConvertError(
                f'{source} keys {pair[0]!r} and {pair[1]!r} would both become {target} '
                f'{name!r} (the key map renames {" and ".join(map(repr, mapped))} to it); '
                f'map one to another name with --map, or leave one out with --keys')
        seen[name] = key


def check_zarr_names(names: Mapping[str, str]) -> None:
    """Refuse a renaming {LeRobot feature: zarr key} whose key zarr cannot hold as one
    array: a '/' makes nested groups, and the store's keys() would not list it (its data
    silently gone from training)."""
    for feature, name in names.items():
        if '/' in name or name.strip() in ('', '.', '..'):
            raise ConvertError(
                f'LeRobot feature {feature!r} would become zarr key {name!r}, which zarr '
                f"cannot hold as one array ('/' makes nested groups, the store would not list "
                f"it): give it a name with --map NEW={feature}")


# ---------------------------------------------------------------------------- staging
@contextmanager
def staged_output(source: Path, output: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary directory beside `output` that replaces it when the block succeeds (an
    output that is a symlink, to a dataset on another disk: at its destination); an output
    that would touch `source` is refused first, and so is a second writer of `output` while
    this one runs (output_lock: its swap would replace this one's dataset). Under the lock,
    the staging copies killed converts of `output` left are removed first."""
    check_output_apart(source, output, ConvertError)
    with output_lock(output, 'dp-ros convert'):
        output = real_target(output)
        if output.exists() and not overwrite:
            raise ConvertError(f'{output} already exists; pass --overwrite to replace it')
        if overwrite:
            check_overwritable(output, ConvertError)
        remove_killed_staging(output)
        tmp = staging_path(output)  # a kill leaves it: the next convert to output removes it
        try:
            with naming(output, tmp):  # pyarrow's full-disk OSError names no file
                yield tmp
                replace_dir(tmp, output)
        finally:  # zarr's I/O thread may finish a write after an interrupt
            remove_tree(tmp)


# ---------------------------------------------------------------------------- zarr -> LeRobot
def _is_image(array: Any) -> bool:
    """A camera: (N, H, W, 3), its pixels uint8 (bag2zarr's) or whole numbers 0..255 of
    another dtype (the paper's float32 Push-T img), checked as it is written (_image_uint8)."""
    return len(array.shape) == 4 and array.shape[-1] == 3


def _image_uint8(block: np.ndarray, key: str) -> np.ndarray:
    """The block as uint8 pixels; ConvertError for values no pixel has: a depth, point or
    feature map of this shape is no camera, and a lossy video would change it silently."""
    if block.dtype == np.uint8:
        return block
    out = block.astype(np.uint8)
    if block.size and (block.min() < 0 or block.max() > 255 or not np.array_equal(out, block)):
        raise ConvertError(f'zarr image {key!r} holds values that are not integers in 0..255 '
                           f'({block.dtype}, {block.min():g}..{block.max():g}); a video needs '
                           f'uint8 pixels: an (N, H, W, 3) array that is no camera (a depth, '
                           f'point or feature map) cannot be converted, leave it out with --keys')
    return out


class _BlockReader:
    """Time slices of a zarr array read through an aligned block cache (episodes are shorter
    than a chunk, so reading episode by episode would decompress each chunk twice)."""

    def __init__(self, array: Any, block_bytes: int = 32 * 2**20) -> None:
        self.array = array
        chunk = int(getattr(array, 'chunks', (1024,))[0] or 1024)
        step = max(1, int(np.prod(array.shape[1:])) * np.dtype(array.dtype).itemsize)
        self.block = chunk * max(1, block_bytes // (chunk * step))
        self.start, self.data = 0, None

    def __call__(self, start: int, stop: int) -> np.ndarray:
        if self.data is None or start < self.start or stop > self.start + len(self.data):
            self.start = start - start % self.block
            end = max(stop, self.start + self.block)
            self.data = np.asarray(self.array[self.start:end])
        return self.data[start - self.start:stop - self.start]


def zarr_to_lerobot(source: str | Path, output: str | Path, *, fps: int,
                    key_map: Mapping[str, str] | None = None, keys: Sequence[str] | None = None,
                    task: str | None = None, robot_type: str | None = None,
                    encoding: Any = None, overwrite: bool = False, progress: bool = True
                    ) -> dict[str, Any]:
    """Convert a zarr replay buffer into a LeRobotDataset directory; a report dict.
    task: every episode's task text; None: each episode's as the store records it (TASKS_ATTR,
    a store converted from LeRobot), else DEFAULT_TASK."""
    t0 = time.perf_counter()
    key_map = parse_key_map([], key_map)
    buf = ReplayBuffer.open(source, mode='r')
    keys = list(buf.keys()) if keys is None else list(dict.fromkeys(keys))
    missing = [k for k in keys if k not in buf.data]
    if missing:
        raise ConvertError(f'{source} has no data/{missing[0]} (has {buf.keys()})')
    if buf.n_episodes == 0:
        raise ConvertError(f'{source} holds no episodes')
    check_no_empty_episodes(buf.episode_ends, str(source), ConvertError,
                            "a LeRobot episode needs at least one frame; remove it from the "
                            "store's episode_ends")
    if robot_type is None:  # a store converted from LeRobot: its robot, back
        recorded = buf.root_attrs().get(ROBOT_TYPE_ATTR)
        robot_type = recorded if isinstance(recorded, str) else None
    names = {k: key_map.get(k, k) for k in keys}
    check_renaming(names, 'zarr', 'LeRobot feature')
    check_feature_names(names.values())
    features: dict[str, dict[str, Any]] = {}
    readers: dict[str, _BlockReader] = {}
    for key in keys:
        arr = buf.data[key]
        attrs = buf.attrs(key)  # bag2zarr's camera crop, joint names and topics travel along
        if _is_image(arr):
            features[names[key]] = video_feature(int(arr.shape[1]), int(arr.shape[2]))
            if attrs.get(CAMERA_CROP) is not None:
                features[names[key]][CAMERA_CROP] = list(attrs[CAMERA_CROP])
        else:
            features[names[key]] = numeric_feature(
                np.zeros((0, *arr.shape[1:]), arr.dtype),
                names_of(attrs.get(NAMES), int(np.prod(arr.shape[1:]))))
        if attrs.get(SOURCES) is not None:  # info.json: an extra field LeRobot's loader ignores
            features[names[key]][SOURCES] = list(attrs[SOURCES])
        readers[key] = _BlockReader(arr)
    if not any(ft['dtype'] == 'video' for ft in features.values()):
        encoding = None  # no camera: no video encoding to report (nor to build)
    elif encoding is None:
        encoding = default_encoding()
    ends = buf.episode_ends
    tasks = [task] * len(ends) if task is not None else recorded_tasks(buf)
    with staged_output(Path(source), Path(output), overwrite) as tmp, \
            LeRobotWriter(tmp, fps, features, robot_type=robot_type, encoding=encoding,
                          dp_ros=dp_ros_info(buf)) as writer, \
            tqdm(total=int(ends[-1]), desc='zarr -> LeRobot', unit='frame',
                 disable=not progress) as bar:
        start = 0
        for end, episode_task in zip(ends, tasks, strict=True):
            episode = {}
            for key in keys:
                block = readers[key](start, int(end))
                if features[names[key]]['dtype'] == 'video':
                    block = _image_uint8(block, key)
                episode[names[key]] = block
            writer.add_episode(episode, task=episode_task)
            bar.update(int(end) - start)
            start = int(end)
        writer.close()
        size = directory_bytes(tmp)
    return {'direction': 'zarr->lerobot', 'source': str(source), 'output': str(output),
            'episodes': int(buf.n_episodes), 'frames': int(ends[-1]), 'fps': fps,
            'keys': names, 'tasks': len(set(tasks)), 'vcodec': getattr(encoding, 'vcodec', None),
            # episodes without a task beside others with one (appended after the store's
            # tasks were recorded: bag2zarr gives none)
            'untasked_episodes': [i for i, t in enumerate(tasks) if t == DEFAULT_TASK]
            if any(t != DEFAULT_TASK for t in tasks) else [],
            # cameras whose whole 0..255 values were cast to uint8 pixels, with their dtype
            'pixels_cast': {k: str(buf.data[k].dtype) for k in keys
                            if features[names[k]]['dtype'] == 'video'
                            and buf.data[k].dtype != np.uint8},
            'crf': getattr(encoding, 'crf', None), 'bytes': size,
            'seconds': round(time.perf_counter() - t0, 3)}


def dp_ros_info(buf: ReplayBuffer) -> dict[str, Any]:
    """What the store records beyond LeRobot's fields, for info.json (DP_ROS_INFO): the bags
    bag2zarr converted into it, so that appending one again after a round trip is refused
    as it is on the store."""
    converted = buf.root_attrs().get(CONVERTED_BAGS)
    return {CONVERTED_BAGS: converted} if isinstance(converted, list) and converted else {}


def recorded_tasks(buf: ReplayBuffer) -> list[str]:
    """Each episode's task text as the store records it (TASKS_ATTR: episodes appended
    after the conversion get DEFAULT_TASK); DEFAULT_TASK for every episode where it records
    none, or more than it holds (episodes removed: which is which is unknown)."""
    recorded = buf.root_attrs().get(TASKS_ATTR)
    n = int(buf.n_episodes)
    if not isinstance(recorded, list) or len(recorded) > n:
        return [DEFAULT_TASK] * n
    return [str(t) for t in recorded] + [DEFAULT_TASK] * (n - len(recorded))


def episode_tasks(reader: LeRobotReader) -> list[str]:
    """Each episode's task text (its first frame's task_index in meta/tasks.parquet); []
    where the dataset records no tasks."""
    names = reader.tasks()
    if not names or 'task_index' not in reader.features:
        return []
    index = reader.read_columns(['task_index'])['task_index'].reshape(-1)
    ends = reader.episode_ends()
    starts = [0, *ends[:-1]]
    return [str(names.get(int(index[s]), DEFAULT_TASK)) for s in starts]


# ---------------------------------------------------------------------------- LeRobot -> zarr
def write_lerobot_arrays(reader: LeRobotReader, store: ReplayBuffer, keys: Mapping[str, str],
                         *, tolerance_s: float = DEFAULT_TOLERANCE_S, progress: bool = True
                         ) -> None:
    """Write the features `keys` = {zarr name: feature} of a LeRobot dataset into an empty
    zarr store, with its episode ends: columns in their dtype and step shape, cameras decoded
    once into uint8 (N, H, W, 3), an episode at a time (the memory is an episode's frames,
    not the camera's: a lab's set is tens of GB of them)."""
    cameras = {n: f for n, f in keys.items() if f in reader.camera_keys}
    columns = {n: f for n, f in keys.items() if f not in reader.camera_keys}
    strings = [f for f in columns.values() if reader.features[f]['dtype'] not in
               ('video', 'image') and f not in reader.numeric_keys and f not in DEFAULT_FEATURES]
    if strings:
        raise LeRobotFormatError(f'feature {strings[0]!r} of {reader.root} is of dtype '
                                 f'{reader.features[strings[0]]["dtype"]!r}, not numeric')
    wanted = sorted(set(columns.values()) | ({'timestamp'} if cameras else set()))
    table = reader.read_columns(wanted) if wanted else {}
    ends = reader.episode_ends()
    for name, feature in columns.items():
        store.write_array(name, table[feature].shape, table[feature].dtype, [table[feature]])
    total = int(reader.info['total_frames'])
    for name, feature in cameras.items():
        shape = (total, *reader._frame_shape(feature))
        if reader.features[feature]['dtype'] == 'image':  # in the parquet
            column = ImageColumn(reader, feature)
            episodes = (column.rows(int(end) - int(n), int(end))
                        for end, n in zip(ends, np.diff(ends, prepend=0), strict=True))
        else:
            episodes = (frames for _, frames in reader.video_episodes(
                feature, table['timestamp'].reshape(-1), tolerance_s=tolerance_s,
                progress=progress))
        store.write_array(name, shape, np.uint8, episodes)
    store.set_episode_ends(ends)


def lerobot_to_zarr(source: str | Path, output: str | Path, *,
                    key_map: Mapping[str, str] | None = None, keys: Sequence[str] | None = None,
                    tolerance_s: float = DEFAULT_TOLERANCE_S, overwrite: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """Convert a LeRobotDataset directory into a zarr replay buffer; a report dict."""
    t0 = time.perf_counter()
    key_map = parse_key_map([], key_map)
    inverse = inverse_key_map(key_map)
    reader = LeRobotReader(source)
    own = [k for k in reader.features if k not in DEFAULT_FEATURES and
           (k in reader.camera_keys or k in reader.numeric_keys)]
    keys = own if keys is None else list(dict.fromkeys(keys))
    missing = [k for k in keys if k not in reader.features]
    if missing:
        raise ConvertError(f'{source} has no feature {missing[0]!r} (has {own})')
    renaming = {k: inverse.get(k, k) for k in keys}
    check_renaming(renaming, 'LeRobot feature', 'zarr key')
    check_zarr_names(renaming)
    names = {name: k for k, name in renaming.items()}
    ends = reader.episode_ends()
    # before any frame is decoded
    check_no_empty_episodes(ends, str(source), ConvertError,
                            'a zarr store holds episodes of at least one step')
    tasks = episode_tasks(reader)
    with staged_output(Path(source), Path(output), overwrite) as tmp:
        store = ReplayBuffer.create(tmp)
        write_lerobot_arrays(reader, store, names, tolerance_s=tolerance_s, progress=progress)
        for name, feature in names.items():  # camera crops and joint names, back
            store.data[name].attrs.update(feature_attrs(reader.features[feature]))
            # and a camera's frame size, as training straight from LeRobot records it: the
            # node then refuses another camera's frames (a swapped image_topics) there too
            size = camera_frame_size(reader, feature)
            if size is not None:
                store.data[name].attrs[FRAME_SIZE] = size
        store.set_root_attrs(fps=reader.fps)  # the rate, back: training reads it from there
        if any(tasks):  # the way back gives them again
            store.set_root_attrs(**{TASKS_ATTR: tasks})
        if isinstance(reader.info.get('robot_type'), str):  # and the robot
            store.set_root_attrs(**{ROBOT_TYPE_ATTR: reader.info['robot_type']})
        converted = (reader.info.get(DP_ROS_INFO) or {}).get(CONVERTED_BAGS)
        if isinstance(converted, list):  # bag2zarr's guard against a bag appended twice
            store.set_root_attrs(**{CONVERTED_BAGS: converted})
        size = directory_bytes(tmp)
    return {'direction': 'lerobot->zarr', 'source': str(source), 'output': str(output),
            'episodes': len(ends), 'frames': int(ends[-1]) if len(ends) else 0,
            'tasks': len(set(tasks)),
            'fps': reader.fps, 'keys': {v: k for k, v in names.items()}, 'bytes': size,
            'seconds': round(time.perf_counter() - t0, 3)}


# ---------------------------------------------------------------------------- command
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='dp-ros convert',
        description='Convert a zarr replay buffer into a LeRobotDataset v3.0 or back (the '
                    'direction follows SOURCE: a directory with meta/info.json is a LeRobot '
                    'dataset).')
    p.add_argument('source', help='zarr store or LeRobotDataset directory')
    p.add_argument('output', help='the new dataset (must not exist unless --overwrite)')
    p.add_argument('--to', choices=('lerobot', 'zarr'), default=None,
                   help='output format; default: the other one')
    p.add_argument('--fps', type=int, default=None,
                   help='zarr -> LeRobot: frames per second of a store that records no '
                        'rate (Push-T: 10); a store that records one (bag2zarr, a LeRobot '
                        'round trip) is written at it, and another --fps is refused; '
                        "LeRobot -> zarr: checked against the dataset's fps")
    p.add_argument('--map', action='append', default=[], metavar='ZARR=LEROBOT',
                   help=f'key mapping on top of {DEFAULT_KEY_MAP} (an item replaces the '
                        'default that gives its LeRobot name); repeatable')
    p.add_argument('--keys', nargs='+', default=None, metavar='KEY',
                   help='source keys to convert (default: all)')
    p.add_argument('--task', default=None,
                   help="zarr -> LeRobot: the task text of every episode (default: each "
                        "episode's as a store converted from LeRobot records it, else '')")
    p.add_argument('--robot-type', default=None, help='zarr -> LeRobot: info.json robot_type')
    p.add_argument('--vcodec', default=None,
                   help='zarr -> LeRobot: libsvtav1 (lerobot default), h264 or hevc')
    p.add_argument('--crf', type=int, default=None,
                   help='zarr -> LeRobot: video quality, lower is better and larger '
                        '(lerobot default 30)')
    p.add_argument('--tolerance-s', type=float, default=None,
                   help='LeRobot -> zarr: largest gap between a frame\'s timestamp and its '
                        'video frame, > 0 (lerobot default 1e-4; each frame is also allowed '
                        'its float32 timestamp\'s rounding)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output')
    p.add_argument('--report', default=None, help='also write the report as JSON here')
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    return p


def _store_fps(source: str | Path, given: int | None) -> int | None:
    """The LeRobot fps of the store: its recorded rate (as training reads it:
    recorded_control_period), else `given` (--fps). ConvertError for a --fps other than the
    recorded rate (the dataset would be relabelled: training on it took 1/fps as the
    policy's period) and for a recorded rate that is no whole number (12.5 Hz written as 12
    would put every timestamp 4% off)."""
    try:
        store = ReplayBuffer.open(source)
    except Exception:  # noqa: BLE001 - not readable here: the conversion says why later
        return given
    recorded = recorded_control_period(store)
    if recorded is None:
        return given
    rate = 1.0 / recorded[0]
    if given is not None and abs(given - rate) > 1e-6 * rate:
        raise ConvertError(f'--fps {given}: {source} is recorded at {rate:g} Hz ({recorded[1]}); '
                           'another fps would relabel its timing (training takes 1/fps as the '
                           "policy's control period): leave --fps out")
    if abs(rate - round(rate)) > 1e-6 * rate:
        raise ConvertError(f'{source} is recorded at {rate:g} Hz ({recorded[1]}) and a LeRobot '
                           f'dataset has a whole fps: convert the bags again at a control '
                           f'period whose rate is whole (e.g. control_period_s 0.1)')
    return round(rate)


def check_direction_options(args: argparse.Namespace, to: str) -> None:
    """Refuse options given that the other direction alone uses (--crf 99 on LeRobot -> zarr
    did nothing, silently, and the user thought it did)."""
    other = LEROBOT_TO_ZARR_OPTIONS if to == 'lerobot' else ZARR_TO_LEROBOT_OPTIONS
    given = [flag for dest, flag in other.items() if getattr(args, dest) is not None]
    if given:
        this, theirs = ('zarr -> LeRobot', 'LeRobot -> zarr') if to == 'lerobot' else \
            ('LeRobot -> zarr', 'zarr -> LeRobot')
        one = len(given) == 1
        names = ', '.join(given[:-1]) + ' and ' + given[-1] if len(given) > 1 else given[0]
        raise ConvertError(f'{names} {"applies" if one else "apply"} to '
                           f'{theirs} only, and this conversion is {this}: leave '
                           f'{"it" if one else "them"} out')


def _check_dataset_fps(source: Path, fps: int) -> None:
    """--fps given for LeRobot -> zarr: the dataset's own fps (the store records it), else
    refused, as another rate for a store that records one is."""
    recorded = LeRobotReader(source).fps
    if fps != recorded:
        raise ConvertError(f'--fps {fps}: {source} is recorded at {recorded} fps (info.json), '
                           'which the zarr store keeps: leave --fps out')


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    source, output = Path(args.source), Path(args.output)
    if not source.exists():
        raise FileNotFoundError(f'{source} does not exist')
    check_output_apart(source, output, ConvertError)  # before anything is read or written
    to = args.to or ('zarr' if is_lerobot_dataset(source) else 'lerobot')
    if (to == 'lerobot') == is_lerobot_dataset(source):
        raise ConvertError(f'{source} is already a {"LeRobot" if to == "lerobot" else "zarr"} '
                           f'dataset')
    key_map = parse_key_map(args.map)
    if args.report:  # before the dataset is written, not after
        check_writable_file(args.report, '--report')
    progress = not args.no_progress
    check_direction_options(args, to)
    if args.fps is not None and args.fps <= 0:
        raise ConvertError(f'--fps must be > 0, got {args.fps}')
    if to == 'lerobot':
        fps = _store_fps(source, args.fps)
        if not fps:
            raise ConvertError(f'{source} records no frame rate: give --fps (Push-T: 10)')
        overrides: dict[str, Any] = {} if args.crf is None else {'crf': args.crf}
        if args.vcodec:
            overrides['vcodec'] = args.vcodec
        report = zarr_to_lerobot(source, output, fps=fps, key_map=key_map, keys=args.keys,
                                 task=args.task, robot_type=args.robot_type,
                                 encoding=default_encoding(**overrides),
                                 overwrite=args.overwrite, progress=progress)
    else:
        tolerance_s = DEFAULT_TOLERANCE_S if args.tolerance_s is None else args.tolerance_s
        if not 0 < tolerance_s < math.inf:
            raise ConvertError(f'--tolerance-s must be a number of seconds > 0, got '
                               f'{args.tolerance_s}')
        if args.fps is not None:
            _check_dataset_fps(source, args.fps)
        report = lerobot_to_zarr(source, output, key_map=key_map, keys=args.keys,
                                 tolerance_s=tolerance_s, overwrite=args.overwrite,
                                 progress=progress)
    if args.report:
        write_text(args.report, json.dumps(report, indent=2) + '\n')
    if report.get('vcodec') is None and (args.vcodec or args.crf is not None):
        print('note: --vcodec/--crf unused: the store has no camera (no video is written)')
    if untasked := report.get('untasked_episodes'):
        print(f'note: episode(s) {untasked} have no task beside others that have one '
              '(appended after the tasks were recorded): --task TEXT gives every episode one')
    for key, dtype in report.get('pixels_cast', {}).items():
        print(f'note: zarr {key!r} ({dtype}, whole values 0..255) is written as a camera '
              f'video of uint8 pixels')
    print(f"{report['direction']}: {report['episodes']} episodes, {report['frames']} frames, "
          f"{report['bytes'] / 2**20:.1f} MiB in {report['seconds']:.1f} s -> {output}")
    return 0


if __name__ == '__main__':
    from training.errors import EXPECTED_ERRORS, error_exit
    try:
        sys.exit(main())
    except EXPECTED_ERRORS as exc:
        sys.exit(error_exit('dp-ros convert', exc))
