"""What a training store holds, read from its metadata without torch: the action key, the
low-dim key specs ('state[:2]'), the shape_meta a policy is built from, the episodes a run
leaves out. training/dataset.py builds its torch dataset on these; commands that only check
a store against a policy (`dp-ros open-loop`'s argument checks) import this alone.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.dimension_names import NAMES, names_of
from dp_ros.image_fit import CAMERA_CROP
from dp_ros.policy.config import jsonable
from dp_ros.recorded_sources import (
    FRAME_SIZE,
    OFFSET_S,
    SOURCES,
    check_sources,
    entry_frame_size,
    sliced_sources,
)
from training.errors import DatasetError, DatasetKeyError
from training.lerobot_source import open_training_store
from training.replay_buffer import ReplayBuffer

ACTION = 'action'
# the record of a run's split, in its train state and its checkpoints' provenance
SPLIT = 'split'
_KEY_SPEC = re.compile(r'^\s*([\w./-]+)\s*(?:\[\s*(-?\d+)?\s*:\s*(-?\d+)?\s*\])?\s*$')


def parse_low_dim_key(spec: str | tuple[str, slice | None]) -> tuple[str, slice]:
    """'state[:2]' or ('state', slice(0, 2)) -> ('state', slice(0, 2)); 'state' -> all columns.

    The string form is what YAML configs can hold; anything else (a bare '-' bound, a
    number or a list from YAML) is a DatasetError naming it, not int()'s or re's error.
    """
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) \
            and isinstance(spec[1], (slice, type(None))):
        key, sl = spec
        return key, slice(None) if sl is None else sl
    match = _KEY_SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise DatasetError(f"low-dim key spec {spec!r} is not 'key' or 'key[start:stop]'")
    key, start, stop = match.groups()
    return key, slice(int(start) if start else None, int(stop) if stop else None)


def images_to_uint8(key: str, source: str = ''):
    """Block converter: float 0..255 images -> uint8, refusing values that would change.

    source (the store) prefixes the messages.
    """
    where = f'{source}: ' if source else ''

    def convert(block: np.ndarray) -> np.ndarray:
        if block.dtype == np.uint8 or block.size == 0:
            return block.astype(np.uint8, copy=False)
        if np.issubdtype(block.dtype, np.floating) or np.issubdtype(block.dtype, np.integer):
            lo, hi = block.min(), block.max()
            if lo < 0 or hi > 255:
                raise DatasetError(f'{where}image array {key!r} has values in [{lo}, {hi}], '
                                   f'expected 0..255')
            out = block.astype(np.uint8)
            if np.issubdtype(block.dtype, np.floating) and not np.array_equal(out, block):
                bad = block[out != block].flat[0]
                raise DatasetError(f'{where}image array {key!r} holds non-integral values '
                                   f'(e.g. {bad}); cannot keep it as uint8')
            return out
        raise DatasetError(f'{where}image array {key!r} has unsupported dtype {block.dtype}')
    return convert


def observation_keys(image_key: str = 'img', state_key: str = 'state',
                     rgb_keys: Mapping[str, str] | None = None,
                     low_dim_keys: Mapping[str, str | tuple[str, slice | None]] | None = None,
                     ) -> tuple[dict[str, str], dict[str, tuple[str, slice]]]:
    """(rgb_keys, low_dim_keys) of a dataset config: obs name -> image array, and obs name ->
    (array, column slice); None gives the Push-T defaults built from image_key and state_key."""
    for field, given in (('rgb_keys', rgb_keys), ('low_dim_keys', low_dim_keys)):
        if given is not None and not isinstance(given, Mapping):  # [img]: dict()'s own error
            raise DatasetError(f'{field} must be a mapping of observation name -> array key, '
                               f'got {given!r}')
    rgb = dict(rgb_keys) if rgb_keys is not None else {'image': image_key}
    raw_low_dim = low_dim_keys if low_dim_keys is not None else {
        'agent_pos': (state_key, slice(0, 2))}
    low_dim = {}
    for name, spec in raw_low_dim.items():
        try:
            low_dim[name] = parse_low_dim_key(spec)
        except DatasetError as exc:
            raise DatasetError(f'low_dim_keys {name!r}: {exc}') from None
    clash = (set(rgb) & set(low_dim)) | ({ACTION} & (set(rgb) | set(low_dim)))
    if clash:
        raise DatasetError(f'observation names must be unique and not {ACTION!r}: {clash}')
    return rgb, low_dim


def store_shapes(source: ReplayBuffer, rgb_keys: Mapping[str, str],
                 low_dim_keys: Mapping[str, tuple[str, slice]], action_key: str, where: str
                 ) -> tuple[dict[str, tuple[int, ...]], int]:
    """(per-step shape of each observation as the dataset yields it, images (C, H, W); the
    action size), from the store's array shapes alone: nothing is read. Checks that every
    array the config names is there and fits (DatasetError naming `where`, the store)."""
    needed = [*rgb_keys.values(), *(k for k, _ in low_dim_keys.values()), action_key]
    missing = sorted({k for k in needed if k not in source.data})
    if missing:
        key = missing[0]
        key_map = getattr(source, 'key_map', None)  # a LeRobot dataset's: zarr -> LeRobot names
        what = (f'no data/{key}' if key_map is None else f'no feature {key!r}'
                + (f" (nor {key_map[key]!r}, its LeRobot name)" if key in key_map else ''))
        raise DatasetKeyError(f'{where} has {what}, which the config names (data.image_key, '
                              f'rgb_keys, state_key, low_dim_keys, action_key; available: '
                              f'{source.keys()})')
    shapes: dict[str, tuple[int, ...]] = {}
    for name, key in rgb_keys.items():
        shape = tuple(source.data[key].shape)
        if len(shape) != 4:
            raise DatasetError(f'{where}: image array {key!r} has shape {shape}, '
                               f'expected (N, H, W, C)')
        h, w, c = shape[1:]
        shapes[name] = (c, h, w)
    for name, (key, sl) in low_dim_keys.items():
        shape = tuple(source.data[key].shape)
        columns = int(np.prod(shape[1:]))
        if any(b is not None and not -columns <= b <= columns for b in (sl.start, sl.stop)):
            # Python's slice would clamp it: fewer columns than the config names
            raise DatasetError(f'{where}: low-dim key {name!r} asks for columns {sl.start}:'
                               f'{sl.stop} of {key!r}, which is {columns} wide (shape {shape})')
        width = len(range(columns)[sl])
        if width == 0:
            raise DatasetError(f'{where}: low-dim key {name!r} selects no columns of {key!r} '
                               f'(shape {shape}, slice {sl})')
        shapes[name] = (width,)
    return shapes, int(np.prod(source.data[action_key].shape[1:]))


def recorded(sources: object, width: int | None) -> list[dict] | None:
    """The topics bag2zarr recorded for an array, when they are well formed; else None
    (unknown, never a guess)."""
    try:
        return check_sources(sources, width, SOURCES)
    except ValueError:
        return None


def recorded_frame_size(value: object) -> tuple[int, int] | None:
    """A camera array's own frame size (attrs frame_size: a LeRobot video's) when it is well
    formed; else None (unknown, never a guess)."""
    try:
        return entry_frame_size(value, FRAME_SIZE)
    except ValueError:
        return None


def dataset_shape_meta(zarr_path: str | Path, *, image_key: str = 'img',
                       state_key: str = 'state', action_key: str = 'action',
                       rgb_keys: Mapping[str, str] | None = None,
                       low_dim_keys: Mapping[str, str | tuple[str, slice | None]] | None = None,
                       ) -> dict:
    """The policy's shape_meta for the windows PushTImageDataset makes of a store (images
    first: the feature concatenation order), from its array shapes, with each image's
    camera_crop (and frame_size where it has no sources: a LeRobot video's) and each low-dim
    key's and the action's value names (joints) and sources when they were recorded, sliced
    as the key is: the dataset and its keys in the config are checked before anything is
    read. An observation recorded at an offset is a DatasetError."""
    rgb, low_dim = observation_keys(image_key, state_key, rgb_keys, low_dim_keys)
    source = open_training_store(zarr_path)  # zarr, or a LeRobotDataset
    shapes, action_dim = store_shapes(source, rgb, low_dim, action_key, str(zarr_path))
    obs = {k: {'shape': list(shapes[k]), 'type': 'rgb'} for k in rgb}
    for name, key in rgb.items():  # the camera crop bag2zarr cut the frames with
        crop = source.attrs(key).get(CAMERA_CROP)
        if crop is not None:
            obs[name][CAMERA_CROP] = list(crop)
        sources = recorded(source.attrs(key).get(SOURCES), None)
        if sources is not None:
            _check_observation_offsets(name, key, sources, str(zarr_path))
            obs[name][SOURCES] = sources
        else:  # no sources: the frame size the store knows (a LeRobot video's), if any
            size = recorded_frame_size(source.attrs(key).get(FRAME_SIZE))
            if size is not None:
                obs[name][FRAME_SIZE] = list(size)
    obs.update({k: {'shape': list(shapes[k]), 'type': 'low_dim'} for k in low_dim})
    action = {'shape': [action_dim]}
    # the names of the values (joints) bag2zarr or a LeRobot dataset recorded, and the
    # sources of those values (their topics, fields, offsets), sliced as used
    for name, entry, (key, sl) in [*((k, obs[k], v) for k, v in low_dim.items()),
                                   (ACTION, action, (action_key, slice(None)))]:
        width = int(np.prod(source.data[key].shape[1:]))
        names = names_of(source.attrs(key).get(NAMES), width)
        if names is not None:
            entry[NAMES] = names[sl]
        sources = recorded(source.attrs(key).get(SOURCES), width)
        if sources is not None:
            sources = sliced_sources(sources, sl, width, names)
        if sources is not None:
            if entry is not action:
                _check_observation_offsets(name, key, sources, str(zarr_path))
            entry[SOURCES] = sources
    return {'obs': obs, 'action': action}


def _check_observation_offsets(name: str, key: str, sources: Sequence[dict], where: str
                               ) -> None:
    """An observation bag2zarr sampled at grid time + an offset (a state 50 ms ahead) is
    refused: the policy node takes every observation at the observation time, so the policy
    would run on other values than it learned from. Only the action takes an offset (a
    future state)."""
    for s in sources:
        if s.get(OFFSET_S, 0.0) != 0:
            raise DatasetError(
                f"{where}: observation {name!r} reads data/{key}, whose values from "
                f"{s['topic']} were sampled at grid time + {s[OFFSET_S]:g} s (offset_s), but "
                'the policy node takes every observation at the observation time; convert '
                'it without an offset (only the action takes one)')


# what a dataset records of its values beside their shapes: the camera crop and frame size
# the node fits live frames with, the joint names its order check and the normalizer's
# rotation columns read, the topics they came from
RECORDED_FIELDS = (CAMERA_CROP, FRAME_SIZE, NAMES, SOURCES)


def with_recorded_fields(given: Mapping, meta: Mapping, saved: Mapping | None = None
                         ) -> tuple[dict, str | None, list[str]]:
    """A policy section's own shape_meta (`given`) with what the dataset recorded (`meta`:
    its dataset_shape_meta) added where an entry leaves it out: a shape_meta copied into a
    config dropped the camera crop and the joint names, so the checkpoint told the node to fit
    the whole live frame (another field of view than training's) and skipped its joint-order
    check. `saved`: a resumed run's shape_meta; a field it was saved without is not added (the
    run goes on as it trained; the third item names them). Returns (shape_meta, None, left),
    or (given, why, []) where an entry states a recorded field otherwise than the dataset."""
    merged = jsonable(given)
    recorded = {**meta['obs'], ACTION: meta[ACTION]}
    before = {**(saved or {}).get('obs', {}), ACTION: (saved or {}).get(ACTION, {})}
    left = []
    entries = [*((k, e) for k, e in (merged.get('obs') or {}).items()),
               (ACTION, merged.get(ACTION))]
    for key, entry in entries:
        have = recorded.get(key)
        if not isinstance(entry, dict) or have is None:
            continue  # policy_data_misfit names an observation the data lacks
        for field in RECORDED_FIELDS:
            if field not in have:
                continue
            if field not in entry:
                if saved is not None and field not in (before.get(key) or {}):
                    left.append(f'{key} {field}')
                else:
                    entry[field] = jsonable(have[field])
            elif jsonable(entry[field]) != jsonable(have[field]):
                return dict(given), (f'{key} {field} is {entry[field]}, the dataset recorded '
                                     f'{jsonable(have[field])}'), []
    return merged, None, left


def policy_data_misfit(config: Any, meta: Mapping) -> str | None:
    """How a store's windows (`meta`: its dataset_shape_meta through the training keys) fail
    the policy `config` (its PolicyConfig): an observation it reads that they lack or give
    in another shape, another action width, other recorded joints; None: they fit (a camera
    and a low-dim key never share a shape). Observations the policy does not read may be
    there."""
    entries = {**meta['obs'], ACTION: meta[ACTION]}
    for key in [*config.obs_keys, ACTION]:
        entry = entries.get(key)
        if entry is None:
            return (f'{key}: the training keys give no such observation (they give '
                    f'{", ".join(meta["obs"])})')
        want = (config.action_dim,) if key == ACTION else tuple(config.obs_shape(key))
        got = tuple(entry['shape'])
        if got != want:
            return f'{key} is {got} through the training keys, the policy takes {want}'
        names, trained = entry.get(NAMES), config.dimension_names(key)
        if names and trained and list(names) != list(trained):
            return (f'{key} holds {names}, the policy was trained on {trained}: not the same '
                    'values in the same order')
    return None


def few(indices: Sequence[int] | np.ndarray, n: int = 8) -> str:
    """Indices (episodes) for a message: the first n, then how many in all."""
    shown = ', '.join(str(int(i)) for i in indices[:n])
    return shown + (f', ... ({len(indices)} in all)' if len(indices) > n else '')


def check_has_episodes(n_episodes: int, where: object) -> None:
    """A store of no episodes is refused naming it (else numpy's reshape error when the data
    loads): before a run starts (run_check) and where a dataset is built from it."""
    if n_episodes < 1:
        raise DatasetError(f'{where} holds no episodes (its episode ends are empty): '
                           'nothing to train on; convert some demonstrations into it')


def excluded_episodes(n_episodes: int, episodes: Sequence[int] | None, where: str
                      ) -> np.ndarray:
    """Boolean mask of the episodes data.exclude_episodes names; DatasetError naming `where`
    for an index the dataset does not have, or for excluding all of them (nothing would be
    left to fit the normalizer on or to train on)."""
    mask = np.zeros(n_episodes, dtype=bool)
    bad = [e for e in episodes or () if not isinstance(e, (int, np.integer))
           or isinstance(e, bool) or not 0 <= e < n_episodes]
    if bad:
        raise DatasetError(f'{where}: exclude_episodes {bad} are not episodes of this dataset '
                           f'(0..{n_episodes - 1})')
    mask[list(episodes or ())] = True
    if episodes and mask.all():
        raise DatasetError(f'{where}: exclude_episodes {sorted(set(episodes))} leaves none of '
                           f'its {n_episodes} episodes to train on')
    return mask


# ---------------------------------------------------------------------------- the split
def episodes_digest(episode_ends: Sequence[int] | np.ndarray) -> str:
    """sha256 of a dataset's episode ends: which episodes, of which lengths, a split was
    drawn over."""
    return hashlib.sha256(np.asarray(episode_ends, dtype='<i8').tobytes()).hexdigest()


def split_record(episode_ends: np.ndarray, val_mask: np.ndarray, train_mask: np.ndarray
                 ) -> dict:
    """What identifies a run's split: the episodes it was drawn over (their number and a
    digest of their ends) and the validation and training episodes it gave."""
    return {'n_episodes': int(len(episode_ends)),
            'episode_ends_sha256': episodes_digest(episode_ends),
            'val_episodes': np.flatnonzero(val_mask).tolist(),
            'train_episodes': np.flatnonzero(train_mask).tolist()}


def split_change(record: Mapping, episode_ends: np.ndarray) -> str | None:
    """How a dataset's episodes differ from those `record` (split_record) was drawn over,
    in words; None: the same episodes."""
    n, then = int(len(episode_ends)), record.get('n_episodes')
    if then != n:
        return f'{n} episodes, {then} when the split was drawn'
    if record.get('episode_ends_sha256') != episodes_digest(episode_ends):
        return f'{n} episodes as then, but not of the same lengths'
    return None
