"""The project's recorder (sim_bridge.record_demo, which `dp-ros arm-record` runs with one bag
per episode) stores the QoS the publishers offer, per topic, as `ros2 bag record` does.

Defect: every topic of an arm-record bag had `offered_qos_profiles: []`, so `ros2 bag play`
republished the latched episode_start and episode_result volatile (a late transient-local
subscriber, such as the policy node's, never got them) and the best-effort camera reliable.
Real publishers, the real recorder node, real bags in both storages (arm-record's mcap, and
record_demo's command line with sqlite3).
"""
from __future__ import annotations

import time

import pytest
import yaml
from rclpy.qos import qos_profile_sensor_data
from ros_harness import LATCHED, module_cmd
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import Image
from std_msgs.msg import String

from dp_ros.app.arm_record import EpisodeRecorder
from dp_ros.bags.reader import open_bag

pytestmark = pytest.mark.ros

NS = '/qos_rec'
START, RESULT, IMAGE = f'{NS}/episode_start', f'{NS}/episode_result', f'{NS}/image_raw'


def offered(bag) -> dict[str, list[dict]]:
    meta = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    return {t['topic_metadata']['name']: t['topic_metadata']['offered_qos_profiles']
            for t in meta['topics_with_message_count']}


def check_offered_qos(path) -> None:
    """The latched topics offered reliable transient-local, the camera best-effort volatile:
    in metadata.yaml, in rosbags' reading of it; and the messages read as before."""
    profiles = offered(path)
    for topic, reliability, durability in ((START, 'reliable', 'transient_local'),
                                           (RESULT, 'reliable', 'transient_local'),
                                           (IMAGE, 'best_effort', 'volatile')):
        assert len(profiles[topic]) == 1, \
            f'{path.name} {topic}: offered_qos_profiles {profiles[topic]} (one publisher)'
        (qos,) = profiles[topic]
        assert (qos['reliability'], qos['durability']) == (reliability, durability), \
            f'{path.name} {topic}: {qos}'
        assert {'history', 'depth', 'deadline', 'lifespan', 'liveliness',
                'liveliness_lease_duration', 'avoid_ros_namespace_conventions'} <= set(qos)
    with Reader(path) as reader:
        got = {c.topic: [(q.reliability, q.durability) for q in c.ext.offered_qos_profiles]
               for c in reader.connections}
    assert got == {START: [(QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL)],
                   RESULT: [(QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL)],
                   IMAGE: [(QosReliability.BEST_EFFORT, QosDurability.VOLATILE)]}
    with open_bag(path) as b:  # the project's reader ignores QoS
        ((_, _, start),) = b.messages([START], progress=False)
        first_image = next(iter(b.messages([IMAGE], progress=False)))[2]
    assert start.data == '{"episode": 0}' and list(first_image.data) == [1, 2, 3]


def publishers(ros_probe) -> dict:
    return {START: ros_probe.publisher(String, START, LATCHED),
            RESULT: ros_probe.publisher(String, RESULT, LATCHED),
            IMAGE: ros_probe.publisher(Image, IMAGE, qos_profile_sensor_data)}


IMAGE_MSG = Image(height=1, width=1, encoding='rgb8', step=3, data=[1, 2, 3])


def test_arm_record_episode_bags_keep_latched_topics_latched_and_the_camera_best_effort(
        tmp_path, ros_probe):
    pubs = publishers(ros_probe)
    episodes = EpisodeRecorder(NS)  # arm-record's recorder: one mcap bag per episode
    bags = [tmp_path / 'episode_0', tmp_path / 'episode_1']
    try:
        rec = episodes.recorder
        ros_probe.wait_for(lambda: set(pubs) <= set(rec.subscribed), 30,
                           'the recorder on the three topics')
        for pub in pubs.values():
            ros_probe.wait_for_subscribers(pub, 1, 30)
        for path in bags:  # the second bag gets the QoS too
            old = episodes.record_into(path)
            if old is not None:
                old.close()
            bag = rec.bag
            pubs[START].publish(String(data='{"episode": 0}'))

            def recorded(bag=bag) -> bool:
                if bag.counts.get(IMAGE, 0) == 0:  # best effort: sent until one arrives
                    pubs[IMAGE].publish(IMAGE_MSG)
                return all(bag.counts.get(t, 0) for t in (START, IMAGE))

            ros_probe.wait_for(recorded, 30, f'the start and an image in {path.name}')
            pubs[RESULT].publish(String(data='{}'))
            ros_probe.wait_for(lambda bag=bag: bag.counts.get(RESULT, 0) > 0, 30,
                               f'the result in {path.name}')
    finally:
        episodes.close()  # closes the last bag
    for path in bags:
        check_offered_qos(path)


def test_record_demo_stores_the_offered_qos_in_an_sqlite3_bag(tmp_path, ros_probe,
                                                             ros_processes):
    pubs = publishers(ros_probe)
    # latched before the recorder starts: it gets the start on subscribing
    pubs[START].publish(String(data='{"episode": 0}'))
    bag = tmp_path / 'demo_sqlite3'
    rec = ros_processes.start('record', module_cmd(
        'sim_bridge.record_demo', '-o', str(bag), '--storage', 'sqlite3', '--namespace', NS,
        '--topics', START, RESULT, IMAGE, '--stop-after-results', '1'))
    rec.wait_for_log('ready:', 60)
    for pub in pubs.values():
        ros_probe.wait_for_subscribers(pub, 1, 30)
    for _ in range(20):  # best effort: a few, for one to arrive
        pubs[IMAGE].publish(IMAGE_MSG)
        time.sleep(0.05)
    pubs[RESULT].publish(String(data='{}'))
    assert rec.popen.wait(60) == 0, rec.log()[-3000:]
    check_offered_qos(bag)
