"""Second mutation review of runtime/policy_node_config.py, without ROS: what the first
(test_policy_node_config_mutants.py) and the other tests left open. A recorded pose's frame
reaching its stream when a joint state sits beside it (only pose sources count as pose
frames); the slow-step warning at exactly SLOW_CROSSING_S, on a dimension whose normalizer
leaves it as it is (not judged), and at an overridden control_period_s; a 0 among several
stop_deceleration values (refused, not the one-point stop); control_period_s of exactly
MIN_CONTROL_PERIOD_S (taken); two cameras of which one is not recorded (not compared with
the recorded topics); the compressed_images warning naming only the plain topics; a 0 ms
warm-up still said on the start-up line. No defect found."""
from __future__ import annotations

from typing import Any

import numpy as np
from test_policy_node_config import cfg, metadata, resolve_error
from test_policy_node_config_edges import EEF_NODE, checkpoint

from dp_ros.policy.config import pusht_image_config
from dp_ros.policy.normalizer import Normalizer
from dp_ros.runtime.policy_node_config import (
    MIN_CONTROL_PERIOD_S,
    SLOW_CROSSING_S,
    describe_setup,
    resolve_setup,
)


def test_a_pose_beside_a_joint_state_takes_its_recorded_frame() -> None:
    """An end effector's pose recorded in 'world' beside a gripper's joint state: the pose
    stream is checked against 'world'; the gripper's source is no pose and has no frame
    (counting it among the pose frames left the pose unchecked, frame '')."""
    meta = checkpoint({
        'eef': {'shape': [2], 'type': 'low_dim', 'names': ['x', 'yaw'], 'sources': [
            {'kind': 'pose', 'topic': '/ee_pose', 'width': 2, 'frame_id': 'world'}]},
        'gripper': {'shape': [1], 'type': 'low_dim', 'names': ['finger'], 'sources': [
            {'kind': 'joint_state', 'topic': '/gripper/joint_states', 'width': 1}]}})
    setup = resolve_setup(cfg(**EEF_NODE), meta)
    assert [(s.topic, s.pose, s.frame_id) for s in setup.state_sources] == [
        ('/ee_pose', True, 'world'), ('/gripper/joint_states', False, '')]


def slow_step_warnings(max_step_delta: list[float], **values: Any) -> list[str]:
    """The slow-step warnings of two action joints trained on 0..600: 'raw' with a normalizer
    that leaves it as it is (no range to judge by), 'arm' normalized; `values`: other
    parameters."""
    normalizer = Normalizer.from_data({'action': np.array([[0.0, 0.0], [600.0, 600.0]])})
    stats = normalizer.to_dict()
    stats['fields']['action'].update(scale=[1.0, stats['fields']['action']['scale'][1]],
                                     offset=[0.0, -1.0])
    meta = {**metadata(), 'normalizer': stats}
    setup = resolve_setup(cfg(action_joint_names=['raw', 'arm'], state_joint_names=['a', 'b'],
                              max_step_delta=max_step_delta, **values), meta)
    return [w for w in setup.start_warnings if 'step limit too small' in w]


def test_a_crossing_of_exactly_the_slow_bound_or_an_unjudged_range_is_not_warned() -> None:
    """'arm' at 0.5 a 0.1 s period crosses 0..600 in exactly SLOW_CROSSING_S (120 s): not
    longer, not warned; 'raw' at 0.1 a period would take 600 s, but its normalizer leaves it
    as it is (scale 1, offset 0: the range is no training range), so it is not judged. Just
    under 0.5 'arm' is warned, alone."""
    assert SLOW_CROSSING_S == 120.0
    assert slow_step_warnings([0.1, 0.5]) == []
    said = slow_step_warnings([0.1, 0.49])
    assert len(said) == 1 and said[0].startswith(
        "step limit too small to follow the training's actions on arm (0.49 a period: 122 s "
        'to cross 0..600): '), said


def test_a_zero_stop_deceleration_among_others_is_refused_not_the_one_point_stop() -> None:
    """Only one value 0 is the one-point stop: a 0 for the first joint of [0, 5] (a joint
    that may not decelerate) is refused, not taken as the one-point stop for all."""
    assert resolve_error(stop_deceleration=[0.0, 5.0]) == (
        'parameter stop_deceleration must be finite and > 0 for every dimension (or one 0: '
        'the one-point stop), got [0.0, 5.0]')
    assert resolve_setup(cfg(stop_deceleration=[0.0]), metadata()).stop_deceleration is None


def test_a_control_period_of_exactly_the_smallest_step_is_taken() -> None:
    """MIN_CONTROL_PERIOD_S itself (1 us, as bag2zarr's bound) is a period; just under it is
    refused naming the parameter."""
    assert MIN_CONTROL_PERIOD_S == 1e-6
    assert resolve_setup(cfg(control_period_s=1e-6), metadata()).dt_ns == 1000
    assert resolve_error(control_period_s=9.99e-7) == (
        'parameter control_period_s 9.99e-07 s is under 1e-06 s: give the time between actions')


def test_the_slow_step_bound_is_judged_at_the_period_the_node_runs_at() -> None:
    """control_period_s 0.05 overriding the checkpoint's 0.1 s: 'arm' at 0.2 a period crosses
    0..600 in 3000 periods of 0.05 s, 150 s (not the 300 s of the checkpoint's period)."""
    said = slow_step_warnings([0.2, 0.2], control_period_s=0.05)
    assert len(said) == 1 and said[0].startswith(
        "step limit too small to follow the training's actions on arm (0.2 a period: 150 s "
        'to cross 0..600): '), said


def two_cameras(scene_sources: list[dict] | None = None) -> dict:
    """A checkpoint's metadata with the cameras 'scene' (of `scene_sources`, if given) and
    'wrist' (no sources), and agent_pos (2)."""
    scene = {'sources': scene_sources} if scene_sources else {}
    return {'config': pusht_image_config(shape_meta={
        'obs': {'scene': {'shape': [3, 96, 96], 'type': 'rgb', **scene},
                'wrist': {'shape': [3, 96, 96], 'type': 'rgb'},
                'agent_pos': {'shape': [2], 'type': 'low_dim'}},
        'action': {'shape': [2]}}).to_dict(), 'control_period_s': 0.1}


def test_cameras_of_which_one_is_not_recorded_are_not_compared() -> None:
    """Two cameras, only the first's topic recorded (the second's left out of its sources):
    which topic the second was is unknown, so the cameras are not compared with the
    recorded ones, and a scene camera on its recorded topic beside a wrist camera raises no
    warning (compared as the one recorded topic, the two given read as other topics)."""
    meta = two_cameras([{'kind': 'image', 'topic': '/scene', 'width': None}])
    setup = resolve_setup(cfg(image_topics=['/scene', '/wrist']), meta)
    assert setup.rgb_keys == ['scene', 'wrist'] and setup.warnings == []


def test_compressed_images_names_only_the_cameras_not_named_compressed() -> None:
    """compressed_images over a '/compressed' camera and a plain one: the warning names the
    plain topic alone (the other is image_transport's compressed topic, read as such)."""
    setup = resolve_setup(cfg(image_topics=['/scene/compressed', '/wrist'],
                              compressed_images=True), two_cameras())
    assert setup.warnings == [
        "parameter compressed_images is true and image_topics ['/wrist'] do not end in "
        "'/compressed' (image_transport's name for a compressed topic): the node reads them "
        'as sensor_msgs/CompressedImage and receives nothing if they publish '
        'sensor_msgs/Image']


def test_a_warm_up_under_half_a_millisecond_is_still_said() -> None:
    """The start-up line says the warm-up took 0 ms when it did (rounded), and nothing of a
    warm-up when there was none (warmup: false, warmup_s None)."""
    setup = resolve_setup(cfg(), metadata())
    assert describe_setup(cfg(), setup, 'cpu', 0.0).endswith(
        'realtime (replan at <= 2 left), execution replace, warm-up 0 ms')
    assert describe_setup(cfg(), setup, 'cpu', None).endswith(
        'realtime (replan at <= 2 left), execution replace')
