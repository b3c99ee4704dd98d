"""The safety envelope without ROS: URDF and parameter limits, per-step limits across chunk
boundaries, ramp-in, the hold; and the input checks that keep bad values out."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, JointState

from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.ros import conversions as cv
from dp_ros.runtime.input_checks import BadInput, state_vector
from dp_ros.runtime.planning_loop import PlanningLoop, PlanRequest
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup
from dp_ros.runtime.safety import (
    JointLimits,
    SafetyEnvelope,
    combine_limits,
    hold_point,
    urdf_limits,
)

DT = 100_000_000
T0 = 10_000_000_000

URDF = """<?xml version="1.0"?>
<robot name="arm">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="l3"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/>
    <limit lower="-1.5" upper="1.5" velocity="2.0" effort="10"/></joint>
  <joint name="j2" type="continuous"><parent link="l1"/><child link="l2"/>
    <limit velocity="0.5" effort="10"/></joint>
  <joint name="j3" type="prismatic"><parent link="l2"/><child link="l3"/>
    <limit lower="0.0" upper="0.2" effort="10"/></joint>
</robot>
"""


def due(n: int, t0: int = T0) -> np.ndarray:
    return t0 + np.arange(n, dtype=np.int64) * DT


def test_urdf_limits_per_joint_in_the_asked_order(tmp_path):
    path = tmp_path / 'arm.urdf'
    path.write_text(URDF)
    lower, upper, velocity, continuous = urdf_limits(path, ['j3', 'j1', 'j2'])
    assert lower.tolist() == [0.0, -1.5, -np.inf] and upper.tolist() == [0.2, 1.5, np.inf]
    assert velocity.tolist() == [np.inf, 2.0, 0.5]  # a <limit> without velocity: none
    assert continuous.tolist() == [False, False, True]
    with pytest.raises(ValueError, match="joint 'j9' is not in"):
        urdf_limits(path, ['j1', 'j9'])
    with pytest.raises(ValueError, match='urdf_path: cannot read'):
        urdf_limits(tmp_path / 'missing.urdf', ['j1'])


def test_the_tightest_of_parameters_and_urdf(tmp_path):
    path = tmp_path / 'arm.urdf'
    path.write_text(URDF)
    urdf = urdf_limits(path, ['j1', 'j2'])
    limits = combine_limits(2, 0.1, lower=[-1.0, -9.0], upper=[2.0, 9.0],
                            max_step_delta=[0.5, 0.01], urdf=urdf)
    assert limits.lower.tolist() == [-1.0, -9.0] and limits.upper.tolist() == [1.5, 9.0]
    np.testing.assert_allclose(limits.max_step, [0.2, 0.01])  # 2.0 rad/s * 0.1 s; 0.01
    limits = combine_limits(2, 0.1, max_velocity=[1.0, 1.0])
    np.testing.assert_allclose(limits.max_step, [0.1, 0.1])
    assert limits.lower is None
    assert combine_limits(2, 0.1) == JointLimits()
    for kwargs, name in (({'max_step_delta': [1.0]}, 'max_step_delta'),
                         ({'max_velocity': [1.0, 0.0]}, 'max_velocity'),
                         ({'lower': [0.0, 0.0]}, 'action_upper'),
                         ({'lower': [1.0, 0.0], 'upper': [0.0, 1.0]}, 'lower <= upper')):
        with pytest.raises(ValueError, match=name):
            combine_limits(2, 0.1, **kwargs)


def test_bounds_then_step_limit_from_the_reference():
    envelope = SafetyEnvelope(JointLimits(np.array([0.0]), np.array([10.0]), np.array([1.0])),
                              DT)
    out = envelope.apply(due(4), np.array([[5.0], [20.0], [-3.0], [0.5]]), np.array([4.5]))
    # 5 is within a step of 4.5; 20 -> bound 10 -> one step up; -3 -> bound 0 -> one step down
    np.testing.assert_allclose(out[:, 0], [5.0, 6.0, 5.0, 4.0])
    assert envelope.clamped == 2 and envelope.rate_limited == 3
    # a reference outside the bounds is walked back in at the step limit, never jumps
    out = envelope.apply(due(3), np.array([[5.0], [5.0], [5.0]]), np.array([-2.5]))
    np.testing.assert_allclose(out[:, 0], [-1.5, -0.5, 0.5])


def test_no_limits_leave_the_points_untouched():
    envelope = SafetyEnvelope(JointLimits(), DT)
    actions = np.array([[1.0, 2.0]])
    assert envelope.apply(due(1), actions, None) is actions
    assert not envelope.needs_reference


def test_ramp_in_starts_at_the_measured_position_and_ends_on_the_plan():
    envelope = SafetyEnvelope(JointLimits(), DT, ramp_in_ns=3 * DT)
    assert envelope.needs_reference
    measured = np.array([0.0])
    envelope.start_motion(measured, T0)
    out = envelope.apply(due(6), np.full((6, 1), 8.0), measured)
    np.testing.assert_allclose(out[:, 0], [2.0, 4.0, 6.0, 8.0, 8.0, 8.0])  # dt/(ramp+dt) steps
    # a chunk that begins before that one's end (replanned early) ramps where it is inside
    out = envelope.apply(due(3, T0 + DT), np.full((3, 1), 8.0), measured)
    np.testing.assert_allclose(out[:, 0], [4.0, 6.0, 8.0])
    assert envelope.ramp_weight(T0 + 10 * DT) == 1.0  # past its end: the plan itself
    # a ramp longer than a chunk goes on in the next one
    envelope.start_motion(measured, T0)
    envelope.apply(due(2), np.full((2, 1), 8.0), measured)
    out = envelope.apply(due(2, T0 + 2 * DT), np.full((2, 1), 8.0), None)
    np.testing.assert_allclose(out[:, 0], [6.0, 8.0])


def test_hold_prefers_the_measured_position():
    hold = hold_point('disabled', T0, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert hold.source == 'measured' and hold.position.tolist() == [1.0, 2.0]
    hold = hold_point('stale', T0, None, np.array([3.0, 4.0]))
    assert hold.source == 'commanded' and hold.reason == 'stale' and hold.stamp_ns == T0
    assert hold_point('shutdown', T0, None, None) is None


def test_hold_message_is_one_point_due_one_period_after_it_arrives():
    """Stamped 0 (on receipt): stamped when sent, a stop delivered over one period late
    ended in the past and the sim, as a joint_trajectory_controller, rejected it (CI)."""
    msg = cv.hold_to_joint_trajectory(np.array([1.0, 2.0]), ['a', 'b'], DT, 'base')
    chunk = cv.joint_trajectory_to_chunk(msg)
    assert chunk.stamp_ns == 0 and chunk.times_from_start_ns.tolist() == [DT]
    assert chunk.positions.tolist() == [[1.0, 2.0]] and msg.header.frame_id == 'base'


# --- input checks ----------------------------------------------------------------------------

def test_a_finite_float64_beyond_float32_is_bad_input():
    """Defect: 1e300 passed the isfinite check and became inf inside the model."""
    assert state_vector(np.array([1.0, -2.5]), 'x').dtype == np.float32
    for values, kind in (([1e300, 0.0], 'float32_overflow'), ([-1e39, 0.0], 'float32_overflow'),
                         ([np.nan, 0.0], 'non_finite'), ([np.inf, 0.0], 'non_finite')):
        with pytest.raises(BadInput) as info:
            state_vector(np.array(values), 'joint state')
        assert info.value.kind == kind
    state_vector(np.array([3.4e38]), 'x')  # float32's largest is fine


def test_joint_state_inputs_split_observation_and_measured_position():
    msg = cv.numpy_to_joint_state(np.array([1.0, 2.0, 3.0]), ['a', 'b', 'c'])
    values, measured = cv.joint_state_inputs(msg, ['c', 'a'], 'position', ['b', 'a'])
    assert values.dtype == np.float32 and values.tolist() == [3.0, 1.0]
    assert measured.tolist() == [2.0, 1.0]
    assert cv.joint_state_inputs(msg, ['a'], 'position', ['x'])[1] is None  # not in it
    # a gripper's own topic: its joint measured, the arm's left to the arm's topic (NaN)
    gripper = cv.numpy_to_joint_state(np.array([0.04, np.inf]), ['finger', 'b'])
    values, measured = cv.joint_state_inputs(gripper, ['finger'], 'position',
                                             ['a', 'finger', 'b'])
    assert values.tolist() == pytest.approx([0.04]) and np.isnan(measured[[0, 2]]).all()
    assert measured[1] == 0.04  # b's infinite position is not a measurement
    big = cv.numpy_to_joint_state(np.array([1e300, 2.0]), ['a', 'b'])
    with pytest.raises(BadInput, match='float32') as info:
        cv.joint_state_inputs(big, ['a', 'b'], 'position', ['a', 'b'])
    assert info.value.kind == 'float32_overflow'
    with pytest.raises(BadInput) as info:
        cv.joint_state_inputs(msg, ['a', 'z'], 'position', ['a'])
    assert info.value.kind == 'joint_unknown'
    short = JointState(name=['a', 'b'], position=[1.0])
    with pytest.raises(BadInput) as info:
        cv.joint_state_inputs(short, ['a'], 'position', ['a'])
    assert info.value.kind == 'joint_size'


def test_compressed_camera_at_640x480():
    """A typical arm camera, compressed: decoded whole, then fitted to the checkpoint."""
    from dp_ros.image_fit import fit_image

    y, x = np.mgrid[0:480, 0:640]
    rgb = np.stack([x % 256, y % 256, (x + y) % 256], axis=2).astype(np.uint8)
    msg = cv.numpy_to_compressed_image(rgb, 'png')
    decoded = cv.camera_rgb(msg)
    np.testing.assert_array_equal(decoded, rgb)
    assert fit_image(decoded, 96, 96).shape == (96, 96, 3)
    with pytest.raises(BadInput) as info:
        cv.camera_rgb(CompressedImage(format='jpeg', data=b'not an image'))
    assert info.value.kind == 'image_decode'


def test_a_continuous_joint_is_limited_and_ramped_the_short_way_round(tmp_path):
    """Defect: a driver reporting a continuous joint wrapped into [-pi, pi) at 3.10, the
    policy at -3.10 (0.08 rad the short way): the step limit walked it the long way, nearly
    a turn, 0.1 rad a period."""
    path = tmp_path / 'arm.urdf'
    path.write_text(URDF)
    limits = combine_limits(2, 0.1, urdf=urdf_limits(path, ['j1', 'j2']))
    assert limits.wrap.tolist() == [False, True]
    np.testing.assert_allclose(limits.max_step, [0.2, 0.05])
    envelope = SafetyEnvelope(limits, DT)
    out = envelope.apply(due(3), np.array([[0.0, -3.10]] * 3), np.array([0.5, 3.10]))
    np.testing.assert_allclose(out[:, 0], [0.3, 0.1, 0.0])  # the revolute joint: as before
    short = 2 * np.pi - 6.20
    np.testing.assert_allclose(out[:, 1], [3.15, 3.10 + short, 3.10 + short])  # = -3.10
    # what a late controller may hold counts the short way round too
    out = envelope.apply(due(1), np.array([[0.0, -3.0]]), np.array([0.0, 3.10]),
                         [np.array([0.0, -3.12])])
    assert abs(out[0, 1] - (2 * np.pi - 3.12)) <= 0.05 + 1e-9 and out[0, 1] - 3.10 <= 0.05
    ramp = SafetyEnvelope(JointLimits(wrap=np.array([True])), DT, ramp_in_ns=DT)
    ramp.start_motion(np.array([3.10]), T0)
    out = ramp.apply(due(2), np.array([[-3.10], [-3.10]]), np.array([3.10]))
    # and published unwrapped (safety.unwrapped): -3.10 a turn on, not 6.2 rad after 3.14
    np.testing.assert_allclose(out[:, 0], [3.10 + short / 2, 3.10 + short])


def test_the_first_point_keeps_within_the_limit_of_a_late_controllers_point_too():
    """A controller whose tick for the point in force comes late still holds the one before:
    the first point of a new chunk is within the limit of both."""
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([6.0])), DT)
    out = envelope.apply(due(2), np.array([[20.0], [20.0]]), np.array([10.0]), [np.array([4.0])])
    np.testing.assert_allclose(out[:, 0], [10.0, 16.0])  # |10 - 10| and |10 - 4| <= 6
    out = envelope.apply(due(1), np.array([[-5.0]]), np.array([10.0]), [np.array([4.0])])
    np.testing.assert_allclose(out[:, 0], [4.0])
    # the two further apart than twice the limit (not from a limited plan): the newer one
    out = envelope.apply(due(1), np.array([[20.0]]), np.array([10.0]), [np.array([-10.0])])
    np.testing.assert_allclose(out[:, 0], [16.0])
    # three the controller may hold (late tick, late chunk): within the limit of all three
    out = envelope.apply(due(1), np.array([[-20.0]]), np.array([10.0]),
                         [np.array([4.0]), np.array([15.0])])
    np.testing.assert_allclose(out[:, 0], [9.0])


def test_a_urdf_velocity_of_zero_is_refused_and_a_negative_one_is_its_size(tmp_path):
    """Defect: velocity="0" (an exporter's placeholder, 'no bound' to MoveIt) froze the joint
    and velocity="-2" drove it at -max_step every period, where the parameters are refused."""
    path = tmp_path / 'arm.urdf'
    path.write_text(URDF.replace('velocity="2.0"', 'velocity="-2.0"'))
    assert urdf_limits(path, ['j1'])[2].tolist() == [2.0]
    path.write_text(URDF.replace('velocity="2.0"', 'velocity="0"'))
    with pytest.raises(ValueError, match=f"joint 'j1' in {path} has <limit velocity='0'>"):
        urdf_limits(path, ['j1', 'j2'])
    path.write_text(URDF.replace('velocity="2.0"', 'velocity="nan"'))
    with pytest.raises(ValueError, match="joint 'j1' has a non-numeric limit velocity='nan'"):
        urdf_limits(path, ['j1'])
    with pytest.raises(ValueError, match='per-step limit must be > 0'):
        combine_limits(1, 0.0, max_velocity=[1.0])  # no period: no step


def test_a_bounded_continuous_joint_passes_only_through_its_bounds():
    """Defect: on a continuous joint with action_lower/upper [-3, 3], the short way from 2.95
    to -2.95 commanded 3.05, 3.15, ... (outside the bounds, not counted). Between finite bounds
    the bounded interval is the way: the step limit, the ramp and the averaging go through it."""
    limits = JointLimits(np.array([-3.0, -np.inf]), np.array([3.0, np.inf]),
                         np.array([0.1, 0.05]), np.array([True, True]))
    out = SafetyEnvelope(limits, DT).apply(due(3), np.array([[-2.95, -3.10]] * 3),
                                           np.array([2.95, 3.10]))
    np.testing.assert_allclose(out[:, 0], [2.85, 2.75, 2.65])  # inside, the long way
    np.testing.assert_allclose(out[:, 1], [3.15, 2 * np.pi - 3.10, 2 * np.pi - 3.10])  # short
    assert limits.short_way.tolist() == [False, True]  # what execution averages the short way
    ramp = SafetyEnvelope(JointLimits(np.array([-3.0]), np.array([3.0]), wrap=np.array([True])),
                          DT, ramp_in_ns=DT)
    ramp.start_motion(np.array([2.95]), T0)
    out = ramp.apply(due(2), np.array([[-2.95], [-2.95]]), np.array([2.95]))
    np.testing.assert_allclose(out[:, 0], [0.0, -2.95])  # half way through 0, not over pi


METADATA = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1}
MS = 1_000_000


def moving_loop(**values) -> PlanningLoop:
    """A planning loop with the speed limit 1 /s (0.1 per period), the arm measured at 0."""
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                              'max_input_age_s': 0.4,
                                              'max_velocity': [1.0, 1.0], **values})
    loop = PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')
    loop.measure(T0, np.zeros(2))
    return loop


def planned(loop: PlanningLoop, t_obs: int, clock: int, pred: np.ndarray):
    for t in (t_obs - DT, t_obs):
        for name in ('image', 'agent_pos'):
            loop.add(name, t, (name, t))
    request = loop.poll(t_obs, runner_busy=False)
    assert isinstance(request, PlanRequest), request
    loop.submitted(request)
    return loop.finish(request.context, pred, None, clock)


def test_the_speed_limit_holds_on_the_way_to_a_chunks_first_point():
    """Defect: point 0 was limited to max_step from the controller's point, though it may be
    due 1 ms after the chunk lands: a trajectory controller covered 0.1 in 1 ms (100 /s).
    Point 0 gets max_step * (its time from now) / dt, from where the controller is now."""
    wants = np.tile(np.arange(16.0)[:, None], (1, 2))  # far ahead, fast
    loop = moving_loop()
    now = T0 + 2 * DT - 1 * MS  # sampled for 99 ms: point 0 due 1 ms after it lands
    plan = planned(loop, T0 + DT, now, wants)
    assert plan.due_ns[0] == T0 + 2 * DT
    np.testing.assert_allclose(plan.actions[:3, 0], [0.001, 0.101, 0.201])
    # moving at full speed, replanned on a camera 37 ms off the grid: at receipt the controller
    # is between the point in force and the next, where point 0 goes on from
    loop = moving_loop(replan_threshold=3)
    first = planned(loop, T0 + DT, T0 + DT, wants)  # 0 due now: 0, then 0.1 a period
    np.testing.assert_allclose(first.actions[:, 0], np.arange(8) * 0.1, atol=1e-12)
    now = T0 + 6 * DT + 36 * MS
    second = planned(loop, T0 + 5 * DT + 37 * MS, now, wants + 10.0)
    at_receipt = 0.5 + 0.1 * 0.36  # between 0.5 (due 6 dt) and 0.6 (due 7 dt)
    assert second.due_ns[0] - now == 1 * MS
    assert abs(second.actions[0, 0] - at_receipt) <= 0.001 + 1e-9
    # lockstep: the sim executes point 0 over the period after now: a full step, as before
    loop = moving_loop(lockstep=True)
    plan = planned(loop, T0 + DT, T0 + DT, wants)
    np.testing.assert_allclose(plan.actions[:2, 0], [0.1, 0.2])
