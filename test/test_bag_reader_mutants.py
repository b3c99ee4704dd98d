"""dp_ros/bags/reader.py where a mutation review found changes no other test noticed: bags
named with '~' or nested in a bag directory, the notes a missing topic carries, which
message a corrupt read names, a survey that stops at a topic's first undecodable message and
sorts a split recording's times with their stamps, a topic of several types with two
connections of one, the stamps read without deserializing (big
endian, seconds before 1970, a first field that is no std_msgs/Header `header`), the
one-hour boundary of an unset stamp and how many are placed, a String marker saying begin,
and the one-line errors of a cut-off split recording, an undecompressable file and a
corrupt one found while scanning.

Bags are written by the project's recorder (BagRecorder) or, for what it cannot write (a
topic of several types, custom types), by the mcap writers as a foreign recorder would.
"""
from __future__ import annotations

import shutil
import struct

import mcap.writer
import numpy as np
import pytest
import yaml
from mcap_ros2.writer import Writer as Ros2Writer
from support import MS

from dp_ros.bags.reader import (
    UNSET_STAMP_MIN_NS,
    BagReadError,
    MissingTopicError,
    decode_marker,
    find_bags,
    open_bag,
    place_unset_stamps,
    read_streams,
)
from dp_ros.bags.recorder import BagRecorder, joint_state_message, string_message
from dp_ros.bags.typestore import default_typestore

WALL = 1_700_000_000 * 10**9
JS = 'sensor_msgs/msg/JointState'


def joint_states(path, times, storage='mcap', stamp_offset=-MS):
    """A bag of /js joint states received at `times`, stamped stamp_offset from them; the
    storage file's path."""
    with BagRecorder(path, storage=storage) as rec:
        for t in times:
            rec.write('/js', JS, t, joint_state_message(rec.typestore, ['a'], [0.0],
                                                        t + stamp_offset))
    (storage_file,) = [p for p in path.iterdir() if p.suffix in ('.mcap', '.db3')]
    return storage_file


# ---------------------------------------------------------------------------- finding bags
def test_a_bag_named_from_home_is_found(tmp_path, monkeypatch):
    """`~/bags/demo` (a path the shell did not expand: quoted, or from a config file) is the
    bag under $HOME, not a missing './~' folder."""
    monkeypatch.setenv('HOME', str(tmp_path))
    joint_states(tmp_path / 'bags' / 'demo', [WALL])
    assert find_bags(['~/bags/demo']) == [(tmp_path / 'bags' / 'demo').resolve()]
    assert find_bags(['~/bags']) == [(tmp_path / 'bags' / 'demo').resolve()]


def test_split_files_inside_a_bag_directory_belong_to_it(tmp_path):
    """A bag directory holding a folder of split-style files without metadata.yaml (a copy of
    its parts kept inside it) is one bag: the folder is no split recording of its own."""
    rec = tmp_path / 'session' / 'rec'
    mcap_file = joint_states(rec, [WALL, WALL + 100 * MS])
    (rec / 'old').mkdir()
    for n in range(2):
        shutil.copy(mcap_file, rec / 'old' / f'old_{n}.mcap')
    assert find_bags([tmp_path / 'session']) == [rec.resolve()]


# ---------------------------------------------------------------------------- topics
def bag_with_unlisted_topic(bag, topic: str):
    """A bag of a String on `topic` and a joint state on /js whose metadata.yaml leaves
    `topic` out (the reader notes it)."""
    with BagRecorder(bag) as rec:
        rec.write(topic, 'std_msgs/msg/String', WALL, string_message(rec.typestore, 'x'))
        rec.write('/js', JS, WALL, joint_state_message(rec.typestore, ['a'], [0.0], WALL))
    meta = yaml.safe_load((bag / 'metadata.yaml').read_text())
    topics = meta['rosbag2_bagfile_information']['topics_with_message_count']
    topics[:] = [t for t in topics if t['topic_metadata']['name'] != topic]
    (bag / 'metadata.yaml').write_text(yaml.safe_dump(meta, sort_keys=False))
    return bag


def test_a_missing_topic_carries_only_its_own_notes(tmp_path):
    """metadata.yaml leaves /cam out (a note names it): a missing /gone is not explained by
    /cam's note, which only /cam's error carries."""
    bag = bag_with_unlisted_topic(tmp_path / 'bag', '/cam')
    with open_bag(bag) as opened:
        assert len(opened.notes) == 1 and opened.notes[0].startswith('/cam [')
        with pytest.raises(MissingTopicError) as gone:
            opened.require('/gone', [JS], 'the test')
        assert 'storage files but not in' not in str(gone.value)
        with pytest.raises(MissingTopicError, match='/cam .std_msgs/msg/String. is in the'):
            opened.require('/cam', ['std_msgs/msg/String'], 'the test')


def _joint_state_cdr(stamp_ns: int, little_endian: bool = True) -> bytes:
    ts = default_typestore()
    return bytes(ts.serialize_cdr(joint_state_message(ts, ['a'], [0.0], stamp_ns), JS,
                                  little_endian=little_endian))


def _string_cdr(text: str) -> bytes:
    data = text.encode() + b'\x00'
    return b'\x00\x01\x00\x00' + struct.pack('<I', len(data)) + data


def test_a_topic_of_two_types_counts_each_over_its_connections(tmp_path):
    """/joint_states from three publishers: a String one registered first (2 messages) and
    two JointState ones (3 and 2): JointState counts 5, over both its connections, and the
    types are listed by name."""
    path = tmp_path / 'mixed.mcap'
    ros2msg = default_typestore().generate_msgdef(JS, ros_version=2)[0].encode()
    with open(path, 'wb') as stream:
        writer = mcap.writer.Writer(stream)
        writer.start('ros2', 'test')
        string = writer.register_channel('/joint_states', 'cdr', writer.register_schema(
            'std_msgs/msg/String', 'ros2msg', b'string data'))
        first, second = (writer.register_channel('/joint_states', 'cdr', writer.register_schema(
            JS, 'ros2msg', ros2msg)) for _ in range(2))
        t = WALL
        for channel, count in ((string, 2), (first, 3), (second, 2)):
            for _ in range(count):
                t += MS
                data = _string_cdr('hi') if channel == string else _joint_state_cdr(t)
                writer.add_message(channel, log_time=t, publish_time=t, data=data)
        writer.finish()
    with open_bag(path) as bag:
        info = bag.topics['/joint_states']
    assert info.types == ((JS, 5), ('std_msgs/msg/String', 2))
    assert info.msgtype == f'2 types: {JS} (5), std_msgs/msg/String (2)' and info.count == 7


# ---------------------------------------------------------------------------- reading
def js_with_garbage(bag, n: int, garbage: int, beside: str | None = None):
    """A bag of `n` /js joint states 100 ms apart, message `garbage` of them bytes no
    JointState decodes from; with `beside`, a String on that topic 1 ms before each."""
    with BagRecorder(bag) as rec:
        for i in range(n):
            t = WALL + i * 100 * MS
            if beside:
                rec.write(beside, 'std_msgs/msg/String', t - MS,
                          string_message(rec.typestore, 'x'))
            data = (b'\x00\x01\x00\x00' + b'\xff' * 8 if i == garbage
                    else joint_state_message(rec.typestore, ['a'], [0.0], t))
            rec.write('/js', JS, t, data)
    return bag


def test_a_corrupt_message_is_named_by_its_place_in_the_topic_read(tmp_path):
    """The third joint state is garbage (/js alone is read): the error names the bag, the
    topic and message 2, counted from 0 as the decode errors count, not the one after it."""
    bag = js_with_garbage(tmp_path / 'bag', 4, garbage=2)
    with open_bag(bag) as opened:
        with pytest.raises(BagReadError, match=r'bag .*bag: cannot read message 2 \(topic /js\)'):
            read_streams(opened, {'/js': lambda m: m}, progress=False)


def test_a_corrupt_message_among_another_topics_is_numbered_within_its_own(tmp_path):
    """Defect (this review): /cam and /js read interleaved, /js's third message garbage: the
    error said 'message 5 (topic /js)', counting every topic's messages, while /js's message 5
    is whole; it names /js's message 2 now, as read_streams' decode errors count."""
    bag = js_with_garbage(tmp_path / 'bag', 6, garbage=2, beside='/cam')
    with open_bag(bag) as opened:
        with pytest.raises(BagReadError, match=r'cannot read message 2 \(topic /js\)'):
            read_streams(opened, {'/cam': lambda m: m, '/js': lambda m: m}, progress=False)


def test_a_survey_stops_deserializing_a_topic_at_its_first_undecodable_message(tmp_path):
    """/js's first message is garbage, the others whole: the topic's error is kept, and none
    of its later messages stands among its first ones as if the topic were readable (nor is
    every one of a large topic tried in turn)."""
    bag = js_with_garbage(tmp_path / 'bag', 5, garbage=0)
    with open_bag(bag) as opened:
        survey = opened.survey(3, progress=False)['/js']
    assert survey.error is not None and survey.first == []
    assert len(survey.times) == 5


def test_a_survey_sorts_a_split_recordings_times_with_their_stamps(tmp_path):
    """demo_0.mcap received after demo_1.mcap (the clock stepped back between the parts):
    the survey's receive times come sorted, each stamp still beside its own time."""
    demo = tmp_path / 'demo'
    demo.mkdir()
    late = joint_states(tmp_path / 'p0', [WALL + k * 100 * MS for k in range(10, 13)])
    early = joint_states(tmp_path / 'p1', [WALL + k * 100 * MS for k in range(3)],
                         stamp_offset=-2 * MS)
    shutil.move(late, demo / 'demo_0.mcap')
    shutil.move(early, demo / 'demo_1.mcap')
    with open_bag(demo) as bag:
        survey = bag.survey(1, progress=False)['/js']
    expected = WALL + np.array([0, 100, 200, 1000, 1100, 1200]) * MS
    np.testing.assert_array_equal(survey.times, expected)
    np.testing.assert_array_equal(survey.stamps - survey.times, [-2 * MS] * 3 + [-MS] * 3)


# ---------------------------------------------------------------------------- stamps
@pytest.mark.parametrize('little_endian', [True, False], ids=['little', 'big'])
def test_stamps_read_without_deserializing_are_the_header_stamps(tmp_path, little_endian):
    """A big-endian recorder's messages, and stamps before 1970 (negative seconds: a sim
    clock set back), read from the bytes as the deserialized header has them."""
    stamps = [WALL, -3 * 10**9 + 250, 5]
    with BagRecorder(tmp_path / 'bag') as rec:
        for i, stamp in enumerate(stamps):
            rec.write('/js', JS, WALL + i * MS, _joint_state_cdr(stamp, little_endian))
    with open_bag(tmp_path / 'bag') as bag:
        survey = bag.survey(3, progress=False)['/js']
        streams = read_streams(bag, {'/js': lambda m: m}, progress=False)
    assert survey.error is None
    assert list(survey.stamps) == stamps == streams['/js'].stamps_ns


def test_only_a_std_msgs_header_called_header_gives_stamps(tmp_path):
    """A custom type whose first field is a std_msgs/Header named otherwise (hdr), or a field
    named header of another type: neither is stamped as the reader stamps messages
    (msg.header), so the survey takes no stamps from their bytes."""
    rule = '=' * 80
    header = (f'MSG: std_msgs/Header\nbuiltin_interfaces/Time stamp\nstring frame_id\n{rule}\n'
              'MSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec')
    types = {'lab_msgs/msg/Hdr': (f'std_msgs/Header hdr\nfloat64 width\n{rule}\n{header}',
                                  {'hdr': {'stamp': {'sec': 7, 'nanosec': 9}, 'frame_id': 'x'},
                                   'width': 0.5}),
             'lab_msgs/msg/Tagged': (f'lab_msgs/Tag header\nfloat64 width\n{rule}\n'
                                     'MSG: lab_msgs/Tag\nuint32 a\nuint32 b',
                                     {'header': {'a': 7, 'b': 9}, 'width': 0.5})}
    path = tmp_path / 'custom.mcap'
    with path.open('wb') as f:
        writer = Ros2Writer(f)
        for msgtype, (definition, value) in types.items():
            schema = writer.register_msgdef(msgtype, definition)
            for i in range(3):
                writer.write_message('/' + msgtype.rsplit('/', 1)[1].lower(), schema, value,
                                     log_time=WALL + i * MS)
        writer.finish()
    with open_bag(path) as bag:
        survey = bag.survey(1, progress=False)
    assert survey['/hdr'].error is None and survey['/tagged'].error is None
    assert survey['/hdr'].first[0][1].hdr.stamp.sec == 7
    assert survey['/hdr'].stamps is None and survey['/tagged'].stamps is None


def test_a_zero_stamp_beside_a_stamp_of_exactly_an_hour_stays_a_real_time():
    """Unset means its stamped neighbours are all *more* than UNSET_STAMP_MIN_NS from 0: a
    zero stamp after (or before) a sim clock exactly an hour in is sim time, a real time,
    whichever neighbour is the one at the hour; a nanosecond past it, it is unset."""
    hour = UNSET_STAMP_MIN_NS
    recv = WALL + np.array([10, 20, 30]) * MS
    for stamps in ([hour - 100 * MS, hour, 0], [hour, 0, hour + 100 * MS],
                   [0, hour, hour + 100 * MS], [hour + 100 * MS, 0, hour]):
        times, placed = place_unset_stamps(np.array(stamps), recv)
        assert placed == 0 and list(times) == stamps, stamps
    assert place_unset_stamps(np.array([hour - 100 * MS, hour + 1, 0]), recv)[1] == 1


def test_only_the_zero_stamps_taken_as_unset_are_counted_as_placed():
    """A stream on wall-clock stamps, then on sim time (a simulator started with
    use_sim_time mid-recording): its zero among the wall-clock stamps is placed, its zero
    among sim times stays; one is counted, not both."""
    recv = WALL + np.arange(6) * 10 * MS
    stamps = np.array([recv[0] - MS, 0, recv[2] - MS, 10**9, 0, 10**9 + 20 * MS])
    times, placed = place_unset_stamps(stamps, recv)
    assert placed == 1
    assert times[1] == recv[1] - MS and times[4] == 0


# ---------------------------------------------------------------------------- markers
def test_a_string_marker_saying_begin_starts_and_empty_says_nothing():
    """'begin' (any case, blanks around) is a start as 'start' is; an Empty marker carries
    no role of its own."""
    ts = default_typestore()
    for text in ('begin', ' Begin\n', 'START'):
        assert decode_marker(string_message(ts, text), 'std_msgs/msg/String') is True
    assert decode_marker(string_message(ts, 'Stop '), 'std_msgs/msg/String') is False
    assert decode_marker(string_message(ts, 'beginning'), 'std_msgs/msg/String') is None
    empty = ts.types['std_msgs/msg/Empty']()
    assert decode_marker(empty, 'std_msgs/msg/Empty') is None


# ---------------------------------------------------------------------------- errors
def test_a_split_recording_cut_off_in_two_files_names_the_first_and_counts_the_other(tmp_path):
    """Both parts of demo/ cut off (a recorder killed twice): the error names demo_0.mcap
    and says one more is cut off, in one line."""
    demo = tmp_path / 'demo'
    demo.mkdir()
    for n in range(2):
        part = joint_states(tmp_path / f'p{n}', [WALL + (10 * n + k) * 100 * MS
                                                  for k in range(10)])
        data = part.read_bytes()
        (demo / f'demo_{n}.mcap').write_bytes(data[:len(data) * 6 // 10])
    with pytest.raises(BagReadError) as failure:
        with open_bag(demo):
            pass
    message = str(failure.value)
    assert 'demo_0.mcap (and 1 more) is cut off' in message and '\n' not in message


def test_a_file_that_cannot_be_decompressed_is_named_without_an_exception_class(tmp_path):
    """x.mcap.zstd that is no zstd (a copy cut short, another file renamed): the error says
    why in words, as the storage layer words it, not prefixed by its exception class."""
    path = tmp_path / 'x.mcap.zstd'
    path.write_bytes(b'not zstd at all' * 10)
    with pytest.raises(BagReadError) as failure:
        with open_bag(path):
            pass
    message = str(failure.value)
    assert message.startswith(f'cannot open bag {path}: ') and 'StorageError' not in message


def test_a_storage_file_corrupt_midway_is_named_when_scanned(tmp_path):
    """An .mcap whose middle third is overwritten (a disk error) opens from its summary and
    fails while its messages are scanned: a BagReadError naming the bag, in one line."""
    bag = tmp_path / 'bag'
    storage_file = joint_states(bag, [WALL + k * MS for k in range(300)])
    data = bytearray(storage_file.read_bytes())
    data[len(data) // 3:len(data) // 2] = b'\xff' * (len(data) // 2 - len(data) // 3)
    storage_file.write_bytes(bytes(data))
    with open_bag(bag) as opened:
        with pytest.raises(BagReadError, match=rf'bag {bag}: cannot scan its messages: '):
            opened.survey(2, progress=False)
