"""Behaviour of dp_ros/bags/reader.py that a second mutation review found unpinned by its
other tests: a folder named like a storage file (`ros2 bag record -o run.mcap`, killed) is no
bag itself; one bag named twice (relatively and absolutely) is converted once; a ROS 1 bag
is pointed to a destination beside it and a cut-off .mcap's rescue to a new file; a missing
topic's error lists the bag's topics (sorted, with counts, or says it has none) and only its
own notes; a wrong type names every type that would do; a bag's message code is made before
its messages are read; a pass deserializing some topics leaves the others None in place;
a storage error names how far reading got; a survey drops the stamps of a topic with one
unreadable header and keeps a burst's stamps in recording order; a command with too few
values, and a trajectory lacking a joint, are refused by name; a bgr8 frame decodes to a
contiguous RGB array; read_streams keeps each receive time to the nanosecond; unset stamps
among stamps an hour before 1970, all-zero stamps and stamps out of receive order.

Each test kills a mutant the module's other tests let live. Bags are written by the
project's recorder (BagRecorder) or, for custom types, by the mcap writer as a foreign
recorder would.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from mcap_ros2.writer import Writer as Ros2Writer
from support import MS
from test_bag_reader_mutants import bag_with_unlisted_topic

from dp_ros.bags.reader import (
    UNSET_STAMP_MIN_NS,
    BagReadError,
    MissingTopicError,
    TopicTypeError,
    decode_float_array,
    decode_image,
    decode_trajectory,
    find_bags,
    open_bag,
    place_unset_stamps,
    read_streams,
)
from dp_ros.bags.recorder import (
    BagRecorder,
    float_array_message,
    joint_state_message,
    string_message,
    trajectory_message,
)

WALL = 1_700_000_000 * 10**9
JS = 'sensor_msgs/msg/JointState'


def joint_states(path, times):
    """A bag directory of /js joint states received at `times`; its storage file."""
    with BagRecorder(path) as rec:
        for t in times:
            rec.write('/js', JS, t, joint_state_message(rec.typestore, ['a'], [0.0], t - MS))
    (storage_file,) = [p for p in path.iterdir() if p.suffix == '.mcap']
    return storage_file


def killed_recording(folder):
    """`ros2 bag record -o run.mcap` killed before metadata.yaml: a folder named run.mcap
    holding one storage file, run.mcap_0.mcap (a bare bag of its own)."""
    storage_file = joint_states(folder.parent / 'tmp_rec', [WALL, WALL + 100 * MS])
    folder.mkdir()
    shutil.move(storage_file, folder / f'{folder.name}_0.mcap')
    shutil.rmtree(folder.parent / 'tmp_rec')
    return folder / f'{folder.name}_0.mcap'


# ---------------------------------------------------------------------------- finding bags
def test_a_folder_named_like_a_storage_file_is_searched_not_taken_as_a_bag(tmp_path):
    """A recording folder named run.mcap (no metadata.yaml, one storage file inside),
    found in a folder of bags or named itself: its storage file is the bag, not the folder,
    which no reader opens."""
    session = tmp_path / 'session'
    session.mkdir()
    storage_file = killed_recording(session / 'run.mcap')
    joint_states(session / 'good', [WALL])
    assert find_bags([session]) == [(session / 'good').resolve(), storage_file.resolve()]
    assert find_bags([session / 'run.mcap']) == [storage_file.resolve()]


def test_one_bag_named_twice_is_found_once(tmp_path, monkeypatch):
    """The same bag named relatively and absolutely (two arguments, or a folder and a bag in
    it) is one bag, converted once, named by its absolute path."""
    joint_states(tmp_path / 'bags' / 'demo', [WALL])
    monkeypatch.chdir(tmp_path)
    demo = (tmp_path / 'bags' / 'demo').resolve()
    assert find_bags(['bags/demo', demo]) == [demo]
    assert find_bags(['bags', 'bags/demo']) == [demo]


def test_a_ros1_bag_is_pointed_to_a_ros2_bag_beside_it(tmp_path):
    """A ROS 1 run.bag: the suggested rosbags-convert writes the ROS 2 bag to run (beside
    it), not over the .bag itself."""
    ros1 = tmp_path / 'run.bag'
    ros1.write_bytes(b'#ROSBAG V2.0\n')
    with pytest.raises(BagReadError) as failure:
        find_bags([ros1])
    assert f'--src {ros1} --dst {tmp_path / "run"}`' in str(failure.value)


# ---------------------------------------------------------------------------- topics
def test_a_missing_topics_error_lists_the_bags_topics_sorted_with_counts(tmp_path):
    """The error for a missing topic lists the bag's topics by name (not recording order),
    each with its type and message count."""
    with BagRecorder(tmp_path / 'bag') as rec:
        for i in range(3):
            rec.write('/z_js', JS, WALL + i * MS,
                      joint_state_message(rec.typestore, ['a'], [0.0], WALL))
        rec.write('/a_note', 'std_msgs/msg/String', WALL, string_message(rec.typestore, 'x'))
    with open_bag(tmp_path / 'bag') as bag:
        assert list(bag.topics) == ['/a_note', '/z_js']
        with pytest.raises(MissingTopicError) as missing:
            bag.require('/cam', ['sensor_msgs/msg/Image'], 'obs.image')
    assert str(missing.value).endswith(
        'the bag has: /a_note [std_msgs/msg/String, 1 msgs], '
        f'/z_js [{JS}, 3 msgs]')


def test_a_missing_topic_in_a_bag_without_topics_says_so(tmp_path):
    """A bag recorded with nothing (its recorder started, no topic seen): the error says
    the bag has no topics rather than ending in an empty list."""
    with BagRecorder(tmp_path / 'bag'):
        pass
    with open_bag(tmp_path / 'bag') as bag:
        with pytest.raises(MissingTopicError, match=r'the bag has: \(no topics\)$'):
            bag.require('/js', [JS], 'obs.state')


def test_a_missing_topic_carries_no_note_of_a_topic_it_prefixes(tmp_path):
    """metadata.yaml leaves /camera out (a note names it): a missing /cam, whose name is a
    prefix of /camera's, is not explained by /camera's note."""
    bag = bag_with_unlisted_topic(tmp_path / 'bag', '/camera')
    with open_bag(bag) as opened:
        assert len(opened.notes) == 1 and opened.notes[0].startswith('/camera ')
        with pytest.raises(MissingTopicError) as missing:
            opened.require('/cam', ['std_msgs/msg/String'], 'the test')
    assert '/camera' not in str(missing.value)


def test_a_topic_of_the_wrong_type_names_every_type_that_would_do(tmp_path):
    """A String on the camera topic: the error names its type and the types the key needs,
    'Image or CompressedImage'."""
    with BagRecorder(tmp_path / 'bag') as rec:
        rec.write('/cam', 'std_msgs/msg/String', WALL, string_message(rec.typestore, 'x'))
    with open_bag(tmp_path / 'bag') as bag:
        with pytest.raises(TopicTypeError) as wrong:
            bag.require('/cam', ['sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'],
                        'obs.image')
    assert str(wrong.value).endswith(
        'topic /cam has type std_msgs/msg/String, but obs.image needs '
        'sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage')


# ---------------------------------------------------------------------------- reading
def custom_type_bag(path, msgtype):
    """A foreign .mcap of one custom, header-stamped type (a store of its own when read)
    on /thing, three messages."""
    rule = '=' * 80
    definition = (f'std_msgs/Header header\nfloat64 width\n{rule}\nMSG: std_msgs/Header\n'
                  f'builtin_interfaces/Time stamp\nstring frame_id\n{rule}\n'
                  'MSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec')
    with path.open('wb') as f:
        writer = Ros2Writer(f)
        schema = writer.register_msgdef(msgtype, definition)
        for i in range(3):
            writer.write_message('/thing', schema, {
                'header': {'stamp': {'sec': 1_700_000_000, 'nanosec': i}, 'frame_id': ''},
                'width': 0.5}, log_time=WALL + i * MS)
        writer.finish()
    return path


@pytest.mark.parametrize('how', ['messages', 'survey'])
def test_a_bags_message_code_is_made_before_its_messages_are_read(tmp_path, how):
    """The deserializer of each type read is made up front (with Ctrl-C held back,
    dp_ros/bags/typestore.py), even where no message of it is deserialized: a pass that
    skips deserialization, a survey that samples none."""
    msgtype = f'lab_msgs/msg/Made{how.capitalize()}'
    with open_bag(custom_type_bag(tmp_path / 'custom.mcap', msgtype)) as bag:
        assert msgtype not in bag.typestore.cache
        if how == 'messages':
            read = list(bag.messages(['/thing'], progress=False, deserialized=()))
            assert [msg for _, _, msg in read] == [None] * 3
        else:
            assert bag.survey(0, progress=False)['/thing'].first == []
        assert msgtype in bag.typestore.cache


def test_a_storage_file_corrupt_midway_names_how_far_reading_got(tmp_path):
    """An .mcap whose middle is overwritten (a disk error) fails while its messages are
    read: the error names the bag and the place reading stopped, the count of messages
    read before it (those came out whole)."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag) as rec:  # 1.6 MB a second: several chunks
        for k in range(2000):
            rec.write('/js', JS, WALL + k * MS, joint_state_message(
                rec.typestore, ['a'], np.full(200, float(k)), WALL + k * MS))
    (storage_file,) = bag.glob('*.mcap')
    data = bytearray(storage_file.read_bytes())
    cut = slice(len(data) * 2 // 3, len(data) * 5 // 6)
    data[cut] = b'\xff' * (cut.stop - cut.start)
    storage_file.write_bytes(bytes(data))
    read = []
    with open_bag(bag) as opened:
        with pytest.raises(BagReadError) as failure:
            for item in opened.messages(['/js'], progress=False):
                read.append(item)
    assert 0 < len(read) < 2000
    assert [msg.position[0] for _, _, msg in read] == list(range(len(read)))
    assert str(failure.value).startswith(
        f'bag {bag}: cannot read the bag past message {len(read)} (of the topics read): ')


def test_a_pass_deserializing_some_topics_leaves_the_others_none_in_place(tmp_path):
    """messages(deserialized={'/js'}) over /js and /note: the same (topic, time) sequence as
    a full pass, /js's messages deserialized, /note's None (no cost spent on them)."""
    with BagRecorder(tmp_path / 'bag') as rec:
        for i in range(3):
            t = WALL + i * 10 * MS
            rec.write('/js', JS, t, joint_state_message(rec.typestore, ['a'], [float(i)], t))
            rec.write('/note', 'std_msgs/msg/String', t + MS, string_message(rec.typestore, 'x'))
    with open_bag(tmp_path / 'bag') as bag:
        full = list(bag.messages(['/js', '/note'], progress=False))
        some = list(bag.messages(['/js', '/note'], progress=False, deserialized={'/js'}))
    assert [(t, r) for t, r, _ in some] == [(t, r) for t, r, _ in full]
    assert [m.position[0] for t, _, m in some if t == '/js'] == [0.0, 1.0, 2.0]
    assert [m for t, _, m in some if t == '/note'] == [None] * 3


def test_a_survey_takes_no_stamps_from_a_topic_with_one_unreadable_header(tmp_path):
    """/js's second message is cut short (8 bytes: no whole header): the topic's stamps are
    None, as for a topic it cannot stamp, not a list one shorter than its receive times
    (misaligned after that message) nor a 0 stamp standing for the unreadable one."""
    with BagRecorder(tmp_path / 'bag') as rec:
        for i in range(3):
            t = WALL + i * 10 * MS
            rec.write('/js', JS, t, b'\x00\x01\x00\x00\x01\x02\x03\x04' if i == 1
                      else joint_state_message(rec.typestore, ['a'], [0.0], t - MS))
    with open_bag(tmp_path / 'bag') as bag:
        survey = bag.survey(1, progress=False)['/js']
    assert len(survey.times) == 3 and survey.error is None
    assert survey.stamps is None


# ---------------------------------------------------------------------------- decoding
def test_a_command_with_fewer_values_than_joints_is_refused(tmp_path):
    """A forward controller's command of one value for two joints is refused as one of
    three is: each joint needs its value."""
    with BagRecorder(tmp_path / 'bag') as rec:
        rec.write('/cmd', 'std_msgs/msg/Float64MultiArray', WALL,
                  float_array_message(rec.typestore, [0.5]))
    with open_bag(tmp_path / 'bag') as bag:
        with pytest.raises(BagReadError, match=r"message 0 of /cmd cannot be converted: "
                                               r"1 value\(s\), joints \['a', 'b'\] need 2"):
            read_streams(bag, {'/cmd': lambda m: decode_float_array(m, ['a', 'b'])},
                         progress=False)


# ---------------------------------------------------------------------------- stamps
def test_stamps_never_set_are_kept_as_they_are():
    """A stream whose stamps are all 0 (never set) comes back unchanged, none placed: there
    is no stamped neighbour to lend an offset (receive times stand in, Stream.times_ns)."""
    times, placed = place_unset_stamps(np.zeros(3, dtype=np.int64),
                                       WALL + np.array([10, 20, 30]) * MS)
    assert placed == 0 and list(times) == [0, 0, 0]


@pytest.mark.parametrize('where', ['before', 'after'])
def test_a_zero_stamp_among_stamps_an_hour_before_1970_is_unset(where):
    """'More than an hour from 0' counts both ways: a clock set back before 1970 (negative
    stamps) leaves a zero stamp among them unset, placed by its receive time, whether its
    stamped neighbour is the one before or after it."""
    recv = WALL + np.array([10, 20, 30]) * MS
    early = -2 * UNSET_STAMP_MIN_NS
    stamps = (np.array([early, 0, early + 20 * MS]) if where == 'before'
              else np.array([0, early + 10 * MS, early + 20 * MS]))
    times, placed = place_unset_stamps(stamps, recv)
    assert placed == 1
    assert list(times) == [early, early + 10 * MS, early + 20 * MS]


def test_unset_stamps_are_placed_where_they_stand_in_receive_order_unsorted():
    """Stamps given out of receive order (a split recording's parts read in file order,
    the clock stepped back): the placed times come back in the order given, each beside
    its own receive time."""
    recv = WALL + np.array([30, 40, 50, 0, 10, 20]) * MS
    stamps = recv - 2 * MS
    stamps[[1, 4]] = 0
    times, placed = place_unset_stamps(stamps, recv)
    assert placed == 2
    np.testing.assert_array_equal(times, recv - 2 * MS)


def test_a_survey_keeps_messages_received_at_one_instant_in_recording_order(tmp_path):
    """A split recording read out of time order (the clock stepped back between its parts),
    each part a burst of messages logged at one instant: sorting the times keeps each
    burst's stamps in the order recorded (a stable sort), not shuffled among equal times."""
    demo = tmp_path / 'demo'
    demo.mkdir()
    for part, recv in ((0, WALL + 10**9), (1, WALL)):
        with BagRecorder(tmp_path / f'p{part}') as rec:
            for i in range(50):
                rec.write('/js', JS, recv, joint_state_message(rec.typestore, ['a'], [0.0],
                                                               recv - MS + i))
        (storage_file,) = (tmp_path / f'p{part}').glob('*.mcap')
        shutil.move(storage_file, demo / f'demo_{part}.mcap')
    with open_bag(demo) as bag:
        survey = bag.survey(1, progress=False)['/js']
    np.testing.assert_array_equal(survey.times, [WALL] * 50 + [WALL + 10**9] * 50)
    np.testing.assert_array_equal(survey.stamps - survey.times + MS, list(range(50)) * 2)


# ---------------------------------------------------------------------------- errors
def test_a_cut_off_mcaps_rescue_writes_a_new_file_beside_it(tmp_path):
    """A cut-off .mcap: the suggested `mcap recover` writes <name>.recovered.mcap, never
    the cut-off file itself (reading and overwriting one file loses the messages)."""
    bag = tmp_path / 'bag'
    storage_file = joint_states(bag, [WALL + k * MS for k in range(50)])
    data = storage_file.read_bytes()
    storage_file.write_bytes(data[:len(data) * 6 // 10])
    with pytest.raises(BagReadError) as failure:
        with open_bag(bag):
            pass
    recovered = storage_file.name.removesuffix('.mcap') + '.recovered.mcap'
    assert f'`mcap recover {storage_file} -o {recovered}`' in str(failure.value)


# ---------------------------------------------------------------------------- images
def test_a_bgr_image_decodes_to_a_contiguous_rgb_array(tmp_path):
    """A bgr8 camera's frame decodes to RGB pixels in one C-contiguous block (what the
    image fit and the dataset writer take), not a channel-reversed view of the message."""
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    with BagRecorder(tmp_path / 'bag') as rec:
        ts = rec.typestore
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        header = ts.types['std_msgs/msg/Header'](
            stamp=ts.types['builtin_interfaces/msg/Time'](sec=1_700_000_000, nanosec=0),
            frame_id='cam')
        rec.write('/cam', 'sensor_msgs/msg/Image', WALL, ts.types['sensor_msgs/msg/Image'](
            header=header, height=2, width=3, encoding='bgr8', is_bigendian=0, step=9,
            data=bgr.reshape(-1)))
    with open_bag(tmp_path / 'bag') as bag:
        streams = read_streams(
            bag, {'/cam': lambda m: decode_image(m, 'sensor_msgs/msg/Image')}, progress=False)
    (frame,) = streams['/cam'].values
    np.testing.assert_array_equal(frame, rgb)
    assert frame.flags.c_contiguous and streams['/cam'].frames == {'cam'}


def test_a_trajectory_lacking_a_joint_is_refused_naming_it(tmp_path):
    """A trajectory of joint a read for joints a and b: a BagReadError naming the message,
    the missing joint and the joints it has, not a bare KeyError."""
    with BagRecorder(tmp_path / 'bag') as rec:
        rec.write('/traj', 'trajectory_msgs/msg/JointTrajectory', WALL, trajectory_message(
            rec.typestore, ['a'], np.zeros((2, 1)), WALL - MS, 100 * MS))
    with open_bag(tmp_path / 'bag') as bag:
        with pytest.raises(BagReadError, match=r"message 0 of /traj cannot be converted: "
                                               r"trajectory lacks joint\(s\) \['b'\]; it has "
                                               r"\['a'\]"):
            read_streams(bag, {'/traj': lambda m: decode_trajectory(m, ['a', 'b'])},
                         progress=False)


def test_a_stream_keeps_each_messages_receive_time_and_stamp(tmp_path):
    """read_streams: each message's receive time exactly as recorded (to the nanosecond),
    its header stamp beside it, in bag order."""
    recv = [WALL + 7, WALL + 100 * MS + 13, WALL + 200 * MS + 1]
    with BagRecorder(tmp_path / 'bag') as rec:
        for i, t in enumerate(recv):
            rec.write('/js', JS, t, joint_state_message(rec.typestore, ['a'], [float(i)],
                                                        t - 3 * MS))
    with open_bag(tmp_path / 'bag') as bag:
        stream = read_streams(bag, {'/js': lambda m: m.position[0]}, progress=False)['/js']
    assert stream.recv_ns == recv and stream.stamps_ns == [t - 3 * MS for t in recv]
    assert stream.values == [0.0, 1.0, 2.0] and stream.msgtype == JS
