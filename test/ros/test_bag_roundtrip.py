"""Demonstrations made in the sim and recorded over ROS come back as the dataset's episodes.

Three short Push-T episodes are replayed (`dp-ros replay`) through the pusht_sim node in
lockstep mode while sim_bridge.record_demo records the topics, two episodes into an mcap
bag, one into an sqlite3 bag. `dp-ros bag2zarr` turns the bags into a zarr replay buffer,
which must equal the dataset within the sim's fidelity bars, and `dp-ros train` must run on
it unchanged.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from geometry_msgs.msg import PoseStamped
from ros_harness import LATCHED, module_cmd, sim_node_cmd
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from support import CONFIG_DIR, SIM_NAMESPACE, shortest_episodes, tiny_policy_section

from training.replay_buffer import ReplayBuffer

pytestmark = pytest.mark.ros

NS = SIM_NAMESPACE
CONFIG = CONFIG_DIR / 'bag2zarr_pusht.yaml'
TOPIC_TYPES = {'image_raw': Image, 'joint_states': JointState, 'block_pose': PoseStamped}
# the sim and the recorder talk through shared memory, as `dp-ros sim` and the launch files
# set it up: a loaded CPU made the recorder miss best-effort camera frames over UDP (1 run in 5)
PROFILE = {'FASTDDS_DEFAULT_PROFILES_FILE': str(CONFIG_DIR / 'fastdds_large_data.xml')}
# and the sim's camera is reliable here (a qos override), so the recorder, which follows the
# publishers' QoS, records it reliably as it does the joint states and poses: a best-effort
# frame lost in transport (still seen once in CI on a busy machine, shared memory or not) is
# a gap in the bag that splits its episode. What a best-effort camera gives a recorder is
# test_record_demo_qos's subject, not this test's.
RELIABLE_CAMERA = f'qos_overrides.{NS}/image_raw.publisher.reliability:=reliable'


def record(ros_processes, ros_probe, results, pusht_zarr: Path, bag: Path, storage: str,
           episodes: list[int]) -> None:
    """Record while `dp-ros replay` plays the episodes; the last one is ended by a reset.

    The recorder stops itself once it has the episode results it must see (so it has every
    message before them), counted from what the sim publishes once it records (the latched
    result of the previous recording is recorded, not counted): one result per reset that
    ends an episode: each replay's reset ends the running one (none runs before the first
    recording: the sim starts without an episode; before the next, the one the previous
    recording's final reset started), and the final reset ends the last replayed episode.
    """
    from sim_bridge.replay import ReplayClient, load_episode, replay

    prior = len(results)
    expected = len(episodes) + (1 if prior else 0)
    rec = ros_processes.start(f'record_{storage}', module_cmd(
        'sim_bridge.record_demo', '-o', str(bag), '--storage', storage,
        '--stop-after-results', str(expected)), env=PROFILE)
    client = ReplayClient(NS, 'pusht_sim')
    try:
        # the recorder subscribes to the trajectory topic once it sees the replay's publisher;
        # no action may go out before both the sim and the recorder are matched
        rec.wait_for_log('ready:', 60)
        ros_probe.wait_for(lambda: client.traj_pub.get_subscription_count() >= 2, 30,
                           'the sim and the recorder on the trajectory topic')
        # and the recorder's readers of the sim's outputs: in the graph, then matched by a
        # writer of a third participant here (as the sim's writers match them); a reliable
        # writer matches reliable and best-effort readers alike
        for topic in (f'{NS}/image_raw', f'{NS}/joint_states', f'{NS}/block_pose'):
            def recorder(t=topic) -> bool:
                return any(i.node_name == 'record_demo'
                           for i in ros_probe.node.get_subscriptions_info_by_topic(t))
            ros_probe.wait_for(recorder, 30, f'the recorder on {topic}')
            ros_probe.wait_for_matched_readers(TOPIC_TYPES[topic.rsplit('/', 1)[1]], topic,
                                               ros_probe.node.count_subscribers(topic), 30)
        for episode in episodes:
            summary = replay(client, load_episode(pusht_zarr, episode), 'lockstep', 60.0, 0)
            assert summary.steps == len(load_episode(pusht_zarr, episode).actions)
    finally:
        client.close()
    reply = ros_probe.call(Trigger, f'{NS}/reset', Trigger.Request())
    assert reply.success, reply.message
    assert rec.popen.wait(60) == 0, rec.log()[-3000:]  # it has seen the last result: done
    assert len(results) - prior == expected
    assert (bag / 'metadata.yaml').exists(), rec.log()[-3000:]
    meta = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    camera = next(t['topic_metadata'] for t in meta['topics_with_message_count']
                  if t['topic_metadata']['name'] == f'{NS}/image_raw')
    # the recorder took the camera reliably (it follows the offered QoS): no frame lost
    assert [q['reliability'] for q in camera['offered_qos_profiles']] == ['reliable'], camera


def test_a_result_latched_before_the_recording_starts_does_not_end_it(tmp_path, ros_processes,
                                                                       ros_probe):
    """Defect: --stop-after-results 1 counted the sim's latched result of an episode that
    ended before the recorder started, and stopped at once with an empty recording."""
    ros_processes.start('sim', sim_node_cmd('max_steps:=1', 'action_wait_timeout_s:=0.2',
                                            'auto_reset:=false', namespace=NS))
    results = ros_probe.collect(String, f'{NS}/episode_result', LATCHED)
    ros_probe.wait_for_messages(results, 1, 60)  # episode 0 ended; no other starts
    bag = tmp_path / 'bag'
    rec = ros_processes.start('record', module_cmd(
        'sim_bridge.record_demo', '-o', str(bag), '--stop-after-results', '1'))
    rec.wait_for_log('a result published before the recording started', 60)
    time.sleep(1.0)  # the old count stopped it 0.5 s after that result
    assert rec.alive(), rec.log()[-3000:]
    rec.popen.send_signal(signal.SIGINT)
    assert rec.popen.wait(60) == 0, rec.log()[-3000:]
    assert 'after interrupted' in rec.log(), rec.log()[-3000:]
    assert f'{NS}/episode_result: 1' in rec.log()  # recorded all the same


def test_sim_demonstrations_round_trip_through_bags(tmp_path, pusht_zarr, ros_processes,
                                                    ros_probe):
    indices, dataset = shortest_episodes(pusht_zarr, 3)
    # a fresh sim, no episode until the first replay's reset: that episode's step 0 is stamped
    # 0 on the sim clock, and the replay's answer to it too. bag2zarr must keep that answer on
    # step 0 (an answer stamped 0 also reads as "unset", placed by receive order: it fell on
    # step 1 whenever the recorder got the sim's next observation first, the first replayed
    # episode a step short): checked end to end here.
    ros_processes.start('sim', sim_node_cmd(
        'mode:=lockstep', 'autostart:=false', 'auto_reset:=false', 'max_steps:=300',
        'action_wait_timeout_s:=0.0', RELIABLE_CAMERA, namespace=NS), env=PROFILE)
    results = ros_probe.collect(String, f'{NS}/episode_result', LATCHED)
    bags = tmp_path / 'bags'
    record(ros_processes, ros_probe, results, pusht_zarr, bags / 'demo_mcap', 'mcap',
           indices[:2])
    record(ros_processes, ros_probe, results, pusht_zarr, bags / 'demo_sqlite3', 'sqlite3',
           indices[2:])

    from training import bag2zarr

    output = tmp_path / 'demos.zarr'
    summary_json = tmp_path / 'summary.json'
    rc = bag2zarr.main([str(bags), '-c', str(CONFIG), '-o', str(output), '--no-progress',
                        '--summary-json', str(summary_json)])
    summary = json.loads(summary_json.read_text()) if summary_json.exists() else None
    if rc != 0:  # keep the bags for a look
        shutil.copytree(bags, Path('/tmp') / f'bag_roundtrip_failed_{os.getpid()}')
    assert rc == 0, summary
    assert summary['episodes_added'] == 3, json.dumps(summary, indent=1)

    buffer = ReplayBuffer.open(output)
    assert buffer.episode_lengths.tolist() == [len(e['action']) for e in dataset]
    for i, want in enumerate(dataset):
        got = buffer.get_episode(i)
        np.testing.assert_array_equal(got['action'], want['action'])
        assert np.abs(got['state'][:, :4] - want['state'][:, :4]).max() < 1.0  # px
        turn = (got['state'][:, 4] - want['state'][:, 4] + np.pi) % (2 * np.pi) - np.pi
        assert np.abs(turn).max() < 0.02  # rad
        mae = np.abs(got['img'].astype(np.float64) - want['img']).mean()
        assert mae < 0.5, f'episode {indices[i]}: image MAE {mae:.3f}'

    # `dp-ros train` reads the result as it reads the paper's dataset (a few steps)
    train_cfg = {
        'policy': tiny_policy_section(num_inference_steps=3),
        'data': {'zarr_path': str(output), 'batch_size': 4, 'val_ratio': 0.0},
        'optim': {'lr': 3e-4, 'lr_warmup_steps': 1},
        'train': {'max_steps': 2, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                  'eval_every': 0, 'checkpoint_every': 0, 'final_eval': False,
                  'num_threads': 1, 'progress': False},
    }
    cfg_path = tmp_path / 'train.yaml'
    cfg_path.write_text(yaml.safe_dump(train_cfg))
    run = tmp_path / 'run'
    train = ros_processes.start('train', module_cmd(
        'dp_ros.cli', 'train', '--config', str(cfg_path), '--output', str(run)),
        env={'OMP_NUM_THREADS': '1'})
    assert train.popen.wait(timeout=400) == 0, train.log()[-4000:]
    state = json.loads((run / 'train_state' / 'state.json').read_text())
    assert state['position']['step'] == 2
