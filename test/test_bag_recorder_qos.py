"""A recorded bag stores the QoS each topic's publishers offer, as `ros2 bag record` does.

`ros2 bag play` republishes a topic with its recorded offered QoS: a latched topic (episode
start and result) recorded without it is played back volatile, so a late transient-local
subscriber (the policy node's episode_start) never gets it, and a best-effort camera is played
back reliable. Real bags, the real writer, in both storages; read back from metadata.yaml, from
the storage file itself (what rosbag2's storage plugins read) and by rosbags' reader.
"""
from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader

from dp_ros.bags.reader import open_bag
from dp_ros.bags.recorder import (
    BagRecorder,
    discovered_qos,
    image_message,
    offered_qos,
    string_message,
    write_pusht_bag,
)

INFINITE = QosTime(9223372036, 854775807)  # rmw's RMW_DURATION_INFINITE, as rosbag2 writes it


LATCHED = discovered_qos('reliable', 'transient_local')
SENSOR = discovered_qos('best_effort', 'volatile')


def record(path, storage: str) -> None:
    with BagRecorder(path, storage=storage) as rec:
        ts = rec.typestore
        rec.add_topic('/pusht/episode_start', 'std_msgs/msg/String', [LATCHED])
        rec.write('/pusht/episode_start', 'std_msgs/msg/String', 10**18,
                  string_message(ts, json.dumps({'episode': 0})))
        # registered by its first write, with one profile (not a list)
        rec.write('/pusht/image_raw', 'sensor_msgs/msg/Image', 10**18 + 1,
                  image_message(ts, [[[1, 2, 3]]], 10**18), qos=SENSOR)
        # two publishers on one topic: one profile each
        rec.write('/pusht/episode_result', 'std_msgs/msg/String', 10**18 + 2,
                  string_message(ts, '{}'), qos=[LATCHED, LATCHED])
        # unknown, as before: no profile
        rec.write('/pusht/reward', 'std_msgs/msg/String', 10**18 + 3, string_message(ts, '1'))
        # a later write's QoS does not change a registered topic's
        rec.write('/pusht/image_raw', 'sensor_msgs/msg/Image', 10**18 + 4,
                  image_message(ts, [[[4, 5, 6]]], 10**18 + 4), qos=LATCHED)


def storage_profiles(path, storage: str) -> dict[str, list[dict]]:
    """Each topic's offered_qos_profiles as the storage file holds them (YAML text)."""
    if storage == 'mcap':
        (file,) = path.glob('*.mcap')
        with file.open('rb') as f:
            channels = make_reader(f).get_summary().channels.values()
            rows = [(c.topic, c.metadata['offered_qos_profiles']) for c in channels]
    else:
        (file,) = path.glob('*.db3')
        with sqlite3.connect(file) as db:
            rows = db.execute('SELECT name, offered_qos_profiles FROM topics').fetchall()
    return {topic: yaml.safe_load(text) or [] for topic, text in rows}


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_bag_stores_each_topics_offered_qos_as_rosbag2_does(tmp_path, storage):
    bag = tmp_path / 'bag'
    record(bag, storage)

    meta = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['version'] == 9
    profiles = {t['topic_metadata']['name']: t['topic_metadata']['offered_qos_profiles']
                for t in meta['topics_with_message_count']}
    # rosbag2's version 9 metadata: policies by name, durations as sec/nsec
    latched = {'history': 'unknown', 'depth': 0, 'reliability': 'reliable',
               'durability': 'transient_local', 'liveliness': 'automatic',
               'deadline': {'sec': 9223372036, 'nsec': 854775807},
               'lifespan': {'sec': 9223372036, 'nsec': 854775807},
               'liveliness_lease_duration': {'sec': 9223372036, 'nsec': 854775807},
               'avoid_ros_namespace_conventions': False}
    sensor = {**latched, 'reliability': 'best_effort', 'durability': 'volatile'}
    want = {'/pusht/episode_start': [latched], '/pusht/image_raw': [sensor],
            '/pusht/episode_result': [latched, latched], '/pusht/reward': []}
    assert profiles == want
    assert storage_profiles(bag, storage) == want

    with Reader(bag) as reader:
        got = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    assert got == {'/pusht/episode_start': [LATCHED], '/pusht/image_raw': [SENSOR],
                   '/pusht/episode_result': [LATCHED, LATCHED], '/pusht/reward': []}

    # the project's reader ignores QoS: the messages read as before
    with open_bag(bag) as b:
        images = [m for _, _, m in b.messages(['/pusht/image_raw'], progress=False)]
        ((_, _, start),) = b.messages(['/pusht/episode_start'], progress=False)
    assert [list(m.data) for m in images] == [[1, 2, 3], [4, 5, 6]]
    assert json.loads(start.data) == {'episode': 0}


def test_qos_given_by_policy_names_and_nanoseconds():
    class Profile:  # what an rclpy QoSProfile offers, duck-typed (rclpy gives ints, enums)
        history, depth, reliability, durability = 1, 10, 'best_effort', 'transient_local'
        deadline, lifespan, liveliness_lease_duration = 1_500_000_000, 0, 2**63 - 1
        liveliness, avoid_ros_namespace_conventions = 99, False

    qos = offered_qos(Profile())
    assert qos == Qos(QosHistory.KEEP_LAST, 10, QosReliability.BEST_EFFORT,
                      QosDurability.TRANSIENT_LOCAL, QosTime(1, 500_000_000), QosTime(0, 0),
                      QosLiveliness.UNKNOWN, INFINITE, False)
    assert offered_qos(qos) is qos


def test_a_synthetic_pusht_bag_stores_what_the_sim_offers(tmp_path):
    """write_pusht_bag's bags stand for recorded ones: `ros2 bag play` of one republishes
    the camera best effort and the episode marker latched, as the sim offered them."""
    rng = np.random.default_rng(0)
    episode = {'img': rng.integers(0, 255, (3, 96, 96, 3)), 'state': rng.random((3, 5)),
               'action': rng.random((3, 2))}
    write_pusht_bag(tmp_path / 'bag', [episode])
    with Reader(tmp_path / 'bag') as reader:
        got = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    reliable = discovered_qos('reliable', 'volatile')
    assert got == {'/pusht/image_raw': [SENSOR], '/pusht/joint_states': [reliable],
                   '/pusht/block_pose': [reliable], '/pusht/joint_trajectory': [reliable],
                   '/pusht/episode_result': [LATCHED]}
