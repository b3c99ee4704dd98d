"""The twin's Cartesian interface without ROS: the end effector's pose from the joints, and the
joints that put it at a Cartesian controller's target.

A Cartesian policy (the paper's real-robot action space: the end effector's pose; the node's
state_pose_topics and action_pose_topics) runs closed-loop against the twin through it: the
sim publishes the end effector's pose beside the joint states and turns each PoseStamped
target into joint targets, as a Cartesian controller (cartesian_controllers' target_frame,
MoveIt Servo's pose commands) turns a target into joint commands.

Frame: the table's (the sim's frame_id; Push-T px, x right, y down). The twin is planar: a
target's z and orientation are not controlled (the arm's IK points its end link radially,
sim_bridge/arm_kinematics.py), and the published pose has z 0 and the yaw of the end link
about z (the point pusher's: 0).

CartesianArmEnv is the same interface in-process: the arm env observed and driven by pose
fields, for the closed-loop evaluation of such a policy during training (training/
closed_loop.py), which then sees what the sim node sends and refuses what it refuses.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from dp_ros.pose_fields import decode_pose, pose_target, pose_target_problem
from sim_bridge.arm_kinematics import DEFAULT_ARM, SHOULDER_ZERO, ArmGeometry, Unreachable
from sim_bridge.trajectory_follower import TrajectoryRejected


def yaw_to_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation about z."""
    return 0.0, 0.0, float(np.sin(yaw / 2.0)), float(np.cos(yaw / 2.0))


@dataclass(frozen=True)
class PlanarCartesian:
    """The end effector of one of the twin's robots in the table frame."""

    frame_id: str  # the table frame: targets in any other are refused ('' is taken as it)
    arm: ArmGeometry | None = None  # None: the point pusher (its joints are its x, y)

    @classmethod
    def of_robot(cls, robot: str, frame_id: str) -> PlanarCartesian:
        """The end effector of the sim's robot ('point' or 'arm', the arm env's geometry)."""
        if robot not in ('point', 'arm'):  # a misspelt 'Arm' was the point pusher
            raise ValueError(f"robot must be 'point' or 'arm', got {robot!r}")
        return cls(frame_id, DEFAULT_ARM if robot == 'arm' else None)

    def pose(self, joint_pos: np.ndarray) -> tuple[float, float, float]:
        """(x, y, yaw) of the end effector at these joints; yaw in (-pi, pi]."""
        q = np.asarray(joint_pos, dtype=np.float64)
        if self.arm is None:
            return float(q[0]), float(q[1]), 0.0
        x, y = self.arm.forward(q)
        yaw = math.remainder(SHOULDER_ZERO + float(q.sum()), math.tau)
        return float(x), float(y), yaw

    def joints(self, frame_id: str, x: float, y: float) -> np.ndarray:
        """The joint targets that put the end effector at (x, y) of `frame_id`.

        Raises TrajectoryRejected: 'frame_id' (another frame: this twin has no TF to map it),
        'non_finite', or 'unreachable' (the arm's IK cannot reach it within its limits)."""
        if frame_id not in ('', self.frame_id):
            raise TrajectoryRejected('frame_id', f"pose target in frame '{frame_id}'; this sim "
                                     f"takes targets in '{self.frame_id}' (parameter frame_id)")
        if not (math.isfinite(x) and math.isfinite(y)):
            raise TrajectoryRejected('non_finite', f'pose target ({x}, {y}) is not finite')
        if self.arm is None:
            return np.array([x, y], dtype=np.float64)
        try:
            return self.arm.inverse(np.array([x, y], dtype=np.float64))
        except Unreachable as exc:
            raise TrajectoryRejected('unreachable', str(exc)) from None


def planar_pose_values(x: float, y: float, yaw: float, fields: Sequence[str],
                       yaw_min: float = -math.pi) -> np.ndarray:
    """The named fields of the planar pose (x, y, z 0, yaw about z), decoded as the policy node
    decodes the sim's PoseStamped (dp_ros.pose_fields.decode_pose on the same quaternion)."""
    qx, qy, qz, qw = yaw_to_quaternion(yaw)
    msg = SimpleNamespace(pose=SimpleNamespace(
        position=SimpleNamespace(x=float(x), y=float(y), z=0.0),
        orientation=SimpleNamespace(x=qx, y=qy, z=qz, w=qw)))
    return decode_pose(msg, fields, yaw_min)


class CartesianArmEnv:
    """The arm env (sim_bridge/arm_env.py) as a Cartesian policy sees and drives it: the
    observation `state_key` holds the end effector's pose fields (its joint positions are
    dropped), and an action of pose fields (a whole pose: x, y, z and one orientation) is a
    target whose x, y the IK reaches within the step, as the sim node runs a pose target in
    lockstep. A target out of reach holds the arm and is counted in `refused` (the node's
    'unreachable'); z and the orientation are not controlled (the twin is planar)."""

    def __init__(self, env: Any, state_key: str, state_fields: Sequence[str],
                 action_fields: Sequence[str], yaw_min: float = -math.pi) -> None:
        from gymnasium import spaces

        problem = pose_target_problem(action_fields)
        if problem:
            raise ValueError(f'a Cartesian action must be a whole pose: {problem}')
        self.env = env
        self.cartesian = PlanarCartesian('', env.arm)
        self.state_key = state_key
        self.state_fields = list(state_fields)
        self.action_fields = list(action_fields)
        self.yaw_min = float(yaw_min)
        self.refused: Counter[str] = Counter()
        obs = {k: v for k, v in env.observation_space.spaces.items() if k != 'joint_pos'}
        obs[state_key] = spaces.Box(-np.inf, np.inf, shape=(len(self.state_fields),),
                                    dtype=np.float32)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Box(-np.inf, np.inf, shape=(len(self.action_fields),),
                                       dtype=np.float64)

    def _observe(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: v for k, v in obs.items() if k != 'joint_pos'}
        x, y, yaw = self.cartesian.pose(self.env.q)  # the float64 joints, as the node's
        out[self.state_key] = planar_pose_values(x, y, yaw, self.state_fields,
                                                 self.yaw_min).astype(np.float32)
        return out

    def reset(self, **kwargs: Any):
        self.refused.clear()
        obs, info = self.env.reset(**kwargs)
        return self._observe(obs), info

    def step(self, action: Any):
        position, _ = pose_target(np.asarray(action, dtype=np.float64), self.action_fields)
        try:
            joints = self.cartesian.joints('', position[0], position[1])
        except TrajectoryRejected as exc:
            self.refused[exc.kind] += 1
            joints = None  # the arm holds, as the sim's follower does after a refusal
        obs, reward, terminated, truncated, info = self.env.step(joints)
        return self._observe(obs), reward, terminated, truncated, info

    def render(self) -> np.ndarray:
        return self.env.render()

    def close(self) -> None:
        self.env.close()
