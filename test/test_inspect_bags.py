"""`dp-ros inspect` on bags (training/inspect_bags.py): a Foxglove-style mcap's topics, rates,
joint names and image sizes; stamps of zero or on another clock named, and every message's
stamp checked (read without deserializing: as deserialized), so that a stamp left 0, a clock
reset or a clock jump late in a bag is named too; the drafted bag2zarr config converts the
bag, and the converted data passes the dataset checks."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from mcap_ros2.writer import Writer
from support import (
    FOREIGN_JOINTS,
    FOREIGN_TOPICS,
    MS,
    _ros2_msgdef,
    shortest_episodes,
    write_foreign_mcap,
)

from dp_ros.bags.reader import cdr_header_stamp_ns, header_stamp_ns, open_bag
from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    write_pusht_bag,
)
from dp_ros.bags.typestore import shared_typestore
from dp_ros.errors import UserError
from training import bag2zarr
from training.bag2zarr_config import load_config
from training.inspect_bags import SAMPLE_MESSAGES, summarize_bag
from training.inspect_dataset import main as inspect
from training.inspect_dataset import summarize
from training.replay_buffer import ReplayBuffer


@pytest.fixture(scope='module')
def foreign(tmp_path_factory):
    folder = tmp_path_factory.mktemp('inspect_bags')
    write_foreign_mcap(folder / 'bags' / 'foreign.mcap', seconds=4.0, wrist_start_s=0.0)
    return folder


def test_topics_rates_and_names(foreign):
    summary = summarize_bag(foreign / 'bags' / 'foreign.mcap')
    topics = {t.topic: t for t in summary.topics}
    assert set(topics) == set(FOREIGN_TOPICS.values())
    camera, joints = topics[FOREIGN_TOPICS['camera']], topics[FOREIGN_TOPICS['joints']]
    commands = topics[FOREIGN_TOPICS['commands']]
    assert (camera.count, joints.count, commands.count) == (120, 400, 40)
    assert camera.rate_hz == pytest.approx(30, rel=0.05)
    assert joints.rate_hz == pytest.approx(100, rel=0.05)
    assert commands.rate_hz == pytest.approx(10, rel=0.05)
    assert camera.detail == '96x96 rgb8'
    assert joints.joints == ['gripper', *reversed(FOREIGN_JOINTS)]  # as the bag has them
    assert commands.joints == [FOREIGN_JOINTS[1], FOREIGN_JOINTS[2], FOREIGN_JOINTS[0]]
    # receive times are stamp + a few ms of latency: no clock problem
    assert all(not t.problems for t in summary.topics), [t.problems for t in summary.topics]
    assert -0.01 < camera.stamp_offset_s < 0


def test_the_drafted_config_converts_the_bag(foreign, tmp_path, capsys):
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(foreign / 'bags'), '--no-progress', '--draft-config', str(draft)]) == 0
    assert f'draft config: {draft}' in capsys.readouterr().out
    config = load_config(draft)  # a valid config, and the expected choices
    assert config.reference_topic in (FOREIGN_TOPICS['camera'], FOREIGN_TOPICS['wrist'])
    assert set(config.keys) == {'img', 'wrist_img', 'state', 'action'}
    assert config.keys['img'].sources[0].topic == FOREIGN_TOPICS['camera']
    assert config.keys['state'].sources[0].joints == ['gripper', *reversed(FOREIGN_JOINTS)]
    action = config.keys['action'].sources[0]
    assert (action.kind, action.topic) == ('joint_trajectory', FOREIGN_TOPICS['commands'])
    assert action.joints == list(reversed(FOREIGN_JOINTS))  # the state's order
    out = tmp_path / 'draft.zarr'
    assert bag2zarr.main([str(foreign / 'bags'), '-c', str(draft), '-o', str(out),
                          '--no-progress']) == 0
    buffer = ReplayBuffer.open(out)
    assert buffer.n_episodes == 1 and buffer.n_steps >= 35  # 4 s at 10 Hz, less trimmed ends
    assert summarize(buffer).errors == []


def test_a_gripper_on_its_own_controller_is_drafted_as_a_second_action_source(tmp_path):
    """Two trajectory controllers (the arm's, the gripper's): the drafted action concatenates
    both, in the state's joint order, and converts; the node's split is named."""
    gripper_topic = '/gripper_controller/joint_trajectory'
    write_foreign_mcap(tmp_path / 'bags' / 'two.mcap', seconds=3.0, gripper_topic=gripper_topic)
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(tmp_path / 'bags'), '--no-progress', '--draft-config', str(draft)]) == 0
    assert 'action_joint_topics' in draft.read_text()
    sources = load_config(draft).keys['action'].sources
    assert [(s.kind, s.topic, s.joints) for s in sources] == [
        ('joint_trajectory', gripper_topic, ['gripper']),  # first in the state: gripper, ...
        ('joint_trajectory', FOREIGN_TOPICS['commands'], list(reversed(FOREIGN_JOINTS)))]
    out = tmp_path / 'two.zarr'
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(draft), '-o', str(out),
                          '--no-progress']) == 0
    buffer = ReplayBuffer.open(out)
    assert buffer.data['action'].shape[1] == 1 + len(FOREIGN_JOINTS)
    assert (buffer.data['action'][:, 0] == 0.5).all()  # the gripper's commands


def test_two_arms_whose_drivers_name_their_joints_alike_are_drafted_with_prefixes(tmp_path):
    """ALOHA-style bags: /left and /right each publish and command 'waist' and 'gripper'.
    The draft takes both arms (not the first alone, as for an aggregated topic), each
    source prefixed by its namespace; it converts to distinct names."""
    from dp_ros.bags.recorder import trajectory_message

    joints, wall, ms = ['waist', 'gripper'], 1_700_000_000 * 10**9, 1_000_000
    with BagRecorder(tmp_path / 'bags' / 'aloha', storage='mcap') as rec:
        ts = rec.typestore
        for t_ms in range(0, 3000, 10):
            t = wall + t_ms * ms
            if t_ms % 50 == 0:
                rec.write('/cam_high/image_raw', 'sensor_msgs/msg/Image', t,
                          image_message(ts, np.zeros((96, 96, 3), np.uint8), t))
            for arm, sign in (('left', 1.0), ('right', -1.0)):
                rec.write(f'/{arm}/joint_states', 'sensor_msgs/msg/JointState', t,
                          joint_state_message(ts, joints, np.array([sign, 2 * sign]), t))
                if t_ms % 100 == 0:
                    rec.write(f'/{arm}/arm_controller/joint_trajectory',
                              'trajectory_msgs/msg/JointTrajectory', t,
                              trajectory_message(ts, joints, np.array([[sign, 3 * sign]]), t,
                                                 100 * ms))
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(tmp_path / 'bags'), '--no-progress', '--draft-config', str(draft)]) == 0
    config = load_config(draft)
    assert [(s.topic, s.joints, s.prefix) for s in config.keys['state'].sources] == [
        ('/left/joint_states', joints, 'left_'), ('/right/joint_states', joints, 'right_')]
    assert [(s.topic, s.prefix) for s in config.keys['action'].sources] == [
        ('/left/arm_controller/joint_trajectory', 'left_'),
        ('/right/arm_controller/joint_trajectory', 'right_')]
    out = tmp_path / 'aloha.zarr'
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(draft), '-o', str(out),
                          '--no-progress']) == 0
    buffer = ReplayBuffer.open(out)
    names = ['left_waist', 'left_gripper', 'right_waist', 'right_gripper']
    assert buffer.data['state'].attrs['names'] == buffer.data['action'].attrs['names'] == names
    assert (buffer.data['state'][:] == [1, 2, -1, -2]).all()
    assert (buffer.data['action'][:] == [1, 3, -1, -3]).all()


def write_clock_bag(path, stamp_ns: int) -> None:
    """JointStates received from 1.7e9 s on, stamped from stamp_ns on (0: never stamped)."""
    with path.open('wb') as f:
        writer = Writer(f)
        schema = writer.register_msgdef('sensor_msgs/msg/JointState',
                                        _ros2_msgdef('sensor_msgs/msg/JointState'))
        for i in range(30):
            t = stamp_ns + i * 10_000_000 if stamp_ns else 0
            writer.write_message('/joint_states', schema, {
                'header': {'stamp': {'sec': t // 10**9, 'nanosec': t % 10**9}, 'frame_id': ''},
                'name': ['j1'], 'position': [float(i)], 'velocity': [], 'effort': []},
                log_time=1_700_000_000 * 10**9 + i * 10_000_000)
        writer.finish()


@pytest.mark.parametrize(('stamp_ns', 'words'), [
    (0, 'header stamps are 0'),
])
def test_stamps_bag2zarr_cannot_use_are_named(tmp_path, stamp_ns, words):
    write_clock_bag(tmp_path / 'clock.mcap', stamp_ns)
    (topic,) = summarize_bag(tmp_path / 'clock.mcap').topics
    assert len(topic.problems) == 1 and words in topic.problems[0]


def test_a_draft_needs_a_camera_and_joint_states(tmp_path):
    write_clock_bag(tmp_path / 'joints_only.mcap', 1_700_000_000 * 10**9)
    with pytest.raises(UserError, match='needs a camera'):
        inspect([str(tmp_path / 'joints_only.mcap'), '--no-progress', '--draft-config',
                 str(tmp_path / 'd.yaml')])
    assert not (tmp_path / 'd.yaml').exists()
    with pytest.raises(UserError, match='--plot and --video are for datasets'):
        inspect([str(tmp_path / 'joints_only.mcap'), '--plot', str(tmp_path / 'p.png')])


def test_a_gripper_publishing_its_own_joint_states_is_drafted_as_a_second_state_source(
        tmp_path):
    """The arm's driver and the gripper's publish JointState apart: the drafted state
    concatenates both (the arm's first), converts, and names the node's state_joint_topics."""
    gripper_states = '/gripper/joint_states'
    write_foreign_mcap(tmp_path / 'bags' / 'split.mcap', seconds=3.0,
                       gripper_state_topic=gripper_states)
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(tmp_path / 'bags'), '--no-progress', '--draft-config', str(draft)]) == 0
    assert 'state_joint_topics' in draft.read_text()
    sources = load_config(draft).keys['state'].sources
    assert [(s.kind, s.topic, s.joints) for s in sources] == [
        ('joint_state', FOREIGN_TOPICS['joints'], list(reversed(FOREIGN_JOINTS))),
        ('joint_state', gripper_states, ['gripper'])]
    action = load_config(draft).keys['action'].sources[0]
    assert action.joints == list(reversed(FOREIGN_JOINTS))  # the state's order
    out = tmp_path / 'split.zarr'
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(draft), '-o', str(out),
                          '--no-progress']) == 0
    buffer = ReplayBuffer.open(out)
    assert buffer.data['state'].shape[1] == len(FOREIGN_JOINTS) + 1
    assert (buffer.data['state'][:, -1] == 0.25).all()  # the gripper's own topic
    assert [s['topic'] for s in buffer.data['state'].attrs['sources']] == [
        FOREIGN_TOPICS['joints'], gripper_states]
    # no recorded command moves the gripper: the draft says how to learn it (its future
    # state as a second action source), and that edit converts
    text = draft.read_text()
    assert (f'  # ["gripper"] ({gripper_states}) are in the state, in no recorded command'
            in text)
    assert (f'  #   - {{joint_state: "{gripper_states}", joints: ["gripper"], offset: 0.1}}'
            in text)
    edited = yaml.safe_load(text)
    edited['keys']['action'] = [edited['keys']['action'], {
        'joint_state': gripper_states, 'joints': ['gripper'], 'offset': 0.1}]
    draft.write_text(yaml.safe_dump(edited))
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(draft), '-o',
                          str(tmp_path / 'with_gripper.zarr'), '--no-progress']) == 0
    action = ReplayBuffer.open(tmp_path / 'with_gripper.zarr').data['action']
    assert action.shape[1] == len(FOREIGN_JOINTS) + 1 and (action[:, -1] == 0.25).all()


def test_a_pose_topic_is_offered_as_a_state_source(tmp_path, pusht_zarr):
    """Push-T bags carry the block's PoseStamped: the draft offers it, commented, as a state
    source the policy node reads through state_pose_topics; added to the state it is valid."""
    write_pusht_bag(tmp_path / 'bags' / 'pusht', shortest_episodes(pusht_zarr, 1)[1])
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(tmp_path / 'bags'), '--no-progress', '--draft-config', str(draft)]) == 0
    text = draft.read_text()
    offer = '  #   - {pose: "/pusht/block_pose", fields: [x, y, z, yaw]}'
    assert offer in text and 'state_pose_topics' in text
    assert "frame ''" in text  # the frame a Cartesian target would need (none recorded)
    raw = yaml.safe_load(text)
    raw['keys']['state'] = [raw['keys']['state'], yaml.safe_load(offer.split('- ', 1)[1])]
    draft.write_text(yaml.safe_dump(raw))
    sources = load_config(draft).keys['state'].sources
    assert [(s.kind, s.topic, s.width) for s in sources] == [
        ('joint_state', '/pusht/joint_states', 2), ('pose', '/pusht/block_pose', 4)]


def test_a_pose_topic_names_its_frame_and_a_changing_frame_is_a_problem(tmp_path):
    from dp_ros.bags.recorder import BagRecorder, pose_message

    bag = tmp_path / 'poses'
    with BagRecorder(bag, storage='mcap') as rec:
        for i in range(10):
            t = 1_700_000_000 * 10**9 + i * 10**8
            frame = 'base_link' if i < 5 else 'world'
            rec.write('/ee_pose', 'geometry_msgs/msg/PoseStamped', t + 10**6,
                      pose_message(rec.typestore, 0.1 * i, 0.0, 0.0, t, frame_id=frame))
    (topic,) = summarize_bag(bag).topics
    assert topic.detail == "frame 'base_link', 'world'"
    assert topic.problems == ["header.frame_id changes (['base_link', 'world']): poses in "
                              'different frames cannot be one dimension']


# --- every message's stamp -------------------------------------------------------------------

WALL = 1_700_000_000 * 10**9  # a wall-clock receive time (2023)
PERIOD = 100 * MS


def write_camera_bag(path, cam_stamps: list[int]) -> None:
    """A 10 Hz camera received from WALL on, frame i stamped cam_stamps[i] and received 5 ms
    later than WALL + i periods; joint states stamped 1 ms after that, received then."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for i, stamp in enumerate(cam_stamps):
            t = WALL + i * PERIOD
            rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], np.array([float(i)]), t + MS))
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.zeros((4, 4, 3), np.uint8), stamp))


def inspect_warnings(path, capsys) -> dict[str, list[str]]:
    """`dp-ros inspect BAG`'s warnings per topic, as printed."""
    assert inspect([str(path), '--no-progress']) == 0
    warnings: dict[str, list[str]] = {}
    topic = None
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('  ') and not line.startswith('   '):
            topic = line.split()[0]
            warnings[topic] = []
        elif line.strip().startswith('warning: '):
            warnings[topic].append(line.strip().removeprefix('warning: '))
    return warnings


@pytest.mark.parametrize('storage', ['foxglove', 'mcap', 'sqlite3'])
def test_every_stamp_read_without_deserializing_equals_the_deserialized_one(
        foreign, tmp_path, pusht_zarr, storage):
    """The survey reads every header stamp from the serialized bytes: on bags of Foxglove's
    writer and of rosbag2 (both storages; images, joint states, commands, poses, markers)
    each is the stamp full deserialization gives, in receive order; no stamps for types
    without a header."""
    if storage == 'foxglove':
        path = foreign / 'bags' / 'foreign.mcap'
    else:
        path = tmp_path / 'pusht'
        write_pusht_bag(path, shortest_episodes(pusht_zarr, 2)[1], storage=storage,
                        jitter_ns=3 * MS)
    with open_bag(path) as bag:
        seen = bag.survey(SAMPLE_MESSAGES, progress=False)
        full: dict[str, list] = {topic: [] for topic in bag.topics}
        for topic, recv, msg in bag.messages(bag.topics, progress=False):
            full[topic].append((recv, header_stamp_ns(msg) if hasattr(msg, 'header') else None))
    stamped = 0
    for topic, survey in seen.items():
        recv, stamps = zip(*sorted(full[topic], key=lambda m: m[0]), strict=True)
        np.testing.assert_array_equal(survey.times, recv)
        if stamps[0] is None:
            assert survey.stamps is None, topic
        else:
            assert len(set(stamps)) > 1 and survey.stamps.dtype == np.int64
            np.testing.assert_array_equal(survey.stamps, stamps)
            stamped += 1
    assert stamped == 4


def test_a_stamp_is_read_in_either_byte_order_and_only_from_plain_cdr():
    store = shared_typestore()
    msg = joint_state_message(store, ['j1'], np.zeros(1), -2 * 10**9 + 7)  # before 1970
    for little in (True, False):
        raw = bytes(store.serialize_cdr(msg, 'sensor_msgs/msg/JointState', little_endian=little))
        assert raw[1] == int(little)
        assert cdr_header_stamp_ns(raw) == cdr_header_stamp_ns(memoryview(raw)) \
            == header_stamp_ns(store.deserialize_cdr(raw, 'sensor_msgs/msg/JointState')) \
            == -2 * 10**9 + 7
    assert cdr_header_stamp_ns(b'\x00\x03' + raw[2:]) is None  # a parameter list (PL_CDR)
    assert cdr_header_stamp_ns(raw[:11]) is None


def test_a_zero_stamp_late_in_a_bag_is_named(tmp_path, capsys):
    """The camera's 30th frame stamped 0 (left unset) among wall-clock stamps: past the
    messages inspect deserializes, named all the same, with where it is; the placed stamp
    keeps the offset."""
    stamps = [WALL + i * PERIOD for i in range(60)]
    stamps[29] = 0
    write_camera_bag(tmp_path / 'late_zero', stamps)
    warnings = inspect_warnings(tmp_path / 'late_zero', capsys)
    assert warnings == {'/cam': [
        '1 of 60 header stamps are 0 among wall-clock stamps (the first: message 29): left '
        'unset by the driver; bag2zarr places them by receive time'], '/js': []}
    topics = {t.topic: t for t in summarize_bag(tmp_path / 'late_zero').topics}
    assert topics['/cam'].stamp_offset_s == pytest.approx(-0.005, abs=1e-9)


def test_stamps_that_restart_late_in_a_bag_are_named(tmp_path, capsys):
    """A sim clock reset after the 40th frame (sim time back at 0.1 s): named, with where;
    sim time that runs on is only another clock."""
    write_camera_bag(tmp_path / 'reset', [(i % 40 + 1) * PERIOD for i in range(80)])
    (clock, restart) = inspect_warnings(tmp_path / 'reset', capsys)['/cam']
    assert 'another clock' in clock
    assert restart == ('header stamps go backwards at 1 point(s) (the first: message 40): a '
                       'clock reset (sim time restarted?); without an episode marker bag2zarr '
                       'splits episodes there by receive time when this is its reference topic')
    write_camera_bag(tmp_path / 'sim', [(i + 1) * PERIOD for i in range(80)])
    (clock,) = inspect_warnings(tmp_path / 'sim', capsys)['/cam']
    assert 'another clock' in clock


def test_a_stamp_far_from_the_others_late_in_a_bag_is_named(tmp_path, capsys):
    """A clock jump: the 51st frame stamped 2.3 days late, which bag2zarr refuses (`dp-ros
    inspect` the bag, it says) is named, with where; it moves no offset and restarts
    nothing."""
    stamps = [WALL + i * PERIOD for i in range(60)]
    stamps[50] += 200_000 * 10**9
    write_camera_bag(tmp_path / 'jump', stamps)
    assert inspect_warnings(tmp_path / 'jump', capsys) == {'/cam': [
        "1 header stamp(s) up to 2e+05 s away from the others (the first: message 50): a "
        "clock jump; bag2zarr's grid spans them (a gap there, or the bag refused)"], '/js': []}
    topics = {t.topic: t for t in summarize_bag(tmp_path / 'jump').topics}
    assert topics['/cam'].stamp_offset_s == pytest.approx(-0.005, abs=1e-9)


def test_a_drafted_config_that_exists_is_replaced_only_with_force(tmp_path, capsys):
    """A drafted bag2zarr config is edited by hand: a second --draft-config does not
    overwrite it silently (it did), and is refused before the bags are read; --force
    replaces it."""
    from dp_ros import cli

    write_foreign_mcap(tmp_path / 'bags' / 'one.mcap', seconds=1.0)
    draft = tmp_path / 'draft.yaml'
    draft.write_text('# hand-edited\n')
    args = ['inspect', str(tmp_path / 'bags'), '--no-progress', '--draft-config', str(draft)]
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert captured.err == (f'dp-ros inspect: --draft-config {draft} exists; pass --force to '
                            'replace it\n') and captured.out == ''
    assert draft.read_text() == '# hand-edited\n'
    assert cli.main([*args, '--force']) == 0
    assert load_config(draft).keys['action'].sources


def test_two_drivers_on_one_joint_state_topic_are_listed_and_drafted_apart(tmp_path, capsys):
    """An arm's driver (100 Hz) and its gripper's (20 Hz) both on /joint_states: the listing
    names each driver's joints and rate, the draft reads each as a source of the topic, and
    the draft converts (test_bag2zarr_shared_topic.py: two streams)."""
    from test_bag2zarr_shared_topic import write_bag

    write_bag(tmp_path / 'bags' / 'shared')
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(tmp_path / 'bags'), '--no-progress', '--draft-config', str(draft)]) == 0
    assert ("2 drivers: joints ['j1', 'j2'] (100.0 Hz); joints ['g'] (20.0 Hz)"
            in capsys.readouterr().out)
    sources = load_config(draft).keys['state'].sources
    assert [(s.kind, s.topic, s.joints) for s in sources] == [
        ('joint_state', '/joint_states', ['j1', 'j2']), ('joint_state', '/joint_states', ['g'])]
    out = tmp_path / 'shared.zarr'
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(draft), '-o', str(out),
                          '--no-progress']) == 0
    assert ReplayBuffer.open(out).data['state'].shape[1] == 3
