"""A Cartesian arm with a gripper, from bags to a running node, each step its documented
command: bags of a camera, the end effector's pose (PoseStamped), the gripper's own joint
states, the operator's Cartesian targets (PoseStamped) and gripper commands
(Float64MultiArray) -> `dp-ros bag2zarr` (pose, joint-state and float-array sources) ->
`dp-ros train` (a tiny model, two steps, colour jitter on) -> `dp-ros inspect POLICY
--draft-params` -> the policy node from that file alone: it reads the pose and the
gripper's joint states, and sends pose targets and gripper positions where the operator's
went, without a warning; config/policy_example_cartesian.yaml fits the policy too."""
from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros_harness import module_cmd
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool
from support import CONFIG_DIR, MS

from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    pose_message,
)
from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

RELIABLE = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
T0 = 1_700_000_000 * 10**9
DT = 100 * MS
TARGET, GRIPPER_CMD = '/target_frame', '/gripper_controller/commands'


def ee_pose(k: float) -> tuple[float, float, float, float]:
    """The end effector at step k: x, y, z (m) and yaw (rad, in [0, 2 pi): past pi)."""
    return (0.4 + 0.1 * math.sin(0.2 * k), 0.1 * math.cos(0.2 * k), 0.2 + 0.01 * k,
            (2.5 + 0.05 * k) % (2 * math.pi))


def write_episode(path, start_ns: int, seed: int) -> None:
    """3 s: a 10 Hz camera, the pose and the gripper's joint states at 50 Hz, targets one
    step ahead of the pose and the gripper's commands at 10 Hz."""
    rng = np.random.default_rng(seed)
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        array_t = ts.types['std_msgs/msg/Float64MultiArray']
        layout = ts.types['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0)
        for i in range(150):
            t, k = start_ns + i * 20 * MS, i / 5
            x, y, z, yaw = ee_pose(k)
            rec.write('/ee_pose', 'geometry_msgs/msg/PoseStamped', t + MS,
                      pose_message(ts, x, y, yaw, t, z=z, frame_id='base_link'))
            rec.write('/gripper/joint_states', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['finger'], np.array([0.02 + 0.01 * (k % 2)]), t))
        for k in range(30):
            t = start_ns + k * DT
            rec.write('/camera/image_raw', 'sensor_msgs/msg/Image', t + 2 * MS,
                      image_message(ts, rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), t))
            x, y, z, yaw = ee_pose(k + 1)
            rec.write(TARGET, 'geometry_msgs/msg/PoseStamped', t + MS,
                      pose_message(ts, x, y, yaw, t, z=z, frame_id='base_link'))
            rec.write(GRIPPER_CMD, 'std_msgs/msg/Float64MultiArray', t + MS,
                      array_t(layout=layout, data=np.array([0.02 + 0.01 * (k % 2)])))


def test_cartesian_bags_convert_train_draft_and_drive_pose_targets(tmp_path, ros_processes,
                                                                   ros_probe):
    from training import bag2zarr
    from training.config import load_config as load_train_config
    from training.inspect_dataset import main as inspect
    from training.trainer import train

    for e in range(2):
        write_episode(tmp_path / 'bags' / f'episode_{e}', T0 + e * 10 * 10**9, e)
    config = CONFIG_DIR / 'bag2zarr_example_cartesian.yaml'  # the shipped example
    data = tmp_path / 'cartesian.zarr'
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(config), '-o', str(data),
                          '--no-progress']) == 0
    cfg = load_train_config(CONFIG_DIR / 'train_example_arm.yaml', [
        f'data.zarr_path={data}', 'data.rgb_keys={image: img}', 'data.low_dim_keys={ee: state}',
        'data.val_ratio=0', 'data.batch_size=4', 'train.max_steps=2', 'train.cpu=true',
        'train.checkpoint_every=2', 'train.val_every=0', 'train.action_mse_every=0',
        'train.progress=false', 'train.num_threads=1', 'policy.down_dims=[32,64,128]',
        'policy.resnet_width=0.25', 'policy.num_inference_steps=2',
        'policy.color_jitter=[0.3,0.4,0.5,0.08]'])  # a real camera's light, in training only
    train(cfg, tmp_path / 'run')
    policy = tmp_path / 'run' / 'checkpoints' / 'latest'
    assert json.loads((policy / 'policy.json').read_text())['config']['color_jitter'] == [
        0.3, 0.4, 0.5, 0.08]
    draft = tmp_path / 'params.yaml'
    assert inspect([str(policy), '--draft-params', str(draft)]) == 0
    text = draft.read_text()
    assert '[x, "y", z, yaw, finger]' in text  # quoted for ROS 2's parser
    drafted = yaml.safe_load(text)['/**/dp_policy']['ros__parameters']
    assert drafted['state_joint_topics'] == ['/ee_pose'] * 4 + ['/gripper/joint_states']
    assert drafted['state_pose_topics'] == ['/ee_pose'] and drafted['state_yaw_min'] == 0.0
    assert drafted['action_joint_topics'] == [TARGET] * 4 + [GRIPPER_CMD]
    assert drafted['action_pose_topics'] == [TARGET]
    assert drafted['frame_id'] == 'base_link'  # the recorded targets' frame, not a FILL IN
    assert drafted['action_stream_topics'] == [GRIPPER_CMD]
    assert drafted['start_enabled'] is False
    # the shipped example parameter file fits this policy, topics, frame and wrap included
    from dp_ros.params import config_from_dict
    from dp_ros.policy.checkpoint import read_policy_metadata
    from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

    example = yaml.safe_load((CONFIG_DIR / 'policy_example_cartesian.yaml').read_text())[
        '/**/dp_policy']['ros__parameters']
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(
        example, checkpoint=str(policy), device='cpu')), read_policy_metadata(policy))
    assert setup.warnings == []

    targets = ros_probe.collect(PoseStamped, TARGET, RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)

    def wait_diag(diags, predicate, what):
        def latest():
            return {kv.key: kv.value for kv in diags[-1].status[0].values} if diags else {}
        ros_probe.wait_for(lambda: diags and predicate(latest()), 30.0, what)
        return latest()

    gripper = ros_probe.collect(Float64MultiArray, GRIPPER_CMD, RELIABLE)
    node = ros_processes.start('policy', module_cmd(
        'dp_ros.ros.policy_node', '--ros-args', '--params-file', str(draft), '-p', 'device:=cpu',
        '-p', 'cpu_threads:=1'))
    pubs = {topic: ros_probe.publisher(kind, topic, qos_profile_sensor_data)
            for topic, kind in (('/camera/image_raw', Image), ('/ee_pose', PoseStamped),
                                ('/gripper/joint_states', JointState))}
    here = ee_pose(3)
    stop = False
    frame = ['base_link']  # the feeder's pose frame: the recorded one, then another

    def feed():
        rng = np.random.default_rng(0)
        while not stop:
            stamp = ros_probe.node.get_clock().now().to_msg()
            pubs['/camera/image_raw'].publish(cv.numpy_to_image(
                rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), 'rgb8', stamp=stamp))
            pose = PoseStamped()
            pose.header.stamp, pose.header.frame_id = stamp, frame[0]
            p, q = pose.pose.position, pose.pose.orientation
            p.x, p.y, p.z = here[:3]
            q.z, q.w = math.sin(here[3] / 2), math.cos(here[3] / 2)
            pubs['/ee_pose'].publish(pose)
            pubs['/gripper/joint_states'].publish(cv.numpy_to_joint_state(
                np.array([0.025]), ['finger'], stamp=stamp))
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        ros_probe.wait_for(lambda: ' on cpu (' in node.log(), 60.0, 'the node up')
        time.sleep(1.0)
        assert not targets and not gripper  # start_enabled: false, as drafted
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=True))
        assert reply.success, reply.message
        ros_probe.wait_for_messages(targets, 5, 60.0, 'pose targets')
        ros_probe.wait_for_messages(gripper, 5, 10.0, 'gripper positions')
        low, high = drafted['action_lower'], drafted['action_upper']
        for msg in list(targets):
            p = msg.pose.position
            assert msg.header.frame_id == drafted['frame_id']
            assert all(lo - 1e-6 <= v <= hi + 1e-6 for v, lo, hi in
                       zip((p.x, p.y, p.z), low, high, strict=False))
        assert all(low[4] - 1e-6 <= m.data[0] <= high[4] + 1e-6 for m in list(gripper))
        # poses in another frame than the training data's: counted and skipped, not read
        frame[0] = 'world'
        wait_diag(diags, lambda d: int(d.get('bad_pose_frame', 0)) > 0,
                  'a pose in another frame counted')
        log = node.log()
        assert "pose in frame 'world'; the policy was trained on poses in 'base_link'" in log
        assert 'is not what the training data was recorded from' not in log, log
        assert f"{TARGET} ['x', 'y', 'z', 'yaw'] (pose)" in log
        assert "/ee_pose ['x', 'y', 'z', 'yaw'] (pose) + /gripper/joint_states ['finger']" in log
        assert node.alive(), log
    finally:
        stop = True
        feeder.join(2.0)
