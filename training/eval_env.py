"""The sim a closed-loop evaluation runs a policy in, and the check that the policy fits it.

Torch-free, so that `dp-ros train` and `dp-ros eval` refuse a policy of another robot (its
cameras, state or action size) in half a second, before torch loads; training/closed_loop.py
runs the episodes in these envs.
"""
from __future__ import annotations

import math
from typing import Any

from sim_bridge.sim_node_config import ROBOTS


def make_eval_env(robot: str, config: Any, max_steps: int, video_size: int):
    """The env of one evaluation episode of the policy `config` (its PolicyConfig): its
    observations carry the policy's keys (the arm: the camera fitted to the policy's image
    size as the node fits it, after the checkpoint's camera_crop, and joint_pos; for a policy
    whose action is a whole pose, its state key's pose fields and pose targets instead)."""
    image_size = config.obs_shape('image')[-1]
    camera_crop = config.camera_crop('image')
    if robot == 'arm':
        from sim_bridge.arm_env import ArmPushTEnv

        env = ArmPushTEnv(max_episode_steps=max_steps, render_obs=True,
                          policy_image_size=image_size, policy_crop=camera_crop,
                          video_size=video_size)
        cartesian = cartesian_keys(config)
        if cartesian is None:
            return env
        from sim_bridge.cartesian import CartesianArmEnv

        return CartesianArmEnv(env, *cartesian)
    if robot != 'point':
        raise ValueError(f'robot must be one of {ROBOTS}, got {robot!r}')
    if camera_crop is not None:
        raise ValueError(f'camera_crop {list(camera_crop)}: the point pusher renders the table at '
                         'the policy size, there is no camera frame to cut')
    from sim_bridge.pusht_env import PushTEnv

    return PushTEnv(render_size=image_size, max_episode_steps=max_steps, video_size=video_size)


def cartesian_keys(config: Any) -> tuple[str, list[str], list[str], float] | None:
    """(state key, its pose fields, the action's pose fields, the state's yaw_min) of a policy
    that acts on the end effector's pose (PolicyConfig.pose_io); None for any other (a
    joint-space one)."""
    from dp_ros.recorded_sources import YAW_MIN

    pose_io = config.pose_io()
    if pose_io is None:
        return None
    key, state, action = pose_io
    sources = config.recorded_sources(key) or []
    yaw_min = next((s[YAW_MIN] for s in sources if YAW_MIN in s), -math.pi)
    return key, state, action, float(yaw_min)


def check_eval_fits(robot: str, config: Any) -> None:
    """The evaluation env gives this policy (its PolicyConfig) every input it reads, in its
    shape, and takes its actions; else ValueError naming both sides. Run where a run or an
    evaluation starts, so that a policy of another robot fails there, not at its first
    evaluation hours later."""
    where = f'eval.robot {robot!r}'
    if list(config.rgb_keys) != ['image']:
        raise ValueError(f'{where}: the sim has one camera, image; this policy reads cameras '
                         f'{list(config.rgb_keys)}')
    _, h, w = config.obs_shape('image')
    if h != w:
        raise ValueError(f'{where}: the sim renders square images; this policy reads image '
                         f'{h} x {w}')
    env = make_eval_env(robot, config, 1, 16)
    try:
        space = env.observation_space.spaces  # name -> Box
        gives = ', '.join(f'{k} {tuple(space[k].shape)}' for k in space if k != 'image')
        takes = env.action_space.shape
        sim = f'{where}: the sim gives image and {gives} and takes {takes[0]} actions'
        for key in config.low_dim_keys:
            if key not in space or tuple(space[key].shape) != tuple(config.obs_shape(key)):
                raise ValueError(f'{sim}; this policy reads {key} {tuple(config.obs_shape(key))}')
        if tuple(takes) != (config.action_dim,):
            raise ValueError(f'{sim}; this policy outputs {config.action_dim}')
    finally:
        env.close()
