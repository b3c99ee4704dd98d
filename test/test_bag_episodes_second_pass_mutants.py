"""Behaviour of bag -> episodes that the first mutation review (test_bag_episodes_mutants,
test_resample_bag_episodes_mutants) and the module's other tests left unpinned (a second
mutation review of training/bag_episodes.py):

- a trajectory stop stamped 0 in a realtime sim bag with /clock is placed at the /clock time
  of its receipt, not at the stamp of the reference frame received before it;
- raw_images gives an image key's frames as decoded uint8 whatever the stored dtype, and
  dtypes overrides the config's per key;
- the note on an input slower than a reference no observation reads: a stream at 0.8 of its
  rate is named; a float_array observation (a command, no anchor of the node) and a current
  joint state read as the action are not (nor one of a single message: no rate);
- sample_bag_at gives frames as uint8 whatever the image dtype, newest at or before each
  time, and no times give no values (not an IndexError);
- a stream split at its own stamp restarts has its rate and drops measured in its own
  windows: its late messages are no 1.9 s gap in the next run;
- a stream ending a step before the reference is named as trimmed (the steps after the last
  valid one, the first of them included);
- each gap is reported at its first step's time to the microsecond, with its own length and
  the streams missing in it only;
- a trajectory topic never due is named once, however many keys read it;
- a frame two episodes of one window sample (a slow camera across a gap) is kept for the
  second: the frames' last episodes are counted per episode, not per window;
- a camera crop without a shape keeps the crop's size, height its 4th value, width its 3rd;
- a reference_topic missing from the bag is named (Bag.require) before anything is read;
- where no grid time has every stream, an unstamped stream (placed on the reference's clock)
  is not named as on another clock; only the stamped one that is.

Each test kills a mutant the module's other tests let live. Real bags written by the
project's BagRecorder (through the other bag tests' writers where they fit), read by
iter_bag_episodes as bag2zarr reads them.

And the defect it found, mended in bag_episodes._slower_than_reference: an input slower than
an unread reference was not named when it is one joint set of a shared joint-state topic
(its report entry is '<topic> [<joints>]', the inputs were looked up by topic: rate 0, taken
as unknown); now it is named, and the reference_topic it is told to give is its topic.
"""
from __future__ import annotations

import numpy as np
import pytest
from bag_support import CAMERA_JOINTS_CONFIG, T0, write_camera_joints
from support import MS
from test_bag2zarr_shared_topic import ARM, GRIPPER
from test_bag2zarr_shared_topic import write_bag as write_shared_topic_bag
from test_bag_episodes_mutants import CAM_CONFIG, cam_bag
from test_bag_episodes_never_due_topics import TOPICS
from test_bag_episodes_never_due_topics import _bag as write_never_due_bag
from test_bag_sim_clock_unstamped import SIM0, wall
from test_bag_stamp_faults import write_bag
from test_resample_bag_episodes_mutants import bag_episodes

from dp_ros.bags.reader import MissingTopicError, open_bag
from dp_ros.bags.recorder import (
    BagRecorder,
    float_array_message,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training.bag2zarr_config import config_from_dict
from training.bag_episodes import BagReport, iter_bag_episodes, sample_bag_at

PERIOD = 100 * MS
NS = 10**9
WALL = 1_700_000_000 * NS  # a wall-clock time (2023)


def write_sim_bag(path, extra=()) -> None:
    """A realtime sim at half speed (test_bag_sim_clock_unstamped's clocks): /clock at 200 Hz
    of sim time, a 10 Hz camera (frame i every pixel i) and a 10 Hz joint state j1 = i, both
    stamped on the sim clock; extra: (sim time sent, topic, msgtype, message-maker)."""
    messages = []
    for i in range(400):
        t = SIM0 + i * 5 * MS
        messages.append((wall(t) - MS, '/clock', 'clock', t))
    for i in range(20):
        t = SIM0 + i * PERIOD
        messages.append((wall(t), '/cam', 'img', (i, t)))
        messages.append((wall(t) + MS, '/js', 'js', (i, t)))
    messages += list(extra)
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for recv, topic, kind, args in sorted(messages, key=lambda m: m[0]):
            if kind == 'clock':
                sec, nsec = divmod(args, 10**9)
                rec.write(topic, 'rosgraph_msgs/msg/Clock', recv, ts.types[
                    'rosgraph_msgs/msg/Clock'](clock=ts.types['builtin_interfaces/msg/Time'](
                        sec=sec, nanosec=nsec)))
            elif kind == 'img':
                rec.write(topic, 'sensor_msgs/msg/Image', recv,
                          image_message(ts, np.full((4, 4, 3), args[0], np.uint8), args[1]))
            elif kind == 'js':
                rec.write(topic, 'sensor_msgs/msg/JointState', recv,
                          joint_state_message(ts, ['j1'], np.array([float(args[0])]), args[1]))
            else:
                rec.write(topic, 'trajectory_msgs/msg/JointTrajectory', recv, args(ts))


def test_a_stop_stamped_0_in_a_sim_bag_with_a_clock_is_placed_at_its_clock_time(tmp_path):
    """A node's chunks stamped on the sim clock (chunk k at step k: 10 + k due then, 20 + k
    and 30 + k a period and two on) and a stop stamped 0 ('now', its point a period on) sent
    at sim 1.25 s: placed at the /clock time of its receipt, 1.25 s, the stop replaces chunk
    12 there and its point falls due at 1.35 s, so the 1.2 s step has chunk 12's first point
    and the 1.3 s step none (a gap); placed on the camera frame received before it (1.2 s),
    the stop would take the 1.2 s step's target away."""
    cmds = [(wall(SIM0 + k * PERIOD) + 2 * MS, '/cmd', 'traj',
             lambda ts, k=k: trajectory_message(
                 ts, ['j1'], np.array([[10.0 + k], [20.0 + k], [30.0 + k]]), SIM0 + k * PERIOD,
                 PERIOD))
            for k in range(13)]
    cmds.append((wall(SIM0 + 1250 * MS) + 2 * MS, '/cmd', 'traj',
                 lambda ts: trajectory_message(ts, ['j1'], np.array([[99.0]]), 0, PERIOD,
                                               first_index=1)))
    write_sim_bag(tmp_path / 'b', cmds)
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/cam',
        'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']},
                 'action': {'joint_trajectory': '/cmd', 'joints': ['j1']}}})
    assert report.episode_lengths == [13]
    assert episodes[0]['action'][:, 0].tolist() == [10.0 + k for k in range(13)]
    # 1.3 s: chunk 12 replaced at 1.25 s, the stop's point not due until 1.35 s
    assert report.gaps == [{'t_s': 3.3, 'steps': 1, 'streams': ['/cmd']}]


def test_raw_images_come_as_uint8_and_dtypes_override_the_configs(tmp_path):
    """raw_images: the frames as decoded (uint8), not in the config's image_dtype (float32,
    the default), the writer converting them; dtypes: an existing store's dtype for a key
    (appending) over the config's."""
    cam_bag(tmp_path / 'b', n=5)
    with open_bag(tmp_path / 'b') as bag:
        episodes = list(iter_bag_episodes(
            bag, config_from_dict(CAM_CONFIG), BagReport('b'), progress=False,
            dtypes={'state': np.dtype(np.float64)}, raw_images=True))
    assert episodes[0]['img'].dtype == np.uint8
    assert episodes[0]['img'][:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert episodes[0]['state'].dtype == np.float64
    assert episodes[0]['state'][:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_only_observation_inputs_slower_than_an_unread_reference_are_named(tmp_path):
    """The reference /js (10 Hz) is read only by no observation; the camera at 8 Hz is
    slower by more than SLOWER (0.9), so named; a 5 Hz float_array observation and a 5 Hz
    joint state read as the action (at offset 0) are no inputs the node anchors on, and a
    joint state of one message has no rate to compare (0 Hz: unknown, not slower)."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        ts = rec.typestore
        for i in range(21):
            t = WALL + i * PERIOD
            rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], np.array([float(i)]), t))
            if i % 2 == 0:
                rec.write('/grip', 'std_msgs/msg/Float64MultiArray', t + 2 * MS,
                          float_array_message(ts, [float(i)]))
                rec.write('/js2', 'sensor_msgs/msg/JointState', t + 3 * MS,
                          joint_state_message(ts, ['j2'], np.array([float(i)]), t))
        rec.write('/one', 'sensor_msgs/msg/JointState', WALL + 4 * MS,
                  joint_state_message(ts, ['j3'], np.array([0.0]), WALL))
        for i in range(17):
            t = WALL + i * 125 * MS
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js', 'tolerance': 0.3,
        'keys': {'img': {'image': '/cam'},
                 'grip': {'float_array': '/grip', 'joints': ['g']},
                 'one': {'joint_state': '/one', 'joints': ['j3']},
                 'action': {'joint_state': '/js2', 'joints': ['j2']}}})
    assert [n for n in report.notes if 'is slower than' in n] == [
        '/cam (8.0 Hz) is slower than the reference topic /js (10.0 Hz) that the grid sits on, '
        'which no observation reads: the policy node assembles its observation at the newest '
        "stamp every stream has (mostly /cam's), so it pairs other samples than training did; "
        'give `reference_topic: /cam` (the slowest input)']


def test_sample_bag_at_gives_frames_as_uint8_at_the_times_asked(tmp_path):
    """The node-log check samples the bag at the node's times: frames as the node saw them
    (uint8, the config's image_dtype float32 notwithstanding), the newest at or before each
    time (frame 2 at 0.2 s and 0.25 s, frame 3 a jitter allowance early); none asked, none
    given."""
    cam_bag(tmp_path / 'b', n=5)
    config = config_from_dict(CAM_CONFIG)
    times = np.array([WALL + 2 * PERIOD, WALL + 250 * MS, WALL + 3 * PERIOD - 5 * MS])
    with open_bag(tmp_path / 'b') as bag:
        values, valid = sample_bag_at(bag, config, times)
        none, none_valid = sample_bag_at(bag, config, np.zeros(0, np.int64))
    assert values['img'].dtype == np.uint8
    assert values['img'][:, 0, 0, 0].tolist() == [2, 2, 3]
    assert values['state'][:, 0].tolist() == [2.0, 2.0, 3.0]
    assert {k: v.tolist() for k, v in valid.items()} == {'img': [True] * 3, 'state': [True] * 3}
    assert none == {}
    assert {k: v.tolist() for k, v in none_valid.items()} == {'img': [], 'state': []}


def test_a_stream_split_at_its_own_restarts_is_measured_in_its_own_windows(tmp_path):
    """No marker; the camera's stamps restart (5 s on, then 3 s on) at frame 10 and the joint
    states' with them, but joint states 8 and 9 arrive after camera frame 10: split at their
    own restart they stay with their run in the rate and drops too (in the camera's window
    their 5.8 s and 5.9 s would sit after the second run's 3.9 s: 18 drops, a 1.9 s gap)."""
    stamps = [(5 if i < 10 else 3) * NS + (i % 10) * PERIOD for i in range(20)]
    recv = [WALL + i * PERIOD for i in range(20)]
    js_recv = ([t + MS for t in recv[:8]] + [recv[10] + 6 * MS, recv[10] + 7 * MS]
               + [t + 8 * MS for t in recv[10:]])
    write_bag(tmp_path / 'b', stamps, recv, js_recv=js_recv)
    episodes, report = bag_episodes(tmp_path / 'b', CAM_CONFIG)
    assert [(t.topic, t.count, t.rate_hz, t.drops, t.max_gap_s) for t in report.topics] == [
        ('/cam', 20, 10.0, 0, 0.1), ('/js', 20, 10.0, 0, 0.1)]
    assert [e['state'][:, 0].tolist() for e in episodes] == [
        [float(i) for i in range(10)], [float(i) for i in range(10, 20)]]


def write_cam_js(path, n: int, no_js=(), no_cam=(), offset_ns: int = 0) -> None:
    """n 10 Hz frames (every pixel i) and joint states (j1 = i) stamped WALL + offset_ns +
    i periods, without the joint states in no_js and the frames in no_cam."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for i in range(n):
            t = WALL + offset_ns + i * PERIOD
            if i not in no_js:
                rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                          joint_state_message(ts, ['j1'], np.array([float(i)]), t))
            if i not in no_cam:
                rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS,
                          image_message(ts, np.full((4, 4, 3), i, np.uint8), t))


def test_a_stream_ending_a_step_early_is_named_as_trimmed(tmp_path):
    """The joint states stop one step before the frames: that last step is trimmed, and the
    joint states are named for it."""
    write_cam_js(tmp_path / 'b', 10, no_js=(9,))
    _, report = bag_episodes(tmp_path / 'b', CAM_CONFIG)
    assert report.episode_lengths == [9]
    assert (report.trimmed_steps, report.trimmed_streams) == (1, ['/js'])


def test_each_gap_is_reported_at_its_time_with_its_own_streams(tmp_path):
    """Stamps 123.456 us past the period: the joint states miss steps 4 and 5, the camera
    step 9; two gaps, each at its first step's time to the microsecond, each naming only
    the stream missing in it."""
    write_cam_js(tmp_path / 'b', 14, no_js=(4, 5), no_cam=(9,), offset_ns=123_456)
    episodes, report = bag_episodes(tmp_path / 'b', CAM_CONFIG)
    assert report.gaps == [
        {'t_s': 1_700_000_000.400123, 'steps': 2, 'streams': ['/js']},
        {'t_s': 1_700_000_000.900123, 'steps': 1, 'streams': ['/cam']}]
    assert [e['img'][:, 0, 0, 0].tolist() for e in episodes] == [
        [0, 1, 2, 3], [6, 7, 8], [10, 11, 12, 13]]



def test_a_never_due_topic_read_by_two_keys_is_named_once(tmp_path):
    """Every command on /arm/cmd replaced before it falls due, the topic read by two keys:
    one note for the topic, not one per key."""
    write_never_due_bag(tmp_path / 'b')
    episodes, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1,
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['j1']},
                 'target': {'joint_trajectory': TOPICS[1], 'joints': ['j1']},
                 'action': {'joint_trajectory': TOPICS[1], 'joints': ['j1']}}})
    assert episodes == []
    assert [n.split(':')[0] for n in report.notes if 'each command' in n] == [TOPICS[1]]



def test_a_frame_sampled_by_two_episodes_of_a_window_is_kept_for_both(tmp_path):
    """A camera every 0.3 s (frame k every pixel k) held up to 0.35 s, joint states at
    10 Hz without step 4: the episodes before and after that gap both sample frame 1 (steps
    3 and 5), which the second pass keeps until the second is gathered."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        ts = rec.typestore
        for i in range(10):
            t = WALL + i * PERIOD
            if i != 4:
                rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                          joint_state_message(ts, ['j1'], np.array([float(i)]), t))
            if i % 3 == 0:
                rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS,
                          image_message(ts, np.full((4, 4, 3), i // 3, np.uint8), t))
    episodes, _ = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'img': {'image': '/cam', 'tolerance': 0.35},
                 'state': {'joint_state': '/js', 'joints': ['j1']}}})
    assert [e['img'][:, 0, 0, 0].tolist() for e in episodes] == [[0, 0, 0, 1], [1, 2, 2, 2, 3]]
    assert [e['state'][:, 0].tolist() for e in episodes] == [
        [0.0, 1.0, 2.0, 3.0], [5.0, 6.0, 7.0, 8.0, 9.0]]



def test_a_crop_without_a_shape_keeps_the_crops_height_and_width(tmp_path):
    """crop [x0, y0, width, height] = [1, 0, 3, 2] of 4x4 frames, no shape: each frame is
    the 2 (high) x 3 (wide) box as cut, not resized to 3 x 2."""
    cam_bag(tmp_path / 'b', n=3)
    episodes, report = bag_episodes(tmp_path / 'b', {
        **CAM_CONFIG, 'keys': {**CAM_CONFIG['keys'], 'img': {'image': '/cam',
                                                             'crop': [1, 0, 3, 2]}}})
    assert episodes[0]['img'].shape == (3, 2, 3, 3)
    assert episodes[0]['img'][:, 0, 0, 0].tolist() == [0, 1, 2]
    assert report.frame_sizes == {'/cam': [[4, 4]]}




def test_a_reference_topic_missing_from_the_bag_is_named(tmp_path):
    """reference_topic naming a topic the bag lacks: Bag.require's error naming the setting,
    not a KeyError from the decoding."""
    cam_bag(tmp_path / 'b', n=3)
    with pytest.raises(MissingTopicError, match=r'/nothere \(needed by reference_topic\)'):
        bag_episodes(tmp_path / 'b', {**CAM_CONFIG, 'reference_topic': '/nothere'})



def test_an_unstamped_stream_is_not_named_on_another_clock(tmp_path):
    """The camera (the reference) stamped on sim time beside wall-clock joint states, and a
    gripper's forward commands (no header) received on the wall clock: no grid time has
    every stream; the joint states are named on another clock, the commands (placed on the
    camera's clock by receipt) are not."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        write_camera_joints(rec, range(10), camera_clock=1)
        for i in range(10):
            rec.write('/grip', 'std_msgs/msg/Float64MultiArray', T0 + i * PERIOD + 2 * MS,
                      float_array_message(rec.typestore, [float(i)]))
    config = {**CAMERA_JOINTS_CONFIG, 'keys': {
        **CAMERA_JOINTS_CONFIG['keys'], 'grip': {'float_array': '/grip', 'joints': ['g']}}}
    episodes, report = bag_episodes(tmp_path / 'b', config)
    assert episodes == []
    assert [n.split(' ')[0] for n in report.notes if 'two clocks' in n] == ['/joint_states']


def slow_gripper_report(tmp_path, reference: str) -> BagReport:
    """The report of a bag whose gripper gives 5 Hz on the arm's 100 Hz /joint_states, beside
    a 10 Hz camera and a 10 Hz command topic, on a grid set by `reference`."""
    write_shared_topic_bag(tmp_path / 'b', gripper_every=20)
    _, report = bag_episodes(tmp_path / 'b', {
        'control_period_s': 0.1, 'reference_topic': reference, 'tolerance': 0.3,
        'keys': {'img': {'image': '/cam'},
                 'arm': {'joint_state': '/joint_states', 'joints': ARM},
                 'gripper': {'joint_state': '/joint_states', 'joints': GRIPPER},
                 'action': {'joint_trajectory': '/cmd', 'joints': ARM + GRIPPER}}})
    return report


def test_a_slow_joint_set_of_a_shared_topic_is_named_slower_than_the_reference(tmp_path):
    """The gripper at 5 Hz on the arm's /joint_states (100 Hz), the reference the 10 Hz
    command topic no observation reads: the gripper's stream is an input slower than it, as
    it would be named on a topic of its own."""
    report = slow_gripper_report(tmp_path, '/cmd')
    assert [(t.topic, t.rate_hz) for t in report.topics] == [
        ('/cam', 10.0), ('/cmd', 10.0), ('/joint_states [j1, j2]', 100.0),
        ('/joint_states [g]', 5.0)]
    slower = [n for n in report.notes if 'is slower than the reference topic /cmd' in n]
    assert slower == [
        '/joint_states [g] (5.0 Hz) is slower than the reference topic /cmd (10.0 Hz) that the '
        'grid sits on, which no observation reads: the policy node assembles its observation '
        "at the newest stamp every stream has (mostly /joint_states [g]'s), so it pairs other "
        'samples than training did; give `reference_topic: /joint_states` (the topic it is '
        'read from: the grid takes all its messages)']


def test_a_shared_topic_as_reference_names_no_slower_joint_set(tmp_path):
    """The shared /joint_states as the reference: an input the node reads, so its slow
    gripper set is not named (the node anchors on the reference as training did)."""
    report = slow_gripper_report(tmp_path, '/joint_states')
    assert report.episode_lengths
    assert not [n for n in report.notes if 'is slower than the reference topic' in n]
