"""`dp-ros bag2zarr`: recorded ROS 2 bags -> a zarr replay buffer that `dp-ros train` reads.

A YAML config maps topics to dataset keys (training/bag2zarr_config.py, e.g.
config/bag2zarr_pusht.yaml). Every stream is sampled on the policy's control grid by header
stamps, the grid starting at the reference topic's first stamp; an observation stream gives
its newest message at or before each grid time, by the policy node's own function
(dp_ros/runtime/alignment.py); grid times where a stream has none within the tolerance are
gaps, reported, and cut the episode or drop it (training/bag_episodes.py). Bags are bag
directories, bare .mcap/.db3 files, or a split recording's files without its metadata.yaml
(`<dir>/<dir>_0.mcap`, `_1`, ...: one bag); a .db3's messages still in its -wal file are read
from a private copy (dp_ros/bags/storage.py). A bag without a single message is skipped with
a note.

The output changes all at once or not at all: episodes are written into a temporary store
beside the output (a copy of it when appending), which replaces the output by an atomic
rename at the very end (training/zarr_writer.py). A corrupt bag, a missing topic or Ctrl-C
leave the output as it was: an error is one line on stderr and exit code 2 (the bag reports
made so far go to stdout), Ctrl-C exit code 130.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from dp_ros.atomic_dir import (
    check_output_apart,
    check_writable_file,
    output_lock,
    real_target,
    write_text,
)
from dp_ros.bags.reader import BagError, find_bags, open_bag
from dp_ros.dimension_names import NAMES
from dp_ros.errors import EXIT_INTERRUPTED
from dp_ros.image_fit import CAMERA_CROP
from dp_ros.recorded_sources import (
    ALIGN,
    FIELD,
    FRAME_ID,
    FRAME_SIZE,
    OFFSET_S,
    PREFIX,
    RATE_HZ,
    REFERENCE,
    SIM_TIME,
    SOURCES,
    TOLERANCE_S,
    YAW_MIN,
    on_sim_time,
    value_sources,
)
from training.bag2zarr_config import IMAGE_DTYPES, Bag2ZarrConfig, ConfigError, load_config
from training.bag_episodes import BagReport, check_bag, iter_bag_episodes, stream_keys
from training.deprecated_keys import deprecated_keys_shown
from training.errors import EXPECTED_ERRORS, error_exit
from training.replay_buffer import ReplayBuffer, recorded_control_period
from training.zarr_writer import EpisodeWriter, staged_store

CONTROL_PERIOD_S = 'control_period_s'  # the store's attribute: seconds per step
# the store's attribute: the recordings converted into it (bag_identity), so that converting
# one again (the same command run twice, a copy in another folder) is refused, not trained
# on twice
CONVERTED_BAGS = 'converted_bags'


__all__ = ['ConfigError', 'ConversionSummary', 'convert', 'format_reports', 'format_summary',
           'load_config', 'main']


@dataclass
class ConversionSummary:
    output: str
    appended_to_existing: bool
    bags: list[BagReport]
    episodes_added: int
    steps_added: int
    total_episodes: int
    total_steps: int
    keys: dict[str, list]  # key -> [step shape, dtype]

    def to_dict(self) -> dict:
        return asdict(self)


def convert(bag_paths: Sequence[str | Path], config: Bag2ZarrConfig, output: str | Path,
            overwrite: bool = False, progress: bool = True,
            memory_limit_mb: float = 1024,
            reports: list[BagReport] | None = None,
            staged: list[tuple[int, int] | None] | None = None) -> ConversionSummary:
    """Convert bags into output (appending when it exists); all or nothing.

    reports, when given, receives each bag's report as it is made (also on failure);
    staged, the identity of the store this run writes (_identity), which is the output's
    once swapped in.
    """
    output = Path(output)
    bags = find_bags(bag_paths)
    if not bags:
        raise BagError('no bags given')
    identities: dict[str, str] = {}
    for path in bags:  # every topic checked before anything is read or written
        check_output_apart(Path(path), output, BagError)  # an --overwrite would delete it
        with open_bag(path) as bag:
            check_bag(bag, config)
            if any(t.count for t in bag.topics.values()):  # an empty one is skipped anyway
                identities[str(path)] = bag_identity(bag)
    check_distinct(identities)
    reports = [] if reports is None else reports
    # another bag2zarr appending at once would swap its copy over this one's: refused
    with output_lock(output, 'dp-ros bag2zarr'), \
            staged_store(output, overwrite) as (tmp, appending):
        if staged is not None:
            staged.append(_identity(tmp))
        writer = EpisodeWriter(tmp, appending, output, int(memory_limit_mb * 2**20), progress,
                               dtypes={k: v.dtype for k, v in config.keys.items()})
        writer.check_keys(config.keys)
        # older episodes whose names and sources may be unknown; an empty store has none
        has_older = appending and writer.store.n_episodes > 0
        check_recorded_attrs(writer.store, config, output)
        converted = writer.store.root_attrs().get(CONVERTED_BAGS, []) if appending else []
        check_not_converted(identities, converted, output)
        for path in tqdm(bags, desc='bags', unit='bag', disable=not progress or len(bags) < 2):
            report = BagReport(str(path))
            reports.append(report)
            with open_bag(path) as bag:
                for episode in iter_bag_episodes(bag, config, report, progress, writer.dtypes,
                                                 raw_images=True):
                    writer.add(episode, source=str(path))
        if writer.episodes_added == 0:
            raise BagError('no episode survived the conversion (see the gaps and notes in the '
                           'summary)')
        frames = pose_frames(config, reports)
        sizes = frame_sizes(config, reports)
        store = writer.flush()
        sim_time = bags_on_sim_time(reports)
        if has_older and reports:
            reports[-1].notes += clock_mix_notes(store, sim_time)
        record_attrs(store, config, has_older, frames, sizes, topic_rates(reports), sim_time)
        record_rate(store, config)
        made = {r.path: len(r.episode_lengths) for r in reports[-len(bags):]}
        store.set_root_attrs(**{CONVERTED_BAGS: [*converted, *(
            {'bag': path, 'identity': identity, 'episodes': made[path]}
            for path, identity in identities.items() if made.get(path))]})
        summary = ConversionSummary(
            output=str(output), appended_to_existing=appending, bags=reports,
            episodes_added=writer.episodes_added, steps_added=writer.steps_added,
            total_episodes=store.n_episodes, total_steps=store.n_steps,
            keys={k: [list(v.shape[1:]), str(v.dtype)] for k, v in store.data.items()})
    return summary


def pose_frames(config: Bag2ZarrConfig, reports: Sequence[BagReport]) -> dict[str, str]:
    """The frame (header.frame_id) of each pose topic the config reads, where the bags
    name one; BagError when a topic's poses come in several frames (one dimension, two
    meanings)."""
    topics = {s.topic for _, s in config.sources() if s.kind == 'pose'}
    seen: dict[str, set[str]] = {t: set() for t in topics}
    for report in reports:
        for t in report.topics:
            if t.topic in seen:
                seen[t.topic].update(t.frames)
    for topic, frames in seen.items():
        if len(frames) > 1:
            raise BagError(f'pose topic {topic} was recorded in frames {sorted(frames)}: poses '
                           'in different frames cannot be one dimension')
    return {t: f.pop() for t, f in seen.items() if f and f != {''}}


def bags_on_sim_time(reports: Sequence[BagReport]) -> bool:
    """Whether every bag that gave episodes was stamped on a sim's time (BagReport.sim_time):
    one on a wall clock among them leaves the store's clock unsaid."""
    made = [r for r in reports if r.episode_lengths]
    return bool(made) and all(r.sim_time for r in made)


def clock_mix_notes(store: ReplayBuffer, sim_time: bool) -> list[str]:
    """A note where appended bags ran on another clock than the store's episodes (a sim's
    beside a robot's wall clock): the store then says neither (KEPT_IF_BOTH), and the
    drafted node parameters leave use_sim_time to the user."""
    before = any(on_sim_time(store.attrs(key).get(SOURCES)) for key in store.data)
    if before == sim_time or not any(store.attrs(key).get(SOURCES) for key in store.data):
        return []
    these, those = ("a sim's", "a wall clock's") if sim_time else ("a wall clock's", "a sim's")
    return [f"these bags' stamps are {these} time, the store's episodes {those}: one store "
            'of both (the store no longer says use_sim_time; convert them apart if the node '
            'runs on one clock)']


def topic_rates(reports: Sequence[BagReport]) -> dict[str, float]:
    """Topic -> its message rate (Hz) in the slowest bag that had one: the policy node
    warns when an input comes much slower than its data was recorded at."""
    rates: dict[str, float] = {}
    for report in reports:
        for t in report.topics:
            if t.rate_hz > 0:
                rates[t.topic] = min(rates.get(t.topic, math.inf), round(t.rate_hz, 3))
    return rates


def frame_sizes(config: Bag2ZarrConfig, reports: Sequence[BagReport]
                ) -> dict[str, tuple[int, int] | None]:
    """Camera topic -> the one (height, width) its frames had in every bag, None where it
    changed (then it is not recorded). A camera with a crop box must keep its size: the box
    is in its pixels, and would cut another part of the scene from a frame of another size."""
    seen: dict[str, set[tuple[int, int]]] = {}
    for report in reports:
        for topic, sizes in report.frame_sizes.items():
            seen.setdefault(topic, set()).update((int(h), int(w)) for h, w in sizes)
    for key, k in config.keys.items():
        source = k.sources[0]
        if k.is_image and source.crop is not None and len(seen.get(source.topic, ())) > 1:
            sizes = ', '.join(f'{w}x{h}' for h, w in sorted(seen[source.topic]))
            raise BagError(f"key '{key}': camera {source.topic} recorded frames of {sizes} px "
                           f'with the crop {list(source.crop)}, a box in camera pixels that '
                           'cuts another part of the scene from each size; convert the bags '
                           'of each camera size apart, with a crop for each')
    return {t: next(iter(v)) if len(v) == 1 else None for t, v in seen.items()}


def recorded_attrs(config: Bag2ZarrConfig, frames: dict[str, str] | None = None,
                   sizes: dict[str, tuple[int, int] | None] | None = None,
                   rates: dict[str, float] | None = None,
                   sim_time: bool = False) -> dict[str, dict[str, object]]:
    """What each array carries for training to copy into the checkpoint: an image key its
    camera crop ([x0, y0, width, height], None: the whole frame), another key the names of
    its values (the joints, in column order); every key the topics it was recorded from
    (dp_ros/recorded_sources.py), a pose its yaw wrap and its frame (`frames`), a camera its
    frame size (`sizes`: frame_sizes), every topic its message rate (`rates`: topic_rates),
    the grid's reference topic that it was (REFERENCE), and every source that the bags ran
    on a sim's time (`sim_time`: SIM_TIME)."""
    frames, sizes, rates = frames or {}, sizes or {}, rates or {}
    try:
        grid = config.grid_topic()
    except ConfigError:  # no topic can set the grid: refused where bags are converted
        grid = None
    keys = stream_keys(config)  # a topic's, or one driver's joints on a shared topic
    attrs: dict[str, dict[str, object]] = {}
    for key, k in config.keys.items():
        attrs[key] = ({CAMERA_CROP: None if k.sources[0].crop is None
                       else list(k.sources[0].crop)} if k.is_image else {NAMES: k.value_names})
        attrs[key][SOURCES] = [{'kind': s.kind, 'topic': s.topic,
                                'width': None if k.is_image else s.width,
                                # how a pose's yaw was wrapped: the node must wrap it alike
                                **({YAW_MIN: s.yaw_min} if 'yaw' in (s.fields or ()) else {}),
                                **({FRAME_ID: frames[s.topic]} if s.kind == 'pose'
                                   and s.topic in frames else {}),
                                # which JointState field: the node reads the same one
                                **({FIELD: s.joint_field} if s.kind == 'joint_state' else {}),
                                # the names' prefix: the node takes it off to command, puts
                                # it on to read
                                **({PREFIX: s.prefix} if s.prefix else {}),
                                # the camera's size: where its crop box's pixels are
                                **({FRAME_SIZE: list(sizes[s.topic])} if k.is_image
                                   and sizes.get(s.topic) is not None else {}),
                                # the gap tolerance: the node refuses older samples alike
                                TOLERANCE_S: config.tolerance_ns(s) / 1e9,
                                # when it was sampled: an append at another offset is refused
                                OFFSET_S: s.offset_s,
                                # by which rule: an append under another is refused too
                                **({ALIGN: config.align_of(s)}
                                   if config.align_of(s) is not None else {}),
                                # the rate: the node warns about a much slower input
                                **({RATE_HZ: rates[keys[s.slot()]]}
                                   if keys[s.slot()] in rates else {}),
                                # the grid sat on its stamps: the node anchors on it alike
                                **({REFERENCE: True} if s.topic == grid and s.offset_s == 0
                                   else {}),
                                # on a sim's clock: the node runs with use_sim_time alike
                                **({SIM_TIME: True} if sim_time else {})}
                               for s in k.sources]
    return attrs


def check_recorded_attrs(store: ReplayBuffer | None, config: Bag2ZarrConfig,
                         output: Path) -> None:
    """Appending needs the crop the store's frames were cut with (none recorded: none) and,
    where the store recorded them, the same value names (other joints would mix columns),
    offsets and alignment rules. A store that records no control period (written before
    bag2zarr recorded one) is refused: record_rate would put this config's period on its
    older episodes, whose period nothing here can check."""
    if store is None or store.n_episodes == 0:
        return
    recorded = recorded_control_period(store)  # as training reads it: fps, back from LeRobot
    if recorded is None:
        period = config.control_period_s
        raise BagError(
            f'cannot append to {output}: it records no {CONTROL_PERIOD_S} (written before '
            f'bag2zarr recorded one), and these bags at {period:g} s would label its older '
            'episodes with that period too; if they were sampled every '
            f'{period:g} s, record it first (python -c "import zarr; zarr.open_group('
            f"'{output}', mode='r+').attrs['{CONTROL_PERIOD_S}'] = {period:g}\"), else "
            'convert into another store')
    if not math.isclose(recorded[0], config.control_period_s, rel_tol=1e-6):
        raise BagError(f'cannot append to {output}: its episodes were sampled every '
                       f'{recorded[0]:g} s ({recorded[1]}), the config says control_period_s '
                       f'{config.control_period_s}; convert into another store')
    for key, attrs in recorded_attrs(config).items():
        have = store.attrs(key) if key in store.data else {}
        for attr, want in attrs.items():
            if attr == SOURCES:  # other topics, the same data: record_attrs forgets them;
                _check_pose_attr(have.get(SOURCES) or [], want, YAW_MIN, f'{output}: data/{key}')
                _check_offsets(have.get(SOURCES) or [], want, f'{output}: data/{key}')
                _check_align(have.get(SOURCES) or [], want, f'{output}: data/{key}')
                continue  # but a pose's yaw wrapped otherwise, another offset or alignment
                # rule, is other data
            if attr == NAMES and have.get(NAMES) is None:
                continue  # written before names were recorded: unknown, not contradicted
            if have.get(attr) != want:
                what = 'camera crop' if attr == CAMERA_CROP else 'value names'
                raise BagError(f'cannot append to {output}: data/{key} was written with '
                               f'{what} {have.get(attr)}, the config says {want}')


def _check_pose_attr(stored: list[dict], new: list[dict], attr: str, where: str) -> None:
    """A pose topic's yaw wrap (yaw_min) or frame (frame_id) must stay what the store
    recorded: another would give one pose two values in one array."""
    before = {s['topic']: s[attr] for s in stored if attr in s}
    for s in new:
        if attr in s and before.get(s['topic'], s[attr]) != s[attr]:
            raise BagError(f"cannot append to {where}: the poses of {s['topic']} have "
                           f"{attr} {before[s['topic']]!r} there, {s[attr]!r} here")


def _per_column(sources: list[dict]) -> list[dict] | None:
    """Each value column's source (value_sources); None where a width is missing or no count
    (a store edited by hand). Columns, not sources, pair a store's rules with an append's:
    the same joints may come from other topics (j2 moved onto /js), which record_attrs
    allows (the names match) and forgets."""
    if not all('width' in s and (s['width'] is None or isinstance(s['width'], int)
                                 and not isinstance(s['width'], bool)) for s in sources):
        return None
    return value_sources(sources)


def _paired_columns(stored: list[dict], new: list[dict]) -> list[tuple[dict, dict]]:
    """(stored, new) source per value column (so also where the same joints are split
    otherwise between topics); source by source where a width is no count; none where
    neither lines up (the value names are checked apart)."""
    old_columns, new_columns = _per_column(stored), _per_column(new)
    if old_columns is not None and new_columns is not None \
            and len(old_columns) == len(new_columns):
        return list(zip(old_columns, new_columns, strict=True))
    return list(zip(stored, new, strict=True)) if len(stored) == len(new) else []


def _from(old: dict, now: dict) -> str:
    """' (from /js)': the append's topic, where it is not the store's."""
    return '' if old['topic'] == now['topic'] else f" (from {now['topic']})"


def _check_offsets(stored: list[dict], new: list[dict], where: str) -> None:
    """Each value must be sampled at the offset the store recorded for it (a future state as
    the action one control period ahead there, five here would mix two tasks in one array),
    paired by value column; a store written before offsets were recorded is not
    contradicted."""
    if not all(OFFSET_S in s for s in stored):
        return
    for old, now in _paired_columns(stored, new):
        if not math.isclose(old[OFFSET_S], now[OFFSET_S], rel_tol=1e-9, abs_tol=1e-9):
            raise BagError(f"cannot append to {where}: its values from {old['topic']} were "
                           f'sampled at grid time + {old[OFFSET_S]:g} s there, + '
                           f'{now[OFFSET_S]:g} s here{_from(old, now)} (offset, future_of); '
                           'convert into another store')


def _check_align(stored: list[dict], new: list[dict], where: str) -> None:
    """Each value must be sampled by the rule the store recorded for it: 'nearest' and
    'at_or_before' pick other samples of one bag (up to a period apart), so one array would
    hold two rules; paired by value column; a store written before the rule was recorded is
    not contradicted."""
    for old, now in _paired_columns(stored, new):
        if ALIGN in old and ALIGN in now and old[ALIGN] != now[ALIGN]:
            raise BagError(f"cannot append to {where}: its values from {old['topic']} were "
                           f'sampled with align {old[ALIGN]} there, {now[ALIGN]} '
                           f'here{_from(old, now)}; give the config align: {old[ALIGN]}, or '
                           'convert into another store')


def record_attrs(store: ReplayBuffer, config: Bag2ZarrConfig, appending: bool,
                 frames: dict[str, str] | None = None,
                 sizes: dict[str, tuple[int, int] | None] | None = None,
                 rates: dict[str, float] | None = None, sim_time: bool = False) -> None:
    """Each array carries its recorded_attrs; training puts them in the checkpoint, so the
    node cuts the same camera box and checks its joints against the trained ones. An
    appended store that had no names keeps none: its older episodes' joints are unknown; nor
    does it keep sources unless the appended bags came from the same topics (poses in
    another frame are refused: BagError), nor a camera's frame size unless it is the same
    (a camera with a crop box of another size is refused: BagError)."""
    for key, attrs in recorded_attrs(config, frames, sizes, rates, sim_time).items():
        if appending:
            _check_pose_attr(store.attrs(key).get(SOURCES) or [], attrs[SOURCES], FRAME_ID,
                             f'data/{key}')
        for attr, value in attrs.items():
            if attr == NAMES and appending and store.attrs(key).get(NAMES) is None:
                continue
            if attr == SOURCES and appending:
                stored = store.attrs(key).get(SOURCES)
                if not same_sources(stored, value) and SOURCES in store.attrs(key):
                    del store.data[key].attrs[SOURCES]
                elif stored is not None:
                    store.data[key].attrs[SOURCES] = _merged_sources(
                        stored, value, config.keys[key].sources[0].crop, key)
                continue
            store.data[key].attrs[attr] = value


# the numbers of a source that an append merges (_merged_sources): the least demanding of
# both, the larger tolerance and the lower rate
MERGED_BY = {TOLERANCE_S: max, RATE_HZ: min}
# what an append keeps only where the store and the appended bags both say it (_merged_sources):
# a grid on other stamps in some episodes (or unknown: a store written before it was said)
# leaves no reference to anchor on; bags on a wall clock among a sim's, no clock to name
KEPT_IF_BOTH = (REFERENCE, SIM_TIME)


def _merged_sources(stored: list[dict], new: list[dict], crop: object, key: str
                    ) -> list[dict]:
    """The stored sources of a key whose appended bags came from the same topics, with a
    camera's frame size kept where both recorded the same one and dropped otherwise
    (unknown; a camera with a crop box that changed size is refused), each source's
    tolerance the larger of both and its rate the lower (unknown where the store recorded
    none), its reference and sim-time flags kept only where both have them (KEPT_IF_BOTH)."""
    merged = []
    for old, now in zip(stored, new, strict=True):
        out = {k: v for k, v in old.items() if k not in (*MERGED_BY, *KEPT_IF_BOTH)}
        out.update({attr: pick(float(old[attr]), float(now[attr]))
                    for attr, pick in MERGED_BY.items() if attr in old and attr in now})
        out.update({attr: old[attr] for attr in KEPT_IF_BOTH
                    if attr in old and old[attr] == now.get(attr)})
        merged.append(out)
    old, now = stored[0].get(FRAME_SIZE), new[0].get(FRAME_SIZE)
    if old == now:
        return merged
    if crop is not None and old is not None and now is not None:
        raise BagError(f"cannot append: key '{key}' was recorded from {stored[0]['topic']} at "
                       f'{old[1]}x{old[0]} px, these bags at {now[1]}x{now[0]} px, and its crop '
                       f'{list(crop)} is in camera pixels: it would cut another part of the '
                       'scene; convert them into another store, with a crop for that size')
    return [{k: v for k, v in s.items() if k != FRAME_SIZE} for s in merged]


def same_sources(stored: list[dict] | None, new: list[dict]) -> bool:
    """Whether appended bags came from the stored sources: the same, or the same but for
    the joint-state fields a store written before they were recorded lacks (its value names,
    checked before, say the field: a joint's position is named as the joint), or the
    offsets or alignment rules; frame sizes, tolerances, rates and the reference aside
    (_merged_sources)."""
    if stored is None:
        return False
    merged = {FRAME_SIZE, *MERGED_BY, *KEPT_IF_BOTH}  # kept or dropped by _merged_sources
    # what a store written before it was recorded lacks: not a difference
    drop = merged | {attr for attr in (FIELD, OFFSET_S, ALIGN)
                     if not any(attr in s for s in stored)}
    return ([{k: v for k, v in s.items() if k not in merged} for s in stored]
            == [{k: v for k, v in s.items() if k not in drop} for s in new])


IDENTITY_BYTES = 1 << 20  # of each storage file's head and tail that bag_identity hashes


def bag_identity(bag) -> str:
    """A recording's identity, wherever its files lie (a copy has the same): its first and
    last receive times, message count, and each file's size and first and last MiB (the
    files of its folder by name, metadata.yaml too), so that bags written alike but with
    other contents differ, without reading gigabytes."""
    digest = hashlib.sha256(
        f'{bag.start_ns}-{bag.end_ns}-{sum(t.count for t in bag.topics.values())}'.encode())
    path = Path(bag.path)
    files = [path] if path.is_file() else sorted(
        f for f in path.iterdir() if f.is_file())
    for file in files:
        size = file.stat().st_size
        digest.update(f'|{size}|'.encode())
        with open(file, 'rb') as f:
            digest.update(f.read(IDENTITY_BYTES))
            if size > IDENTITY_BYTES:
                f.seek(max(IDENTITY_BYTES, size - IDENTITY_BYTES))
                digest.update(f.read())
    return digest.hexdigest()[:32]


def check_distinct(identities: dict[str, str]) -> None:
    """One recording given twice (a bag and its copy in another folder) is refused."""
    seen: dict[str, str] = {}
    for path, identity in identities.items():
        if identity in seen:
            raise BagError(f'bags {seen[identity]} and {path} are the same recording (the '
                           'same files): give it once')
        seen[identity] = path


def check_not_converted(identities: dict[str, str], converted: Sequence[dict], output: Path
                        ) -> None:
    """An append of a recording the store holds already would train on it twice."""
    done = {c.get('identity'): c.get('bag') for c in converted if isinstance(c, dict)}
    again = [(path, done[i]) for path, i in identities.items() if i in done]
    if again:
        path, was = again[0]
        more = f' (and {len(again) - 1} more)' if len(again) > 1 else ''
        raise BagError(f'{output} holds bag {path}{more} already (converted from {was}): '
                       'appending it again would train on its episodes twice; --overwrite '
                       'writes the store anew from the bags given, or give only new bags')


def record_rate(store: ReplayBuffer, config: Bag2ZarrConfig) -> None:
    """The store records its control period (training takes it as the policy's, and
    appending at another is refused: check_recorded_attrs)."""
    store.set_root_attrs(**{CONTROL_PERIOD_S: float(config.control_period_s)})


def format_summary(summary: ConversionSummary) -> str:
    lines = [format_reports(summary.bags)]
    action = 'appended to' if summary.appended_to_existing else 'wrote'
    lines.append(f'{action} {summary.output}: +{summary.episodes_added} episodes, '
                 f'+{summary.steps_added} steps; now {summary.total_episodes} episodes, '
                 f'{summary.total_steps} steps')
    lines.append('keys: ' + ', '.join(f'{k} {tuple(s)} {d}' for k, (s, d) in
                                      summary.keys.items()))
    return '\n'.join(lines)


def format_reports(reports: Sequence[BagReport]) -> str:
    """Per bag: episodes, per-topic rates and drops, gaps, trimmed and dropped steps."""
    lines = []
    for report in reports:
        lens = report.episode_lengths
        lines.append(f'{report.path}: {len(lens)} episode(s), {sum(lens)} steps'
                     + (f' (lengths {lens})' if 1 < len(lens) <= 12 else ''))
        for t in report.topics:
            lines.append(f'  {t.topic:<36} {t.count:6d} msgs {t.rate_hz:7.2f} Hz  '
                         f'drops {t.drops:<4d} max gap {t.max_gap_s:.3f} s'
                         + ('' if t.stamped else '  (receive times)'))
        if report.trimmed_steps:
            lines.append(f'  trimmed {report.trimmed_steps} step(s) at episode ends '
                         '(streams start/stop at different times'
                         + (f": {', '.join(report.trimmed_streams)} not there yet or any more"
                            if report.trimmed_streams else '') + ')')
        for gap in report.gaps:
            lines.append(f"  gap at t={gap['t_s']:.3f} s: {gap['steps']} step(s) without "
                         f"{', '.join(gap['streams'])}")
        if report.dropped_steps:
            lines.append(f'  dropped {report.dropped_steps} step(s)')
        for note in report.notes:
            lines.append(f'  note: {note}')
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='dp-ros bag2zarr', description=__doc__.splitlines()[0],
        epilog='An existing output is appended to (keys must match) unless --overwrite. The '
               'output is replaced atomically at the end: errors and Ctrl-C leave it as it was.')
    parser.add_argument('bags', nargs='+', type=Path,
                        help='bag directories (metadata.yaml + .mcap/.db3), bare .mcap/.db3 '
                             'files, or folders of them')
    parser.add_argument('-c', '--config', type=Path, required=True,
                        help='YAML topic -> key mapping (e.g. config/bag2zarr_pusht.yaml)')
    parser.add_argument('-o', '--output', type=Path, required=True, help='zarr replay buffer')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the output instead of appending to it')
    parser.add_argument('--image-dtype', choices=IMAGE_DTYPES, default=None,
                        help='override the config: float32 0..255 (paper) or uint8')
    parser.add_argument('--summary-json', type=Path, default=None,
                        help='also write the summary as JSON here')
    parser.add_argument('--memory-limit-mb', type=float, default=1024,
                        help='episodes held in memory before writing (default 1024 MB)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reports: list[BagReport] = []
    staged: list[tuple[int, int] | None] = []
    try:
        if not (math.isfinite(args.memory_limit_mb) and args.memory_limit_mb > 0):
            raise BagError(f'--memory-limit-mb must be a positive number of MB, got '
                           f'{args.memory_limit_mb:g}')
        if args.summary_json is not None:  # before the store changes, not after
            check_writable_file(args.summary_json, '--summary-json')
        with deprecated_keys_shown():
            config = load_config(args.config)
        if args.image_dtype:
            config.image_dtype = args.image_dtype
            for key in config.keys.values():
                if key.is_image:
                    key.dtype = args.image_dtype
        summary = convert(args.bags, config, args.output, overwrite=args.overwrite,
                          progress=not args.no_progress, memory_limit_mb=args.memory_limit_mb,
                          reports=reports, staged=staged)
    except EXPECTED_ERRORS + (FileExistsError,) as exc:
        # the rule of dp_ros/cli.py, also for `python -m training.bag2zarr`: one line, exit 2
        if reports:
            print(format_reports(reports))
        return error_exit('dp-ros bag2zarr', exc, _unchanged(args.output, staged))
    except KeyboardInterrupt:
        print(f'dp-ros bag2zarr: interrupted; {_unchanged(args.output, staged)}', file=sys.stderr)
        return EXIT_INTERRUPTED
    print(format_summary(summary))
    if args.summary_json is not None:
        write_text(args.summary_json, json.dumps(summary.to_dict(), indent=2))
    return 0


def _identity(path: Path) -> tuple[int, int] | None:
    """A directory as the file system knows it (device, inode), kept by the renames that
    swap a staged store in: the staged store's is the output's once it is in place."""
    try:
        info = os.stat(real_target(path))
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _unchanged(output: Path, staged: list[tuple[int, int] | None]) -> str:
    """What a failed or interrupted conversion did to the output: nothing, or, interrupted
    after this run's store (`staged`: its identity) was swapped in (removing the old copy,
    seconds for a large store), all of it (a fault review: it said 'not changed' of a store
    the append had changed)."""
    if staged and staged[0] is not None and _identity(output) == staged[0]:
        return (f'{output} was written before the interrupt: it holds this conversion '
                '(a rerun says which bags it holds already)')
    return f'{output} was not changed' if output.exists() else f'{output} was not written'


if __name__ == '__main__':
    sys.exit(main())
