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
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim_bridge.arm_kinematics import DEFAULT_ARM, SHOULDER_ZERO, ArmGeometry, Unreachable
from sim_bridge.trajectory_follower import TrajectoryRejected


@dataclass(frozen=True)
class PlanarCartesian:
    """The end effector of one of the twin's robots in the table frame."""

    frame_id: str  # the table frame: targets in any other are refused ('' is taken as it)
    arm: ArmGeometry | None = None  # None: the point pusher (its joints are its x, y)

    @classmethod
    def of_robot(cls, robot: str, frame_id: str) -> PlanarCartesian:
        """The end effector of the sim's robot ('point' or 'arm', the arm env's geometry)."""
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
