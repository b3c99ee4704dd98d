"""`dp-ros inspect BAG` (training/inspect_bags.py) at its edges: the numbers printed per topic
(rate from the median period, the longest gap, the stamp offset, the bag's duration), the
stamp checks at their thresholds (another clock, a small clock step back, a jump within the
bag's spans, where the first of several faults is), one entry per driver on a shared
joint-state topic, and the drafted bag2zarr config's choices (the slowest camera as reference,
half a period of tolerance, the state's topics where topics overlap or repeat, the order of
the controllers, gaps and markers named, cameras without messages left out). Bags are written
with the project's BagRecorder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from support import MS
from test_inspect_bags import PERIOD, WALL, inspect_warnings, write_camera_bag

from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    string_message,
    trajectory_message,
)
from dp_ros.errors import UserError
from training import bag2zarr
from training.bag2zarr_config import load_config
from training.inspect_bags import summarize_bag
from training.inspect_dataset import main as inspect
from training.replay_buffer import ReplayBuffer

NS = 10**9
CAMERA = '/cam/image_raw'
JOINTS = ['j1', 'j2']


def write_bag(path, streams, seconds: float = 2.0, gap: tuple[str, float, float] | None = None,
              repeat: int = 1) -> None:
    """Messages received from WALL on, each stamped 1 ms before its receipt. streams:
    (topic, kind, joints, Hz[, start s]) with kind 'image' (4x4), 'joints' (JointState),
    'command' (one-point JointTrajectory) or 'marker' (String); gap: (topic, from s, to s)
    drops that topic's messages in the window; repeat: each message written that many
    times at the same receive time."""
    messages = []
    for topic, kind, joints, hz, *start in streams:
        first = start[0] if start else 0.0
        for i in range(int(round((seconds - first) * hz))):
            t = WALL + int(round((first + i / hz) * NS))
            if gap and gap[0] == topic and gap[1] * NS <= t - WALL < gap[2] * NS:
                continue
            messages.append((t, topic, kind, joints, i))
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for t, topic, kind, joints, i in sorted(messages, key=lambda m: m[0]):
            stamp = t - MS
            if kind == 'image':
                msgtype, msg = 'sensor_msgs/msg/Image', image_message(
                    ts, np.full((4, 4, 3), i % 256, np.uint8), stamp)
            elif kind == 'joints':
                msgtype, msg = 'sensor_msgs/msg/JointState', joint_state_message(
                    ts, joints, np.arange(len(joints)) + 0.01 * i, stamp)
            elif kind == 'command':
                msgtype, msg = 'trajectory_msgs/msg/JointTrajectory', trajectory_message(
                    ts, joints, np.full((1, len(joints)), 0.5), stamp, 100 * MS)
            else:
                msgtype, msg = 'std_msgs/msg/String', string_message(ts, json.dumps({'i': i}))
            for _ in range(repeat):
                rec.write(topic, msgtype, t, msg)


def draft(bags, tmp_path) -> tuple[str, object]:
    """The drafted config's text and the config bag2zarr loads from it."""
    out = tmp_path / 'draft.yaml'
    assert inspect([str(bags), '--no-progress', '--draft-config', str(out)]) == 0
    return out.read_text(), load_config(out)


def arm(**extra_streams) -> list[tuple]:
    """A 10 Hz camera and 100 Hz joint states, and `extra_streams` (name: stream)."""
    return [(CAMERA, 'image', None, 10), ('/joint_states', 'joints', JOINTS, 100),
            *extra_streams.values()]


def topics_of(path) -> dict:
    return {t.topic: t for t in summarize_bag(path).topics}


# --- the numbers of the listing ---------------------------------------------------------------

def test_the_listing_prints_the_median_rate_the_longest_gap_and_the_stamp_offset(tmp_path,
                                                                                 capsys):
    """Joint states at 100 Hz with half a second missing: the rate is the median period's
    (a mean would count the gap), the gap is the longest interval, stamps sit 1 ms before
    receipt; the bag lasts 2 s."""
    write_bag(tmp_path / 'gap', [('/js', 'joints', JOINTS, 100)], gap=('/js', 1.0, 1.5))
    (js,) = summarize_bag(tmp_path / 'gap').topics
    assert js.rate_hz == pytest.approx(100.0)
    assert js.max_gap_s == pytest.approx(0.51)  # 0.99 s to 1.5 s
    assert js.stamp_offset_s == pytest.approx(-0.001)
    assert inspect([str(tmp_path / 'gap'), '--no-progress']) == 0
    head, line, detail = capsys.readouterr().out.splitlines()
    assert head == f'{tmp_path / "gap"}: 2.0 s, 1 topics'
    assert line.endswith('   150 msgs   100.0 Hz max gap 0.510 s, stamp - receive -1.0 ms')
    assert detail.strip() == "joints ['j1', 'j2']"


def test_messages_received_at_the_same_instant_do_not_raise_the_rate(tmp_path):
    """Every message recorded twice at one receive time (two subscriptions of the recorder):
    the zero intervals are no period; the rate stays 50 Hz."""
    write_bag(tmp_path / 'twice', [('/js', 'joints', JOINTS, 50)], seconds=1.0, repeat=2)
    (js,) = summarize_bag(tmp_path / 'twice').topics
    assert js.count == 100
    assert js.rate_hz == pytest.approx(50.0)
    assert js.max_gap_s == pytest.approx(0.02)


def test_one_driver_on_a_joint_state_topic_is_no_list_of_drivers(tmp_path):
    write_bag(tmp_path / 'one', arm(), seconds=0.5)
    js = topics_of(tmp_path / 'one')['/joint_states']
    assert (js.detail, js.drivers, js.joints) == ("joints ['j1', 'j2']", [], JOINTS)


def test_a_slow_driver_starting_late_beside_a_1_khz_arm_is_found(tmp_path, capsys):
    """A 10 Hz gripper whose first message comes 50 ms (50 arm messages) into the bag: the
    joint-state survey reads far enough to meet it, and the draft reads it as a source of
    its own."""
    write_bag(tmp_path / 'bags' / 'khz', [
        (CAMERA, 'image', None, 10), ('/joint_states', 'joints', JOINTS, 1000),
        ('/joint_states', 'joints', ['g'], 10, 0.05)], seconds=0.5)
    js = topics_of(tmp_path / 'bags' / 'khz')['/joint_states']
    assert js.detail == ("2 drivers: joints ['j1', 'j2'] (1000.0 Hz); joints ['g'] "
                         '(10.0 Hz)')
    _, config = draft(tmp_path / 'bags', tmp_path)
    assert [s.joints for s in config.keys['state'].sources] == [JOINTS, ['g']]


# --- the stamp checks at their thresholds ------------------------------------------------------

def test_stamps_two_seconds_behind_their_receipt_are_another_clock(tmp_path, capsys):
    """A second over the threshold, not only a clock decades off, is named."""
    write_camera_bag(tmp_path / 'late', [WALL + i * PERIOD - 2 * NS for i in range(30)])
    (clock,) = inspect_warnings(tmp_path / 'late', capsys)['/cam']
    assert clock.startswith('header stamps -2 s from receive times: another clock')


def test_a_wall_clock_stepped_back_by_less_than_a_second_is_a_restart(tmp_path, capsys):
    """Stamps that go back by 7 periods (a clock step): by more than the half period margin,
    confirmed by the stamps after it, so named with where."""
    stamps = [WALL + (i if i < 40 else i - 7) * PERIOD for i in range(80)]
    write_camera_bag(tmp_path / 'step', stamps)
    (restart,) = inspect_warnings(tmp_path / 'step', capsys)['/cam']
    assert restart.startswith('header stamps go backwards at 1 point(s) (the first: message 40)')


def test_a_stamp_off_by_less_than_ten_receive_spans_is_no_clock_jump(tmp_path, capsys):
    """A 10 s bag: a stamp 80 s off lies within ten spans of it (sim time at a real-time
    factor moves stamps so far), one 120 s off does not."""
    for off_s, named in ((80, False), (120, True)):
        stamps = [WALL + i * PERIOD for i in range(101)]
        stamps[50] += off_s * NS
        write_camera_bag(tmp_path / f'off{off_s}', stamps)
        warnings = inspect_warnings(tmp_path / f'off{off_s}', capsys)['/cam']
        assert [w.split(' away')[0] for w in warnings] == (
            [f'1 header stamp(s) up to {off_s} s'] if named else [])


def test_several_faults_of_a_kind_are_counted_and_the_first_is_named(tmp_path, capsys):
    """Two stamps left 0 and, in another bag, two clock jumps: the count, the first message
    concerned (not the last) and the largest jump (not the first)."""
    stamps = [WALL + i * PERIOD for i in range(60)]
    stamps[29] = stamps[45] = 0
    write_camera_bag(tmp_path / 'zeros', stamps)
    (zeros,) = inspect_warnings(tmp_path / 'zeros', capsys)['/cam']
    assert zeros.startswith('2 of 60 header stamps are 0 among wall-clock stamps (the first: '
                            'message 29)')
    stamps = [WALL + i * PERIOD for i in range(60)]
    stamps[20] += 100_000 * NS  # the first jump, not the largest: 'up to' the largest
    stamps[50] += 200_000 * NS
    write_camera_bag(tmp_path / 'jumps', stamps)
    (jumps,) = inspect_warnings(tmp_path / 'jumps', capsys)['/cam']
    assert jumps.startswith('2 header stamp(s) up to 2e+05 s away from the others (the first: '
                            'message 20)')


# --- the drafted config ------------------------------------------------------------------------

def test_the_slowest_camera_is_the_reference_and_the_tolerance_half_a_period(tmp_path):
    """A 30 Hz wrist camera beside the 10 Hz scene camera: the grid follows the slowest (a
    grid time always has a fresh frame of it); staleness tolerated: half the period."""
    write_bag(tmp_path / 'bags' / 'two', arm(wrist=('/wrist/image_raw', 'image', None, 30)))
    text, config = draft(tmp_path / 'bags', tmp_path)
    assert config.reference_topic == CAMERA
    assert yaml.safe_load(text)['tolerance'] == 0.05 and config.tolerance_s == 0.05
    assert {k: c.sources[0].topic for k, c in config.keys.items() if c.sources[0].kind ==
            'image'} == {'img': CAMERA, 'wrist_img': '/wrist/image_raw'}


def test_without_commands_the_action_is_the_state_one_period_later(tmp_path):
    write_bag(tmp_path / 'bags' / 'no_cmd', arm())
    _, config = draft(tmp_path / 'bags', tmp_path)
    ((kind, topic, offset),) = [(s.kind, s.topic, s.offset_s)
                                for s in config.keys['action'].sources]
    assert (kind, topic) == ('joint_state', '/joint_states')
    assert offset == pytest.approx(0.1)


def test_an_aggregated_joint_state_topic_wins_over_a_busier_one_it_covers(tmp_path):
    """/joint_states (50 Hz) holds the arm's joints and the gripper's; the gripper's own
    100 Hz topic repeats one of them, as another topic repeats one and adds one: the state is
    the aggregated topic alone, no joint twice."""
    write_bag(tmp_path / 'bags' / 'agg', [
        (CAMERA, 'image', None, 10), ('/joint_states', 'joints', [*JOINTS, 'g'], 50),
        ('/gripper/joint_states', 'joints', ['g'], 100),
        ('/tool/joint_states', 'joints', ['g', 'h'], 100)])
    _, config = draft(tmp_path / 'bags', tmp_path)
    assert [(s.topic, s.joints) for s in config.keys['state'].sources] == [
        ('/joint_states', [*JOINTS, 'g'])]


def test_the_same_joints_republished_at_the_root_and_in_a_namespace_are_taken_once(tmp_path):
    """/joint_states and /robot/joint_states name the same joints: one robot's states
    republished, not two arms (those each have a namespace): the busier one, unprefixed."""
    write_bag(tmp_path / 'bags' / 'republished', [
        (CAMERA, 'image', None, 10), ('/joint_states', 'joints', JOINTS, 50),
        ('/robot/joint_states', 'joints', JOINTS, 100)])
    text, config = draft(tmp_path / 'bags', tmp_path)
    assert [(s.topic, s.prefix) for s in config.keys['state'].sources] == [
        ('/robot/joint_states', '')]
    assert 'prefix' not in text


def test_controllers_are_ordered_by_their_first_joint_in_the_state(tmp_path):
    """State a, b, c, d; one controller commands a and d, another b and c: the first comes
    first (its first joint, a, leads the state), whatever its last joint."""
    state = ['a', 'b', 'c', 'd']
    write_bag(tmp_path / 'bags' / 'ctl', [
        (CAMERA, 'image', None, 10), ('/joint_states', 'joints', state, 100),
        ('/bc_controller/joint_trajectory', 'command', ['b', 'c'], 10),
        ('/ad_controller/joint_trajectory', 'command', ['a', 'd'], 10)])
    _, config = draft(tmp_path / 'bags', tmp_path)
    assert [(s.topic, s.joints) for s in config.keys['action'].sources] == [
        ('/ad_controller/joint_trajectory', ['a', 'd']),
        ('/bc_controller/joint_trajectory', ['b', 'c'])]


def test_a_gap_longer_than_the_tolerance_and_a_marker_are_named_in_the_draft(tmp_path):
    write_bag(tmp_path / 'bags' / 'gappy', [
        (CAMERA, 'image', None, 30), ('/joint_states', 'joints', JOINTS, 100),
        ('/episode_result', 'marker', None, 1)], gap=(CAMERA, 0.5, 1.6))
    text, _ = draft(tmp_path / 'bags', tmp_path)
    camera = next(line for line in text.splitlines() if line.startswith('    image:'))
    assert camera.endswith('30.0 Hz; its longest gap (1.133 s) exceeds the tolerance: a gap '
                           'there')
    state = next(line for line in text.splitlines() if line.startswith('    joint_state:'))
    assert 'gap' not in state
    assert '  # marker: "/episode_result"   # std_msgs/msg/String: bounds episodes' in text


def test_a_camera_topic_without_messages_gets_no_key(tmp_path):
    """A camera advertised but never publishing (the topic is in the bag, no message): no
    image key bag2zarr could not fill."""
    bag = tmp_path / 'bags' / 'spare'
    write_bag(bag, arm())
    with BagRecorder(tmp_path / 'bags' / 'spare_only', storage='mcap') as rec:
        rec.add_topic('/spare/image_raw', 'sensor_msgs/msg/Image')
    _, config = draft(tmp_path / 'bags', tmp_path)
    assert set(config.keys) == {'img', 'state', 'action'}


def test_the_first_bag_that_has_a_topic_describes_it(tmp_path):
    """Two bags of one camera, recorded at 10 Hz and then 30 Hz: the draft says the first."""
    write_bag(tmp_path / 'bags' / 'a', arm())
    write_bag(tmp_path / 'bags' / 'b', [(CAMERA, 'image', None, 30),
                                        ('/joint_states', 'joints', JOINTS, 100)])
    text, _ = draft(tmp_path / 'bags', tmp_path)
    assert f'    image: "{CAMERA}"   # 4x4 rgb8, 10.0 Hz' in text


def test_a_dash_in_a_camera_topic_gives_a_key_of_word_characters(tmp_path):
    write_bag(tmp_path / 'bags' / 'dash', arm(wrist=('/wrist-cam.left/image_raw', 'image',
                                                     None, 10)))
    _, config = draft(tmp_path / 'bags', tmp_path)
    assert 'wrist_cam_left_img' in config.keys


def test_the_json_summary_holds_every_bag(tmp_path):
    write_bag(tmp_path / 'bags' / 'a', arm(), seconds=0.5)
    write_bag(tmp_path / 'bags' / 'b', arm(), seconds=1.0)
    out = tmp_path / 'bags.json'
    assert inspect([str(tmp_path / 'bags'), '--no-progress', '--json', str(out)]) == 0
    summaries = json.loads(out.read_text())
    assert [s['path'] for s in summaries] == [str(tmp_path / 'bags' / n) for n in 'ab']
    assert [s['duration_s'] for s in summaries] == pytest.approx([0.49, 0.99])


# --- empty topics, and the reference camera's gaps ---------------------------------------------

def test_a_camera_at_the_control_rate_is_not_said_to_have_gaps(tmp_path):
    write_bag(tmp_path / 'bags' / 'steady', arm())
    text, _ = draft(tmp_path / 'bags', tmp_path)
    out = tmp_path / 'steady.zarr'
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(tmp_path / 'draft.yaml'), '-o',
                          str(out), '--no-progress']) == 0
    assert ReplayBuffer.open(out).n_episodes == 1  # no gap split it
    camera = next(line for line in text.splitlines() if line.startswith('    image:'))
    assert 'gap' not in camera, camera


def test_a_bag_of_topics_without_messages_lasts_no_time(tmp_path, capsys):
    with BagRecorder(tmp_path / 'empty', storage='mcap') as rec:
        rec.add_topic(CAMERA, 'sensor_msgs/msg/Image')
    assert summarize_bag(tmp_path / 'empty').duration_s == 0.0


def test_a_draft_from_topics_without_messages_says_they_are_empty(tmp_path):
    with BagRecorder(tmp_path / 'empty', storage='mcap') as rec:
        rec.add_topic(CAMERA, 'sensor_msgs/msg/Image')
        rec.add_topic('/joint_states', 'sensor_msgs/msg/JointState')
    with pytest.raises(UserError, match=r'needs a camera and a joint-state topic with messages; '
                                        r'/cam/image_raw, /joint_states hold no message'):
        inspect([str(tmp_path / 'empty'), '--no-progress', '--draft-config',
                 str(tmp_path / 'd.yaml')])


def test_a_trajectory_stamped_0_among_stamped_ones_is_start_now_not_unset(tmp_path):
    """A policy node's stop (a one-point trajectory stamped 0 among its stamped chunks) is a
    deliberate "start now", not a stamp the driver left unset."""
    with BagRecorder(tmp_path / 'chunks') as rec:
        for i in range(20):
            t = WALL + i * PERIOD
            rec.write('/arm_controller/joint_trajectory', 'trajectory_msgs/msg/JointTrajectory',
                      t + MS, trajectory_message(rec.typestore, ['j1'], np.zeros((1, 1)),
                                                 0 if i == 12 else t, PERIOD))
    (topic,) = summarize_bag(tmp_path / 'chunks').topics
    (problem,) = topic.problems
    assert problem.startswith('1 of 20 header stamps are 0 among wall-clock stamps (the first: '
                              'message 12): "start now" (a controller starts such a trajectory '
                              "on receipt: a policy node's stops"), problem
