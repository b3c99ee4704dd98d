"""`dp-ros inspect` on bags and datasets (training/inspect_bags.py, training/inspect_dataset.py):
behaviour a mutation review found no test of. Each test names what it guards; a change that
breaks it was left passing by the rest of the suite: the stamp checks' margins (a clock step
back by half a period beyond its confirmation, the minute below which no stamp is a clock jump),
which streams share a sim clock (not two clocks far apart, not beside a stream on the receive
clock), the drivers' intervals on a sim clock (a stamp left 0, stamps out of order), what the
listing prints (a velocity-only driver, an offset of exactly 0, the bag's notes), --strict over
every bag, the draft's choices (no prefix for one namespace's republished joints, no "in no
recorded command" note without commands or for a velocity-only driver, an empty pose topic not
offered, a driver that gained a joint not paired, a frame of no height), where a dataset's
findings are (a NaN on an episode's first step, a jump on the last step after an empty first
episode, the NaN list cut after 8 dimensions), what its listing prints (names, sources, "no
problems found") and its video's frames (two heights tiled, float values clipped, a camera over
192 px kept). Real bags (BagRecorder), real zarr stores. The largest of several clock jumps and
8 episodes of dead frames listed whole are checked in test_inspect_bags_edges.py and
test_inspect_dataset_dead_camera.py."""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from bag_support import MS, NS, T0
from test_inspect_bags import PERIOD, WALL, inspect_warnings, write_camera_bag
from test_inspect_bags_draft_sources import _robot_bag
from test_inspect_bags_edges import CAMERA, JOINTS, arm, draft, write_bag
from test_inspect_bags_lone_stamped_stream import _lone_stamped_bag
from test_inspect_dataset import clean_episode, write_store

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training.inspect_bags import summarize_bag
from training.inspect_dataset import main as inspect
from training.inspect_dataset import summarize
from training.replay_buffer import ReplayBuffer

# --- the stamp checks' margins -----------------------------------------------------------------


@pytest.mark.parametrize(('back_ms', 'named'), [(480, True), (430, False)])
def test_a_clock_step_back_is_a_restart_by_half_a_period_beyond_its_confirmation(
        tmp_path, capsys, back_ms, named):
    """A restart is a stamp more than RESTART_MARGIN_NS (half the draft's control period,
    bag2zarr's margin for the same rule: 50 ms) below the newest stamp that counts, confirmed
    by the median of it and the 4 stamps after it: at 10 Hz a step back of 480 ms restarts,
    one of 430 ms does not (a margin of a whole period, or none, moves that line)."""
    stamps = [WALL + i * PERIOD - ((PERIOD + back_ms * MS) if i >= 40 else 0)
              for i in range(80)]
    assert stamps[39] - stamps[40] == back_ms * MS
    write_camera_bag(tmp_path / 'step', stamps)
    warnings = inspect_warnings(tmp_path / 'step', capsys)['/cam']
    assert warnings == ([
        'header stamps go backwards at 1 point(s) (the first: message 40): a clock reset '
        '(sim time restarted?); without an episode marker bag2zarr splits episodes there by '
        'receive time when this is its reference topic'] if named else [])


@pytest.mark.parametrize(('off_s', 'named'), [(45, False), (70, True)])
def test_in_a_short_bag_a_stamp_within_a_minute_of_the_others_is_no_clock_jump(
        tmp_path, capsys, off_s, named):
    """A 2.9 s bag: ten spans are 29 s, but a stamp is far only beyond FAR_STAMP_MIN_S (60 s)."""
    stamps = [WALL + i * PERIOD for i in range(30)]
    stamps[15] += off_s * NS
    write_camera_bag(tmp_path / 'short', stamps)
    warnings = inspect_warnings(tmp_path / 'short', capsys)['/cam']
    assert [w.split(' away')[0] for w in warnings] == (
        [f'1 header stamp(s) up to {off_s} s'] if named else [])


# --- which streams share a sim clock ---------------------------------------------------------

def _two_clock_bag(path, cam_offset_ns: int, js_offset_ns: int) -> None:
    """A 10 Hz camera and 10 Hz joint states received from WALL on, each stamped its
    receipt plus its own offset (stamp - receive time)."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for i in range(40):
            t = WALL + i * PERIOD
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.zeros((4, 4, 3), np.uint8), t + 5 * MS + cam_offset_ns))
            rec.write('/js', 'sensor_msgs/msg/JointState', t + 6 * MS,
                      joint_state_message(ts, ['j1'], np.array([float(i)]),
                                          t + 6 * MS + js_offset_ns))


@pytest.mark.parametrize(('cam_offset', 'js_offset', 'warned'), [
    # two sims' clocks (or two devices' boot clocks) 499 s apart: no one clock to align on
    (-WALL + 1 * NS, -WALL + 500 * NS, {'/cam', '/js'}),
    # one stream within a second of the receive clock: the bag's clock is the receive clock,
    # and the stream 1.4 s off it is on another (though within a second of the first)
    (-600 * MS, -1400 * MS, {'/js'}),
])
def test_streams_on_clocks_that_are_not_one_sim_clock_are_named(tmp_path, cam_offset,
                                                                js_offset, warned):
    _two_clock_bag(tmp_path / 'bag', cam_offset, js_offset)
    summary = summarize_bag(tmp_path / 'bag')
    assert summary.notes == []
    clock = {t.topic for t in summary.topics
             if any('another clock' in p for p in t.problems)}
    assert clock == warned
    for topic in summary.topics:  # rates on the receive clock
        assert topic.rate_hz == pytest.approx(10.0, rel=1e-3), topic.topic


@pytest.mark.parametrize('fault', ['zero', 'swapped'])
def test_drivers_on_a_sim_clock_have_no_false_gap(tmp_path, fault):
    """A lockstep sim at 5000 s (0.1 s steps, 40 ms of wall time each): an arm driver and a
    torso driver on /joint_states. One arm stamp left 0 (the drivers' intervals fall back to
    receive times: no 5000 s gap), or two arm messages received in swapped stamp order (the
    intervals of the sorted stamps: 0.1 s, not 0.2 s)."""
    sim0 = 5000 * NS
    with BagRecorder(tmp_path / 'bag') as rec:
        ts = rec.typestore
        for k in range(40):
            recv = T0 + k * 40 * MS
            sim = sim0 + k * 100 * MS
            rec.write('/sim/image_raw', 'sensor_msgs/msg/Image', recv + MS,
                      image_message(ts, np.zeros((4, 4, 3), np.uint8), sim))
            arm_stamp = sim
            if fault == 'zero' and k == 10:
                arm_stamp = 0
            if fault == 'swapped' and k in (10, 11):
                arm_stamp = sim0 + (21 - k) * 100 * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', recv + 2 * MS,
                      joint_state_message(ts, ['j1'], np.array([k / 10]), arm_stamp))
            if k % 2 == 0:
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', recv + 3 * MS,
                          joint_state_message(ts, ['torso'], np.array([0.2]), sim))
    topics = {t.topic: t for t in summarize_bag(tmp_path / 'bag').topics}
    drivers = {tuple(names): (rate, gap) for names, rate, gap, _ in
               topics['/joint_states'].drivers}
    assert set(drivers) == {('j1',), ('torso',)}
    arm_rate, arm_gap = drivers[('j1',)]
    if fault == 'zero':  # on receive times: 25 Hz, 40 ms
        assert arm_rate == pytest.approx(25.0, rel=0.01)
        assert arm_gap == pytest.approx(0.04, rel=0.01)
    else:  # on the sim clock's stamps, sorted
        assert arm_rate == pytest.approx(10.0, rel=0.01)
        assert arm_gap == pytest.approx(0.1, rel=0.01)


# --- what the listing prints -------------------------------------------------------------------

def test_the_listing_names_a_velocity_only_driver_and_prints_an_offset_of_0(tmp_path, capsys):
    """A wheel driver on the arm's /joint_states: its entry says it gives velocities only; a
    stream stamped at its very receipt prints its offset, +0.0 ms, not nothing."""
    _robot_bag(tmp_path / 'robot', wheels=True)
    topics = {t.topic: t for t in summarize_bag(tmp_path / 'robot').topics}
    assert topics['/joint_states'].detail == (
        "2 drivers: joints ['j1', 'j2'] (100.0 Hz); joints ['wheel_l', 'wheel_r'] (50.0 Hz) "
        '(velocity only: no positions)')
    write_camera_bag(tmp_path / 'cam', [WALL + i * PERIOD for i in range(20)])
    assert inspect([str(tmp_path / 'cam'), '--no-progress']) == 0
    (js,) = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith('  /js ')]
    assert js.endswith('max gap 0.100 s, stamp - receive +0.0 ms'), js


def test_the_listing_prints_the_bags_notes(tmp_path, capsys):
    _lone_stamped_bag(tmp_path / 'bag')
    assert inspect([str(tmp_path / 'bag'), '--no-progress']) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if 'note: ' in line]
    assert len(notes) == 1 and notes[0].startswith(
        '  note: header stamps of /sim/image_raw sit -1.7e+09 s from receive times: one clock')


def test_strict_exits_1_on_a_warning_in_any_bag_not_only_the_first(tmp_path, capsys):
    write_camera_bag(tmp_path / 'bags' / 'a_clean', [WALL + i * PERIOD for i in range(20)])
    stamps = [WALL + i * PERIOD for i in range(20)]
    stamps[12] = 0
    write_camera_bag(tmp_path / 'bags' / 'b_unset', stamps)
    assert inspect([str(tmp_path / 'bags' / 'a_clean'), '--no-progress', '--strict']) == 0
    assert inspect([str(tmp_path / 'bags'), '--no-progress', '--strict']) == 1
    assert 'warning: 1 of 20 header stamps are 0' in capsys.readouterr().out


# --- the draft's choices -----------------------------------------------------------------------

def test_joints_republished_in_one_namespace_get_no_prefix(tmp_path):
    """/robot/joint_states and /robot/filtered/joint_states name the same joints: one robot's
    states twice (two arms each have a namespace of their own), not prefixed; so the joints
    its controller commands are those of the state (not 'robot_j1': in no command)."""
    write_bag(tmp_path / 'bags' / 'one_ns', [
        (CAMERA, 'image', None, 10), ('/robot/joint_states', 'joints', JOINTS, 100),
        ('/robot/filtered/joint_states', 'joints', JOINTS, 50),
        ('/robot/arm_controller/joint_trajectory', 'command', JOINTS, 10)])
    text, config = draft(tmp_path / 'bags', tmp_path)
    assert [(s.topic, s.joints, s.prefix) for s in config.keys['state'].sources] == [
        ('/robot/joint_states', JOINTS, '')]
    assert [(s.topic, s.joints) for s in config.keys['action'].sources] == [
        ('/robot/arm_controller/joint_trajectory', JOINTS)]
    assert 'prefix' not in text and 'in no recorded command' not in text


def test_without_commands_no_joint_is_said_to_be_in_no_command(tmp_path):
    """The action is the state one period later: nothing to add as a second action source.
    And a PoseStamped topic without messages is not offered as a source."""
    write_bag(tmp_path / 'bags' / 'no_cmd', arm())
    with BagRecorder(tmp_path / 'bags' / 'spare_pose', storage='mcap') as rec:
        rec.add_topic('/ee_pose', 'geometry_msgs/msg/PoseStamped')
    text, config = draft(tmp_path / 'bags', tmp_path)
    assert [s.kind for s in config.keys['action'].sources] == ['joint_state']
    assert 'in no recorded command' not in text
    assert '/ee_pose' not in text


def test_a_velocity_only_driver_is_not_offered_as_a_future_state_action(tmp_path, capsys):
    """Wheels giving velocities only beside a commanded arm: the draft's "in no recorded
    command" offer reads positions ({joint_state, joints, offset}), which they have none of."""
    _robot_bag(tmp_path / 'bags' / 'demo', wheels=True)
    text, _ = draft(tmp_path / 'bags', tmp_path)
    assert 'field: velocity' in text
    assert 'in no recorded command' not in text


def test_a_driver_that_gained_a_joint_between_bags_is_not_paired(tmp_path):
    """The first bag's /joint_states gives j1, j2, the last's j1, j2, g: no rename by
    position (the lists differ in length), a note to map them by hand, no traceback."""
    write_bag(tmp_path / 'bags' / 'a', [(CAMERA, 'image', None, 10),
                                        ('/joint_states', 'joints', JOINTS, 100)], seconds=1.0)
    write_bag(tmp_path / 'bags' / 'b', [(CAMERA, 'image', None, 10),
                                        ('/joint_states', 'joints', [*JOINTS, 'g'], 100)],
              seconds=1.0)
    text, config = draft(tmp_path / 'bags', tmp_path)
    assert 'joint_renames' not in text
    assert ("#   a: /joint_states gives [['j1', 'j2']] where the last bag gives "
            "[['j1', 'j2', 'g']]: not paired") in text
    assert config.keys['state'].sources[0].joints == [*JOINTS, 'g']


def test_a_camera_frame_of_no_height_is_no_aspect_note_and_no_traceback(tmp_path):
    with BagRecorder(tmp_path / 'bags' / 'flat') as rec:
        ts = rec.typestore
        for i in range(20):
            t = T0 + i * PERIOD
            rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS, ts.types[
                'sensor_msgs/msg/Image'](
                    header=ts.types['std_msgs/msg/Header'](
                        stamp=ts.types['builtin_interfaces/msg/Time'](sec=t // NS,
                                                                      nanosec=t % NS),
                        frame_id='cam'),
                    height=0, width=4, encoding='rgb8', is_bigendian=0, step=12,
                    data=np.zeros(0, np.uint8)))
            for k in range(10):
                tj = t + k * 10 * MS
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', tj + MS,
                          joint_state_message(ts, JOINTS, [i, k], tj))
    text, _ = draft(tmp_path / 'bags', tmp_path)
    assert f'    image: "{CAMERA}"   # 4x0 rgb8' in text
    assert 'keeps the centre' not in text


# --- where a dataset's findings are ------------------------------------------------------------

def test_a_nan_on_an_episodes_first_step_is_named_there(tmp_path):
    """Row 20, the first step of episode 1 (episodes end at 20, 40): episode 1 step 0, not
    'episode 0 step 20'."""
    rng = np.random.default_rng(0)
    episodes = [clean_episode(rng, 20), clean_episode(rng, 20)]
    episodes[1]['state'][0, 1] = np.nan
    s = summarize(write_store(tmp_path / 'd.zarr', episodes), horizon=16)
    assert s.errors == ['state: 1 NaN or infinite value(s): dimension 1 (1, the first at '
                        'episode 1 step 0)']


def test_an_empty_first_episode_hides_no_jump_on_the_last_step(tmp_path):
    """Episode ends 0, 20, 40 (an empty first episode): the action's jump on the very last
    step is still named, at episode 2 step 19."""
    rng = np.random.default_rng(1)
    episodes = [clean_episode(rng, 20), clean_episode(rng, 20)]
    for e in episodes:
        e['action'][:, 0] = np.linspace(0.0, 1.0, 20)
    episodes[1]['action'][19, 0] = 10.0
    path = tmp_path / 'd.zarr'
    write_store(path, episodes)
    ends = zarr.open_group(str(path), mode='r+')['meta/episode_ends']
    ends.resize((3,))
    ends[:] = [0, 20, 40]
    s = summarize(ReplayBuffer.open(path), horizon=4)
    (jump,) = [w for w in s.warnings if w.startswith('action[0] jumps')]
    assert jump.startswith('action[0] jumps by 9.05') and jump.endswith('episode 2 step 19'), jump


def _nan_dims(tmp_path, n_dims: int) -> str:
    rng = np.random.default_rng(2)
    (e,) = [clean_episode(rng, 20)]
    e['wide'] = rng.normal(size=(20, 10)).astype(np.float32)
    e['wide'][4, :n_dims] = np.nan
    s = summarize(write_store(tmp_path / f'nan{n_dims}.zarr', [e]), horizon=16)
    (error,) = s.errors
    return error


def test_nan_in_8_dimensions_are_all_named_and_in_9_the_ninth_is_counted(tmp_path):
    eight = _nan_dims(tmp_path, 8)
    assert eight.endswith('dimension 7 (1, the first at episode 0 step 4)'), eight
    nine = _nan_dims(tmp_path, 9)
    assert nine.endswith('dimension 7 (1, the first at episode 0 step 4); ... (9 dimensions '
                         'in all)'), nine


# --- the video's frames ------------------------------------------------------------------------

def test_video_frames_tile_cameras_of_two_heights_and_clip_float_values(tmp_path):
    """A 12x16 grey camera beside a 24x16 float camera holding values beyond 0..255: one
    frame 24 px high (the smaller padded white below), enlarged 8x to 192 px, grey as three
    equal channels, the float values clipped to 0 and 255 (not wrapped)."""
    from training.inspect_dataset import episode_frames

    rng = np.random.default_rng(4)
    (e,) = [clean_episode(rng, 5)]
    del e['img']
    e['a_grey'] = np.full((5, 12, 16, 1), 100, np.uint8)
    e['b_float'] = np.full((5, 24, 16, 3), 300.0, np.float32)
    e['b_float'][:, :, 8:] = -5.0
    frames = np.asarray(episode_frames(write_store(tmp_path / 'd.zarr', [e]), 0))
    assert frames.shape == (5, 24 * 8, (16 + 2 + 16) * 8, 3)
    assert (frames[:, :12 * 8, :16 * 8] == 100).all()  # grey, enlarged
    assert (frames[:, 12 * 8:, :16 * 8] == 255).all()  # padded white below it
    assert (frames[:, :, 18 * 8:26 * 8] == 255).all()  # 300 clipped to 255
    assert (frames[:, :, 26 * 8:] == 0).all()  # -5 clipped to 0


def test_video_frames_of_a_camera_over_192_px_are_its_own_size(tmp_path):
    from training.inspect_dataset import episode_frames

    rng = np.random.default_rng(5)
    (e,) = [clean_episode(rng, 3)]
    e['img'] = rng.integers(0, 256, (3, 200, 10, 3)).astype(np.uint8)
    frames = episode_frames(write_store(tmp_path / 'd.zarr', [e]), 0)
    assert len(frames) == 3 and frames[0].shape == (200, 10, 3)
    np.testing.assert_array_equal(frames[1], e['img'][1])


def test_the_summary_prints_names_sources_and_no_problems(tmp_path, capsys):
    """A clean store whose state records its names and sources: the listing prints both
    under the key, and says no problems were found."""
    rng = np.random.default_rng(6)
    path = tmp_path / 'd.zarr'
    e = clean_episode(rng, 20)
    e['action'] = np.stack([np.linspace(0, 1, 20), np.linspace(1, 3, 20)], 1).astype(np.float32)
    write_store(path, [e])
    attrs = ReplayBuffer.open(path, mode='r+').data['state'].attrs
    attrs['names'] = ['j1', 'j2', 'g']
    attrs['sources'] = [{'kind': 'joint_state', 'topic': '/joint_states', 'width': 2},
                        {'kind': 'joint_state', 'topic': '/left/gripper', 'width': 1,
                         'prefix': 'left_'}]
    assert inspect([str(path), '--no-progress']) == 0
    out = capsys.readouterr().out.splitlines()
    state = out.index(next(line for line in out if line.startswith('  state ')))
    assert out[state + 1:state + 3] == [
        "      names ['j1', 'j2', 'g']",
        '      from  /joint_states (joint_state, 2), /left/gripper (joint_state, 1, prefix '
        'left_)']
    assert out[-1] == 'no problems found'
