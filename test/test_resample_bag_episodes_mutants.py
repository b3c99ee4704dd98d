"""training/resample.py and training/bag_episodes.py: behaviour a mutation review found no
test of. Each test names what it guards; a change that breaks it was left passing by the rest
of the suite (a grid of one step, the reference phase moved back before its mean or truncated,
two messages stamped alike, a tie under 'nearest', two trajectories stamped alike, the slack
at half a point spacing, a point due exactly as its replacement arrives, the steps of a window
no grid time has every stream in, ...).

Plain arrays for the resampling rules, real bags (the project's BagRecorder, through
test_bag_stamp_faults' writers) for what bag_episodes does with them.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from support import DT_NS as DT
from support import MS
from test_bag2zarr_damaged_jpeg import EOI, picture
from test_bag2zarr_shared_topic import ARM, GRIPPER
from test_bag2zarr_shared_topic import write_bag as write_shared_topic_bag
from test_bag_episodes_lockstep_step0 import write_lockstep_bag
from test_bag_stamp_faults import PERIOD, write_bag

from dp_ros.bags.reader import BagError, BagReadError, Stream, open_bag
from dp_ros.bags.recorder import (
    BagRecorder,
    float_array_message,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training.bag2zarr_config import config_from_dict
from training.bag_episodes import BagReport, iter_bag_episodes, on_sim_time, sim_clock_stream
from training.resample import (
    cut_episodes,
    grid_start,
    make_grid,
    on_receive_clock,
    point_slack,
    recv_to_reference_stamps,
    recv_to_stamp_boundaries,
    replaced_before_due,
    sample_indices,
    stamp_restarts,
    trajectory_targets,
)

LATE = 10 * MS  # the jitter allowance at 10 Hz
W = 10**18  # a wall-clock receive time
HALF = DT // 2  # the margin bag_episodes gives the stamp rules: half a period
NS = 10**9
WALL = 1_700_000_000 * NS  # a wall-clock time (2023)
JS = 'sensor_msgs/msg/JointState'


def bag_episodes(path, raw: dict) -> tuple[list[dict], BagReport]:
    """The episodes iter_bag_episodes gives for the bag at `path` under config `raw`, and
    its report."""
    report = BagReport(str(path))
    with open_bag(path) as bag:
        episodes = list(iter_bag_episodes(bag, config_from_dict(raw), report, progress=False))
    return episodes, report


# ---------------------------------------------------------------------------- the grid
def test_a_grid_from_a_time_to_itself_is_one_step():
    """make_grid includes both ends: start == stop is that one step, not none (a window whose
    grid spans no period still has its first step)."""
    assert make_grid(7 * DT, 7 * DT, DT).tolist() == [7 * DT]
    assert len(make_grid(7 * DT, 7 * DT - 1, DT)) == 0


def test_the_phase_for_at_or_before_never_moves_the_grid_before_the_mean():
    """after_stamps moves the grid on from the stamps' mean phase, never back: 99 stamps on
    the grid and one 40 ms late put the mean 95 us after the grid, and the 95% quantile of
    the phases around it (all others, 95 us before it) must not pull it back (the clamp at
    0): the grid is where it is without after_stamps."""
    times = np.arange(100) * DT
    times[37] += 40 * MS
    mean_only = grid_start(times, DT, 'reference_phase')
    assert 0 < mean_only < MS
    assert grid_start(times, DT, 'reference_phase', after_stamps=True) == mean_only


def test_the_reference_phase_is_rounded_to_the_nearest_nanosecond():
    """Stamps all 1 ns off a grid (but the first, which the phases are taken from) give a
    start 1 ns off it either way: rounded, not truncated towards 0 (int() would give the
    first stamp in both cases)."""
    assert grid_start(np.array([0, DT + 1, 2 * DT + 1, 3 * DT + 1]), DT,
                      'reference_phase') == 1
    assert grid_start(np.array([0, DT - 1, 2 * DT - 1, 3 * DT - 1]), DT,
                      'reference_phase') == -1


# ---------------------------------------------------------------------------- sampling
def test_two_messages_stamped_alike_are_sampled_not_refused():
    """Stamps must be sorted, not distinct: a driver that sends two messages with one stamp
    (a republished state) is sampled, and at or before a grid time the newer of the two (the
    later in sorted, receive order) is taken, as the policy node takes it."""
    stamps = np.array([0, 100, 100, 200]) * MS
    index, valid = sample_indices(stamps, np.array([100, 150]) * MS, 60 * MS)
    assert index.tolist() == [2, 2] and valid.all()
    index, valid = sample_indices(stamps, np.array([120, 190]) * MS, 60 * MS, 'nearest')
    assert index.tolist() == [2, 3] and valid.all()


def test_nearest_takes_the_newer_message_on_a_tie():
    """'nearest' with a grid time exactly half way between two messages takes the later one
    (the fresher data), not the earlier."""
    index, valid = sample_indices(np.array([0, 100]) * MS, np.array([50]) * MS, 60 * MS,
                                  'nearest')
    assert index.tolist() == [1] and valid.all()


def test_nearest_takes_the_same_of_two_messages_stamped_alike_at_and_after_their_stamp():
    """Two messages with one stamp: the grid time exactly at it and 1 ns after it take the
    same one of them, the later, as at_or_before does (nearest took the older at the stamp,
    the newer 1 ns later: a defect the review found)."""
    stamps = np.array([0, 100, 100, 200]) * MS
    at, _ = sample_indices(stamps, np.array([100 * MS]), 60 * MS)
    assert at.tolist() == [2]
    index, valid = sample_indices(stamps, np.array([100 * MS, 100 * MS + 1]), 60 * MS,
                                  'nearest')
    assert index.tolist() == [2, 2]


# ---------------------------------------------------------------------------- trajectories
def test_of_two_trajectories_stamped_alike_the_later_received_wins():
    """Two commands with one stamp: the one received later (later in the list, the stable
    order by stamp) replaces the other at every grid time, even where the other started
    earlier by its slack (a dense trajectory's slack is under half its 10 ms spacing; a
    single point's is the whole 49 ms): the latest stamp among those started, not the last
    to start."""
    stamps = np.array([0, 0])
    due = [np.arange(0, 100 * MS, 10 * MS), np.array([0])]
    pos = [np.arange(10.0)[:, None], np.array([[50.0]])]
    values, valid = trajectory_targets(stamps, due, pos, np.array([-20, 0, 10]) * MS,
                                       50 * MS, 1, 49 * MS, LATE)
    assert valid.all() and values[:, 0].tolist() == [50.0, 50.0, 50.0]


def test_the_slack_stays_under_half_a_point_spacing():
    """A grid time exactly half way between two points (5 ms into a 10 ms spacing) takes the
    earlier point: the slack is under half the spacing (4.999999 ms), never half of it,
    which would take the point due after the grid time (an action from the future)."""
    assert point_slack(np.array([0, 10 * MS]), 49 * MS) == 5 * MS - 1
    values, valid = trajectory_targets(np.array([0]), [np.arange(0, 100 * MS, 10 * MS)],
                                       [np.arange(10.0)[:, None]], np.array([5, 15]) * MS,
                                       50 * MS, 1, 49 * MS, LATE)
    assert valid.all() and values[:, 0].tolist() == [0.0, 1.0]


def test_points_due_at_the_same_time_leave_the_slack_to_the_other_spacings():
    """Two points of a trajectory due at the same time (a repeated point) are no spacing of
    0: the slack is taken from the others (20 ms: 9.999999 ms), not -1 ns, which would make
    a grid time exactly at a point's due time miss it."""
    assert point_slack(np.array([0, 0, 20 * MS]), 49 * MS) == 10 * MS - 1
    values, valid = trajectory_targets(np.array([0]), [np.array([0, 0, 20 * MS])],
                                       [np.array([[1.0], [2.0], [3.0]])],
                                       np.array([0, 20 * MS]), 5 * MS, 1, 49 * MS, LATE)
    assert valid.all() and values[:, 0].tolist() == [2.0, 3.0]


def test_a_replaced_point_exactly_at_the_tolerance_counts():
    """The replaced command's point is a target within the tolerance, its bound included (as
    a held point's is): due at 100 ms, the grid time 150 ms, the tolerance 50 ms."""
    stamps = np.array([0, 105 * MS])
    due = [np.array([DT]), np.array([105 * MS + DT])]
    pos = [np.array([[1.0]]), np.array([[2.0]])]
    values, valid = trajectory_targets(stamps, due, pos, np.array([150 * MS]), 50 * MS, 1,
                                       0, LATE)
    assert valid.tolist() == [True] and values[0, 0] == 1.0
    _, valid = trajectory_targets(stamps, due, pos, np.array([150 * MS + 1]), 50 * MS, 1, 0,
                                  LATE)
    assert valid.tolist() == [False]


def test_a_point_due_just_as_the_allowance_after_its_replacement_was_reached():
    """replaced_before_due counts as trajectory_targets does: a point due exactly the jitter
    allowance after the next command arrived was reached (trajectory_targets takes it), so
    that command was not replaced before its point fell due."""
    stamps = np.array([0, 90 * MS])
    due = [np.array([DT]), np.array([190 * MS])]
    values, valid = trajectory_targets(stamps, due, [np.array([[1.0]]), np.array([[2.0]])],
                                       np.array([DT]), 50 * MS, 1, 0, LATE)
    assert valid.tolist() == [True] and values[0, 0] == 1.0
    assert replaced_before_due(stamps, due, LATE) == 0
    assert replaced_before_due(stamps, due, LATE - 1) == 1


# ---------------------------------------------------------------------------- cutting
def test_a_window_without_a_common_time_trims_all_its_steps():
    """No grid time has every stream: every step is trimmed (the report's count), none kept,
    and the reason says so."""
    cut = cut_episodes(np.zeros(3, dtype=bool))
    assert (cut.ranges, cut.trimmed_steps, cut.gaps, cut.dropped_steps) == ([], 3, [], 0)
    assert cut.reason == 'no grid time has every stream'


# ---------------------------------------------------------------------------- clocks, markers
def test_a_message_received_with_the_marker_counts_as_before_it():
    """A joint state received at the very instant of the end marker was seen before it: the
    next episode starts at the first frame newer than it (6), so the late frame 4, received
    after the marker, stays in the first episode instead of opening the second."""
    stamps = np.array([0, 1, 2, 3, 4, 6, 7, 8]) * DT
    recv = W + np.array([0, 1, 2, 3, 4, 60, 61, 62]) * DT
    marker = recv[4] + 30 * DT
    recv[4] = recv[5] + MS  # frame 4 arrives after the marker
    js_recv = np.array([*(recv[:4] + 2 * MS), marker])  # joint state 4 with the marker
    boundary = recv_to_stamp_boundaries(np.array([marker]), recv, stamps,
                                        np.concatenate([recv, js_recv]),
                                        np.concatenate([stamps, stamps[:5]]), HALF)
    assert boundary.tolist() == [6 * DT]


def test_a_burst_of_late_frames_within_the_margin_is_no_restart():
    """Three frames of the first episode delivered late, after the marker, stamped up to
    40 ms before the newest seen (within the half-period margin): their median is no clock
    reset, so the boundary stays in the stamp domain, at the next episode's first frame."""
    stamps = np.array([0, 1, 2, 3, 4, 0, 0, 0, 6, 7]) * DT
    stamps[5:8] = 4 * DT - np.array([40, 30, 20]) * MS
    recv = W + np.array([0, 1, 2, 3, 4, 40, 41, 42, 60, 61]) * DT
    boundary = recv_to_stamp_boundaries(np.array([recv[4] + 30 * DT]), recv, stamps, recv,
                                        stamps, HALF)
    assert boundary is not None and boundary.tolist() == [6 * DT]


def test_a_marker_before_any_message_opens_at_the_earliest_stamp():
    """Before anything was seen, the episode after a marker starts at the earliest reference
    stamp, not the first received: a frame delivered out of order at the start is kept."""
    recv = W + np.arange(4) * DT
    stamps = np.array([2, 1, 3, 4]) * DT
    assert recv_to_stamp_boundaries(np.array([W - 1]), recv, stamps, recv, stamps,
                                    HALF).tolist() == [DT]


def test_one_message_out_of_order_is_no_restart():
    """stamp_restarts needs the median of the stamps from there on to fall back too: one
    frame stamped three periods late among in-order ones restarts nothing (else the bag is
    split there by receive time)."""
    recv = W + np.arange(12) * DT
    stamps = np.arange(12) * DT
    stamps[5] = 2 * DT
    assert stamp_restarts(recv, stamps, HALF).tolist() == []


def test_a_restart_boundary_lies_half_way_between_the_receive_times():
    """The cut lies half way between the last message of the old run and the first of the
    new (received 110 ms apart: 55 ms after the former), so a message of another stream
    received just before the new run's first one stays with the new run."""
    recv = W + np.arange(12) * DT + np.array([0] * 6 + [10 * MS] * 6)
    stamps = np.arange(12) * DT
    stamps[6:] -= 8 * DT
    assert (stamp_restarts(recv, stamps, HALF) - W).tolist() == [5 * DT + 55 * MS]


def test_each_step_back_of_jittered_stamps_is_a_restart():
    """Stamps that jitter (steps of 40 to 110 ms) and go back 300 ms three times: three
    restarts, each cut half way between the receive times around it. The stamp before the
    second (280 ms, 50 ms above the median of those after it, within the margin) counts as
    the newest, so the fall from the 390 ms spike to 90 ms is one."""
    stamps = np.array([40, -260, -170, -130, -30, 80, 180, 280, 390, 90, 130, 230, 270, -30,
                       70]) * MS
    recv = W + np.arange(15) * DT
    assert (stamp_restarts(recv, stamps, HALF) - W).tolist() == [50 * MS, 850 * MS, 1250 * MS]


def test_a_single_stamp_far_ahead_is_no_newest_to_fall_back_from():
    """One stamp 10 s ahead of the rest (a glitch) is not counted as the newest (the median
    after it is far below it): the stamps after it, in order, are no restart."""
    recv = W + np.arange(12) * DT
    stamps = np.arange(12) * DT
    stamps[3] = 100 * DT
    assert stamp_restarts(recv, stamps, HALF).tolist() == []


def test_stamps_exactly_a_second_from_their_receipt_are_on_the_receive_clock():
    """OTHER_CLOCK_S bounds the offset inclusively: 1 s exactly is still the receive clock,
    a nanosecond more is another clock, either sign."""
    recv = W + np.arange(5) * DT
    assert on_receive_clock(recv, recv + 10**9) and on_receive_clock(recv, recv - 10**9)
    assert not on_receive_clock(recv, recv + 10**9 + 1)


def test_an_unstamped_message_received_with_a_reference_message_takes_its_stamp():
    """A command received at the same instant as an observation answers that observation
    (the reference message received last at or before it), not the one before."""
    ref_recv = W + np.array([0, 1, 2]) * DT
    mapped = recv_to_reference_stamps(np.array([W + DT, W + DT - 1]), ref_recv,
                                      np.array([5, 6, 7]) * DT)
    assert mapped.tolist() == [6 * DT, 5 * DT]


# ---------------------------------------------------------------------------- bag_episodes
def test_a_clock_that_stopped_within_a_second_of_the_reference_is_its_clock():
    """/clock published only while the sim started (0 to 0.2 s), the reference's stamps from
    0 to 2 s (median 1 s): within a second of the clock's span, the same clock, so unstamped
    messages are placed on it (sim_clock_stream), not on the reference stamp before them."""
    recv = [WALL + k * 100 * MS for k in range(21)]
    ref = Stream('/js', JS, [k * 100 * MS for k in range(21)], recv, [()] * 21)
    clock = Stream('/clock', 'rosgraph_msgs/msg/Clock', [0] * 3, recv[:3],
                   [0, 100 * MS, 200 * MS])
    placed = sim_clock_stream(clock, ref)
    assert placed is not None and placed.stamps_ns == [0, 100 * MS, 200 * MS]
    longer = Stream('/js', JS, [k * 200 * MS for k in range(21)], recv, [()] * 21)
    assert sim_clock_stream(clock, longer) is None  # median 2 s: 1.8 s past the clock


def test_one_stamp_before_2000_among_wall_clock_stamps_is_no_sim_time():
    """on_sim_time goes by the stamps' median: a camera whose first frame carries its
    driver's uptime (2 h, no unset 0) among wall-clock stamps ran on the wall clock, and the
    store must not say SIM_TIME (the policy node would be told use_sim_time)."""
    recv = [WALL + k * 100 * MS for k in range(21)]
    ref = Stream('/cam', 'sensor_msgs/msg/Image', [7200 * NS, *recv[1:]], recv, [()] * 21)
    assert not on_sim_time(ref, None)
    sim = Stream('/cam', 'sensor_msgs/msg/Image', [k * 100 * MS for k in range(21)], recv,
                 [()] * 21)
    assert on_sim_time(sim, None)


def test_a_never_stamped_command_stream_stays_unstamped_in_the_report(tmp_path):
    """Answers all stamped 0 (a teleop tool's) are placed on the reference clock for
    sampling, but the stream is still reported as unstamped, with its own receive-time rate
    (33 Hz: lockstep runs faster than real time) and the note saying how it was placed; it
    does not become a stamped 10 Hz stream (its placement written into its stamps)."""
    write_lockstep_bag(tmp_path / 'b', reply_0_late=False, unstamped=True)
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                 'action': {'joint_trajectory': '/cmd', 'joints': ['j1']}}})
    cmd = {t.topic: t for t in report.topics}['/cmd']
    assert not cmd.stamped and cmd.rate_hz == pytest.approx(1000 / 30)
    assert '/cmd: header stamps are zero, placed at the /js stamp last received before each ' \
           "(its stamps are on another clock: a sim's)" in report.notes
    assert report.episode_lengths == [10]
    np.testing.assert_array_equal(episodes[0]['action'][:, 0], np.arange(10.0))


def test_stops_before_the_first_chunk_in_a_wall_clock_bag_are_placed_on_receipt(tmp_path):
    """A policy node that holds (one-point trajectories stamped 0, "now", value 99) for three
    steps before its first chunk, in a wall-clock bag: no sim's step 0 there (no reference
    stamp is 0), so they are placed on receipt and are the first three steps' actions, not
    left in 1970 (three steps trimmed, the stops lost)."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        ts = rec.typestore
        for k in range(10):
            t = WALL + k * DT
            rec.write('/js', JS, t + MS, joint_state_message(ts, ['j1'], np.array([float(k)]), t))
            rec.write('/cmd', 'trajectory_msgs/msg/JointTrajectory', t + 5 * MS,
                      trajectory_message(ts, ['j1'], np.array([[99.0 if k < 3 else k]]),
                                         0 if k < 3 else t, DT))
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                 'action': {'joint_trajectory': '/cmd', 'joints': ['j1']}}})
    assert report.episode_lengths == [10] and report.trimmed_steps == 0
    assert episodes[0]['action'][:, 0].tolist() == [99.0] * 3 + list(range(3, 10))


def test_a_marker_topic_without_messages_converts_nothing_with_a_note(tmp_path):
    """A bag recorded with its marker topic but no marker sent (the button never pressed):
    not the error of a data topic without messages, but the note that its messages lie
    outside every episode, and the bag's topics reported (the marker's count 0)."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        rec.add_topic('/marker', 'std_msgs/msg/Bool')
        for k in range(10):
            t = WALL + k * DT
            rec.write('/js', JS, t + MS, joint_state_message(rec.typestore, ['j1'],
                                                             np.array([float(k)]), t))
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js', 'episodes': {'marker': '/marker'},
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']}}})
    assert episodes == [] and report.episode_lengths == []
    assert [(t.topic, t.count) for t in report.topics] == [('/js', 10), ('/marker', 0)]
    assert report.notes == ['10 /js message(s) lie outside every episode the /marker markers '
                            'bound (before the first start, after the last end or between an '
                            'end and the next start): not converted']


def test_a_drop_just_after_an_episodes_first_frame_is_counted(tmp_path):
    """Marked episodes start at their first frame's stamp exactly (a stamp-domain boundary):
    that frame belongs to the episode's piece of the rate statistics, so the frame missing
    right after it (21) is a drop of /cam and /js, and their longest gap 0.2 s."""
    frames = [*range(10), 20, *range(22, 30)]
    stamps = [WALL + i * PERIOD for i in frames]
    write_bag(tmp_path / 'b', stamps, list(stamps), markers=(
        (WALL - MS, True), (WALL + 9 * PERIOD + 50 * MS, False),
        (WALL + 19 * PERIOD + 50 * MS, True)))
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/cam', 'episodes': {'marker': '/marker'},
        'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']}}})
    topics = {t.topic: t for t in report.topics}
    for topic in ('/cam', '/js'):
        assert (topics[topic].drops, topics[topic].max_gap_s) == (1, pytest.approx(0.2))


def test_only_inputs_read_at_their_own_time_decide_whether_the_reference_is_read(tmp_path):
    """The reference /js (90 ms) is read only as a future state (offset 0.1 s): no input of
    the node, so the inputs slower than it are named: /cam_b (5 Hz), not /cam_a, whose 10 Hz
    is exactly 0.9 of the reference's rate (SLOWER is a strict bound)."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        ts = rec.typestore
        messages = [(WALL + k * 90 * MS + MS, '/js', JS, joint_state_message(
            ts, ['j1'], np.array([float(k)]), WALL + k * 90 * MS)) for k in range(45)]
        for k in range(40):
            t = WALL + k * DT
            frame = image_message(ts, np.full((4, 4, 3), k, np.uint8), t)
            messages.append((t + 2 * MS, '/cam_a', 'sensor_msgs/msg/Image', frame))
            if k % 2 == 0:
                messages.append((t + 3 * MS, '/cam_b', 'sensor_msgs/msg/Image', frame))
        for recv, topic, msgtype, msg in sorted(messages, key=lambda m: m[0]):
            rec.write(topic, msgtype, recv, msg)
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js', 'image_dtype': 'uint8',
        'keys': {'a': {'image': '/cam_a'}, 'b': {'image': '/cam_b', 'tolerance': 0.25},
                 'future': {'joint_state': '/js', 'joints': ['j1'], 'offset': 0.1}}})
    slower = [note.split(' ')[0] for note in report.notes if 'is slower than' in note]
    assert slower == ['/cam_b']


@pytest.mark.parametrize('damaged', [5, 6])
def test_five_damaged_frames_are_all_named(tmp_path, damaged):
    """The note names up to five damaged frames in full; only a sixth makes it '...'."""
    places = [3 * (i + 1) for i in range(damaged)]
    with BagRecorder(tmp_path / 'b') as rec:
        ts = rec.typestore
        for k in range(30):
            t = WALL + k * DT // 3
            ok, encoded = cv2.imencode('.jpg', picture(k)[..., ::-1])
            data = encoded.tobytes()
            if k in places:
                data = data[:len(data) // 2] + EOI
            rec.write('/cam', 'sensor_msgs/msg/CompressedImage', t + 2 * MS,
                      ts.types['sensor_msgs/msg/CompressedImage'](
                          header=ts.types['std_msgs/msg/Header'](
                              stamp=ts.types['builtin_interfaces/msg/Time'](
                                  sec=t // NS, nanosec=t % NS), frame_id='cam'),
                          format='jpeg', data=np.frombuffer(data, np.uint8)))
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'image_dtype': 'uint8', 'keys': {'img': {'image': '/cam'}}})
    shown = '3, 6, 9, 12, 15' + (', ...' if damaged > 5 else '')
    assert any(note.startswith(f'/cam: {damaged} damaged JPEG frame(s) left out (messages '
                               f'{shown}; the first: ') for note in report.notes), report.notes


def test_of_two_messages_stamped_alike_the_later_received_is_sampled(tmp_path):
    """A driver that sends each joint state twice with one stamp (the second corrected, +0.5)
    and some pairs late, after the next pair: sorted by stamp, stably, each grid time takes
    the later received of its pair, whatever the arrival order around it (an unstable sort
    takes either)."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        messages = []
        for k in range(40):
            late = DT + 3 * MS if k % 5 == 2 else 0
            messages += [(WALL + k * DT + MS + late, k, float(k)),
                         (WALL + k * DT + 2 * MS + late, k, k + 0.5)]
        for recv, k, value in sorted(messages):
            rec.write('/js', JS, recv, joint_state_message(rec.typestore, ['j1'],
                                                           np.array([value]), WALL + k * DT))
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']}}})
    assert report.episode_lengths == [40]
    assert episodes[0]['state'][:, 0].tolist() == [k + 0.5 for k in range(40)]


@pytest.mark.parametrize('beyond_ns', [0, 1])
def test_stamps_exactly_a_second_apart_in_offset_are_not_called_two_clocks(tmp_path,
                                                                          beyond_ns):
    """When no grid time has every stream, the note on two clocks takes OTHER_CLOCK_S as
    on_receive_clock does, inclusively: joint states whose stamps sit exactly 1 s further
    from their receipt than the camera's are not named; 1 ns more, they are."""
    recv = [WALL + i * PERIOD for i in range(5)]
    write_bag(tmp_path / 'b', list(recv), recv, js_stamps=[t - NS - beyond_ns for t in recv],
              js_recv=[t + 5 * MS for t in recv])
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/cam',
        'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']}}})
    assert report.episode_lengths == [] and 'no grid time has every stream' in report.notes
    assert any('two clocks' in note for note in report.notes) == bool(beyond_ns)


def marked_episodes(path, stamps: list[int], period_s: float = 0.1) -> BagReport:
    """The report of a bag of camera frames (with their joint states) received every 100 ms
    and stamped `stamps`, one start marker before them all."""
    recv = [WALL + i * PERIOD for i in range(len(stamps))]
    write_bag(path, stamps, recv, markers=((WALL - MS, True),))
    return bag_episodes(path, {
        'control_period_s': period_s, 'reference_topic': '/cam',
        'episodes': {'marker': '/marker'},
        'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']}}})[1]


BACKWARDS = '/cam stamps go backwards: episodes split by receive time'


@pytest.mark.parametrize('behind', [4, 5])
def test_stamps_behind_for_the_whole_span_are_a_restart(tmp_path, behind):
    """Inside a marked episode the stamps step 1 s back: behind for 5 frames (exactly the
    500 ms span of receive time) it is a restart, split there (10, 5, 15 steps); for 4
    frames (400 ms) it is a late burst, placed by stamps (no split)."""
    stamps = [WALL + i * PERIOD - (NS if 10 <= i < 10 + behind else 0) for i in range(30)]
    report = marked_episodes(tmp_path / 'b', stamps)
    split = behind == 5
    assert report.episode_lengths == ([10, 5, 15] if split else [10, 16])
    assert any(note.startswith(BACKWARDS) for note in report.notes) == split


def test_the_restart_span_is_at_least_five_control_periods(tmp_path):
    """At a 0.2 s period the span a restart must last is 1 s (five periods), not 500 ms: the
    stamps 1 s behind for 600 ms of receive time are no restart (episodes 6 and 8 steps,
    no split of their own)."""
    stamps = [WALL + i * PERIOD - (NS if 10 <= i < 16 else 0) for i in range(30)]
    report = marked_episodes(tmp_path / 'b', stamps, period_s=0.2)
    assert report.episode_lengths == [6, 8]
    assert not any(note.startswith(BACKWARDS) for note in report.notes)


def test_stamps_back_within_the_margin_of_the_newest_have_caught_up(tmp_path):
    """After three frames 1 s back the stamps stand 10 ms before the newest seen (a clock
    paused just short of it, within half a period) until they move on: caught up 300 ms
    after the restart, which is therefore no restart (no split at it)."""
    stamps = [WALL + i * PERIOD - NS if 10 <= i < 13 else
              WALL + 9 * PERIOD - 10 * MS if 13 <= i < 20 else WALL + i * PERIOD
              for i in range(30)]
    report = marked_episodes(tmp_path / 'b', stamps)
    assert report.episode_lengths == [10, 10]
    assert not any(note.startswith(BACKWARDS) for note in report.notes)


def test_a_reference_topic_shared_by_two_drivers_stays_the_grid(tmp_path):
    """/joint_states as the reference, read as two sources (the arm's j1, j2 at 100 Hz, the
    gripper's g at 20 Hz): each set is a stream of its own, and the topic's own stream stays
    as the grid's reference (deleted, the conversion fails with a KeyError)."""
    write_shared_topic_bag(tmp_path / 'b')
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/joint_states',
        'keys': {'arm': {'joint_state': '/joint_states', 'joints': ARM},
                 'gripper': {'joint_state': '/joint_states', 'joints': GRIPPER}}})
    assert [t.topic for t in report.topics] == ['/joint_states', '/joint_states [j1, j2]',
                                                '/joint_states [g]']
    assert report.episode_lengths == [31]
    np.testing.assert_allclose(episodes[0]['arm'][:3], [[0, 0], [0.1, -0.1], [0.2, -0.2]],
                               rtol=1e-6)


def test_a_restart_just_after_an_episodes_start_marker_splits_nothing(tmp_path):
    """A sim reset between two marked episodes, the start marker received before the
    restart's cut (half way between the two episodes' frames): the second window has no
    reference message before the cut, so it is not split there (no empty window, no split
    inside an episode said)."""
    stamps = [5 * NS + (i % 10) * PERIOD for i in range(20)]  # sim time, reset at frame 10
    write_bag(tmp_path / 'b', stamps, [WALL + i * PERIOD for i in range(20)], markers=(
        (WALL - MS, True), (WALL + 9 * PERIOD + 20 * MS, False),
        (WALL + 9 * PERIOD + 40 * MS, True)))
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/cam', 'episodes': {'marker': '/marker'},
        'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']}}})
    assert report.episode_lengths == [10, 10]
    assert report.notes == [BACKWARDS]


def test_a_long_pause_of_a_sparse_reference_is_no_stamp_far_from_the_others(tmp_path):
    """20 frames with a 300 s pause in the middle (a recording paused between two demos):
    3020 grid steps, more than 100 per message but under the floor of a million steps, so it
    converts (two episodes, the pause one gap) instead of being refused as a clock jump."""
    stamps = [WALL + i * PERIOD + (300 * NS if i >= 10 else 0) for i in range(20)]
    write_bag(tmp_path / 'b', stamps, list(stamps))
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/cam',
        'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']}}})
    assert report.episode_lengths == [10, 10]
    assert [g['steps'] for g in report.gaps] == [3000]


@pytest.mark.parametrize('last_s, converts', [(99_999.85, True), (99_999.97, False)])
def test_a_grid_of_exactly_the_step_limit_converts(tmp_path, last_s, converts):
    """The refusal of a grid that spans too many steps is for more than the limit, counted
    to half a period past the last stamp as the grid is: 20 frames (a pause of about 28
    hours) whose grid has exactly 1,000,000 steps convert; 30 ms more (1,000,001 steps to
    half a period past the last frame) are refused."""
    pause = round((last_s - 1.9) * 1000) * MS
    stamps = [WALL + i * PERIOD + (pause if i >= 10 else 0) for i in range(20)]
    write_bag(tmp_path / 'b', stamps, list(stamps))
    config = {'control_period_s': 0.1, 'reference_topic': '/cam',
              'keys': {'img': {'image': '/cam'},
                       'state': {'joint_state': '/js', 'joints': ['j1']}}}
    if not converts:
        with pytest.raises(BagError, match=r'span 100000 s \(1000001 grid steps\) for 20 '):
            bag_episodes(tmp_path / 'b', config)
        return
    _, report = bag_episodes(tmp_path / 'b', config)
    assert report.episode_lengths == [10, 10] and len(report.gaps) == 1


def test_an_infinite_value_is_counted_with_the_nans(tmp_path):
    """The note on values `dp-ros train` refuses counts infinite ones too, not only NaN."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        for k in range(10):
            t = WALL + k * DT
            rec.write('/js', JS, t + MS, joint_state_message(
                rec.typestore, ['j1'], np.array([np.inf if k == 3 else float(k)]), t))
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'keys': {'state': {'joint_state': '/js', 'joints': ['j1']}}})
    assert any(note.startswith('state: 1 NaN or infinite value(s)') for note in report.notes)


def test_a_frame_of_another_size_is_checked_against_the_crop_even_unsampled(tmp_path):
    """A camera that sends one 2x2 frame among 8x8 ones, between two grid steps (no step
    samples it): the crop box [0, 0, 4, 4] is checked on every frame shape, so the bag is
    refused naming that message, as the policy node would refuse the frame."""
    stamps = [WALL + i * PERIOD for i in range(10)]
    stamps.insert(3, WALL + 2 * PERIOD + 30 * MS)
    sizes = [(8, 8)] * 11
    sizes[3] = (2, 2)
    write_bag(tmp_path / 'b', stamps, list(stamps), sizes=sizes)
    with pytest.raises(BagReadError, match=r'message 3 of /cam cannot be converted: '
                       r'camera_crop \[0, 0, 4, 4\] .* reaches outside the 2x2 frame'):
        bag_episodes(tmp_path / 'b', {
            'control_period_s': 0.1, 'reference_topic': '/cam', 'image_dtype': 'uint8',
            'keys': {'img': {'image': '/cam', 'crop': [0, 0, 4, 4]},
                     'state': {'joint_state': '/js', 'joints': ['j1']}}})


def js_bag(path, steps: int, extra=None) -> None:
    """Joint states j1 = k on /js stamped WALL + 100 ms k, received 1 ms later; extra(rec, k,
    t) writes more at each step."""
    with BagRecorder(path, storage='mcap') as rec:
        for k in range(steps):
            t = WALL + k * DT
            rec.write('/js', JS, t + MS, joint_state_message(rec.typestore, ['j1'],
                                                             np.array([float(k)]), t))
            if extra is not None:
                extra(rec, k, t)


def test_a_forward_command_sent_after_the_grid_time_is_not_its_action(tmp_path):
    """Float64MultiArray commands are in force from when they were sent: one received 5 ms
    after a grid time is not that step's action (no jitter allowance, unlike an observation):
    step 0 has none (trimmed), step k the command sent at step k - 1."""
    js_bag(tmp_path / 'b', 10, lambda rec, k, t: rec.write(
        '/cmd', 'std_msgs/msg/Float64MultiArray', t + 5 * MS,
        float_array_message(rec.typestore, [10.0 * k])))
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                 'action': {'float_array': '/cmd', 'joints': ['j1'], 'tolerance': 0.1}}})
    assert report.episode_lengths == [9] and report.trimmed_steps == 1
    assert episodes[0]['action'][:, 0].tolist() == [10.0 * k for k in range(9)]
    assert episodes[0]['state'][:, 0].tolist() == [float(k) for k in range(1, 10)]


def test_a_trajectory_point_half_a_period_ahead_is_not_the_steps_target(tmp_path):
    """A trajectory whose points fall due 50 ms after grid times (every 200 ms): the slack for
    early grid times stays under half a period, so no step takes the point due half a period
    after it (an action from the future); each takes the last point due before it."""
    def extra(rec, k, t):
        if k == 0:
            rec.write('/cmd', 'trajectory_msgs/msg/JointTrajectory', WALL - 150 * MS,
                      trajectory_message(rec.typestore, ['j1'], np.arange(6.0)[:, None],
                                         WALL - 150 * MS, 200 * MS, 1))
    js_bag(tmp_path / 'b', 12, extra)
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                 'action': {'joint_trajectory': '/cmd', 'joints': ['j1'],
                            'tolerance': 0.16}}})
    assert report.episode_lengths == [11] and report.trimmed_steps == 1
    assert episodes[0]['action'][:, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5]


def test_a_stream_that_ends_early_is_named_among_the_trimmed(tmp_path):
    """Steps trimmed at the end name the stream missing there (/js stopped 3 steps before
    the reference /js2), not only those that started late."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        for k in range(20):
            t = WALL + k * DT
            if k < 17:
                rec.write('/js', JS, t + MS, joint_state_message(rec.typestore, ['j1'],
                                                                 np.array([float(k)]), t))
            rec.write('/js2', JS, t + 2 * MS, joint_state_message(rec.typestore, ['j2'],
                                                                  np.array([0.0]), t))
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js2',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                 'other': {'joint_state': '/js2', 'joints': ['j2']}}})
    assert report.episode_lengths == [17] and report.trimmed_steps == 3
    assert report.trimmed_streams == ['/js']


@pytest.mark.parametrize('silence_ms', [350, 430])
def test_a_reference_silence_leaves_three_steps_between_the_demos(tmp_path, silence_ms):
    """The reference (read with a 50 ms tolerance: a pause is a silence over 350 ms) goes
    silent between two demos of 10 messages. Exactly 350 ms is no pause: the grid keeps its
    phase and the 3 steps without a message are a gap. 430 ms is a pause: the grid starts anew
    at the next message and the paused steps stop half a period before it: 3 (not a 4th 30 ms
    before the new start). Both demos are kept whole either way."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        for k in range(20):
            t = WALL + k * DT + (silence_ms - 100) * MS * (k >= 10)
            rec.write('/js', JS, t + MS, joint_state_message(rec.typestore, ['j1'],
                                                             np.array([float(k)]), t))
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1'], 'tolerance': 0.05}}})
    assert report.gaps == [{'t_s': round((WALL + 10 * DT) / NS, 6), 'steps': 3,
                            'streams': ['/js']}]
    assert [e['state'][:, 0].tolist() for e in episodes] == [
        [float(k) for k in range(10)], [float(k) for k in range(10, 20)]]


@pytest.mark.parametrize('case', ['a_valid_step', 'two_not_replaced'])
def test_the_never_due_note_needs_every_step_invalid_and_every_command_but_one(tmp_path,
                                                                            case):
    """One-point commands stamped 0, due two periods after receipt, sent every period: each
    replaced before its point falls due. The note that this is why no grid time has a target
    is not given where the last command's point does fall due at a grid time (a valid step:
    6 commands, the last's point due at step 7), nor where two commands were not replaced
    before due (the tenth's replacement sent 500 ms later, past the reference's end)."""
    cmd_times = [WALL + k * DT + 2 * MS for k in range(6 if case == 'a_valid_step' else 10)]
    if case == 'two_not_replaced':
        cmd_times.append(WALL + 9 * DT + 500 * MS)
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        messages = [(WALL + k * DT + MS, '/js', k) for k in range(10)]
        messages += [(t, '/cmd', i) for i, t in enumerate(cmd_times)]
        for recv, topic, k in sorted(messages):
            if topic == '/js':
                rec.write(topic, JS, recv, joint_state_message(
                    rec.typestore, ['j1'], np.array([float(k)]), recv - MS))
            else:
                rec.write(topic, 'trajectory_msgs/msg/JointTrajectory', recv, trajectory_message(
                    rec.typestore, ['j1'], np.array([[float(k)]]), 0, DT, 2))
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                 'action': {'joint_trajectory': '/cmd', 'joints': ['j1']}}})
    assert report.episode_lengths == []
    assert not any("each command's points are all due" in note for note in report.notes)
    assert ('1 piece(s) shorter than 2 steps' if case == 'a_valid_step'
            else 'no grid time has every stream') in report.notes
