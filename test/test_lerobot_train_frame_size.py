"""A policy trained on a LeRobot dataset's camera video records the video's frame size.

Training reads LeRobot frames as decoded, never resized, so the video's size is the size the
policy learned on; LeRobot features carry no bag2zarr `sources`, so that size is recorded in
the shape_meta rgb entry's own `frame_size` and the policy node refuses a live camera of
another field of view (image_fit.frame_size_problem) as it does for bag2zarr data. Frames
bag2zarr cropped or resized before `dp-ros convert` wrote them record no such size (the video
is not the camera's frame), and a checkpoint without one reads as before (unknown)."""
from __future__ import annotations

import numpy as np
import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config

from dp_ros.image_fit import frame_size_problem
from dp_ros.params import config_from_dict
from dp_ros.policy.checkpoint import read_policy_metadata
from dp_ros.policy.config import PolicyConfig
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup
from training.dataset_meta import dataset_shape_meta
from training.inspect_policy import format_policy, summarize_policy
from training.lerobot_format import LeRobotWriter, numeric_feature, video_feature
from training.trainer import train

H, W = 96, 128  # 4:3, as a 640x480 camera
CAM = 'observation.images.front'


def write_lerobot(path, feature=None) -> None:
    """A 30 fps LeRobot v3 set of five short episodes: one H x W video camera, 6 joints."""
    rng = np.random.default_rng(0)
    z = np.zeros((1, 6), np.float32)
    feats = {CAM: feature or video_feature(H, W), 'observation.state': numeric_feature(z),
             'action': numeric_feature(z)}
    with LeRobotWriter(path, 30, feats) as writer:
        for n in (10, 12, 9, 14, 11):
            state = rng.uniform(-50, 50, size=(n, 6)).astype(np.float32)
            frames = rng.integers(0, 256, size=(n, H, W, 3)).astype(np.uint8)
            writer.add_episode({CAM: frames, 'observation.state': state, 'action': state + 1})


KEYS = {'rgb_keys': {'front': CAM}, 'low_dim_keys': {'joint_pos': 'observation.state'},
        'action_key': 'action'}


@pytest.fixture(scope='module')
def lerobot_camera_policy(tmp_path_factory):
    """A tiny policy trained one step on the LeRobot set."""
    root = tmp_path_factory.mktemp('lrcam')
    write_lerobot(root / 'lr')
    cfg = small_config(root / 'lr', data=KEYS, policy={'crop_shape': [88, 116]},
                       train={'max_steps': 1, 'checkpoint_every': 1, 'control_period_s': None})
    train(cfg, root / 'run')
    return root / 'run' / 'checkpoints' / 'latest'


def node_setup(checkpoint):
    meta = read_policy_metadata(checkpoint)
    params = {'checkpoint': str(checkpoint), 'device': 'cpu',
              'image_topics': ['/cam/front/image_raw'], 'joint_state_topic': '/joint_states',
              'state_joint_names': [f'j{i}' for i in range(6)],
              'action_topic': '/arm/joint_trajectory',
              'action_joint_names': [f'j{i}' for i in range(6)]}
    return meta, resolve_setup(config_from_dict(PolicyNodeConfig, params), meta)


def test_a_16_9_camera_is_refused_for_a_policy_trained_on_4_3_lerobot_video(
        lerobot_camera_policy):
    """The checkpoint records the video's 96x128 and the node's frame-size rule refuses a
    1280x720 camera (centre-cropped it would see another field of view); the trained size
    itself passes, and `dp-ros inspect` shows it."""
    meta, setup = node_setup(lerobot_camera_policy)
    entry = meta['config']['shape_meta']['obs']['front']
    assert entry['shape'] == [3, H, W] and entry['frame_size'] == [H, W]
    assert setup.image_frame_sizes['front'] == (H, W)
    problem = frame_size_problem((720, 1280), setup.image_frame_sizes['front'],
                                 setup.image_crops['front'])
    assert problem is not None and problem[0], problem
    assert frame_size_problem((H, W), (H, W), setup.image_crops['front']) is None
    assert f'recorded at {W}x{H} px' in format_policy(summarize_policy(lerobot_camera_policy))


def test_frames_cropped_before_conversion_record_no_frame_size(tmp_path):
    """A camera whose info.json says bag2zarr cropped it (camera_crop, written by dp-ros
    convert) is not the camera's frame: no frame_size (unknown, never a guess)."""
    write_lerobot(tmp_path / 'lr', {**video_feature(H, W), 'camera_crop': [0, 0, 320, 240]})
    meta = dataset_shape_meta(tmp_path / 'lr', **KEYS)
    assert 'frame_size' not in meta['obs']['front']
    assert meta['obs']['front']['camera_crop'] == [0, 0, 320, 240]


def test_a_policy_config_reads_its_frame_size_and_refuses_a_malformed_one():
    """frame_size is the sources' where recorded, else the entry's own, else None (older
    checkpoints); a malformed one is a one-line error naming the observation."""
    def config(**entry):
        return PolicyConfig(shape_meta={'obs': {'cam': {'shape': [3, 96, 96], 'type': 'rgb',
                                                        **entry},
                                                's': {'shape': [2], 'type': 'low_dim'}},
                                        'action': {'shape': [2]}}, crop_shape=None)

    assert config().frame_size('cam') is None
    assert config(frame_size=[480, 640]).frame_size('cam') == (480, 640)
    recorded = [{'kind': 'image', 'topic': '/cam', 'width': None, 'frame_size': [720, 1280]}]
    assert config(sources=recorded).frame_size('cam') == (720, 1280)
    with pytest.raises(ValueError, match=r"rgb obs 'cam': frame_size must be \[height, width\]"):
        config(frame_size=[480])
