"""A bag directory whose metadata.yaml disagrees with its storage files (a topic's offered QoS
or type hash edited, a topic left out, a count of messages the files do not hold). rosbags
reads a file's messages only where metadata.yaml's QoS and hash equal the file's, and drops
the others without a word: the topic came out empty. Pinned: such a topic is read as the
file records it, with a note naming it; a topic only the files hold is named; a topic that
metadata.yaml counts and no message of which can be read is an error naming it, in bag2zarr's
reading and inspect's survey alike."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from dp_ros.bags.reader import BagReadError, MissingTopicError, open_bag, read_streams
from dp_ros.bags.recorder import (
    BagRecorder,
    discovered_qos,
    image_message,
    joint_state_message,
)
from training.inspect_bags import summarize_bag

T0 = 10**18
N = 5


def _bag(path: Path, storage: str, edit) -> Path:
    """A camera (best effort) and joint states, N messages each; metadata.yaml then edited."""
    with BagRecorder(path, storage=storage) as rec:
        ts = rec.typestore
        for i in range(N):
            t = T0 + i * 10**8
            rec.write('/cam', 'sensor_msgs/msg/Image', t,
                      image_message(ts, np.zeros((2, 2, 3), np.uint8), t),
                      qos=discovered_qos('best_effort', 'volatile'))
            rec.write('/js', 'sensor_msgs/msg/JointState', t + 1,
                      joint_state_message(ts, ['a'], [1.0], t))
    meta = yaml.safe_load((path / 'metadata.yaml').read_text())
    edit(meta['rosbag2_bagfile_information']['topics_with_message_count'])
    (path / 'metadata.yaml').write_text(yaml.safe_dump(meta, sort_keys=False))
    return path


def _cam(topics: list[dict]) -> dict:
    return next(t['topic_metadata'] for t in topics if t['topic_metadata']['name'] == '/cam')


def _counts(path: Path) -> dict[str, int]:
    with open_bag(path) as bag:
        streams = read_streams(bag, {t: (lambda m: m) for t in bag.topics}, progress=False)
    return {topic: len(stream) for topic, stream in streams.items()}


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_topic_whose_metadata_qos_differs_is_read_and_said(tmp_path, storage):
    def reliable(topics):
        _cam(topics)['offered_qos_profiles'][0]['reliability'] = 'reliable'

    bag = _bag(tmp_path / 'bag', storage, reliable)
    assert _counts(bag) == {'/cam': N, '/js': N}
    summary = summarize_bag(bag)
    assert [t.rate_hz is not None for t in summary.topics] == [True, True]
    assert summary.notes == ['/cam: metadata.yaml and the storage file disagree on its offered '
                             'QoS profiles: read as the file records them']


def test_a_topic_whose_metadata_type_hash_differs_is_read_and_said(tmp_path):
    def rehashed(topics):
        _cam(topics)['type_description_hash'] = 'RIHS01_' + '0' * 64

    bag = _bag(tmp_path / 'bag', 'sqlite3', rehashed)
    assert _counts(bag) == {'/cam': N, '/js': N}
    with open_bag(bag) as opened:
        assert opened.notes == ['/cam: metadata.yaml and the storage file disagree on its type '
                                'hash: read as the file records them']


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_topic_missing_from_metadata_is_named(tmp_path, storage):
    def dropped(topics):
        topics[:] = [t for t in topics if t['topic_metadata']['name'] != '/cam']

    bag = _bag(tmp_path / 'bag', storage, dropped)
    with open_bag(bag) as opened:
        note = ('/cam [sensor_msgs/msg/Image] is in the storage files but not in metadata.yaml: '
                'not read (`ros2 bag reindex` rewrites metadata.yaml from the files)')
        assert opened.notes == [note]
        with pytest.raises(MissingTopicError, match=r'/cam \(needed by the camera\).*/cam '
                                                    r'\[sensor_msgs/msg/Image\] is in the storage'):
            opened.require('/cam', ['sensor_msgs/msg/Image'], 'the camera')
    assert summarize_bag(bag).notes == [note]


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_counted_topic_with_no_message_read_is_an_error(tmp_path, storage):
    """metadata.yaml lists /ghost with messages the files do not hold."""
    def ghost(topics):
        extra = yaml.safe_load(yaml.safe_dump(topics[0]))
        extra['topic_metadata']['name'] = '/ghost'
        extra['message_count'] = 3
        topics.append(extra)

    bag = _bag(tmp_path / 'bag', storage, ghost)
    with pytest.raises(BagReadError, match='metadata.yaml counts 3 message.s. of /ghost, none '
                                           'could be read'):
        _counts(bag)
    (ghost_summary,) = [t for t in summarize_bag(bag).topics if t.topic == '/ghost']
    assert ghost_summary.problems == ['cannot read: metadata.yaml counts 3 message(s) of '
                                      '/ghost, none could be read from the storage files (do '
                                      'they hold them? `ros2 bag reindex` rewrites metadata.yaml '
                                      'from the files)']
