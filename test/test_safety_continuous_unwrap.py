"""Continuous joints published unwrapped (safety.unwrapped), as a joint_trajectory_controller
needs them: its angle_wraparound takes the short way from its state to point 0 only and runs
straight between points, so two consecutive points 6.2 rad apart (a policy crossing +-pi,
the end of a ramp-in there) are a full turn in one control period. Pins: each published
point within pi of the one before it (point 0 of where the controller is), bounded joints
and values already within pi bit for bit as before, and the node's own model of the
controller (the short way between points) running along the published lines."""
from __future__ import annotations

import numpy as np
from test_safety import planned

from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup
from dp_ros.runtime.safety import JointLimits, SafetyEnvelope, unwrapped

MS = 1_000_000
DT = 100 * MS
T0 = 10_000 * MS
METADATA = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1}
# both action joints continuous, no <limit>: no step limit (a wrist roll, a wheel)
URDF = """<?xml version="1.0"?>
<robot name="arm">
  <link name="base"/><link name="l1"/><link name="l2"/>
  <joint name="agent_x" type="continuous"><parent link="base"/><child link="l1"/></joint>
  <joint name="agent_y" type="continuous"><parent link="l1"/><child link="l2"/></joint>
</robot>
"""
# a wrist roll crossing +pi, wrapped into [-pi, pi) as a policy trained on a driver's values
ROLL = np.array([2.9, 3.0, 3.05, 3.1, 3.14, -3.12, -3.08, -3.04, -3.0, -2.95,
                 -2.9, -2.85, -2.8, -2.75, -2.7, -2.65])


def make_loop(tmp_path, **values) -> PlanningLoop:
    path = tmp_path / 'arm.urdf'
    path.write_text(URDF)
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                              'max_input_age_s': 0.4, 'urdf_path': str(path),
                                              **values})
    return PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')


def plan_on(loop: PlanningLoop, t_obs: int, pred: np.ndarray):
    """The plan of `pred` sampled on the observation of t_obs, finished at once."""
    return planned(loop, t_obs, t_obs, pred)


def jtc_largest_move_per_period(actions: np.ndarray) -> float:
    """What a JTC executes between consecutive points: the plain difference (no wrap)."""
    return float(np.abs(np.diff(actions, axis=0)).max())


def test_a_chunk_crossing_pi_on_a_continuous_joint_is_published_unwrapped(tmp_path):
    """3.14 then -3.12 (0.02 rad the short way) is published as 3.14, 2pi - 3.12: no 6.2 rad
    jump between two points; the joint that stays put is unchanged."""
    loop = make_loop(tmp_path)
    assert loop.safety.wrap is not None and loop.safety.wrap.all()
    pred = np.stack([np.zeros(16), ROLL], axis=1).astype(np.float32)
    plan = plan_on(loop, T0 + DT, pred)
    assert jtc_largest_move_per_period(plan.actions) <= np.pi, plan.actions[:, 1].tolist()
    sliced = pred[1:1 + len(plan)].astype(np.float64)
    np.testing.assert_allclose(plan.actions[:, 1], np.where(sliced[:, 1] < 0,
                                                            sliced[:, 1] + 2 * np.pi,
                                                            sliced[:, 1]))
    assert np.array_equal(plan.actions[:, 0], sliced[:, 0])


def test_the_end_of_a_ramp_in_on_a_continuous_joint_is_not_a_turn(tmp_path):
    """Measured at 3.10, the policy at -3.10: the ramp goes the short way (3.12, 3.14, ...)
    and its end is 2pi - 3.10, not -3.10 (6.2 rad in one period)."""
    loop = make_loop(tmp_path, ramp_in_s=0.3, start_enabled=False)
    loop.measure(T0 + DT, np.array([0.0, 3.10]))
    loop.enable(True)
    pred = np.tile([0.0, -3.10], (16, 1)).astype(np.float32)
    plan = plan_on(loop, T0 + DT, pred)
    assert jtc_largest_move_per_period(plan.actions) <= np.pi, plan.actions[:, 1].tolist()
    np.testing.assert_allclose(plan.actions[-1, 1], 2 * np.pi - np.float32(3.10))


def test_the_next_chunk_continues_from_where_the_controller_is_and_the_model_agrees(tmp_path):
    """A replanned chunk's point 0 is unwrapped against where the controller is when it lands
    (past +pi already), not against the driver's wrapped values; and the node's model of
    the controller (the short way between points) is on the published straight lines."""
    loop = make_loop(tmp_path, replan_threshold=8)
    pred = np.stack([np.zeros(16), ROLL], axis=1).astype(np.float32)
    first = plan_on(loop, T0 + DT, pred)
    # replanned (threshold 8) on the observation at 6 dt, the controller at 2pi - 3.08 then,
    # the new chunk's point 0 at -3.08 as the policy gives it
    t_obs = T0 + 6 * DT
    second = plan_on(loop, t_obs, np.roll(pred, -5, axis=0))
    assert second.actions[0, 1] > np.pi and \
        abs(second.actions[0, 1] - loop._controller_at(t_obs)[1]) <= np.pi
    timeline = loop.commanded
    assert jtc_largest_move_per_period(timeline.actions) <= np.pi
    for t in range(int(timeline.due_ns[0]), int(timeline.due_ns[-1]), DT // 4):
        straight = np.array([np.interp(t, timeline.due_ns, timeline.actions[:, k])
                             for k in range(2)])
        np.testing.assert_allclose(loop._controller_at(t), straight, atol=1e-12)
    assert len(first) and len(second)


def test_values_within_pi_and_bounded_joints_are_kept_bit_for_bit():
    """Only a wrap value more than pi from the one before moves, by whole turns; the rest,
    and every value where wrap is False, is the very same float."""
    points = np.array([[0.1 + 1e-17, 3.0], [7.0, 3.1], [-7.0, -3.1], [0.3, -3.0]])
    wrap = np.array([False, True])
    out = unwrapped(points, np.array([9.0, 2.9]), wrap)
    assert np.array_equal(out[:, 0], points[:, 0])
    assert out[0, 1] == 3.0 and out[1, 1] == 3.1
    np.testing.assert_allclose(out[2:, 1], [2 * np.pi - 3.1, 2 * np.pi - 3.0])
    # point 0 more than pi from the reference: a turn on (where the controller is: -3.1)
    out = unwrapped(points[:1], np.array([0.0, -3.1]), wrap)
    np.testing.assert_allclose(out[0, 1], 3.0 - 2 * np.pi)
    # no reference (a motion begun unmeasured, no step limit): point 0 as it is
    assert unwrapped(points, None, wrap)[0, 1] == 3.0


def test_no_continuous_joint_leaves_the_envelope_a_pass_through():
    """Without limits, ramp or continuous joints apply returns the very array (the Push-T
    parity path); a continuous joint given finite bounds goes through them, not unwrapped."""
    envelope = SafetyEnvelope(JointLimits(), DT)
    actions = np.array([[3.1], [-3.1]])
    assert envelope.apply(np.array([T0, T0 + DT]), actions, np.array([3.1])) is actions
    bounded = SafetyEnvelope(JointLimits(lower=np.array([-4.0]), upper=np.array([4.0]),
                                         wrap=np.array([True])), DT)
    assert bounded.wrap is None
    np.testing.assert_array_equal(
        bounded.apply(np.array([T0, T0 + DT]), actions, np.array([3.1])), actions)
