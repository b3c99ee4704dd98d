"""Review tests of sim_bridge/cartesian.py: the quaternion of a yaw, and the yaw convention
(yaw_min) of the pose fields the in-process Cartesian env observes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim_bridge.cartesian import CartesianArmEnv, planar_pose_values, yaw_to_quaternion


@pytest.mark.parametrize('yaw', [0.0, 0.7, -1.2, math.pi / 2, 3.0])
def test_the_quaternion_of_a_yaw_turns_by_that_yaw(yaw):
    """yaw_to_quaternion is the half-angle unit quaternion about z; decoding gives yaw back."""
    qx, qy, qz, qw = yaw_to_quaternion(yaw)
    assert (qx, qy) == (0.0, 0.0)
    assert qz == pytest.approx(math.sin(yaw / 2)) and qw == pytest.approx(math.cos(yaw / 2))
    x, y, got = planar_pose_values(12.0, 34.0, yaw, ['x', 'y', 'yaw']).tolist()
    assert (x, y) == (12.0, 34.0) and got == pytest.approx(yaw, abs=1e-12)


def test_planar_pose_values_wraps_yaw_into_yaw_min_onward():
    """yaw_min picks the angle convention: [yaw_min, yaw_min + 2 pi)."""
    assert planar_pose_values(0.0, 0.0, -1.0, ['yaw'], yaw_min=0.0)[0] == pytest.approx(
        2 * math.pi - 1.0)
    assert planar_pose_values(0.0, 0.0, -1.0, ['yaw'])[0] == pytest.approx(-1.0)


def test_the_cartesian_env_observes_yaw_in_its_yaw_min_convention():
    """CartesianArmEnv(yaw_min=0) observes the end link's yaw in [0, 2 pi), on reset and step."""
    from sim_bridge.arm_env import ArmPushTEnv

    arm = ArmPushTEnv(max_episode_steps=5, render_obs=False)
    env = CartesianArmEnv(arm, 'ee_pose', ['x', 'y', 'yaw'], ['x', 'y', 'z', 'yaw'],
                          yaw_min=0.0)
    obs, _ = env.reset(seed=100001)
    _x, _y, yaw = env.cartesian.pose(arm.q)
    assert yaw < 0  # the arm's end link points up the table: a negative yaw in (-pi, pi]
    assert obs['ee_pose'][2] == pytest.approx(yaw + 2 * math.pi, abs=1e-5)
    target = np.array([*obs['ee_pose'][:2].tolist(), 0.0, 0.0]) + [5.0, 0.0, 0.0, 0.0]
    obs, *_ = env.step(target)
    assert 0.0 <= obs['ee_pose'][2] < 2 * math.pi
