"""Behaviour of bag -> episodes that its other tests left unpinned (a mutation review of
training/bag_episodes.py): a joint-state topic split into its joint sets is reported as
those sets only (unless it is the reference); a marker topic missing from the bag is named
by Bag.require before anything is read; a reference on the bag's /clock is sim time even
with stamps past 2000; marked episodes split by receive time split no other stream at
restarts of its own; a grid of exactly the step limit converts; align other than
at_or_before is said; the trimmed streams of every window are kept; a last reference frame
stamped back, with nothing after it, is no sustained restart; a joint-state error other
than missing joints gets no renamed-joints hint.

Each test kills a mutant the module's other tests let live. Real bags written by the
project's BagRecorder (through test_bag_stamp_faults' and test_bag2zarr_shared_topic's
writers), read by iter_bag_episodes as bag2zarr reads them. Defect it found, mended and
pinned at the end: a trajectory topic as the reference on a sim clock from 0 had its first
message (stamped 0) moved to its receive time as if it were a stop stamped 'now' (its stamps
said to go backwards, its first step lost).
"""
from __future__ import annotations

import numpy as np
import pytest
from support import MS
from test_bag2zarr_shared_topic import ARM, GRIPPER
from test_bag2zarr_shared_topic import write_bag as write_shared_topic_bag
from test_bag_stamp_faults import PERIOD, WALL, write_bag
from test_resample_bag_episodes_mutants import bag_episodes

from dp_ros.bags.reader import BagReadError, MissingTopicError
from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training.bag_episodes import MIN_GRID_STEPS_LIMIT

NS = 10**9


def test_a_shared_joint_state_topic_not_the_reference_is_reported_only_as_its_joint_sets(
        tmp_path):
    """Two joint sets on one topic that is not the reference: the topic's own stream is
    dropped once split (its sets are the streams), so the report names the sets, not it."""
    write_shared_topic_bag(tmp_path / 'b')
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/cam',
        'keys': {'img': {'image': '/cam'},
                 'arm': {'joint_state': '/joint_states', 'joints': ARM},
                 'gripper': {'joint_state': '/joint_states', 'joints': GRIPPER}}})
    assert sorted(t.topic for t in report.topics) == [
        '/cam', '/joint_states [g]', '/joint_states [j1, j2]']


def cam_bag(path, n: int = 10, **kwargs) -> None:
    """n 10 Hz frames and joint states on the wall clock (test_bag_stamp_faults' writer)."""
    stamps = [WALL + i * PERIOD for i in range(n)]
    write_bag(path, stamps, stamps, **kwargs)


CAM_CONFIG = {'control_period_s': 0.1, 'reference_topic': '/cam',
              'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']}}}


def test_a_marker_topic_missing_from_the_bag_is_named_before_anything_is_read(tmp_path):
    """episodes.marker naming a topic the bag lacks: Bag.require's error naming the setting,
    not a KeyError from the decoding."""
    cam_bag(tmp_path / 'b')
    with pytest.raises(MissingTopicError, match=r'/marker \(needed by episodes\.marker\)'):
        bag_episodes(tmp_path / 'b', {**CAM_CONFIG, 'episodes': {'marker': '/marker'}})


def test_a_reference_on_the_bags_clock_is_sim_time_even_past_2000(tmp_path):
    """A /clock whose times the reference's stamps lie on (a sim that counts from a wall-clock
    time, received an hour later on the recorder's clock) makes the bag sim time: the clock
    says so, not only stamps before 2000."""
    stamps = [WALL + i * PERIOD for i in range(10)]
    recv = [t + 3600 * NS for t in stamps]
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        ts = rec.typestore
        for i, (t, r) in enumerate(zip(stamps, recv, strict=True)):
            rec.write('/clock', 'rosgraph_msgs/msg/Clock', r - MS, ts.types[
                'rosgraph_msgs/msg/Clock'](clock=ts.types['builtin_interfaces/msg/Time'](
                    sec=t // NS, nanosec=t % NS)))
            rec.write('/js', 'sensor_msgs/msg/JointState', r + MS,
                      joint_state_message(ts, ['j1'], np.array([float(i)]), t))
            rec.write('/cam', 'sensor_msgs/msg/Image', r + 5 * MS,
                      image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
    _, report = bag_episodes(tmp_path / 'b', CAM_CONFIG)
    assert report.sim_time


def test_a_trajectory_reference_in_sim_time_from_0_keeps_its_first_message(tmp_path):
    """A sim's command topic as the reference, stamped on sim time from 0 (0, 0.1 s, ...):
    the message stamped 0 is the sim's step 0 as for any other stream (_sim_step_0_answers),
    not a stop stamped 'now' to place at its receipt."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        ts = rec.typestore
        for i in range(20):
            t, r = i * PERIOD, WALL + i * PERIOD
            rec.write('/js', 'sensor_msgs/msg/JointState', r + MS,
                      joint_state_message(ts, ['j1'], np.array([float(i)]), t))
            rec.write('/cmd', 'trajectory_msgs/msg/JointTrajectory', r + 2 * MS,
                      trajectory_message(ts, ['j1'], np.array([[10.0 + i]]), t, PERIOD))
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/cmd',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                 'action': {'joint_trajectory': '/cmd', 'joints': ['j1']}}})
    assert report.notes == []
    assert report.episode_lengths == [20]
    assert episodes[0]['action'][:3, 0].tolist() == [10, 11, 12]


def test_marked_episodes_split_by_receive_time_leave_other_streams_alone(tmp_path):
    """A marked bag whose reference stamps restart (a sim reset between two demonstrations) is
    split by receive time at the markers: no stream is split at restarts of its own, so a
    stream that does not restart there is not said to restart elsewhere."""
    stamps = [5 * NS + (i % 10) * PERIOD for i in range(20)]  # the camera's reset at frame 10
    write_bag(tmp_path / 'b', stamps, [WALL + i * PERIOD for i in range(20)],
              js_stamps=[5 * NS + i * PERIOD for i in range(20)], markers=(
                  (WALL - MS, True), (WALL + 9 * PERIOD + 20 * MS, False),
                  (WALL + 9 * PERIOD + 40 * MS, True)))
    _, report = bag_episodes(tmp_path / 'b', {**CAM_CONFIG, 'episodes': {'marker': '/marker'}})
    assert any('/cam stamps go backwards' in n for n in report.notes), report.notes
    assert not any('/js stamps restart' in n for n in report.notes), report.notes


def test_a_span_of_exactly_the_step_limit_is_converted(tmp_path):
    """Two frames MIN_GRID_STEPS_LIMIT - 1 periods apart: the grid up to half a period past
    the last is exactly the limit's steps, allowed (not the error for a stamp far off)."""
    span = (MIN_GRID_STEPS_LIMIT - 1) * PERIOD
    stamps = [WALL, WALL + span]
    write_bag(tmp_path / 'b', stamps, stamps)
    _, report = bag_episodes(tmp_path / 'b', CAM_CONFIG)  # no BagError
    assert report.dropped_steps == 2  # two one-step demonstrations, under min_steps



def test_an_align_other_than_the_nodes_is_said(tmp_path):
    """align: nearest samples as the policy node never does: the report says so (and
    at_or_before, the node's rule, says nothing)."""
    cam_bag(tmp_path / 'b')
    _, report = bag_episodes(tmp_path / 'b', {**CAM_CONFIG, 'align': 'nearest'})
    assert [n for n in report.notes if n.startswith('align: ')] == [
        'align: nearest: observations are sampled offline, not as the policy node sees them '
        '(align: at_or_before)']
    _, report = bag_episodes(tmp_path / 'b', CAM_CONFIG)
    assert not [n for n in report.notes if n.startswith('align: ')]


def test_the_trimmed_streams_of_every_window_are_kept(tmp_path):
    """A bag split where its stamps restart (a sim reset): the joint states starting late in
    the first window stay named as trimmed after the second window, which trims nothing."""
    cam = [5 * NS + (i % 10) * PERIOD for i in range(20)]
    js = [cam[3]] * 3 + cam[3:]  # the first window's joint states from its 4th step on
    write_bag(tmp_path / 'b', cam, [WALL + i * PERIOD for i in range(20)], js_stamps=js)
    _, report = bag_episodes(tmp_path / 'b', CAM_CONFIG)
    assert report.trimmed_steps == 3
    assert report.trimmed_streams == ['/js']


def test_a_last_frame_stamped_back_is_no_sustained_restart(tmp_path):
    """A marked bag whose last reference frame is stamped a second back, received with the
    frame before it: nothing comes after it to stay behind, so its stamps are not taken to
    restart (the bag is not split by receive time for it)."""
    stamps = [WALL + i * PERIOD for i in range(20)]
    stamps[19] = stamps[5]
    recv = [WALL + i * PERIOD for i in range(19)] + [WALL + 18 * PERIOD]
    write_bag(tmp_path / 'b', stamps, recv, markers=((WALL - MS, True),))
    _, report = bag_episodes(tmp_path / 'b', {**CAM_CONFIG, 'episodes': {'marker': '/marker'}})
    assert not any('go backwards' in n for n in report.notes), report.notes


def test_a_joint_state_error_other_than_missing_joints_gets_no_rename_hint(tmp_path):
    """A joint state whose names and positions disagree in number is refused with that
    reason alone: the hint about renamed joints is only for a message lacking joints."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        ts = rec.typestore
        for i in range(10):
            t = WALL + i * PERIOD
            names = ['j1', 'j2'] if i == 5 else ['j1']
            rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, names, np.array([float(i)]), t))
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.zeros((4, 4, 3), np.uint8), t))
    with pytest.raises(BagReadError, match='2 names but 1 position') as raised:
        bag_episodes(tmp_path / 'b', CAM_CONFIG)
    assert 'joint_renames' not in str(raised.value)
    assert 'two drivers' not in str(raised.value)
