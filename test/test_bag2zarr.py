"""`dp-ros bag2zarr` without a ROS graph: bags written with rosbags from dataset episodes.

The bags look like what the sim bridge + `dp-ros replay` + a recorder produce (same topics,
types, stamps, markers), so the conversion must give back the dataset's episodes exactly.
Bad inputs must leave an existing output byte for byte as it was.
"""
from __future__ import annotations

import math
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import BAG2ZARR_PUSHT_CONFIG as PUSHT_CONFIG
from support import (
    CONFIG_DIR,
    MS,
    REPO_ROOT,
    default_sigint,
    module_cmd,
    nonempty_lines,
    shortest_episodes,
)

from dp_ros.bags.reader import find_bags
from dp_ros.bags.recorder import (
    BagRecorder,
    compressed_image_message,
    float_array_message,
    image_message,
    joint_state_message,
    pose_message,
    trajectory_message,
    write_pusht_bag,
)
from training import bag2zarr
from training.bag2zarr_config import ConfigError, config_from_dict, load_config
from training.inspect_dataset import main as inspect_dataset
from training.replay_buffer import ReplayBuffer


@pytest.fixture(scope='module')
def episodes(pusht_zarr) -> list[dict[str, np.ndarray]]:
    """The dataset's three shortest episodes (49, 56, 60 steps)."""
    return shortest_episodes(pusht_zarr, 3)[1]


def pusht_config(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load(PUSHT_CONFIG.read_text())
    for key, value in changes.items():
        if key in raw.get('episodes', {}) or key in ('on_gap', 'min_steps', 'marker'):
            raw['episodes'][key] = value
        else:
            raw[key] = value
    path = tmp_path / f'config_{len(list(tmp_path.glob("config_*")))}.yaml'
    path.write_text(yaml.safe_dump(raw))
    return path


def run(bags, config: Path, output: Path, *extra: str) -> int:
    return bag2zarr.main([*map(str, bags), '-c', str(config), '-o', str(output),
                          '--no-progress', *extra])


def error_line(capsys) -> str:
    """The one line a failed conversion writes on stderr (dp_ros/cli.py's error rule)."""
    lines = nonempty_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith('dp-ros bag2zarr: '), lines
    return lines[0]


def assert_same_episode(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert len(got['action']) == len(want['action'])
    np.testing.assert_array_equal(got['action'], want['action'])
    np.testing.assert_array_equal(got['img'], want['img'])
    np.testing.assert_array_equal(got['state'][:, :4], want['state'][:, :4])
    # the angle travels as a quaternion: equal up to float32 rounding, modulo 2 pi
    turn = (got['state'][:, 4] - want['state'][:, 4] + np.pi) % (2 * np.pi) - np.pi
    assert np.abs(turn).max() < 1e-5


def snapshot(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob('*'))
            if p.is_file()}


def leftovers(output: Path) -> list[str]:
    return [p.name for p in output.parent.iterdir() if p.name.startswith(f'.{output.name}.')]


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_round_trip_gives_back_the_dataset_episodes(tmp_path, episodes, storage, capsys):
    # a folder holding a two-episode bag (split on episode_result) and a one-episode bag
    folder = tmp_path / 'bags'
    write_pusht_bag(folder / 'rosbag2_a', episodes[:2], storage=storage)
    write_pusht_bag(folder / 'rosbag2_b', episodes[2:], storage=storage, start_ns=50 * 10**9)
    output = tmp_path / 'out.zarr'
    assert run([folder], PUSHT_CONFIG, output) == 0
    out = capsys.readouterr().out
    assert 'wrote' in out and '+3 episodes' in out and '/pusht/image_raw' in out

    buffer = ReplayBuffer.open(output)
    assert buffer.n_episodes == 3
    assert buffer.data['img'].dtype == np.float32  # the paper's layout
    assert tuple(buffer.data['img'].shape[1:]) == (96, 96, 3)
    for i, want in enumerate(episodes):
        assert_same_episode(buffer.get_episode(i), want)
    assert leftovers(output) == []


def test_jittered_stamps_and_late_messages_land_in_their_step(tmp_path, episodes):
    n0 = len(episodes[0]['action'])
    # stamps off by up to 30 ms; the first episode's last image and pose arrive after the
    # episode_result marker (received a second late)
    bag = tmp_path / 'bag'
    write_pusht_bag(bag, episodes[:2], jitter_ns=30 * MS, seed=3,
                    late={'/pusht/image_raw': {n0 - 1}, '/pusht/block_pose': {n0 - 1}})
    output = tmp_path / 'out.zarr'
    # the offline options: the nearest message either side, on the reference's mean phase
    # (the node's at-or-before rule would see the late-stamped ones a step later: see
    # test_alignment_bags.py for that rule under jitter)
    offline = pusht_config(tmp_path, align='nearest', grid_start='reference_phase')
    assert run([bag], offline, output) == 0
    buffer = ReplayBuffer.open(output)
    assert buffer.n_episodes == 2
    for i in range(2):
        assert_same_episode(buffer.get_episode(i), episodes[i])


def test_dropped_image_is_a_gap_cut_dropped_or_bridged_as_configured(tmp_path, episodes,
                                                                     capsys):
    ep = episodes[1]
    n = len(ep['action'])
    bag = tmp_path / 'bag'
    write_pusht_bag(bag, [ep], drop={'/pusht/image_raw': {20}})

    split = tmp_path / 'split.zarr'
    assert run([bag], PUSHT_CONFIG, split) == 0
    out = capsys.readouterr().out
    assert 'gap at t=2.000 s: 1 step(s) without /pusht/image_raw' in out
    assert 'drops 1' in out
    buffer = ReplayBuffer.open(split)
    assert buffer.episode_lengths.tolist() == [20, n - 21]
    np.testing.assert_array_equal(buffer.get_episode(1)['action'], ep['action'][21:])

    assert run([bag], pusht_config(tmp_path, on_gap='drop'), tmp_path / 'drop.zarr') == 2
    err = error_line(capsys)
    assert 'no episode survived' in err
    assert not (tmp_path / 'drop.zarr').exists()

    # a tolerance over one period bridges the hole with the nearest frame
    bridged = tmp_path / 'bridged.zarr'
    assert run([bag], pusht_config(tmp_path, tolerance=0.12), bridged) == 0
    got = ReplayBuffer.open(bridged).get_episode(0)
    assert len(got['action']) == n
    np.testing.assert_array_equal(got['action'], ep['action'])
    assert (np.array_equal(got['img'][20], ep['img'][19])
            or np.array_equal(got['img'][20], ep['img'][21]))


def test_appends_and_keeps_the_store_dtype(tmp_path, episodes, capsys):
    output = tmp_path / 'out.zarr'
    write_pusht_bag(tmp_path / 'a', episodes[:1])
    write_pusht_bag(tmp_path / 'b', episodes[1:], storage='sqlite3')
    uint8 = pusht_config(tmp_path, image_dtype='uint8')
    assert run([tmp_path / 'a'], uint8, output) == 0
    assert ReplayBuffer.open(output).data['img'].dtype == np.uint8
    before = {k: np.asarray(v[:]) for k, v in ReplayBuffer.open(output).data.items()}

    # appending with the float32 config keeps the store's uint8 images
    assert run([tmp_path / 'b'], PUSHT_CONFIG, output, '--memory-limit-mb', '1') == 0
    assert 'appended to' in capsys.readouterr().out
    buffer = ReplayBuffer.open(output)
    assert buffer.n_episodes == 3 and buffer.data['img'].dtype == np.uint8
    for key, value in before.items():
        np.testing.assert_array_equal(buffer.data[key][:len(value)], value)
    for i, want in enumerate(episodes):
        assert_same_episode(buffer.get_episode(i), want)

    # the same topics: the recorded sources stay, with each topic's message rate (and the
    # camera as the grid's reference; the sim's stamps count from 0: sim time)
    assert buffer.attrs('img')['sources'] == [{'kind': 'image', 'topic': '/pusht/image_raw',
                                               'width': None, 'frame_size': [96, 96],
                                               'tolerance_s': 0.05, 'offset_s': 0.0,
                                               'align': 'at_or_before', 'rate_hz': 10.0,
                                               'reference': True, 'sim_time': True}]
    assert buffer.root_attrs()['control_period_s'] == 0.1  # the grid's period
    assert buffer.attrs('state')['sources'] == [  # and how the pose's yaw was wrapped
        {'kind': 'joint_state', 'topic': '/pusht/joint_states', 'width': 2, 'field': 'position',
         'tolerance_s': 0.05, 'offset_s': 0.0, 'align': 'at_or_before', 'rate_hz': 10.0,
         'sim_time': True},
        {'kind': 'pose', 'topic': '/pusht/block_pose', 'width': 3, 'yaw_min': 0.0,
         'tolerance_s': 0.05, 'offset_s': 0.0, 'align': 'at_or_before', 'rate_hz': 10.0,
         'sim_time': True}]

    # --overwrite starts over
    assert run([tmp_path / 'b'], PUSHT_CONFIG, output, '--overwrite') == 0
    buffer = ReplayBuffer.open(output)
    assert buffer.n_episodes == 2 and buffer.data['img'].dtype == np.float32
    assert leftovers(output) == []

    # a bag from other topics appends, and the store forgets where its data came from
    write_pusht_bag(tmp_path / 'c', episodes[:1], namespace='/robot2')
    other = yaml.safe_load(PUSHT_CONFIG.read_text().replace('/pusht/', '/robot2/'))
    (tmp_path / 'robot2.yaml').write_text(yaml.safe_dump(other))
    assert run([tmp_path / 'c'], tmp_path / 'robot2.yaml', output) == 0
    buffer = ReplayBuffer.open(output)
    assert buffer.n_episodes == 3 and 'sources' not in buffer.attrs('img')
    assert 'sources' not in buffer.attrs('action') and buffer.attrs('action')['names']


def write_pose_bag(path, frames: list[str]) -> None:
    """2 s of joint states (10 Hz, the grid) and an end effector's pose, the i-th second's in
    frames[i]."""
    wall = 1_700_000_000 * 10**9
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(20):
            t = wall + k * 100 * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t,
                      joint_state_message(ts, ['j1'], np.array([k / 10]), t))
            rec.write('/ee_pose', 'geometry_msgs/msg/PoseStamped', t,
                      pose_message(ts, k / 100, 0.0, 0.1, t, frame_id=frames[k // 10]))


def test_a_poses_frame_is_recorded_and_poses_in_two_frames_are_refused(tmp_path, capsys):
    """The pose topic's header.frame_id travels with the data (the node refuses poses in
    another, the draft names the targets' frame); bags whose poses change frame, or that
    would append poses in another frame, are refused, the store untouched."""
    raw = {'control_period_s': 0.1, 'reference_topic': '/joint_states',
           'keys': {'state': [{'joint_state': '/joint_states', 'joints': ['j1']},
                              {'pose': '/ee_pose', 'fields': ['x', 'yaw']}],
                    'action': {'future_of': 'state', 'offset': 0.1}}}
    config = tmp_path / 'pose.yaml'
    config.write_text(yaml.safe_dump(raw))
    write_pose_bag(tmp_path / 'base', ['base_link', 'base_link'])
    output = tmp_path / 'out.zarr'
    assert run([tmp_path / 'base'], config, output) == 0
    sources = ReplayBuffer.open(output).attrs('state')['sources']
    assert sources[1] == {'kind': 'pose', 'topic': '/ee_pose', 'width': 2,
                          'yaw_min': -math.pi, 'frame_id': 'base_link', 'tolerance_s': 0.05,
                          'offset_s': 0.0, 'align': 'at_or_before', 'rate_hz': 10.0}
    before = snapshot(output)
    write_pose_bag(tmp_path / 'world', ['world', 'world'])
    assert run([tmp_path / 'world'], config, output) == 2
    assert ("cannot append to data/state: the poses of /ee_pose have frame_id 'base_link' "
            "there, 'world' here") in error_line(capsys)
    write_pose_bag(tmp_path / 'mixed', ['base_link', 'world'])
    assert run([tmp_path / 'mixed'], config, tmp_path / 'mixed.zarr') == 2
    assert ("pose topic /ee_pose was recorded in frames ['base_link', 'world']: poses in "
            'different frames cannot be one dimension') in error_line(capsys)
    assert snapshot(output) == before and not (tmp_path / 'mixed.zarr').exists()


def test_a_pose_converts_to_a_rotation_6d(tmp_path):
    """A pose source's matrix fields (the rotation 6D, the first two columns) are the
    orientation's rotation matrix entries, named so in the store; no yaw wrap is recorded
    when there is no yaw."""
    from dp_ros.pose_fields import MATRIX_COLUMNS

    raw = {'control_period_s': 0.1, 'reference_topic': '/joint_states',
           'keys': {'state': [{'pose': '/ee_pose', 'fields': ['x', *MATRIX_COLUMNS]}],
                    'action': {'future_of': 'state', 'offset': 0.1}}}
    config = tmp_path / 'rot6d.yaml'
    config.write_text(yaml.safe_dump(raw))
    write_pose_bag(tmp_path / 'bag', ['base_link', 'base_link'])  # yaw 0.1 throughout
    output = tmp_path / 'out.zarr'
    assert run([tmp_path / 'bag'], config, output) == 0
    buffer = ReplayBuffer.open(output)
    attrs = buffer.attrs('state')
    assert attrs['names'] == ['x', *MATRIX_COLUMNS]
    assert attrs['sources'] == [{'kind': 'pose', 'topic': '/ee_pose', 'width': 7,
                                 'frame_id': 'base_link', 'tolerance_s': 0.05, 'offset_s': 0.0,
                                 'align': 'at_or_before', 'rate_hz': 10.0}]
    c, s = math.cos(0.1), math.sin(0.1)
    state = np.asarray(buffer['state'][:])
    assert len(state) > 0
    np.testing.assert_allclose(state[:, 1:], np.tile([c, s, 0, -s, c, 0], (len(state), 1)),
                               atol=1e-6)


def test_a_recording_converted_already_is_refused_not_appended_twice(tmp_path, existing,
                                                                     capsys):
    """The quick-start command run again (or the bag copied elsewhere) would append the same
    episodes twice: one line, the store untouched; --overwrite writes it anew."""
    import shutil

    output, before = existing
    good = tmp_path / 'good'
    converted = ReplayBuffer.open(output).root_attrs()['converted_bags']
    assert [(c['bag'], c['episodes']) for c in converted] == [(str(good), 1)]
    copy = tmp_path / 'elsewhere' / 'good_copy'
    shutil.copytree(good, copy)
    capsys.readouterr()
    for bags in ([good], [copy]):
        assert run(bags, PUSHT_CONFIG, output) == 2
        line = error_line(capsys)
        assert f'holds bag {bags[0]} already (converted from {good})' in line, line
        assert '--overwrite' in line and snapshot(output) == before
    assert run([good, copy], PUSHT_CONFIG, tmp_path / 'new.zarr') == 2
    assert f'bags {good} and {copy} are the same recording' in error_line(capsys)
    assert not (tmp_path / 'new.zarr').exists()
    assert run([copy], PUSHT_CONFIG, output, '--overwrite') == 0
    store = ReplayBuffer.open(output)
    assert store.n_episodes == 1
    assert [c['bag'] for c in store.root_attrs()['converted_bags']] == [str(copy)]


def test_the_converted_bags_survive_a_lerobot_round_trip(tmp_path, existing, capsys):
    """A review's day 2: zarr -> LeRobot -> zarr lost converted_bags, and the same bag then
    appended to the round-tripped store without a word (twice the episodes)."""
    from training.lerobot_convert import main as convert

    output, _ = existing
    lerobot, back = tmp_path / 'lerobot', tmp_path / 'back.zarr'
    assert convert([str(output), str(lerobot), '--no-progress']) == 0
    assert convert([str(lerobot), str(back), '--no-progress']) == 0
    assert ReplayBuffer.open(back).root_attrs()['converted_bags'] == \
        ReplayBuffer.open(output).root_attrs()['converted_bags']
    capsys.readouterr()
    assert run([tmp_path / 'good'], PUSHT_CONFIG, back) == 2
    assert f"holds bag {tmp_path / 'good'} already" in error_line(capsys)


def test_an_append_that_wraps_a_pose_yaw_otherwise_is_refused(tmp_path, episodes, capsys):
    """The block's yaw recorded in [0, 2 pi): bags converted with yaw_min -pi would give the
    same heading two values in one store; refused, the store untouched."""
    output = tmp_path / 'out.zarr'
    write_pusht_bag(tmp_path / 'a', episodes[:1])
    assert run([tmp_path / 'a'], PUSHT_CONFIG, output) == 0
    before = snapshot(output)
    raw = yaml.safe_load(PUSHT_CONFIG.read_text())
    raw['keys']['state'][1]['yaw_min'] = -math.pi
    (tmp_path / 'wrap.yaml').write_text(yaml.safe_dump(raw))
    assert run([tmp_path / 'a'], tmp_path / 'wrap.yaml', output) == 2
    assert ('the poses of /pusht/block_pose have yaw_min 0.0 there, -3.14159') in \
        error_line(capsys)
    assert snapshot(output) == before


def test_arm_config_future_state_bool_markers_and_two_cameras(tmp_path):
    """A real-arm recording: 30 Hz cameras (one compressed, one unstamped and larger),
    100 Hz joint states, recording toggled by a Bool topic, action = state 0.1 s later; then
    the example training config trains on it."""
    cfg = yaml.safe_load((CONFIG_DIR / 'bag2zarr_example_arm.yaml').read_text())
    joints = cfg['keys']['state']['joints']
    rng = np.random.default_rng(0)
    bag = tmp_path / 'arm_bag'
    wall = 1_700_000_000 * 10**9
    frames: dict[int, np.ndarray] = {}
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        bool_t = ts.types['std_msgs/msg/Bool']
        for t_ms in range(0, 6000, 10):  # 6 s of joint states at 100 Hz
            t = wall + t_ms * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, joints, np.full(len(joints), t_ms / 1000.0), t))
        for i in range(180):  # 6 s of two cameras at 30 Hz
            t = wall + round(i * 1000 / 30) * MS
            rgb = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
            frames[t] = rgb
            rec.write('/wrist_camera/image_raw/compressed', 'sensor_msgs/msg/CompressedImage',
                      t + 2 * MS, compressed_image_message(ts, rgb, t, fmt='png'))
            big = np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1)  # 192x192: resized to 96x96
            rec.write('/scene_camera/image_raw', 'sensor_msgs/msg/Image', t + 3 * MS,
                      image_message(ts, big, 0))  # a driver that leaves stamps unset
        for t_ms, on in ((500, True), (2500, False), (3000, True), (5500, False)):
            rec.write('/teleop/recording', 'std_msgs/msg/Bool', wall + t_ms * MS,
                      bool_t(data=on))
    output = tmp_path / 'arm.zarr'
    config = tmp_path / 'arm.yaml'
    config.write_text(yaml.safe_dump(cfg))
    assert run([bag], config, output) == 0
    buffer = ReplayBuffer.open(output)
    assert buffer.n_episodes == 2
    assert sorted(buffer.keys()) == ['action', 'scene_img', 'state', 'wrist_img']
    assert buffer.data['wrist_img'].dtype == np.uint8
    # 2 s and 2.5 s at 10 Hz; the step whose future lies past the end marker is trimmed
    assert 18 <= buffer.episode_lengths[0] <= 20 and 23 <= buffer.episode_lengths[1] <= 25
    by_content = {f.tobytes(): t for t, f in frames.items()}
    for i in range(2):
        ep = buffer.get_episode(i)
        assert ep['state'].shape[1] == len(joints)
        # the (lossless png) wrist frames are camera frames, exactly; the grid is the
        # unstamped scene camera's receive times (stamp + 3 ms), every 3rd frame: 10 Hz
        stamps = np.array([by_content[f.tobytes()] for f in ep['wrist_img']]) - wall
        assert (np.diff(stamps) == 100 * MS).all()
        grid_ms = stamps / MS + 3
        # state (the time in s): the newest 100 Hz sample at or before each grid time;
        # action: the same 0.1 s later, exactly
        np.testing.assert_array_equal(ep['state'][:, 0],
                                      (np.floor(grid_ms / 10) * 10 / 1000).astype(np.float32))
        np.testing.assert_array_equal(ep['action'][:, 0], (
            np.floor((grid_ms + 100) / 10) * 10 / 1000).astype(np.float32))
        np.testing.assert_allclose(ep['scene_img'].astype(float), ep['wrist_img'].astype(float),
                                   atol=1)  # a 2x downscale of the same frame
    first = buffer.get_episode(0)['state'][0, 0]
    # the episode starts with the first frame newer, by half a period, than all data
    # received before the marker (late messages of the previous episode stay there); the
    # wrist frame of that first grid time is stamped before it: that step is trimmed
    assert 0.55 <= first <= 0.7
    check_the_example_training_reads_it(output, joints, tmp_path)


def test_forward_controller_commands_are_the_newest_sent_at_or_before_each_step(tmp_path,
                                                                             capsys):
    """A gripper on a forward_command_controller: its Float64MultiArray commands (no header:
    the receive time counts) are sampled as the controller holds them, the newest sent at or
    before each grid time however long ago (its tolerance), even with align: nearest; the
    arm's joints come from a trajectory controller's topic beside it."""
    wall = 1_700_000_000 * 10**9
    bag = tmp_path / 'gripper_bag'
    sent = [(0, 0.0), (1230, 0.04), (1270, 0.03), (2500, 0.0)]  # ms, opening in m
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        array_t = ts.types['std_msgs/msg/Float64MultiArray']
        for t_ms in range(0, 3000, 10):
            t = wall + t_ms * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t,
                      joint_state_message(ts, ['j1', 'gripper'], np.array([t_ms / 1e3, 0.0]), t))
        for t_ms, opening in sent:
            rec.write('/gripper_controller/commands', 'std_msgs/msg/Float64MultiArray',
                      wall + t_ms * MS, array_t(layout=ts.types['std_msgs/msg/MultiArrayLayout'](
                          dim=[], data_offset=0), data=np.array([opening])))
    raw = {'control_period_s': 0.1, 'align': 'nearest', 'reference_topic': '/joint_states',
           'keys': {'state': {'joint_state': '/joint_states', 'joints': ['j1', 'gripper']},
                    'action': [{'joint_state': '/joint_states', 'joints': ['j1'],
                                'offset': 0.1},
                               {'float_array': '/gripper_controller/commands',
                                'joints': ['gripper'], 'tolerance': 3600}]}}
    config = tmp_path / 'gripper.yaml'
    config.write_text(yaml.safe_dump(raw))
    output = tmp_path / 'gripper.zarr'
    assert run([bag], config, output) == 0
    ep = ReplayBuffer.open(output).get_episode(0)
    grid_ms = np.round(ep['state'][:, 0] * 1e3).astype(int)  # j1 is the time in s
    assert grid_ms[0] == 0 and (np.diff(grid_ms) == 100).all()
    want = [[o for t, o in sent if t <= g][-1] for g in grid_ms]
    np.testing.assert_array_equal(ep['action'][:, 1], np.array(want, np.float32))
    assert ep['action'][12, 1] == np.float32(0.0) and ep['action'][13, 1] == np.float32(0.03)

    # a message of the wrong length is named, and nothing is written
    bad = tmp_path / 'bad_bag'
    with BagRecorder(bad, storage='mcap') as rec:
        ts = rec.typestore
        rec.write('/joint_states', 'sensor_msgs/msg/JointState', wall,
                  joint_state_message(ts, ['j1', 'gripper'], np.zeros(2), wall))
        rec.write('/gripper_controller/commands', 'std_msgs/msg/Float64MultiArray', wall,
                  float_array_message(ts, [0.01, 0.02]))
    assert run([bad], config, tmp_path / 'bad.zarr') == 2
    err = error_line(capsys)
    assert 'message 0 of /gripper_controller/commands cannot be converted' in err
    assert "2 value(s), joints ['gripper'] need 1" in err
    assert not (tmp_path / 'bad.zarr').exists()


def test_a_stop_stamped_0_between_stamped_chunks_replaces_the_chunk_from_its_receipt(tmp_path):
    """A recorded policy rollout: chunks stamped at their observation, point i due 0.1 s * i
    later, and a stop (the node's hold: one point, stamp 0, due a period after it arrives).
    Its stamp is its receive time, as the controller takes it: the chunk it stopped does not
    run on (placed at stamp 0, the stop sorted before every chunk and was never in force)."""
    wall = 1_700_000_000 * 10**9
    bag = tmp_path / 'rollout'
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        for t_ms in range(0, 2000, 10):
            t = wall + t_ms * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t,
                      joint_state_message(ts, ['j1'], np.array([t_ms / 1e3]), t))
        for t_ms in (0, 800):  # chunks: the value is the point's due time in s
            t = wall + t_ms * MS
            rec.write('/joint_trajectory', 'trajectory_msgs/msg/JointTrajectory', t + 5 * MS,
                      trajectory_message(ts, ['j1'], (t_ms + 100 * np.arange(8)[:, None]) / 1e3,
                                         t, 100 * MS))
        rec.write('/joint_trajectory', 'trajectory_msgs/msg/JointTrajectory', wall + 1050 * MS,
                  trajectory_message(ts, ['j1'], np.array([[9.0]]), 0, 100 * MS, 1))
    raw = {'control_period_s': 0.1, 'reference_topic': '/joint_states',
           'keys': {'state': {'joint_state': '/joint_states', 'joints': ['j1']},
                    'action': {'joint_trajectory': '/joint_trajectory', 'joints': ['j1'],
                               'tolerance': 0.2}}}
    config = tmp_path / 'rollout.yaml'
    config.write_text(yaml.safe_dump(raw))
    output = tmp_path / 'rollout.zarr'
    assert run([bag], config, output) == 0
    action = ReplayBuffer.open(output).get_episode(0)['action'][:, 0]
    # the chunks' points until the stop arrives (1.05 s): the point in force then is held
    # until the stop's is due (1.15 s), that one until it is older than the tolerance (the
    # commands stopped: the episode ends there)
    np.testing.assert_allclose(action, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
                                        1.0, 1.0, 9.0, 9.0], atol=1e-6)


def test_a_joints_position_and_velocity_side_by_side_have_names_and_fields(tmp_path, capsys):
    """One key of a joint's position and its velocity (two sources of one topic): each value
    is named for its field, the sources record the field, and bags of another field cannot be
    appended to it (they would mix velocities into positions)."""
    wall = 1_700_000_000 * 10**9
    bag = tmp_path / 'arm_bag'
    with BagRecorder(bag, storage='mcap') as rec:
        for t_ms in range(0, 2000, 10):
            t = wall + t_ms * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t, joint_state_message(
                rec.typestore, ['j1', 'j2'], np.array([t_ms / 1e3, 1.0]), t,
                velocity=np.array([-t_ms / 1e3, 2.0])))
    both = [{'joint_state': '/joint_states', 'joints': ['j1', 'j2']},
            {'joint_state': '/joint_states', 'joints': ['j1', 'j2'], 'field': 'velocity'}]
    raw = {'control_period_s': 0.1, 'reference_topic': '/joint_states',
           'keys': {'state': both,
                    'action': {'joint_state': '/joint_states', 'joints': ['j1', 'j2'],
                               'offset': 0.1}}}
    config = tmp_path / 'both.yaml'
    config.write_text(yaml.safe_dump(raw))
    output = tmp_path / 'both.zarr'
    assert run([bag], config, output) == 0
    buffer = ReplayBuffer.open(output)
    state = buffer.get_episode(0)['state']
    np.testing.assert_array_equal(state[:, 2], -state[:, 0])  # the velocity is its own
    assert (state[:, 1] == 1.0).all() and (state[:, 3] == 2.0).all()
    assert buffer.attrs('state')['names'] == ['j1', 'j2', 'j1.velocity', 'j2.velocity']
    assert [s['field'] for s in buffer.attrs('state')['sources']] == ['position', 'velocity']
    assert buffer.attrs('action')['names'] == ['j1', 'j2']

    # the velocities first: they would land where positions were; refused by name, and the
    # store is left as it was
    swapped = {**raw, 'keys': {**raw['keys'], 'state': [both[1], both[0]]}}
    (tmp_path / 'swapped.yaml').write_text(yaml.safe_dump(swapped))
    before = snapshot(output)
    assert run([bag], tmp_path / 'swapped.yaml', output) == 2
    assert "value names ['j1', 'j2', 'j1.velocity', 'j2.velocity']" in error_line(capsys)
    assert snapshot(output) == before


def test_two_arms_whose_drivers_name_their_joints_alike_get_prefixed_names(tmp_path, capsys):
    """ALOHA-style: each arm's driver says 'waist' and 'gripper' on its own topics; each
    source's prefix makes the dataset's names distinct (left_waist, right_waist), the
    sources record it for the node's topic_name_prefixes, and each arm's values stay its own.
    Without prefixes the config is refused, naming the fix."""
    wall = 1_700_000_000 * 10**9
    bag = tmp_path / 'two_arms'
    joints = ['waist', 'gripper']
    with BagRecorder(bag, storage='mcap') as rec:
        for t_ms in range(0, 2000, 10):
            t = wall + t_ms * MS
            for arm, sign in (('left', 1.0), ('right', -1.0)):
                rec.write(f'/{arm}/joint_states', 'sensor_msgs/msg/JointState', t,
                          joint_state_message(rec.typestore, joints,
                                              np.array([sign * t_ms / 1e3, sign * 0.01]), t))
                if t_ms % 100 == 0:  # the operator's commands, a point per 0.1 s
                    rec.write(f'/{arm}/arm_controller/joint_trajectory',
                              'trajectory_msgs/msg/JointTrajectory', t, trajectory_message(
                                  rec.typestore, joints,
                                  np.array([[sign * (t_ms + 100) / 1e3, sign * 0.02]]), t,
                                  100 * MS))
    arms = ('left', 'right')
    raw = {'control_period_s': 0.1, 'reference_topic': '/left/joint_states',
           'keys': {'state': [{'joint_state': f'/{a}/joint_states', 'joints': joints,
                               'prefix': f'{a}_'} for a in arms],
                    'action': [{'joint_trajectory': f'/{a}/arm_controller/joint_trajectory',
                                'joints': joints, 'prefix': f'{a}_', 'tolerance': 0.2}
                               for a in arms]}}
    config = tmp_path / 'two_arms.yaml'
    config.write_text(yaml.safe_dump(raw))
    output = tmp_path / 'two_arms.zarr'
    assert run([bag], config, output) == 0
    buffer = ReplayBuffer.open(output)
    names = ['left_waist', 'left_gripper', 'right_waist', 'right_gripper']
    assert buffer.attrs('state')['names'] == buffer.attrs('action')['names'] == names
    assert [(s['topic'], s.get('prefix')) for s in buffer.attrs('action')['sources']] == [
        ('/left/arm_controller/joint_trajectory', 'left_'),
        ('/right/arm_controller/joint_trajectory', 'right_')]
    episode = buffer.get_episode(0)
    for key in ('state', 'action'):  # the right arm's values are the left's negated
        np.testing.assert_array_equal(episode[key][:, 2:], -episode[key][:, :2])
    assert (np.diff(episode['state'][:, 0]) > 0).all()
    capsys.readouterr()
    assert inspect_dataset([str(output)]) == 0  # `dp-ros inspect DATASET` says the prefixes
    assert ('from  /left/joint_states (joint_state, 2, prefix left_), /right/joint_states '
            '(joint_state, 2, prefix right_)') in capsys.readouterr().out
    steps = np.arange(20)  # the command sent at step k aims at k + 1 (the last sent at 19)
    np.testing.assert_allclose(episode['action'][:20, 0], 0.1 * (steps + 1), atol=1e-6)
    np.testing.assert_allclose(episode['state'][:20, 0], 0.1 * steps, atol=1e-6)

    # two end effectors' poses alike: left_x, ... (the node reads them as pose fields)
    poses = config_from_dict({**raw, 'keys': {'state': [
        {'pose': f'/{a}/ee_pose', 'fields': ['x', 'r00'], 'prefix': f'{a}_'} for a in arms]}})
    assert poses.keys['state'].value_names == ['left_x', 'left_r00', 'right_x', 'right_r00']
    # no prefixes: two sources give 'waist'; refused before any bag is read
    for source in raw['keys']['state']:
        del source['prefix']
    with pytest.raises(ConfigError, match=r"keys.state: joint_state sources /left/joint_states "
                                          r"and /right/joint_states both give a value named "
                                          r"'waist' \(two arms whose drivers name their joints "
                                          r"alike\?\): give each a prefix"):
        config_from_dict(raw)


def check_the_example_training_reads_it(data: Path, joints: list[str], tmp_path: Path) -> None:
    """config/train_example_arm.yaml on what config/bag2zarr_example_arm.yaml made: both
    cameras in order and the 7 named joints reach the checkpoint, no closed-loop evaluation is
    attempted, `dp-ros open-loop` compares it on the held-out episode (a tiny model, two steps,
    on the CPU), and config/policy_example_arm.yaml's cameras and joints fit it."""
    import json

    from dp_ros.policy.checkpoint import read_policy_metadata
    from training.config import load_config as load_train_config
    from training.inspect_dataset import main as inspect
    from training.open_loop import main as open_loop
    from training.trainer import train

    cfg = load_train_config(CONFIG_DIR / 'train_example_arm.yaml', [
        f'data.zarr_path={data}', 'data.val_ratio=0.5', 'data.batch_size=4',
        'train.max_steps=2', 'train.cpu=true', 'train.checkpoint_every=2', 'train.val_every=0',
        'train.action_mse_every=0', 'train.progress=false', 'train.num_threads=1',
        'policy.down_dims=[32,64,128]', 'policy.resnet_width=0.25',
        'policy.num_inference_steps=2'])
    assert train(cfg, tmp_path / 'run')['step'] == 2
    policy = tmp_path / 'run' / 'checkpoints' / 'latest'
    shape_meta = read_policy_metadata(policy)['config']['shape_meta']
    assert list(shape_meta['obs']) == ['wrist', 'scene', 'joint_pos']
    assert shape_meta['obs']['joint_pos']['names'] == joints == shape_meta['action']['names']
    # the topics travel too: the drafted node parameters name them
    assert shape_meta['obs']['wrist']['sources'] == [
        {'kind': 'image', 'topic': '/wrist_camera/image_raw/compressed', 'width': None,
         'frame_size': [96, 96], 'tolerance_s': 0.04,  # what the node checks its camera by
         'rate_hz': 30.303, 'offset_s': 0.0}]  # a 33 ms period: the node warns of one under 0.7
    assert shape_meta['obs']['joint_pos']['sources'] == [
        {'kind': 'joint_state', 'topic': '/joint_states', 'width': 7, 'field': 'position',
         'tolerance_s': 0.02, 'rate_hz': 100.0, 'offset_s': 0.0}]
    # the action, a future state, was sampled one control period later (the node's grid)
    assert [s['offset_s'] for s in shape_meta['action']['sources']] == [0.1]
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(policy), '--draft-params', str(draft)]) == 0
    drafted = yaml.safe_load(draft.read_text())['/**/dp_policy']['ros__parameters']
    # one camera recorded compressed beside a raw one: each read as recorded (the node
    # reads a '/compressed' topic as CompressedImage, the others raw)
    assert drafted['image_topics'] == ['/wrist_camera/image_raw/compressed',
                                       '/scene_camera/image_raw']
    assert drafted['compressed_images'] is False
    assert drafted['joint_state_topic'] == '/joint_states'
    assert 'action_joint_topics' not in drafted  # a future state: no controller recorded
    assert not (tmp_path / 'run' / 'checkpoints' / 'best').exists()
    # the last step is always one of the kept snapshots (train.snapshot_every)
    assert [p.name for p in (tmp_path / 'run' / 'checkpoints').glob('step_*')] == ['step_000002']
    report = tmp_path / 'open_loop.json'
    assert open_loop([str(policy), '--output', str(report), '--no-progress', '--no-plot']) == 0
    checked = json.loads(report.read_text())
    assert checked['episodes_chosen'] == 'val' and len(checked['episodes']) == 1
    assert checked['action_names'] == joints
    # and config/policy_example_arm.yaml runs it: the node's checks pass without a warning
    from dp_ros.params import config_from_dict
    from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

    params = yaml.safe_load((CONFIG_DIR / 'policy_example_arm.yaml').read_text())[
        '/**/dp_policy']['ros__parameters']
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(
        params, checkpoint=str(policy), device='cpu')), read_policy_metadata(policy))
    assert setup.warnings == []


# --- bad input leaves the output untouched ---------------------------------------------------

@pytest.fixture
def existing(tmp_path, episodes) -> tuple[Path, dict[str, bytes]]:
    """An output store converted from one good bag, and its bytes."""
    good = tmp_path / 'good'
    write_pusht_bag(good, episodes[:1])
    output = tmp_path / 'out.zarr'
    assert run([good], PUSHT_CONFIG, output) == 0
    return output, snapshot(output)


def _corrupt_storage(bag: Path, how: str) -> None:
    storage = next(p for p in bag.iterdir() if p.suffix in ('.mcap', '.db3'))
    data = storage.read_bytes()
    if how == 'garbage':
        storage.write_bytes(os.urandom(len(data)))
    else:  # truncated in the middle, as a recorder killed mid-write leaves it
        storage.write_bytes(data[:len(data) // 2])


def _bag_failing_midway(bag: Path, episodes) -> None:
    """A bag whose image messages turn to garbage half-way: topics check out, reading fails."""
    write_pusht_bag(bag.with_name('tmp_src'), episodes[1:2])
    from dp_ros.bags.reader import open_bag

    with open_bag(bag.with_name('tmp_src')) as src, BagRecorder(bag) as rec:
        for i, (topic, recv, msg) in enumerate(src.messages(src.topics, progress=False)):
            msgtype = src.topics[topic].msgtype
            if topic == '/pusht/image_raw' and i > 100:
                rec.write(topic, msgtype, recv, b'\x00\x01\x00\x00garbage')
            else:
                rec.write(topic, msgtype, recv, msg)
    shutil.rmtree(bag.with_name('tmp_src'))


BAD_INPUTS = {
    'corrupt_mcap': ('mcap', 'garbage', r'cannot (open|read).*bad'),
    'truncated_mcap': ('mcap', 'truncate', r'cannot (open|read).*bad'),
    'corrupt_sqlite3': ('sqlite3', 'garbage', r'cannot (open|read).*bad'),
    'truncated_sqlite3': ('sqlite3', 'truncate', r'cannot (open|read).*bad'),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_corrupt_bag_leaves_output_untouched(tmp_path, episodes, existing, case, capsys):
    output, before = existing
    storage, how, pattern = BAD_INPUTS[case]
    good, bad = tmp_path / 'ok', tmp_path / 'bad'
    write_pusht_bag(good, episodes[1:2], storage=storage)
    write_pusht_bag(bad, episodes[2:], storage=storage)
    _corrupt_storage(bad, how)
    assert run([good, bad], PUSHT_CONFIG, output, '--memory-limit-mb', '1') == 2
    err = error_line(capsys)
    assert __import__('re').search(pattern, err), err
    assert 'was not changed' in err
    assert snapshot(output) == before
    assert leftovers(output) == []


def test_bag_failing_midway_leaves_output_untouched(tmp_path, episodes, existing, capsys):
    output, before = existing
    good, bad = tmp_path / 'ok', tmp_path / 'bad'
    write_pusht_bag(good, episodes[1:2])
    _bag_failing_midway(bad, episodes)
    # the good bag is written into the temporary store first (tiny memory limit)
    assert run([good, bad], PUSHT_CONFIG, output, '--memory-limit-mb', '0.01') == 2
    err = error_line(capsys)
    assert f'bag {bad}' in err and 'cannot read message' in err and '/pusht/image_raw' in err
    assert snapshot(output) == before
    assert leftovers(output) == []


def test_missing_topic_lists_the_bag_topics(tmp_path, existing, capsys):
    output, before = existing
    raw = yaml.safe_load(PUSHT_CONFIG.read_text())
    raw['keys']['state'][1]['pose'] = '/pusht/object_pose'
    config = tmp_path / 'c.yaml'
    config.write_text(yaml.safe_dump(raw))
    assert run([tmp_path / 'good'], config, output) == 2
    err = error_line(capsys)
    assert "topic /pusht/object_pose (needed by key 'state' (pose)) is not in the bag" in err
    for topic in ('/pusht/image_raw', '/pusht/joint_states', '/pusht/block_pose',
                  '/pusht/joint_trajectory', '/pusht/episode_result'):
        assert topic in err
    assert snapshot(output) == before


def test_wrong_message_type_is_named(tmp_path, existing, capsys):
    output, before = existing
    raw = yaml.safe_load(PUSHT_CONFIG.read_text())
    raw['keys']['state'][1] = {'joint_state': '/pusht/block_pose', 'joints': ['block']}
    config = tmp_path / 'c.yaml'
    config.write_text(yaml.safe_dump(raw))
    assert run([tmp_path / 'good'], config, output) == 2
    err = error_line(capsys)
    assert ('topic /pusht/block_pose has type geometry_msgs/msg/PoseStamped, but key '
            "'state' (joint_state) needs sensor_msgs/msg/JointState") in err
    assert snapshot(output) == before


def test_unreadable_paths(tmp_path, existing, capsys):
    output, before = existing
    assert run([tmp_path / 'nope'], PUSHT_CONFIG, output) == 2
    assert 'no such bag or folder' in error_line(capsys)
    (tmp_path / 'empty').mkdir()
    assert run([tmp_path / 'empty'], PUSHT_CONFIG, output) == 2
    assert 'is not a ROS 2 bag (no metadata.yaml)' in error_line(capsys)
    (tmp_path / 'notes.txt').write_text('hello')
    assert run([tmp_path / 'notes.txt'], PUSHT_CONFIG, output) == 2
    assert 'is not a ROS 2 bag' in error_line(capsys)
    bad_yaml = tmp_path / 'broken' / 'metadata.yaml'
    bad_yaml.parent.mkdir()
    bad_yaml.write_text('rosbag2_bagfile_information: [unclosed')
    assert run([bad_yaml.parent], PUSHT_CONFIG, output) == 2
    assert 'cannot open bag' in error_line(capsys)
    assert snapshot(output) == before
    # an output that is not a replay buffer is refused, not overwritten
    other = tmp_path / 'other'
    (other / 'sub').mkdir(parents=True)
    assert run([tmp_path / 'good'], PUSHT_CONFIG, other) == 2
    assert 'not changed' in error_line(capsys)
    assert sorted(p.name for p in other.iterdir()) == ['sub']


def _hard_linked_copies(bag: Path, folder: Path, n: int) -> None:
    """n bags with the files of `bag` (hard links: no copying, distinct paths), each
    metadata.yaml a comment apart: bag2zarr refuses one recording given twice."""
    for i in range(n):
        copy = folder / f'bag_{i:03d}'
        copy.mkdir(parents=True)
        for f in bag.iterdir():
            if f.name == 'metadata.yaml':
                (copy / f.name).write_text(f.read_text() + f'# copy {i}\n')
            else:
                os.link(f, copy / f.name)


def _progress_reports(stream) -> queue.Queue:
    """The stream's progress-bar updates (split at \\r and \\n), read on a thread."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for text in iter(lambda: stream.read1(4096), b''):
            for piece in re.split(rb'[\r\n]', text):
                lines.put(piece.decode(errors='replace'))
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_interrupt_midway_leaves_output_untouched(tmp_path, episodes, existing):
    """A real Ctrl-C (SIGINT) while the conversion is under way.

    Order, not timing: the signal goes once the process has reported a converted bag, with
    far more bags left than it could convert before the signal lands.
    """
    output, before = existing
    n_bags = 120
    write_pusht_bag(tmp_path / 'one', episodes)
    _hard_linked_copies(tmp_path / 'one', tmp_path / 'many', n_bags)
    proc = subprocess.Popen(
        module_cmd('training.bag2zarr', str(tmp_path / 'many'), '-c', str(PUSHT_CONFIG), '-o',
                   str(output), '--memory-limit-mb', '0.01'),
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=default_sigint)
    reports, seen = _progress_reports(proc.stderr), []
    done = 0
    while not done:
        line = reports.get(timeout=120)
        assert line is not None, f'the conversion ended unreported: {seen[-5:]}'
        seen.append(line)
        match = re.match(rf'bags:.*\b(\d+)/{n_bags}\b', line)
        done = int(match.group(1)) if match else 0
    assert done < n_bags // 2, seen[-5:]
    staged = list(output.parent.glob(f'.{output.name}.tmp-*'))
    assert staged and len(list(staged[0].rglob('*'))) > len(before)  # episodes written
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    err = '\n'.join(line for line in iter(reports.get, None))
    assert code == 130, (seen[-5:], err[-3000:])
    assert 'interrupted' in err and 'was not changed' in err
    assert snapshot(output) == before
    assert leftovers(output) == []


# --- config ----------------------------------------------------------------------------------

def test_config_errors_name_the_entry(tmp_path):
    base = yaml.safe_load(PUSHT_CONFIG.read_text())
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['rate'\]"):
        config_from_dict({**base, 'rate': 10})
    with pytest.raises(ConfigError, match='keys.img: image shape must be'):
        config_from_dict({**base, 'keys': {**base['keys'], 'img': {'image': '/a',
                                                                    'shape': [96]}}})
    with pytest.raises(ConfigError, match=r'keys.img: crop must be \[x0, y0, width, height\]'):
        config_from_dict({**base, 'keys': {**base['keys'], 'img': {'image': '/a',
                                                                    'crop': [0, 0, 0, 96]}}})
    with pytest.raises(ConfigError, match=r"keys.state: option\(s\) \['crop'\] do not apply to "
                                          r"joint_state sources"):
        config_from_dict({**base, 'keys': {'state': {'joint_state': '/js', 'joints': ['a'],
                                                     'crop': [0, 0, 9, 9]}}})
    with pytest.raises(ConfigError, match='future_of must name a non-image key'):
        config_from_dict({**base, 'keys': {**base['keys'], 'action': {'future_of': 'img'}}})
    with pytest.raises(ConfigError, match='needs joints'):
        config_from_dict({**base, 'keys': {'state': {'joint_state': '/js'}}})
    with pytest.raises(ConfigError, match="grid_start must be one of .*'middle'"):
        config_from_dict({**base, 'grid_start': 'middle'})
    with pytest.raises(ConfigError, match="align must be one of .*'linear'"):
        config_from_dict({**base, 'align': 'linear'})
    with pytest.raises(ConfigError, match='on_gap must be one of'):
        config_from_dict({**base, 'episodes': {'on_gap': 'fill'}})
    with pytest.raises(ConfigError, match='absolute name'):
        config_from_dict({**base, 'keys': {'img': {'image': 'camera'}}})
    with pytest.raises(ConfigError, match="keys.state: dtype 'float99' is not a numpy dtype"):
        config_from_dict({**base, 'keys': {**base['keys'], 'state': {
            'joint_state': '/js', 'joints': ['a'], 'dtype': 'float99'}}})
    with pytest.raises(ConfigError, match=r"keys.img: option\(s\) \['prefix'\] do not apply to "
                                          r"image sources"):
        config_from_dict({**base, 'keys': {'img': {'image': '/cam', 'prefix': 'left_'}}})
    with pytest.raises(ConfigError, match=r"keys.state: pose sources /left/ee_pose and "
                                          r"/right/ee_pose both give a value named 'x'"):
        config_from_dict({**base, 'keys': {'state': [{'pose': '/left/ee_pose'},
                                                     {'pose': '/right/ee_pose'}]}})
    with pytest.raises(ConfigError, match='keys.state: prefix must be a string without spaces'):
        config_from_dict({**base, 'keys': {'state': {'joint_state': '/js', 'joints': ['a'],
                                                     'prefix': ' left'}}})
    (tmp_path / 'bad.yaml').write_text('keys: [unclosed')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_config(tmp_path / 'bad.yaml')
    config = load_config(PUSHT_CONFIG)
    assert config.grid_topic() == '/pusht/image_raw'
    assert config.period_ns == 100_000_000
    assert config.tolerance_ns(config.keys['img'].sources[0]) == 50_000_000


def test_old_control_period_key_is_read_with_a_deprecation_warning(tmp_path, capsys):
    raw = yaml.safe_load(PUSHT_CONFIG.read_text())
    raw['control_period'] = raw.pop('control_period_s')
    old = tmp_path / 'old.yaml'
    old.write_text(yaml.safe_dump(raw))
    with pytest.warns(DeprecationWarning,
                      match=rf"{old}: 'control_period' is the old name of 'control_period_s'"):
        config = load_config(old)
    assert config.control_period_s == 0.1 and config.period_ns == 100_000_000
    with pytest.raises(ConfigError, match='control_period and control_period_s both given'):
        config_from_dict({**raw, 'control_period_s': 0.1})
    # the command shows the warning (Python hides DeprecationWarning outside __main__)
    proc = subprocess.run(module_cmd('training.bag2zarr', str(tmp_path / 'nope'), '-c', str(old),
                                     '-o', str(tmp_path / 'out.zarr')),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and 'no such bag' in proc.stderr
    assert (f"DeprecatedKeyWarning: {old}: 'control_period' is the old name of "
            "'control_period_s'") in proc.stderr
    for shipped in sorted(CONFIG_DIR.glob('bag2zarr_*.yaml')):  # the new key only
        with warnings.catch_warnings():
            warnings.simplefilter('error', DeprecationWarning)
            assert load_config(shipped).control_period_s == 0.1


def test_find_bags_in_folders(tmp_path, episodes):
    write_pusht_bag(tmp_path / 'session' / 'b2', episodes[:1])
    write_pusht_bag(tmp_path / 'session' / 'b1', episodes[:1], storage='sqlite3')
    found = find_bags([tmp_path / 'session'])
    assert [p.name for p in found] == ['b1', 'b2']
    assert find_bags([tmp_path / 'session' / 'b1', tmp_path / 'session']) == found


def test_teleop_explains_a_missing_display():
    env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
    proc = subprocess.run(module_cmd('sim_bridge.teleop'), cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert 'teleop: no display' in proc.stderr and 'record_demo' in proc.stderr


def test_teleop_refuses_a_rate_of_no_use_first():
    """--fps 0 sent commands unpaced (pygame's clock has no limit at 0); refused in one line
    before the display is looked for."""
    proc = subprocess.run(module_cmd('sim_bridge.teleop', '--fps', '0'), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == 'teleop: --fps must be a rate > 0, got 0.0'


def test_fresh_store_is_byte_for_byte_what_save_to_writes(tmp_path, episodes):
    """bag2zarr's fast writer (chunks assembled from the episodes, uint8 frames converted a
    chunk at a time, compressed on threads) writes the files ReplayBuffer.save_to writes."""
    from training.zarr_writer import write_fresh_store

    eps = [{**e, 'img': e['img'].astype(np.uint8)} for e in episodes]
    dtypes = {'img': np.float32, 'state': np.float32, 'action': np.float32}
    write_fresh_store(tmp_path / 'fast.zarr', eps, dtypes, workers=2)
    data = {k: np.concatenate([e[k] for e in eps]).astype(dtypes[k]) for k in eps[0]}
    ends = np.cumsum([len(e['action']) for e in eps])
    ReplayBuffer.from_arrays(data, ends).save_to(tmp_path / 'ref.zarr', progress=False)
    fast, ref = snapshot(tmp_path / 'fast.zarr'), snapshot(tmp_path / 'ref.zarr')
    assert sorted(fast) == sorted(ref) and len(fast) > 20  # an edge chunk included
    assert fast == ref


def test_a_topics_recorded_rate_is_its_slowest_bags_and_an_append_keeps_the_lower():
    """The rate the node compares its inputs with is the slowest recording's: a camera at
    30 Hz in one bag and 15 in another was trained on 15 Hz frames too (warning at 20 Hz
    would be wrong). Appending keeps the lower of the store's and the new bags' rates, and
    none where either is unknown."""
    from training.bag_episodes import BagReport, TopicReport

    def report(rate_cam: float, rate_js: float) -> BagReport:
        return BagReport('b', topics=[
            TopicReport('/cam', 'sensor_msgs/msg/Image', 10, rate_cam, 0, 0.1, True),
            TopicReport('/js', 'sensor_msgs/msg/JointState', 10, rate_js, 0, 0.1, True),
            TopicReport('/quiet', 'sensor_msgs/msg/JointState', 1, 0.0, 0, 0.0, True)])

    assert bag2zarr.topic_rates([report(30.0, 100.0), report(15.0, 99.8)]) == {
        '/cam': 15.0, '/js': 99.8}  # a topic of one message has no rate: none recorded
    stored = [{'kind': 'image', 'topic': '/cam', 'width': None, 'rate_hz': 30.0}]
    assert bag2zarr._merged_sources(
        stored, [{**stored[0], 'rate_hz': 15.0}], None, 'img') == [{**stored[0],
                                                                    'rate_hz': 15.0}]
    assert bag2zarr._merged_sources(
        [{k: v for k, v in stored[0].items() if k != 'rate_hz'}], stored, None, 'img') == [
        {'kind': 'image', 'topic': '/cam', 'width': None}]
    assert bag2zarr.same_sources(stored, [{**stored[0], 'rate_hz': 15.0}])
