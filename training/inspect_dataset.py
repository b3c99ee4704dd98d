"""`dp-ros inspect PATH`: what a training set holds, checked before training on it (bags too).

Prints the episodes and their lengths, and per key its shape, dtype and range (per dimension
for low-dim keys), and names what would train badly or silently wrong: NaN or infinite
values (key, dimension, episode and step), a dimension that never changes (a range below the
normalizer's RANGE_EPS: it is only shifted, not scaled), episodes shorter than the policy's
horizon (padded, or too short for any window: --horizon, --n-obs-steps and --n-action-steps
give the policy's timeline), camera frames of a single colour (a dead or covered camera),
float images scaled 0..1 where the paper's layout is 0..255, an action that jumps by more
than half its range in one step, a pose's yaw that wraps inside the task, no `action` key.
Exit code 1 when a check fails (`--strict` also for warnings), so a pipeline can stop on it.

    dp-ros inspect data/pusht_arm.zarr --plot outputs/arm_data.png --video outputs/arm_data.mp4

--plot draws each low-dim key's dimensions over the steps of some episodes (--episodes) and
the episode lengths; --video tiles those episodes' images, as training reads them.

Given ROS 2 bags instead, it lists their topics (training/inspect_bags.py) and with
--draft-config writes a first bag2zarr config for them:

    dp-ros inspect rosbag2_*/ --draft-config config/my_arm_bag2zarr.yaml

Given a trained policy, it says what the policy expects on the robot (training/
inspect_policy.py) and with --draft-params writes a first policy node parameter file:

    dp-ros inspect runs/my_arm/checkpoints/best --draft-params config/my_arm_policy.yaml
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.atomic_dir import check_writable_file, write_text
from dp_ros.bags.storage import storage_kind
from dp_ros.dimension_names import NAMES
from dp_ros.errors import UserError
from dp_ros.policy.checkpoint import METADATA_FILE, WEIGHTS_FILE
from dp_ros.pose_fields import POSE_FIELDS
from dp_ros.recorded_sources import (
    PREFIX,
    SOURCES,
    describe_yaw_wraps,
    wraps_differ,
    yaw_wraps,
)
from dp_ros.selection import parse_episodes
from sim_bridge.video import check_video_suffix
from training.config import DEFAULT_CONTROL_PERIOD_S
from training.dataset_meta import few
from training.inspect_bags import inspect_bags
from training.inspect_policy import inspect_policy, is_policy_dir
from training.lerobot_format import is_lerobot_dataset
from training.lerobot_source import LeRobotStore, open_training_store
from training.plots import check_figure_path
from training.replay_buffer import (
    ReplayBuffer,
    is_zarr_store,
    read_array,
    recorded_control_period,
)
from training.sampler import min_episode_length

Store = ReplayBuffer | LeRobotStore  # what dp-ros train reads

ACTION_KEY = 'action'
JUMP_FRACTION = 0.5  # of a dimension's range, in one step: a glitch, not a motion
# a dimension whose float32 steps are over this share of its range is named (float32_coarse_dims)
FLOAT32_STEP_FRACTION = 1e-3
DEFAULT_HORIZON = 16  # the paper's (and the shipped recipes') prediction horizon
DEFAULT_N_OBS_STEPS = 2  # the paper's observation steps
DEFAULT_N_ACTION_STEPS = 8  # the paper's executed action steps
# low-dim dimensions drawn per key, each in a colour of its own (dimension_colour): two arms'
# 14 joints all; of a keypoint array with more, the title says how many are shown
PLOT_DIMS_MAX = 20
VIDEO_MIN_HEIGHT = 192  # smaller images are enlarged by a whole factor in the video


@dataclass
class KeySummary:
    key: str
    kind: str  # 'image' (T, H, W, C) or 'low_dim' (anything else, flattened per step)
    step_shape: list[int]
    dtype: str
    low: list[float]  # per dimension (low_dim) or over all pixels (image)
    high: list[float]
    mean: list[float]
    std: list[float]
    non_finite: int  # NaN or infinite values
    # where they are, the first of each: low_dim {dimension, count, episode, step} per
    # dimension holding any; image {frames, episode, step} (frames holding any, the first's place)
    non_finite_at: list[dict[str, int]] = field(default_factory=list)
    constant_dims: list[int] = field(default_factory=list)  # low_dim: range < RANGE_EPS
    flat_frames: int = 0  # image: frames whose pixels are all equal
    # image: {episode, frames, step} per episode holding any (how many, the first one's step)
    flat_frames_at: list[dict[str, int]] = field(default_factory=list)
    largest_jump: list[float] = field(default_factory=list)  # per dim, in one step
    largest_jump_at: list[list[int]] = field(default_factory=list)  # [episode, step] per dim
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetSummary:
    path: str
    n_episodes: int
    n_steps: int
    length_min: int
    length_median: float
    length_max: int
    keys: list[KeySummary]
    errors: list[str]  # would train silently wrong or not at all
    warnings: list[str]  # worth a look


def is_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 4 and shape[-1] in (1, 3, 4)


def image_keys(buffer: Store) -> set[str]:
    """The keys whose arrays are (T, H, W, C) images; every other key is low-dim."""
    return {k for k in buffer.keys() if is_image(tuple(buffer.data[k].shape))}


@contextmanager
def quiet_nan() -> Iterator[None]:
    """No numpy RuntimeWarning from NaN reductions over slices with no finite value (numpy
    warns through `warnings`, which np.errstate does not cover): the NaN finding names them."""
    with np.errstate(all='ignore'), warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        yield


def _image_frame_stats(block: np.ndarray) -> np.ndarray:
    """Per frame: min, max, non-finite count, mean, mean of squares (float64). Frames of
    uint8 or uint16 (cameras) take no float64 copy, 8x their size: their sums are exact
    integers, so the numbers are those of the float path, bit for bit."""
    pixels = block.reshape(len(block), -1)
    if pixels.dtype.kind == 'u' and pixels.dtype.itemsize <= 2 and pixels.shape[1]:
        squares = np.square(pixels, dtype=np.dtype(f'u{2 * pixels.dtype.itemsize}'))
        n = pixels.shape[1]
        return np.stack([pixels.min(axis=1), pixels.max(axis=1), np.zeros(len(pixels)),
                         pixels.sum(axis=1, dtype=np.uint64).astype(np.float64) / n,
                         squares.sum(axis=1, dtype=np.uint64).astype(np.float64) / n],
                        axis=1)
    flat = pixels.astype(np.float64)
    finite = np.isfinite(flat)
    bad = (~finite).sum(axis=1)
    clean = np.where(finite, flat, np.nan)
    with quiet_nan():  # a wholly non-finite frame: its stats are NaN, counted in `bad`
        return np.stack([np.nanmin(clean, axis=1), np.nanmax(clean, axis=1), bad,
                         np.nanmean(clean, axis=1), np.nanmean(clean ** 2, axis=1)], axis=1)


def episode_step(ends: np.ndarray, row: int) -> tuple[int, int]:
    """(episode, step within it) of a row of the concatenated episodes."""
    episode = int(np.searchsorted(ends, row, side='right'))
    return episode, row - (int(ends[episode - 1]) if episode > 0 else 0)


def _summarize_image(key: str, array: Any, ends: np.ndarray, progress: bool) -> KeySummary:
    stats = read_array(array, convert=_image_frame_stats, desc=f'checking {key}',
                       progress=progress)
    bad_frames = np.flatnonzero(stats[:, 2])
    where = []
    if len(bad_frames):
        episode, step = episode_step(ends, int(bad_frames[0]))
        where.append({'frames': len(bad_frames), 'episode': episode, 'step': step})
    flat = np.flatnonzero(stats[:, 0] == stats[:, 1])
    flat_at = []
    if len(flat):  # per episode: the first such frame's row and how many
        _, first, counts = np.unique(np.searchsorted(ends, flat, side='right'),
                                     return_index=True, return_counts=True)
        for row, count in zip(flat[first], counts, strict=True):
            episode, step = episode_step(ends, int(row))
            flat_at.append({'episode': episode, 'frames': int(count), 'step': step})
    with quiet_nan():  # every frame wholly non-finite: NaN statistics, the error says why
        mean = float(np.nanmean(stats[:, 3])) if len(stats) else 0.0
        var = float(np.nanmean(stats[:, 4])) - mean ** 2 if len(stats) else 0.0
        low, high = float(np.nanmin(stats[:, 0])), float(np.nanmax(stats[:, 1]))
    return KeySummary(
        key=key, kind='image', step_shape=list(array.shape[1:]), dtype=str(array.dtype),
        low=[low], high=[high], mean=[mean], std=[float(np.sqrt(max(var, 0.0)))],
        non_finite=int(stats[:, 2].sum()), non_finite_at=where, flat_frames=len(flat),
        flat_frames_at=flat_at)


def _summarize_low_dim(key: str, array: Any, ends: np.ndarray) -> KeySummary:
    """A low-dim key's statistics; a dimension whose range is below the normalizer's
    RANGE_EPS is constant, as training's normalizer treats it (only shifted, not scaled)."""
    from dp_ros.policy.normalizer import RANGE_EPS  # imports torch: only when a dataset is read

    values = np.asarray(array[:], dtype=np.float64)
    values = values.reshape(values.shape[0], -1)
    finite = np.where(np.isfinite(values), values, np.nan)
    with quiet_nan():  # no finite value: NaN, said as an error below, not warned here
        low, high = np.nanmin(finite, axis=0), np.nanmax(finite, axis=0)
        mean, std = np.nanmean(finite, axis=0), np.nanstd(finite, axis=0)
    # one-step changes inside episodes only (an episode's first step follows another episode)
    steps = np.abs(np.diff(finite, axis=0))
    starts = ends[:-1]  # the row of diff that crosses from episode i to i + 1 is start - 1
    steps[starts[(starts > 0) & (starts < len(values))] - 1] = np.nan  # none after an empty end
    jump_at, jumps = [], []
    for d in range(values.shape[1]):
        column = steps[:, d]
        if len(column) == 0 or np.all(np.isnan(column)):
            jumps.append(0.0)
            jump_at.append([0, 0])
            continue
        row = int(np.nanargmax(column))
        jumps.append(float(column[row]))
        jump_at.append(list(episode_step(ends, row + 1)))
    bad = ~np.isfinite(values)
    where = []
    for d in np.flatnonzero(bad.any(axis=0)):
        episode, step = episode_step(ends, int(np.argmax(bad[:, d])))
        where.append({'dimension': int(d), 'count': int(bad[:, d].sum()), 'episode': episode,
                      'step': step})
    return KeySummary(
        key=key, kind='low_dim', step_shape=list(array.shape[1:]), dtype=str(array.dtype),
        low=low.tolist(), high=high.tolist(), mean=mean.tolist(), std=std.tolist(),
        non_finite=int(bad.sum()), non_finite_at=where,
        constant_dims=[int(d) for d in np.flatnonzero(high - low < RANGE_EPS)],
        largest_jump=jumps, largest_jump_at=jump_at)


def summarize(buffer: Store, horizon: int = DEFAULT_HORIZON, progress: bool = False,
              n_obs_steps: int = DEFAULT_N_OBS_STEPS,
              n_action_steps: int = DEFAULT_N_ACTION_STEPS) -> DatasetSummary:
    """Every key's statistics and the checks' findings; reads images a block at a time.
    horizon, n_obs_steps and n_action_steps: the policy's timeline, which sets the episodes
    too short for a training window."""
    ends = np.asarray(buffer.episode_ends, dtype=np.int64)
    lengths = buffer.episode_lengths
    if buffer.n_steps == 0:  # arrays of no rows: nothing to take statistics of
        return DatasetSummary(path=str(buffer.location), n_episodes=int(buffer.n_episodes),
                              n_steps=0, length_min=0, length_median=0.0, length_max=0,
                              keys=[], errors=['no episodes'], warnings=[])
    images = image_keys(buffer)
    keys = [(_summarize_image(k, buffer.data[k], ends, progress) if k in images
             else _summarize_low_dim(k, buffer.data[k], ends)) for k in sorted(buffer.keys())]
    for summary in keys:  # camera_crop, names: what training copies into the checkpoint
        summary.attrs = buffer.attrs(summary.key)
    errors, warnings = findings(keys, lengths, horizon, n_obs_steps, n_action_steps)
    warnings += yaw_wrap_warnings(buffer, keys) + mixed_wrap_warnings(keys)
    return DatasetSummary(
        path=str(buffer.location), n_episodes=int(buffer.n_episodes),
        n_steps=int(buffer.n_steps), length_min=int(lengths.min()) if len(lengths) else 0,
        length_median=float(np.median(lengths)) if len(lengths) else 0.0,
        length_max=int(lengths.max()) if len(lengths) else 0, keys=keys, errors=errors,
        warnings=warnings)


def findings(keys: list[KeySummary], lengths: np.ndarray, horizon: int,
             n_obs_steps: int = DEFAULT_N_OBS_STEPS,
             n_action_steps: int = DEFAULT_N_ACTION_STEPS) -> tuple[list[str], list[str]]:
    """(errors, warnings) in words that name the key, dimension and where to look."""
    errors: list[str] = []
    warnings: list[str] = []
    if len(lengths) == 0:
        errors.append('no episodes')
    if ACTION_KEY not in {k.key for k in keys}:
        errors.append(f"no '{ACTION_KEY}' key: training predicts data/{ACTION_KEY}")
    short = np.flatnonzero(lengths < horizon)
    if len(short):
        warnings.append(f'{len(short)} episode(s) shorter than the horizon ({horizon} steps): '
                        f'{few(short)}; '
                        + short_episodes(short, lengths[short], horizon, n_obs_steps,
                                         n_action_steps))
    for k in keys:
        if k.non_finite:
            errors.append(f'{k.key}: {k.non_finite} NaN or infinite value(s){non_finite_place(k)}')
        if k.kind == 'image':
            if k.flat_frames:
                warnings.append(f'{k.key}: {k.flat_frames} frame(s) of a single colour '
                                f'(a dead or covered camera?): {flat_frames_place(k)}')
            if k.dtype.startswith('float') and k.high[0] <= 1.0:
                errors.append(f'{k.key}: float images within 0..{k.high[0]:.3g}; the paper '
                              'layout (and training) expects 0..255')
            continue
        if k.constant_dims:
            warnings.append(f'{k.key}: dimension(s) {k.constant_dims} never change (value '
                            f'{[round(k.low[d], 6) for d in k.constant_dims]}): no range to '
                            'normalize, the policy learns nothing from them')
        if far := float32_coarse_dims(k):
            d = far[0]
            size = max(abs(k.low[d]), abs(k.high[d]))
            step = float(np.spacing(np.float32(size)))
            warnings.append(f'{k.key}: dimension(s) {far} lie far from 0 for their range (e.g. '
                            f'[{k.low[d]:.9g}, {k.high[d]:.9g}]): training and the node compute '
                            f'in float32, whose steps there are {step:.3g} '
                            f'({step / (k.high[d] - k.low[d]):.1%} of the range); subtract a '
                            'fixed origin before converting')
        if k.key == ACTION_KEY:
            for d, (jump, (ep, step)) in enumerate(zip(k.largest_jump, k.largest_jump_at,
                                                       strict=True)):
                span = k.high[d] - k.low[d]  # a constant dimension's noise is no jump
                if d not in k.constant_dims and span > 0 and jump > JUMP_FRACTION * span:
                    warnings.append(f'{k.key}[{d}] jumps by {jump:.4g} ({jump / span:.0%} of '
                                    f'its range) in one step: episode {ep} step {step}')
    return errors, warnings


def float32_coarse_dims(k: KeySummary) -> list[int]:
    """Low-dim dimensions whose float32 steps are over FLOAT32_STEP_FRACTION of their range
    (a UTM easting of 5.4e6 m moving 10 m: 0.5 m steps), which training's and the node's
    float32 would quantize; constant ones aside (no range)."""
    out = []
    for d, (low, high) in enumerate(zip(k.low, k.high, strict=True)):
        span = high - low
        if d in k.constant_dims or not (np.isfinite(low) and np.isfinite(high)) or span <= 0:
            continue
        if np.spacing(np.float32(max(abs(low), abs(high)))) > FLOAT32_STEP_FRACTION * span:
            out.append(d)
    return out


def non_finite_place(k: KeySummary, n: int = 8) -> str:
    """Where a key's NaN or infinite values are, for its error: per dimension (the first n)
    how many and the first one's episode and step; of an image key, the frames and the first."""
    if k.kind == 'image':
        return ''.join(f" in {w['frames']} frame(s), the first at episode {w['episode']} step "
                       f"{w['step']}" for w in k.non_finite_at)
    places = [f"dimension {w['dimension']} ({w['count']}, the first at episode {w['episode']} "
              f"step {w['step']})" for w in k.non_finite_at[:n]]
    more = len(k.non_finite_at) - n
    return ': ' + '; '.join(places) + (f'; ... ({len(k.non_finite_at)} dimensions in all)'
                                       if more > 0 else '')


def flat_frames_place(k: KeySummary, n: int = 8) -> str:
    """Where an image key's frames of a single colour are, for its warning (a camera to look
    at): per episode (the first n) how many and the first one's step."""
    places = [f"episode {w['episode']} ({w['frames']}, the first at step {w['step']})"
              for w in k.flat_frames_at[:n]]
    more = len(k.flat_frames_at) > n
    return '; '.join(places) + (f'; ... ({len(k.flat_frames_at)} episodes in all)'
                                if more else '')


def short_episodes(episodes: np.ndarray, lengths: np.ndarray, horizon: int, n_obs_steps: int,
                   n_action_steps: int) -> str:
    """What training does with `episodes` (of `lengths`), shorter than the horizon (the
    sampler's rule, training/sampler.py):
    it pads their windows with edge steps, n_obs_steps - 1 before an episode and
    n_action_steps - 1 after it at most, so one shorter than that leaves no window."""
    fewest = min_episode_length(horizon, n_obs_steps - 1, n_action_steps - 1)
    none = lengths < fewest
    padded = 'their windows are padded with the edge steps'
    if not none.any():
        return padded
    rule = (f'too short for one training window (fewer than {fewest} steps: horizon {horizon} '
            f'- (n_obs_steps {n_obs_steps} - 1) - (n_action_steps {n_action_steps} - 1)), '
            'training leaves them out')
    if none.all():
        return rule
    return f'{few(episodes[none])} {rule}; the others\' windows are padded with the edge steps'


def yaw_dims(names: list[str], sources: list[dict] | None) -> set[int]:
    """The dimensions that are a pose's yaw: the field `yaw` of a recorded pose source, after
    its prefix (bag2zarr names a prefixed source's fields left_x, left_yaw); without recorded
    sources, a dimension named `yaw`, or P_yaw beside another pose field of the same prefix
    (left_x): a joint named wrist_yaw is not a pose's yaw."""
    if sources and all(isinstance(x, dict) and 'kind' in x for x in sources):
        columns = [(x['kind'], x.get(PREFIX, '')) for x in sources
                   for _ in range(x.get('width') or 1)]
        if len(columns) == len(names):
            pairs = enumerate(zip(names, columns, strict=True))
            return {d for d, (name, (kind, prefix)) in pairs
                    if kind == 'pose' and name.removeprefix(prefix) == 'yaw'}
    out = set()
    for d, name in enumerate(names):
        prefix = name[:-len('yaw')]
        if name == 'yaw' or (name.endswith('_yaw') and any(
                f'{prefix}{f}' in names for f in POSE_FIELDS if f != 'yaw')):
            out.add(d)
    return out


def yaw_wrap_warnings(buffer: Store, keys: list[KeySummary]) -> list[str]:
    """A pose's yaw (yaw_dims) that jumps by more than pi in one step: its wrap,
    [yaw_min, yaw_min + 2 pi), lies inside the task, and the policy sees a turn of a few
    degrees as one of nearly 2 pi. Suggests the yaw_min in the middle of the widest stretch
    of angles the data never visits."""
    found = []
    for k in keys:
        names = k.attrs.get(NAMES) or []
        yaws = yaw_dims(list(names), k.attrs.get(SOURCES))
        for d, name in enumerate(names):
            if d not in yaws or d >= len(k.largest_jump) or k.largest_jump[d] <= math.pi:
                continue
            yaw = np.sort(np.mod(read_array(buffer.data[k.key])[:, d].astype(np.float64),
                                 2 * math.pi))
            gaps = np.diff(np.append(yaw, yaw[0] + 2 * math.pi))
            i = int(np.argmax(gaps))
            suggest = (yaw[i] + gaps[i] / 2 + math.pi) % (2 * math.pi) - math.pi
            ep, step = k.largest_jump_at[d]
            found.append(f'{k.key}[{d}] ({name}) jumps by {k.largest_jump[d]:.3g} rad in one step '
                         f'(episode {ep} step {step}): the yaw wrap lies inside the task; '
                         f'convert with the pose source\'s yaw_min: {suggest:.3f} (the middle of '
                         f'the widest range of angles never recorded, {gaps[i]:.3g} rad)')
    return found


def mixed_wrap_warnings(keys: list[KeySummary]) -> list[str]:
    """An observation key whose pose sources were converted with different yaw_min values
    (two arms' poses, one wrapped from 0, one from -pi): a policy node reads a key's values
    together and wraps every pose with its one state_yaw_min, so it refuses such a policy at
    start, and `dp-ros train` refuses to train one (run_check.check_state_wraps)."""
    found = []
    for k in keys:
        wraps = yaw_wraps(k.attrs.get(SOURCES))
        if k.key != ACTION_KEY and wraps_differ(wraps):
            found.append(f'{k.key}: its pose sources wrap yaw differently '
                         f'({describe_yaw_wraps(wraps)}): a policy '
                         'node takes one state_yaw_min for all, so `dp-ros train` refuses a '
                         'policy reading it; convert with one yaw_min for every pose source')
    return found


# values printed per key's min/max/mean/std line: a 7-joint arm and its gripper, two such
# arms (16), each joint shown (with 6 the gripper of a 7-joint arm never was)
SHOWN_DIMS = 16


def _fmt(values: list[float]) -> str:
    if len(values) > SHOWN_DIMS:
        return (f'[{", ".join(f"{v:.4g}" for v in values[:SHOWN_DIMS])}, ...] '
                f'({len(values)} dims; --json has all)')
    return '[' + ', '.join(f'{v:.4g}' for v in values) + ']'


def format_summary(s: DatasetSummary) -> str:
    lines = [f'{s.path}: {s.n_episodes} episodes, {s.n_steps} steps; episode length min '
             f'{s.length_min}, median {s.length_median:g}, max {s.length_max}']
    for k in s.keys:
        head = f'  {k.key:<12} {k.kind:<7} {tuple(k.step_shape)} {k.dtype}'
        if k.kind == 'image':
            lines.append(f'{head}: values {k.low[0]:.4g}..{k.high[0]:.4g}, mean {k.mean[0]:.4g}'
                         f', std {k.std[0]:.4g}' + (f', attrs {k.attrs}' if k.attrs else ''))
        else:
            names, sources = k.attrs.get(NAMES), k.attrs.get(SOURCES)
            origin = ', '.join(f"{x['topic']} ({x['kind']}, {x['width']}"
                               + (f", prefix {x['prefix']}" if x.get('prefix') else '') + ')'
                               for x in sources or [])
            lines.append(f'{head}' + (f'\n      names {names}' if names else '') +
                         (f'\n      from  {origin}' if origin else '') +
                         f'\n      min  {_fmt(k.low)}\n      max  {_fmt(k.high)}\n'
                         f'      mean {_fmt(k.mean)}\n      std  {_fmt(k.std)}')
    lines += [f'ERROR: {e}' for e in s.errors] + [f'warning: {w}' for w in s.warnings]
    if not s.errors and not s.warnings:
        lines.append('no problems found')
    return '\n'.join(lines)


def episode_style(i: int) -> str | tuple[int, tuple[int, ...]]:
    """The line style of the i-th plotted episode (the colour is the dimension): a distinct
    one for every i, so that no two episodes look alike: solid, dashed, dotted, dash-dot,
    then a dash followed by i - 3 dots."""
    named = ('-', '--', ':', '-.')
    return named[i] if i < len(named) else (0, (6, 2) + (1, 2) * (i - 3))


def plot_dataset(buffer: Store, episodes: list[int], out_path: str | Path) -> Path:
    """dataset_figure, saved to `out_path` (its suffix the format)."""
    from training.plots import save_figure

    return save_figure(dataset_figure(buffer, episodes), out_path)


def dataset_figure(buffer: Store, episodes: list[int]) -> Any:
    """Each low-dim key's dimensions over the steps of `episodes`, and the episode lengths.
    Colour = dimension, line style = episode; the top panel says which style is which."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    low_dim = sorted(set(buffer.keys()) - image_keys(buffer))
    fig, axes = plt.subplots(len(low_dim) + 1, 1, figsize=(10, 2.6 * (len(low_dim) + 1)),
                             squeeze=False)
    for ax, key in zip(axes[:-1, 0], low_dim, strict=True):
        names = buffer.attrs(key).get(NAMES) or []
        n_dims = math.prod(buffer.data[key].shape[1:])
        for i, episode in enumerate(episodes):
            values = np.asarray(buffer.data[key][buffer.episode_slice(episode)], np.float64)
            values = values.reshape(len(values), -1)[:, :PLOT_DIMS_MAX]
            for d in range(values.shape[1]):
                ax.plot(values[:, d], color=dimension_colour(d), alpha=0.8, lw=1,
                        ls=episode_style(i),
                        label=(f'[{d}] {names[d]}' if d < len(names) else f'[{d}]')
                        if i == 0 else None)
        cut = (f'; dimensions 0-{PLOT_DIMS_MAX - 1} of {n_dims} shown'
               if n_dims > PLOT_DIMS_MAX else '')
        ax.set_title(f'{key} (episodes {few(np.asarray(episodes))}; line style = episode{cut})',
                     fontsize=10)
        ax.set_xlabel('step')
        ax.grid(alpha=0.3)
        # beside the axes, not over the data: up to 10 entries a column
        ax.legend(fontsize=7, ncol=max(1, math.ceil(min(n_dims, PLOT_DIMS_MAX) / 10)),
                  loc='upper left', bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax = axes[-1, 0]
    ax.hist(buffer.episode_lengths, bins=min(50, max(5, buffer.n_episodes // 4)))
    ax.set_title(f'episode lengths ({buffer.n_episodes} episodes)', fontsize=10)
    ax.set_xlabel('steps')
    top = 1.0
    if low_dim:  # which style is which episode, above the panels (it covered their legends)
        style = fig.legend([Line2D([], [], color='dimgrey', lw=1, ls=episode_style(i))
                            for i in range(len(episodes))], [f'episode {e}' for e in episodes],
                           fontsize=7, ncol=min(len(episodes), 8), loc='upper center',
                           handlelength=4)
        top = 1.0 - style.get_window_extent(fig.canvas.get_renderer()).height / fig.bbox.height
    fig.tight_layout(rect=(0.0, 0.0, 1.0, top))
    return fig


def dimension_colour(d: int) -> Any:
    """The colour of dimension d (< PLOT_DIMS_MAX) in --plot: C0..C9 (tab10), then tab20's
    light partners of them, so that no two drawn dimensions share one."""
    import matplotlib

    return f'C{d}' if d < 10 else matplotlib.colormaps['tab20'](2 * (d - 10) + 1)


def episode_frames(buffer: Store, episode: int) -> list[np.ndarray]:
    """uint8 RGB frames of one episode: its image keys side by side, as stored (small ones
    enlarged by a whole factor, each pixel a block)."""
    keys = sorted(image_keys(buffer))
    if not keys:
        raise UserError(f'{buffer.location} has no image key (T, H, W, C) to make a video of')
    images = []
    for key in keys:
        frames = np.asarray(buffer.data[key][buffer.episode_slice(episode)])
        frames = np.clip(np.nan_to_num(frames), 0, 255).astype(np.uint8)
        if frames.shape[-1] == 1:
            frames = np.repeat(frames, 3, axis=-1)
        images.append(frames[..., :3])
    height = max(f.shape[1] for f in images)
    padded = [np.pad(f, ((0, 0), (0, height - f.shape[1]), (0, 2), (0, 0)),
                     constant_values=255) for f in images]
    frames = np.concatenate(padded, axis=2)[:, :, :-2]
    scale = max(1, VIDEO_MIN_HEIGHT // height)  # 96 px training images: enlarged, pixel-exact
    return list(frames.repeat(scale, axis=1).repeat(scale, axis=2))


def video_rate(buffer: Store, fps: float | None) -> tuple[float, str]:
    """(frames per second, where it comes from): --fps, else the rate the store records
    (as training reads it), else Push-T's 10 Hz; a video at another rate plays too slow or
    too fast."""
    if fps is not None:
        return fps, '--fps'
    recorded = recorded_control_period(buffer)
    if recorded is None:
        return 1.0 / DEFAULT_CONTROL_PERIOD_S, 'no rate recorded: the default; --fps sets it'
    period, where = recorded
    return 1.0 / period, f'the recorded {where}'


def finite_or_null(value: Any) -> Any:
    """value with None for each NaN or infinite number (the statistics of a dimension with no
    finite value): strict JSON, which has no NaN token, as the other reports write it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_null(v) for v in value]
    return value


def is_training_store(path: str) -> bool:
    """A zarr store, a LeRobot dataset, or a path that is none of these nor a bag (its
    error is the dataset's: 'no zarr replay buffer at ...')."""
    p = Path(path)
    if '://' in path or is_lerobot_dataset(p) or is_zarr_store(p):
        return True
    return not (storage_kind(p) is not None or p.is_dir())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='dp-ros inspect', description=__doc__.splitlines()[0],
                                epilog=__doc__.split('\n\n', 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('paths', nargs='+', metavar='PATH',
                   help="a zarr replay buffer (bag2zarr's, the paper's) or LeRobotDataset "
                        'v3.0 directory, as dp-ros train reads them; or ROS 2 bags (bag '
                        'directories, .mcap/.db3 files, folders of them); or a trained '
                        'policy directory (policy.json)')
    p.add_argument('--draft-config', type=Path,
                   help='bags: write a commented bag2zarr config for them here')
    p.add_argument('--draft-params', type=Path,
                   help='a policy directory (or hf://org/name[@revision]): write a policy '
                        'node parameter file for it here')
    p.add_argument('--force', action='store_true',
                   help='--draft-config, --draft-params: replace an existing file (refused '
                        'without it: a draft is edited by hand)')
    p.add_argument('--horizon', type=int, default=DEFAULT_HORIZON,
                   help='the policy horizon that episodes should not be shorter than')
    p.add_argument('--n-obs-steps', type=int, default=DEFAULT_N_OBS_STEPS,
                   help="the policy's n_obs_steps: with --horizon and --n-action-steps, the "
                        'episodes too short for a training window')
    p.add_argument('--n-action-steps', type=int, default=DEFAULT_N_ACTION_STEPS,
                   help="the policy's n_action_steps")
    p.add_argument('--episodes', default='0:4',
                   help="episodes for --plot and --video: 'A:B', 'N' or 'N,M,...' "
                        '(default 0:4)')
    p.add_argument('--plot', type=Path, help='figure (.png, .pdf, .svg, .jpg) of the low-dim '
                   'keys and episode lengths')
    p.add_argument('--video', type=Path, help='mp4 or gif of the episodes\' images, tiled')
    p.add_argument('--fps', type=float, default=None,
                   help="video frame rate (default: the dataset's recorded rate, "
                        'control_period_s or fps, else 10)')
    p.add_argument('--json', type=Path, help='also write the summary as JSON here')
    p.add_argument('--strict', action='store_true', help='exit 1 on warnings too')
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.horizon < 1:
        raise UserError(f'--horizon must be at least 1, got {args.horizon}')
    if args.n_obs_steps < 1 or args.n_action_steps < 1:
        raise UserError(f'--n-obs-steps and --n-action-steps must be at least 1, got '
                        f'{args.n_obs_steps} and {args.n_action_steps}')
    if args.video and args.fps is not None and not args.fps > 0:
        raise UserError(f'--fps must be > 0 for --video, got {args.fps}')
    if args.video:  # refused before the dataset is read, not after its summary
        try:
            check_video_suffix(args.video)
        except ValueError as exc:
            raise UserError(f'--video {exc}') from None
        check_writable_file(args.video, '--video', 'episodes.mp4')
    if args.plot:
        check_figure_path(args.plot, '--plot', 'dataset.png')
    for flag, draft in (('--draft-config', args.draft_config),
                        ('--draft-params', args.draft_params)):
        if draft is None:
            continue
        check_writable_file(draft, flag, 'params.yaml' if flag == '--draft-params'
                            else 'bag2zarr.yaml')
        if draft.exists() and not args.force:  # hand-edited, most likely: not overwritten
            raise UserError(f'{flag} {draft} exists; pass --force to replace it')
    if is_policy_dir(args.paths[0]):  # or a Hub spec, resolved there
        if len(args.paths) > 1 or args.draft_config or args.plot or args.video:
            raise UserError('a policy directory is inspected alone; --draft-params writes its '
                            'node parameters (--draft-config, --plot, --video: data)')
        return inspect_policy(args.paths[0], args.draft_params, args.json)
    if (Path(args.paths[0]) / WEIGHTS_FILE).is_file():  # not a bag folder: a policy in part
        raise UserError(f'{args.paths[0]} holds {WEIGHTS_FILE} but no {METADATA_FILE}: a '
                        'policy directory needs both (was it copied in part?)')
    if args.draft_params:
        raise UserError('--draft-params is for a policy directory (policy.json)')
    if not is_training_store(args.paths[0]):
        if args.plot or args.video:
            raise UserError('--plot and --video are for datasets; for bags: --draft-config, '
                            'then bag2zarr, then inspect the dataset')
        return inspect_bags(args.paths, args.draft_config, args.json, not args.no_progress,
                            args.strict)
    if len(args.paths) > 1 or args.draft_config:
        raise UserError('a dataset is inspected alone, and --draft-config is for bags')
    buffer = open_training_store(args.paths[0])
    episodes = parse_episodes(args.episodes, buffer.n_episodes) if buffer.n_episodes else []
    summary = summarize(buffer, args.horizon, progress=not args.no_progress,
                        n_obs_steps=args.n_obs_steps, n_action_steps=args.n_action_steps)
    print(format_summary(summary))
    if args.json:
        write_text(args.json, json.dumps(finite_or_null(asdict(summary)), indent=1,
                                         allow_nan=False) + '\n')
    if args.plot and episodes:
        print(f'plot: {plot_dataset(buffer, episodes, args.plot)}')
    if args.video and episodes:
        from training.video import write_episodes_video

        fps, rate = video_rate(buffer, args.fps)
        frames = [episode_frames(buffer, e) for e in episodes]
        print(f'video: {write_episodes_video(args.video, frames, fps=fps)[0]} '
              f'({fps:g} fps, {rate})')
    failed = bool(summary.errors) or (args.strict and bool(summary.warnings))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
