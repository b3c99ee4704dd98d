"""Resampling onto the control grid: alignment, tolerance, trajectories, gaps, markers."""
from __future__ import annotations

import numpy as np
import pytest
from support import DT_NS as DT
from support import MS

from training.resample import (
    cut_episodes,
    grid_start,
    make_grid,
    marker_windows,
    rate_stats,
    recv_to_reference_stamps,
    recv_to_stamp_boundaries,
    repeated_states,
    sample_indices,
    trajectory_targets,
    valid_runs,
)


def test_grid_includes_both_ends_and_rejects_bad_period():
    assert make_grid(5, 5 + 3 * DT, DT).tolist() == [5, 5 + DT, 5 + 2 * DT, 5 + 3 * DT]
    assert make_grid(0, 3 * DT - 1, DT).tolist() == [0, DT, 2 * DT]
    assert len(make_grid(10, 9, DT)) == 0
    with pytest.raises(ValueError, match='positive'):
        make_grid(0, 1, 0)


def test_nearest_picks_closest_message_within_tolerance():
    times = np.array([0, 98, 205, 390]) * MS
    grid = make_grid(0, 4 * DT, DT)
    index, valid = sample_indices(times, grid, 20 * MS, 'nearest')
    assert valid.tolist() == [True, True, True, False, True]
    assert index[valid].tolist() == [0, 1, 2, 3]
    # a wider tolerance fills the hole at 300 ms with its nearer neighbour (390 ms)
    index, valid = sample_indices(times, grid, 95 * MS, 'nearest')
    assert valid.all() and index.tolist() == [0, 1, 2, 3, 3]


def test_previous_never_looks_into_the_future():
    times = np.array([0, 102, 199]) * MS
    grid = make_grid(0, 2 * DT, DT)
    index, valid = sample_indices(times, grid, 50 * MS, 'previous')
    # at 100 ms only the message from 0 ms is in the past, and it is too old
    assert valid.tolist() == [True, False, True]
    assert index[2] == 2
    index, valid = sample_indices(times, grid, 150 * MS, 'previous')
    assert index.tolist() == [0, 0, 2] and valid.all()


def test_sampling_checks_inputs():
    with pytest.raises(ValueError, match='sorted'):
        sample_indices(np.array([2, 1]), np.array([0]), 1)
    with pytest.raises(ValueError, match='align'):
        sample_indices(np.array([1]), np.array([0]), 1, 'linear')
    index, valid = sample_indices(np.zeros(0, np.int64), make_grid(0, DT, DT), DT)
    assert not valid.any()


def test_trajectory_point_due_at_grid_time_with_replacement_and_hold():
    grid = make_grid(0, 6 * DT, DT)
    # chunk A at 0: points due 0, 100, 200, 300; chunk B stamped 200: due 250 (late), 350
    stamps = np.array([0, 200 * MS])
    due = [np.array([0, 100, 200, 300]) * MS, np.array([250, 350]) * MS]
    pos = [np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[20.0], [30.0]])]
    values, valid = trajectory_targets(stamps, due, pos, grid, 60 * MS, dim=1)
    # t=200: B replaced A (whose point due 200 never applies) and B's first point is not due
    # yet: the controller holds A's target from t=100, 100 ms old -> beyond the tolerance.
    # t=300: B's point due 250; t=400: B's 350; t=500: 350 is 150 ms old -> a gap
    assert valid.tolist() == [True, True, False, True, True, False, False]
    assert values[valid, 0].tolist() == [0.0, 1.0, 20.0, 30.0]
    values, valid = trajectory_targets(stamps, due, pos, grid, 150 * MS, dim=1)
    assert values[:, 0].tolist() == [0.0, 1.0, 1.0, 20.0, 30.0, 30.0, 0.0]
    assert valid.tolist() == [True] * 6 + [False]


def test_trajectory_slack_finds_the_point_for_an_early_grid_time():
    stamps = np.array([0])
    due = [np.array([0, 100, 200]) * MS]
    pos = [np.array([[0.0], [1.0], [2.0]])]
    early = make_grid(0, 2 * DT, DT) - 20 * MS  # grid times 20 ms early
    values, valid = trajectory_targets(stamps, due, pos, early, 50 * MS, dim=1)
    assert not valid.any()  # each grid time sees the previous point, 80 ms old
    values, valid = trajectory_targets(stamps, due, pos, early, 50 * MS, dim=1,
                                       slack_ns=49 * MS)
    assert valid.all() and values[:, 0].tolist() == [0.0, 1.0, 2.0]


def test_grid_starts_at_the_first_reference_stamp_unless_the_phase_is_asked_for():
    rng = np.random.default_rng(0)
    times = 7 * DT + np.arange(50) * DT + rng.integers(-20, 21, 50) * MS
    times[0] = 7 * DT + 19 * MS
    assert grid_start(times, DT) == 7 * DT + 19 * MS  # default: first_reference, exactly
    # a control-rate stream's phase only when asked: its first jitter does not move the grid
    assert abs(grid_start(times, DT, 'reference_phase') - 7 * DT) < 5 * MS
    with pytest.raises(ValueError, match='grid_start'):
        grid_start(times, DT, 'middle')


@pytest.mark.parametrize('rounding', [-1, 0, 1])
def test_a_30_hz_reference_starts_the_grid_at_its_first_frame(rounding):
    # the bug: 30 Hz stamps have three phases on a 100 ms grid (0, 1/3, 2/3) that cancel, so
    # their mean phase lands wherever rounding puts it; the first frame is where it starts
    times = np.array([round(i * 1e9 / 30) for i in range(90)], dtype=np.int64) + rounding
    start = grid_start(times, DT)
    assert start == rounding
    grid = make_grid(start, int(times[-1]), DT)
    index, valid = sample_indices(times, grid, 40 * MS)
    assert valid.all() and index.tolist() == list(range(0, 90, 3))


def test_trajectory_before_its_first_point_is_invalid():
    values, valid = trajectory_targets(np.array([150 * MS]), [np.array([150 * MS])],
                                       [np.array([[1.0, 2.0]])], make_grid(0, 2 * DT, DT),
                                       60 * MS, dim=2)
    assert valid.tolist() == [False, False, True]  # at 100 ms the point is not due yet
    assert values[2].tolist() == [1.0, 2.0]
    assert not trajectory_targets(np.zeros(0), [], [], make_grid(0, DT, DT), DT, 2)[1].any()


def test_runs_and_cuts():
    valid = np.array([0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0], dtype=bool)
    assert valid_runs(valid) == [(1, 4), (6, 10), (11, 12)]
    cut = cut_episodes(valid, 'split', min_steps=2)
    assert cut.ranges == [(1, 4), (6, 10)]
    assert cut.trimmed_steps == 2 and cut.gaps == [(4, 6), (10, 11)]
    assert cut.dropped_steps == 1 and 'shorter than 2' in cut.reason
    dropped = cut_episodes(valid, 'drop')
    assert dropped.ranges == [] and dropped.dropped_steps == 8 and 'on_gap=drop' in dropped.reason
    clean = cut_episodes(np.array([0, 1, 1, 0], dtype=bool), 'drop')
    assert clean.ranges == [(1, 3)] and clean.gaps == [] and clean.trimmed_steps == 2
    assert cut_episodes(np.zeros(3, bool)).ranges == []
    with pytest.raises(ValueError, match='on_gap'):
        cut_episodes(valid, 'fill')


def test_marker_windows_for_each_role():
    t = np.array([10, 20, 30])
    assert marker_windows(t, ['', '', ''], 'end') == [(-np.inf, 10), (10, 20), (20, 30)]
    assert marker_windows(t, ['', '', ''], 'start') == [(10, 20), (20, 30), (30, np.inf)]
    # Bool markers: true opens, false closes; data between false and true is dropped; a
    # repeated true (a level published now and then) does not cut the episode
    t = np.array([10, 20, 30, 40, 50, 60])
    roles = ['start', 'end', 'start', 'start', 'end', 'end']
    assert marker_windows(t, roles, 'bool') == [(10, 20), (30, 50)]
    assert repeated_states(roles, range(6)) == 2
    assert repeated_states(['end', 'start', 'end'], range(3)) == 0  # a first false: no repeat
    assert marker_windows(np.array([10]), ['start'], 'bool') == [(10, np.inf)]
    # a level: a leading end closes nothing, a marker of no role is ignored
    assert marker_windows(np.array([5, 10, 20, 25, 30, 40]),
                          ['end', 'start', 'end', '', 'start', 'end'], 'bool') == [(10, 20),
                                                                                (30, 40)]
    # a String saying start / stop under marker_role 'end': the stretch between a stop and
    # the next start is no episode, and one started but never stopped runs to the bag's end
    assert marker_windows(t[:4], ['start', 'end', 'start', 'end'], 'end') == [(10, 20),
                                                                            (30, 40)]
    assert marker_windows(t[:3], ['start', 'end', 'start'], 'end') == [(10, 20), (30, np.inf)]


def test_marker_boundary_is_where_the_next_episode_starts():
    # reference stream: sim stamps 0..4 (episode 1) then 6..8 (episode 2); the receive clock
    # is wall time and the sim clock stood still between the episodes (lockstep)
    stamps = np.array([0, 1, 2, 3, 4, 6, 7, 8]) * DT
    recv = 10**18 + np.array([0, 1, 2, 3, 4, 60, 61, 62]) * DT
    marker = np.array([recv[4] + 30 * DT])  # long after step 4, before step 6
    half = DT // 2
    boundary = recv_to_stamp_boundaries(marker, recv, stamps, recv, stamps, half)
    assert boundary.tolist() == [6 * DT]
    # step 4's image arrives late, after the marker; its joint state came in time
    late = recv.copy()
    late[4] = recv[5] + 1 * MS
    joints_recv, joints_stamps = recv[:5] + 2 * MS, stamps[:5]
    boundary = recv_to_stamp_boundaries(marker, late, stamps,
                                        np.concatenate([late, joints_recv]),
                                        np.concatenate([stamps, joints_stamps]), half)
    assert boundary.tolist() == [6 * DT]  # so step 4 (stamp 4) stays in episode 1
    # a marker before any message: the episode after it starts at the first stamp
    early = recv_to_stamp_boundaries(np.array([0]), recv, stamps, recv, stamps, half)
    assert early.tolist() == [0]
    # the stamps restart at the marker (a clock reset): no stamp-domain boundary
    reset = np.array([0, 1, 2, 3, 4, 0, 1, 2]) * DT
    assert recv_to_stamp_boundaries(marker, recv, reset, recv, reset, half) is None
    # nothing after the last marker: it bounds nothing
    last = recv_to_stamp_boundaries(np.array([recv[-1] + 1]), recv, stamps, recv, stamps, half)
    assert last[0] == np.iinfo(np.int64).max


def test_unstamped_commands_take_the_stamp_of_the_observation_they_answer():
    # lockstep: sim stamps 0, 100, 200 ms; wall receive times far apart (slow answers)
    ref_stamps = np.array([0, 1, 2]) * DT
    ref_recv = 10**18 + np.array([0, 900, 1500]) * MS
    commands = 10**18 + np.array([-5, 40, 1400, 1600]) * MS
    mapped = recv_to_reference_stamps(commands, ref_recv, ref_stamps)
    assert mapped.tolist() == [-5 * MS, 0, 1 * DT, 2 * DT]
    assert recv_to_reference_stamps(commands, np.zeros(0), np.zeros(0)).tolist() == \
        commands.tolist()


def test_rate_stats_count_drops_inside_pieces_only():
    times = np.array([0, 1, 2, 4, 5]) * DT  # one message missing at 3
    stats = rate_stats(times)
    assert stats.count == 5 and stats.drops == 1
    assert stats.rate_hz == pytest.approx(10.0) and stats.max_gap_s == pytest.approx(0.2)
    # two episodes with a pause between them: the pause is no drop
    pieces = rate_stats([np.array([0, 1, 2]) * DT, np.array([10, 11, 12]) * DT])
    assert pieces.count == 6 and pieces.drops == 0
    assert rate_stats(np.array([5])).rate_hz == 0.0
