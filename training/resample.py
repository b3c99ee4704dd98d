"""Streams of timestamped messages -> one fixed control grid; gaps; episode boundaries.

Pure numpy, integer nanoseconds. The grid is t0 + k * period, t0 by the config's grid_start
rule (default: the reference stream's first stamp). Each observation stream is sampled by
the policy node's rule, dp_ros/runtime/alignment.py: the newest message at or before the
grid time (a stamp up to 1 us after it counts as at it), valid when it is no older than the
tolerance, else the first one after it if stamped within the jitter allowance (a tenth of the
control period: a control-rate camera with jittered stamps). 'nearest', the closest message
either side, is an offline option the node never sees. A grid time where any stream is
invalid is a gap. Leading and trailing invalid steps are trimmed (streams start and stop at
slightly different times); interior gaps cut the episode or drop it, as configured.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dp_ros.runtime.alignment import sample_at_or_before

AT_OR_BEFORE = 'at_or_before'  # the node's rule
ALIGN_MODES = (AT_OR_BEFORE, 'nearest')
ALIGN_ALIASES = {'previous': AT_OR_BEFORE}  # old names, still read (with a warning)
GRID_STARTS = ('first_reference', 'reference_phase')
# reference_phase for at-or-before sampling: the grid this far up the reference stamps' phases
# (a stamp or two of a hundred may be later: within the jitter allowance, or one gap)
PHASE_QUANTILE = 0.95
# header stamps this far from their receive times (median) are on another clock than the
# recorder's (a sim's); within it, on the receive clock (a real robot's drivers)
OTHER_CLOCK_S = 1.0
GAP_POLICIES = ('split', 'drop')
NO_COMMON_TIME = 'no grid time has every stream'  # cut_episodes' reason when none is valid
# a config's episodes.marker_role, and the roles a Bool marker's messages give
MARKER_ROLES = ('start', 'end')


def grid_length(start_ns: int, stop_ns: int, period_ns: int) -> int:
    """How many steps make_grid would give: to check a span before allocating it."""
    if period_ns <= 0:
        raise ValueError(f'control period must be positive, got {period_ns} ns')
    if stop_ns < start_ns:
        return 0
    return (int(stop_ns) - int(start_ns)) // int(period_ns) + 1


def make_grid(start_ns: int, stop_ns: int, period_ns: int) -> np.ndarray:
    """start, start + period, ... up to and including stop (int64 ns)."""
    n = grid_length(start_ns, stop_ns, period_ns)
    return int(start_ns) + np.arange(n, dtype=np.int64) * int(period_ns)


def grid_start(times_ns: np.ndarray, period_ns: int, rule: str = 'first_reference',
               after_stamps: bool = False) -> int:
    """Where a window's grid starts, from the reference stream's (sorted) stamps.

    'first_reference': at its first stamp, exactly: grid time k is first + k * period.
    'reference_phase': at the first stamp moved to the circular mean of all stamps' phases
    modulo the period, for a stream published at the control rate whose first stamp is
    jittered. Only for such a stream: a faster one has several phases that can cancel (a
    30 Hz camera on a 10 Hz grid: 0, 1/3, 2/3), leaving the grid wherever rounding puts it.
    after_stamps (for at-or-before sampling): moved on from the mean to the
    PHASE_QUANTILE of the stamps' phases around it, so that each frame is at or before the
    grid time it is meant for (at the mean half of them would be just after it, and the
    frame before a period old); the few later ones are within the jitter allowance.
    Stamps exactly on the grid give the first stamp either way.
    """
    if rule not in GRID_STARTS:
        raise ValueError(f'grid_start must be one of {GRID_STARTS}, got {rule!r}')
    times = np.asarray(times_ns, dtype=np.int64)
    if rule == 'first_reference':
        return int(times[0])
    phases = (times - times[0]) % period_ns * (2 * np.pi / period_ns)
    mean = np.angle(np.mean(np.exp(1j * phases)))  # in (-pi, pi]
    if after_stamps:  # each stamp's phase around the mean, in [-pi, pi)
        around = (phases - mean + np.pi) % (2 * np.pi) - np.pi
        mean += max(float(np.quantile(around, PHASE_QUANTILE)), 0.0)
    return int(times[0]) + int(round(mean * period_ns / (2 * np.pi)))


def sample_indices(times_ns: np.ndarray, grid_ns: np.ndarray, tolerance_ns: int,
                   align: str = AT_OR_BEFORE, late_ns: int = 0,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """For each grid time the index of the message to use, and whether it is within tolerance.

    times_ns must be sorted. 'at_or_before': the newest message at or before the grid time,
    no older than the tolerance, by the node's own function (what the policy sees live),
    else the first after it when stamped at most late_ns after it (the node's jitter
    allowance, dp_ros/runtime/alignment.py jitter_allowance_ns; 0: never);
    'nearest': the closest message either side (an offline choice: the node never sees a
    message from after its observation time). Invalid entries have index 0 (never use them).
    """
    align = ALIGN_ALIASES.get(align, align)
    if align not in ALIGN_MODES:
        raise ValueError(f"align must be one of {ALIGN_MODES}, got {align!r}")
    times = np.asarray(times_ns, dtype=np.int64)
    grid = np.asarray(grid_ns, dtype=np.int64)
    if len(times) == 0:
        return np.zeros(len(grid), dtype=np.int64), np.zeros(len(grid), dtype=bool)
    if np.any(np.diff(times) < 0):
        raise ValueError('message times must be sorted before sampling')
    if align == AT_OR_BEFORE:
        return sample_at_or_before(times, grid, tolerance_ns, late_ns)
    # left: the newest at or before the grid time (of messages stamped alike the last, as
    # at_or_before takes; side='left' took the first at their stamp, the last 1 ns later)
    right = np.clip(np.searchsorted(times, grid, side='right'), 0, len(times) - 1)
    left = np.maximum(right - 1, 0)
    d_right = np.abs(times[right] - grid)
    d_left = np.abs(grid - times[left])
    index = np.where(d_left < d_right, left, right)
    valid = np.minimum(d_left, d_right) <= tolerance_ns
    return np.where(valid, index, 0), valid


def trajectory_targets(stamps_ns: np.ndarray, due_ns: Sequence[np.ndarray],
                       positions: Sequence[np.ndarray], grid_ns: np.ndarray,
                       tolerance_ns: int, dim: int, slack_ns: int = 0, late_ns: int = 0,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The commanded target at each grid time, as joint_trajectory_controller applies it.

    The active trajectory at t is the latest one stamped at or before t (a new trajectory
    replaces the old); its target is the last point due at or before t; before its first
    point the previous target is held. Both "at or before" allow a slack, so that grid times
    a little early (jittered stamps) still find the point meant for them: slack_ns, kept
    under half of each trajectory's point spacing (point_slack) and under half the time
    since the trajectory before it (stamp_slacks), else a point due later than t (one of a
    leader arm's dense points, or the next of its one-point commands sent every 8 ms) would
    be taken for it. A
    target is valid when its point is due within the tolerance of t (a held target from long
    ago is a gap: the commands stopped).
    Where that gives none (nothing held within the tolerance) and the trajectory the active
    one replaced commanded only points ahead of its stamp (its first due more than late_ns,
    the jitter allowance, after it), that one's point due at t counts, if it fell due by the
    replacement (late_ns after it allowed): one-point commands sent every period, each due
    one period after it is sent (MoveIt Servo, a leader arm's driver), are replaced just as
    their point falls due, and that point is what the controller reached then. A trajectory
    whose first point is due on receipt (a policy node's chunk, a lockstep answer) is
    replaced by whatever replaces it at the instant its point falls due, as before.
    """
    grid = np.asarray(grid_ns, dtype=np.int64)
    values = np.zeros((len(grid), dim), dtype=np.float64)
    valid = np.zeros(len(grid), dtype=bool)
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    if len(stamps) == 0:
        return values, valid
    slacks = np.minimum([point_slack(due, slack_ns) for due in due_ns],
                        stamp_slacks(stamps, slack_ns)).astype(np.int64)
    order = np.argsort(stamps, kind='stable')  # rank by stamp: the latest started wins
    starts = (stamps - slacks)[order]
    by_start = np.argsort(starts, kind='stable')
    latest = np.maximum.accumulate(by_start)  # the latest stamp among the first started
    started = np.searchsorted(starts[by_start], grid, side='right')
    active = np.where(started > 0, latest[np.maximum(started - 1, 0)], -1)
    held: np.ndarray | None = None
    held_due = 0
    for g, t in enumerate(grid):
        replaced = None
        if active[g] >= 0:
            j = order[active[g]]
            k = int(np.searchsorted(due_ns[j], t + slacks[j], side='right')) - 1
            if k >= 0:
                held, held_due = positions[j][k], int(due_ns[j][k])
            elif active[g] > 0:  # before its first point: what the replaced one was due at
                replaced = _replaced_point(order[active[g] - 1], int(stamps[j]), int(t),
                                           late_ns, stamps, slacks, due_ns, positions)
        if held is not None and abs(int(t) - held_due) <= tolerance_ns:
            values[g] = held
            valid[g] = True
        elif replaced is not None and abs(int(t) - replaced[1]) <= tolerance_ns:
            values[g] = replaced[0]
            valid[g] = True
    return values, valid


def _replaced_point(i: int, replaced_at_ns: int, t: int, late_ns: int, stamps: np.ndarray,
                    slacks: np.ndarray, due_ns: Sequence[np.ndarray],
                    positions: Sequence[np.ndarray]) -> tuple[np.ndarray, int] | None:
    """Trajectory i's last point due at or before t (its slack allowed) and by its
    replacement at replaced_at_ns (late_ns after it allowed; a point due later was never
    reached): (position, due); None unless all its points were ahead of its stamp (its first
    due more than late_ns after it, or more than its slack where that is less: one-point
    commands sent every 8 ms, each due 8 ms ahead, are ahead of their stamps though the
    grid's jitter allowance is 10 ms)."""
    due = due_ns[i]
    if len(due) == 0 or int(due[0]) <= int(stamps[i]) + min(late_ns, int(slacks[i])):
        return None
    limit = min(t + int(slacks[i]), replaced_at_ns + late_ns)
    k = int(np.searchsorted(due, limit, side='right')) - 1
    return (positions[i][k], int(due[k])) if k >= 0 else None


def replaced_before_due(stamps_ns: np.ndarray, due_ns: Sequence[np.ndarray],
                        late_ns: int = 0) -> int:
    """How many trajectories (by stamp) the next one replaced before any of their points fell
    due (late_ns allowed, as trajectory_targets allows it): never a target at any time. All
    but the last: commands sent more often than their first point's lead (a teleop whose
    points are due two periods ahead, sent every period), which no grid time finds."""
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    order = np.argsort(stamps, kind='stable')
    return sum(1 for a, b in zip(order[:-1], order[1:], strict=True)
               if len(due_ns[a]) and int(due_ns[a][0]) > int(stamps[b]) + late_ns)


def point_slack(due_ns: np.ndarray, slack_ns: int) -> int:
    """slack_ns, kept under half the closest spacing of a trajectory's due times (a single
    point: slack_ns)."""
    steps = np.diff(np.asarray(due_ns, dtype=np.int64))
    steps = steps[steps > 0]
    return int(min(slack_ns, (int(steps.min()) - 1) // 2)) if len(steps) else int(slack_ns)


def stamp_slacks(stamps_ns: np.ndarray, slack_ns: int) -> np.ndarray:
    """Per trajectory, slack_ns kept under half the time since the one stamped before it
    (the previous distinct stamp; none before the first): a grid time nearer the earlier
    one never starts the later one. A teleop's one-point commands sent every 8 ms were
    started up to the whole slack (the tolerance, 50 ms) early, so a grid time took the
    command sent 50 ms after it: due then, labels from the future; due a period after it
    sent, no step valid at all."""
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    distinct = np.unique(stamps)
    if len(distinct) < 2:
        return np.full(len(stamps), int(slack_ns), dtype=np.int64)
    gaps = np.concatenate([[np.iinfo(np.int64).max], np.diff(distinct)])
    since = gaps[np.searchsorted(distinct, stamps)]
    return np.minimum(int(slack_ns), np.maximum((since - 1) // 2, 0))


def valid_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """Maximal [start, stop) runs of True."""
    v = np.concatenate([[False], np.asarray(valid, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(v.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@dataclass
class EpisodeCut:
    """What became of one stretch of grid: kept ranges, and why steps were lost."""

    ranges: list[tuple[int, int]]
    trimmed_steps: int  # leading/trailing steps where some stream had not started / had ended
    gaps: list[tuple[int, int]]  # interior [start, stop) runs of invalid steps
    dropped_steps: int  # valid steps discarded (episode dropped at a gap, or too short)
    reason: str = ''


def cut_episodes(valid: np.ndarray, on_gap: str = 'split', min_steps: int = 1) -> EpisodeCut:
    """Trim the ends, then cut at interior gaps ('split') or drop the lot ('drop')."""
    if on_gap not in GAP_POLICIES:
        raise ValueError(f"on_gap must be one of {GAP_POLICIES}, got {on_gap!r}")
    runs = valid_runs(valid)
    n = len(valid)
    if not runs:
        return EpisodeCut([], n, [], 0, NO_COMMON_TIME)
    first, last = runs[0][0], runs[-1][1]
    trimmed = first + (n - last)
    gaps = [(a[1], b[0]) for a, b in zip(runs[:-1], runs[1:], strict=True)]
    if gaps and on_gap == 'drop':
        return EpisodeCut([], trimmed, gaps, sum(b - a for a, b in runs),
                          f'{len(gaps)} gap(s), on_gap=drop')
    kept = [r for r in runs if r[1] - r[0] >= min_steps]
    dropped = sum(b - a for a, b in runs if b - a < min_steps)
    reason = f'{len(runs) - len(kept)} piece(s) shorter than {min_steps} steps' if dropped else ''
    return EpisodeCut(kept, trimmed, gaps, dropped, reason)


def marker_windows(marker_ns: np.ndarray, roles: Sequence[str], default_role: str,
                   ) -> list[tuple[float, float]]:
    """Episode windows [lo, hi) from marker times.

    Roles: 'end' markers close an episode that began at the previous end (or the bag's start;
    data after the last end is dropped); 'start' markers open one that lasts to the next start
    (or the bag's end; data before the first start is dropped). A role of its own per marker
    ('start' / 'end': a Bool's true / false, a String saying start or stop) is a state: it
    opens and closes episodes explicitly, and a repeat of it (a level published now and then)
    changes nothing, so an episode goes on until its end and no data between an end and the
    next start is kept. default_role 'bool' (a Bool, or a String topic saying both start and
    stop): nothing is open before the first start (a leading end closes nothing), and a
    marker of no role is ignored.
    """
    times = np.asarray(marker_ns, dtype=np.int64)
    order = np.argsort(times, kind='stable')
    windows: list[tuple[float, float]] = []
    open_at: float | None = -np.inf if default_role == 'end' else None
    opened_explicitly = False
    for i in order:
        t = float(times[i])
        explicit = roles[i] in MARKER_ROLES
        if not explicit and default_role == 'bool':
            continue  # a level topic's other word ('discard' between demos): no state
        role = roles[i] if explicit else default_role
        if role == 'start':
            if explicit and opened_explicitly:
                continue  # recording still: the episode goes on
            if open_at is not None and open_at != -np.inf:
                windows.append((open_at, t))
            open_at, opened_explicitly = t, explicit
        else:
            if open_at is not None:
                windows.append((open_at, t))
            open_at = t if default_role == 'end' and not explicit else None
            opened_explicitly = False
    if open_at is not None and (default_role != 'end' or opened_explicitly):
        windows.append((open_at, np.inf))
    return windows


def repeated_states(roles: Sequence[str], order: Sequence[int]) -> int:
    """How many explicit markers (in `order`, by time) repeat the one before them: a start
    while recording, an end while not (a Bool level published now and then)."""
    last, repeats = None, 0
    for i in order:
        if roles[i] in MARKER_ROLES:
            repeats += roles[i] == last
            last = roles[i]
    return repeats


def recv_to_stamp_boundaries(marker_recv_ns: np.ndarray, ref_recv_ns: np.ndarray,
                             ref_stamp_ns: np.ndarray, all_recv_ns: np.ndarray,
                             all_stamp_ns: np.ndarray, margin_ns: int, lookahead: int = 5,
                             ) -> np.ndarray | None:
    """Marker receive times as stamp-domain boundaries: the stamp where the next episode
    starts.

    That is the first reference stamp received after the marker that is newer (by more than
    margin_ns) than every stamp received before it (all_*: every stamped stream). Messages
    are then assigned by their own stamps, so one that arrived late, after the marker, stays
    in its episode; and no receive-time arithmetic enters, which matters because the stamp
    clock may stand still (a lockstep sim waiting for its next episode). None when the stamps
    restart at a marker (the next reference messages are stamped before it): only receive
    times can place it then.
    """
    order = np.argsort(all_recv_ns, kind='stable')
    all_recv = np.asarray(all_recv_ns, dtype=np.int64)[order]
    newest = np.maximum.accumulate(np.asarray(all_stamp_ns, dtype=np.int64)[order]) \
        if len(order) else np.zeros(0, np.int64)
    ref_order = np.argsort(ref_recv_ns, kind='stable')
    ref_recv = np.asarray(ref_recv_ns, dtype=np.int64)[ref_order]
    ref_stamps = np.asarray(ref_stamp_ns, dtype=np.int64)[ref_order]
    never = np.iinfo(np.int64).max
    out = np.full(len(marker_recv_ns), never, dtype=np.int64)
    for j, m in enumerate(np.asarray(marker_recv_ns, dtype=np.int64)):
        i = int(np.searchsorted(all_recv, m, side='right'))
        seen = int(newest[i - 1]) if i > 0 else None
        after = ref_stamps[int(np.searchsorted(ref_recv, m, side='right')):]
        if seen is None:
            out[j] = int(after.min()) if len(after) else never
            continue
        if len(after) and np.median(after[:lookahead]) < seen - margin_ns:
            return None
        newer = after[after > seen + margin_ns]
        out[j] = int(newer.min()) if len(newer) else never
    return out


def stamp_restarts(recv_ns: np.ndarray, stamp_ns: np.ndarray, margin_ns: int,
                   lookahead: int = 5) -> np.ndarray:
    """Receive times (ns) where a stream's stamps restart: a sim clock reset, a clock
    stepped back. Without a marker these bound episodes: sorted by stamp, the runs would
    interleave and the newer overwrite the older where they overlap.

    In receive order, a restart is a stamp more than margin_ns below the newest stamp since
    the last restart, confirmed by the median of it and the stamps after it (lookahead in
    all), as recv_to_stamp_boundaries confirms one: a single message out of order is not a
    restart. A stamp counts as the newest only when the median after it does not fall far
    below it (a late message of the run before, received after a restart, starts no second
    one). Each boundary lies half way between the receive times of the messages either
    side, so that another stream's messages received just before the reference's first one
    of a run stay with that run. Empty when the stamps never go back.
    """
    order = np.argsort(np.asarray(recv_ns, dtype=np.int64), kind='stable')
    recv = np.asarray(recv_ns, dtype=np.int64)[order]
    stamps = np.asarray(stamp_ns, dtype=np.int64)[order]
    if len(stamps) < 2 or np.all(stamps[1:] >= np.maximum.accumulate(stamps)[:-1] - margin_ns):
        return np.zeros(0, dtype=np.int64)
    rel = (stamps - stamps.min()).astype(np.float64)
    padded = np.concatenate([rel, np.full(lookahead - 1, np.nan)])
    ahead = np.nanmedian(np.lib.stride_tricks.sliding_window_view(padded, lookahead), axis=1)
    counts = rel <= ahead + margin_ns
    cuts: list[int] = []
    newest = newest_any = None  # since the last restart: the counted stamps', all stamps'
    for i, (t, med) in enumerate(zip(rel.tolist(), ahead.tolist(), strict=True)):
        top = newest if newest is not None else newest_any
        if top is not None and t < top - margin_ns and med < top - margin_ns:
            cuts.append(int(recv[i - 1]) + (int(recv[i]) - int(recv[i - 1])) // 2)
            newest = newest_any = None
        newest_any = t if newest_any is None else max(newest_any, t)
        if counts[i]:
            newest = t if newest is None else max(newest, t)
    return np.asarray(cuts, dtype=np.int64)


def stamp_offset_ns(recv_ns: np.ndarray, stamp_ns: np.ndarray) -> int:
    """How far a stream's header stamp clock sits from the clock its receive times were taken
    with: the median of stamp - receive time (ns; 0 for no message). The one measure of it
    (on_receive_clock, bag2zarr's clock notes, `dp-ros inspect`): a median, so a few late
    messages do not move it."""
    stamps = np.asarray(stamp_ns, dtype=np.int64)
    if len(stamps) == 0:
        return 0
    return int(np.median(stamps - np.asarray(recv_ns, dtype=np.int64)))


def on_receive_clock(recv_ns: np.ndarray, stamp_ns: np.ndarray) -> bool:
    """Whether a stream's header stamps are on the clock its receive times were taken with:
    their offset from them (stamp_offset_ns) within OTHER_CLOCK_S (a real robot's drivers
    stamp on the recorder's clock; a sim's stamps are on its own)."""
    return abs(stamp_offset_ns(recv_ns, stamp_ns)) <= OTHER_CLOCK_S * 1e9


def place_unstamped(recv_ns: np.ndarray, ref_recv_ns: np.ndarray, ref_stamp_ns: np.ndarray,
                    ) -> np.ndarray:
    """Receive times of an unstamped stream (stamp 0, or no header) as times on a stamped
    reference stream's clock.

    Where the reference is stamped on the receive clock (a real robot), the receive time
    itself: the policy node, on that clock, takes such a message when it receives it, and a
    command received after t_k is not due at t_k. Where it is on another clock (a lockstep
    sim's), the stamp of the reference message received last before it
    (recv_to_reference_stamps): in lockstep a command answers that observation's step.
    """
    if on_receive_clock(ref_recv_ns, ref_stamp_ns):
        return np.asarray(recv_ns, dtype=np.int64).copy()
    return recv_to_reference_stamps(recv_ns, ref_recv_ns, ref_stamp_ns)


def recv_to_reference_stamps(recv_ns: np.ndarray, ref_recv_ns: np.ndarray,
                             ref_stamp_ns: np.ndarray) -> np.ndarray:
    """Receive times of an unstamped stream on a stamped reference stream's clock.

    A message gets the stamp of the reference message received last before it: a command
    stamped 0 ("now") answers the observation that came before it, and in lockstep "now" is
    that observation's step, however long the answer took. Messages received before any
    reference message keep their offset to the first one.
    """
    order = np.argsort(ref_recv_ns, kind='stable')
    ref_recv = np.asarray(ref_recv_ns, dtype=np.int64)[order]
    ref_stamps = np.asarray(ref_stamp_ns, dtype=np.int64)[order]
    recv = np.asarray(recv_ns, dtype=np.int64)
    if len(ref_recv) == 0:
        return recv.copy()
    index = np.searchsorted(ref_recv, recv, side='right') - 1
    before = index < 0
    out = ref_stamps[np.maximum(index, 0)].copy()
    out[before] = ref_stamps[0] - (ref_recv[0] - recv[before])
    return out


@dataclass
class RateStats:
    count: int
    rate_hz: float  # from the median period
    drops: int  # messages missing where the period stretched over 1.5 median periods
    max_gap_s: float


def rate_stats(times_ns: np.ndarray | Sequence[np.ndarray]) -> RateStats:
    """Rate and drops of a stream, or of its pieces (episodes: the pauses between them are
    not drops)."""
    pieces = [times_ns] if isinstance(times_ns, np.ndarray) else list(times_ns)
    pieces = [np.sort(np.asarray(p, dtype=np.int64)) for p in pieces]
    count = sum(len(p) for p in pieces)
    diffs = np.concatenate([np.diff(p) for p in pieces] + [np.zeros(0, np.int64)])
    positive = diffs[diffs > 0]
    if len(positive) == 0:
        return RateStats(count, 0.0, 0, 0.0)
    period = float(np.median(positive))
    long = diffs[diffs > 1.5 * period]
    drops = int(np.sum(np.round(long / period) - 1))
    return RateStats(count, 1e9 / period, drops, float(diffs.max()) / 1e9)
