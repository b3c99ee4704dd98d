"""The arm twin (sim_bridge/arm_kinematics.py, cartesian.py, trajectory_follower.py, arm_env.py):
behaviour a mutation review found no test of, and the defects it found, mended.

Pinned here, each killing a mutant the rest of the suite let live: the limit error names the
joints of the target it names; joint_points starts at the arm's own shoulder; angles wrap into
(-pi, pi] with pi itself kept; a Cartesian target in reach but past the joint limits is refused
as 'unreachable'; the out_of_order, non_finite and out_of_workspace messages name the first bad
point (out_of_order with its predecessor's time); rejection counts come out sorted by kind; a
reset starts the arm at rest; obs joint_pos is where the arm is, not its target; info's and the
substep states' joints are copies; the observation spaces are the joint limits and the
stretched arm's disc; contacts are counted per step; the camera redraws the moved T; render()
is the whole camera image; the env takes its rate limits and geometry from its ArmGeometry;
the Cartesian env's render and close reach the arm env.

Defects mended: the acceleration limit broken at the joint limits (a joint hitting one at
speed stopped dead within a substep; it now brakes in time, braking_speed); zip's message for
a Cartesian action of the wrong length (pose_target names the fields); forward() reading the
first 3 of 4 joints (or an IndexError for 2); ArmGeometry taking limits nothing can work with;
of_robot taking any unknown robot as the point pusher.

Real objects only, checked against independent computations (the IK, FK, numpy)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from sim_bridge.arm_env import ArmPushTEnv, braking_speed
from sim_bridge.arm_kinematics import DEFAULT_ARM, SHOULDER, ArmGeometry, _wrap
from sim_bridge.cartesian import CartesianArmEnv, PlanarCartesian
from sim_bridge.trajectory_follower import (
    RejectionLog,
    TrajectoryRejected,
    Workspace,
    check_trajectory,
)

ARM = DEFAULT_ARM
LO = np.asarray(ARM.lower)
HI = np.asarray(ARM.upper)
DT_NS = 100_000_000


def arm_env(arm: ArmGeometry = ARM) -> ArmPushTEnv:
    return ArmPushTEnv(arm=arm, render_obs=False, max_episode_steps=None)


def far_start(env: ArmPushTEnv) -> np.ndarray:
    """Reset to the review's far-jump start; the joints of a target several steps away."""
    env.reset(options={'state': [30.0, 480.0, 256.0, 150.0, 0.0]})
    return ARM.inverse(np.array([480.0, 480.0]))


# --- arm_kinematics -----------------------------------------------------------------------------

def test_the_limit_error_names_the_joints_of_the_target_it_names():
    """The joints quoted are those of the offending (second) target, not of the first."""
    narrow = ArmGeometry(lower=(-1.0, 0.0, -np.pi), upper=(1.0, np.pi, np.pi))
    p = np.array([[400.0, 300.0], [10.0, 500.0]])
    q_bad = narrow.inverse(p[1], check_limits=False)
    with pytest.raises(ValueError, match=re.escape(f'needs joints {q_bad.tolist()} outside')):
        narrow.inverse(p)


def test_joint_points_start_at_the_arms_own_shoulder():
    """joint_points of an arm with another shoulder chain from that shoulder to its FK."""
    moved = ArmGeometry(shoulder=(100.0, 700.0))
    q = np.array([-0.3, 1.2, -0.6])
    pts = moved.joint_points(q)
    assert pts[0].tolist() == [100.0, 700.0]
    assert np.abs(pts[-1] - moved.forward(q)).max() < 1e-9


def test_angles_wrap_into_minus_pi_pi_keeping_pi():
    """_wrap's range is (-pi, pi] (module docstring of the IK): -pi and 3 pi become pi."""
    a = np.array([np.pi, -np.pi, 3 * np.pi, -3 * np.pi, 0.5, -0.5, 2 * np.pi + 0.5])
    assert _wrap(a).tolist() == pytest.approx([np.pi, np.pi, np.pi, np.pi, 0.5, -0.5, 0.5])
    assert (_wrap(a) > -np.pi).all()


# --- trajectory_follower ------------------------------------------------------------------------

def test_out_of_order_quotes_the_first_bad_point_and_its_predecessor():
    """The message names the first point that is not after its predecessor (2, not 3) and the
    two times that are not increasing."""
    with pytest.raises(TrajectoryRejected,
                       match=re.escape(f'point 2 of 4 is not ([{DT_NS}, {DT_NS}] ns)')):
        check_trajectory(['a', 'b'], ['a', 'b'], 10, np.array([0, DT_NS, DT_NS, 0]),
                         np.zeros((4, 2)), 10)


def test_non_finite_and_out_of_workspace_name_the_first_bad_point():
    """With several bad points the message names the first one (row 1, not row 2)."""
    rows = np.array([[1.0, 1.0], [np.nan, 1.0], [1.0, np.inf]])
    with pytest.raises(TrajectoryRejected, match=r'point 1 has a non-finite position \[nan'):
        check_trajectory(['a', 'b'], ['a', 'b'], 10, np.array([0, 1, 2]), rows, 10)
    rows = np.array([[1.0, 1.0], [600.0, 1.0], [1.0, 700.0]])
    with pytest.raises(TrajectoryRejected, match=r'point 1 target \[600\.0, 1\.0\] is outside'):
        check_trajectory(['a', 'b'], ['a', 'b'], 10, np.array([0, 1, 2]), rows, 10,
                         Workspace())


def test_rejection_counts_come_out_sorted_by_kind():
    """as_dict is sorted (a stable report), whatever order the kinds came in."""
    log = RejectionLog()
    for kind in ('unreachable', 'empty', 'frame_id', 'empty'):
        log.record(kind)
    assert list(log.as_dict().items()) == [('empty', 2), ('frame_id', 1), ('unreachable', 1)]


# --- arm_env ------------------------------------------------------------------------------------

def test_a_reset_starts_the_arm_at_rest():
    """reset() zeroes the joint velocities of a moving arm: the first substep of the new
    episode accelerates from 0 (|qd| <= amax * dt), not from the last episode's speed."""
    env = arm_env()
    goal = far_start(env)
    env.step(goal)
    assert np.abs(env.qd).max() > 1.0  # moving fast
    _, info = env.reset(seed=1)
    assert info['joint_vel'].tolist() == [0.0, 0.0, 0.0]
    env.step(env.q - 0.3)
    _i, _q, qd = env.substep_states[0]
    assert (np.abs(qd) <= np.asarray(ARM.max_acceleration) * 0.01 + 1e-12).all()


def test_the_observed_joints_are_where_the_arm_is_not_its_target():
    """obs joint_pos is the joints reached (rate limited), not the commanded target."""
    env = arm_env()
    goal = far_start(env)
    obs, *_ = env.step(goal)
    assert obs['joint_pos'].tolist() == env.q.astype(np.float32).tolist()
    assert np.abs(obs['joint_pos'] - goal).max() > 0.1


def test_the_camera_after_a_push_shows_where_the_t_went():
    """The table drawing is redrawn as the T moves: after rendering, pushing the T and rendering
    again, the image is that of a fresh env placed in the new state."""
    env = arm_env()
    env.reset(options={'state': [150.0, 300.0, 256.0, 300.0, 0.0]})
    env.render_camera()
    for _ in range(3):
        env.step(ARM.inverse(np.array([230.0, 300.0])))
    state = env.get_state()
    assert np.abs(state[2:4] - [256.0, 300.0]).max() > 20.0  # the T moved
    fresh = arm_env()
    fresh.reset(options={'state': state.tolist()})
    assert np.abs(fresh.q - env.q).max() < 1e-12
    np.testing.assert_array_equal(env.render_camera(), fresh.render_camera())


def test_a_video_frame_is_the_whole_camera_image_whatever_the_policy_sees():
    """render() is the 640 x 480 camera image even when observations are the 96 px view."""
    env = ArmPushTEnv(render_obs=True, policy_image_size=96, max_episode_steps=None)
    obs, _ = env.reset(seed=1)
    assert obs['image'].shape == (96, 96, 3)
    np.testing.assert_array_equal(env.render(), env.render_camera())
    assert env.render().shape == (480, 640, 3)


def test_the_joints_handed_out_are_copies():
    """Editing info's joint_pos / joint_vel or a substep state leaves the arm's joints alone."""
    env = arm_env()
    env.reset(seed=2)
    *_, info = env.step(env.q + 0.05)
    q, qd = env.q.copy(), env.qd.copy()
    info['joint_pos'][:] = 9.0
    info['joint_vel'][:] = 9.0
    env.substep_states[-1][1][:] = 9.0
    env.substep_states[-1][2][:] = 9.0
    assert env.q.tolist() == q.tolist() and env.qd.tolist() == qd.tolist()


def test_the_observation_spaces_are_the_joint_limits_and_the_stretched_arms_disc():
    """joint_pos bounds are the joint limits; agent_pos bounds are shoulder -/+ the links' sum
    (700 px) and hold the end effector of every joint vector within the limits."""
    env = arm_env()
    joints = env.observation_space['joint_pos']
    assert joints.low.tolist() == LO.astype(np.float32).tolist()
    assert joints.high.tolist() == HI.astype(np.float32).tolist()
    box = env.observation_space['agent_pos']
    assert box.low.tolist() == [SHOULDER[0] - 700.0, SHOULDER[1] - 700.0]
    assert box.high.tolist() == [SHOULDER[0] + 700.0, SHOULDER[1] + 700.0]
    grid = np.stack(np.meshgrid(*np.linspace(LO, HI, 9).T, indexing='ij'), axis=-1)
    ee = ARM.forward(grid.reshape(-1, 3))
    assert (ee >= box.low).all() and (ee <= box.high).all()
    assert np.hypot(*(ee - SHOULDER).T).max() > 640.0  # reaches beyond one link pair


def test_contacts_are_counted_per_step():
    """n_contacts is the step's own: after pushing the T and backing off, it is 0 again."""
    env = arm_env()
    env.reset(options={'state': [150.0, 300.0, 256.0, 300.0, 0.0]})
    counts = []
    for p in [[200.0, 300.0]] * 3 + [[100.0, 300.0]] * 4:
        *_, info = env.step(ARM.inverse(np.array(p)))
        counts.append(info['n_contacts'])
    assert counts[0] > 0 and counts[-1] == 0


def test_the_env_takes_the_rate_limits_of_its_arm():
    """A slower arm's velocity and acceleration limits bind, not the defaults'."""
    slow = ArmGeometry(max_velocity=(1.0, 1.0, 1.0), max_acceleration=(10.0, 10.0, 10.0))
    env = arm_env(slow)
    goal = far_start(env)
    vs = [env.qd.copy()]
    for _ in range(6):
        env.step(goal)
        vs += [qd for _i, _q, qd in env.substep_states]
    vs = np.array(vs)
    assert np.abs(vs).max() == pytest.approx(1.0)
    assert (np.abs(np.diff(vs, axis=0)) <= 10.0 * 0.01 + 1e-12).all()


def test_the_env_places_the_arm_by_its_own_geometry():
    """reset() puts the end effector of an arm with another shoulder on the agent position."""
    moved = ArmGeometry(shoulder=(256.0, 660.0))
    env = arm_env(moved)
    env.reset(seed=100000)
    assert np.abs(moved.forward(env.q) - env.get_state()[:2]).max() < 1e-9


# --- cartesian ----------------------------------------------------------------------------------

def test_a_cartesian_target_in_reach_but_beyond_the_joint_limits_is_unreachable():
    """Behind the shoulder (372 px away: within reach) the IK needs a shoulder angle of 2.08
    rad, past its 0.4 limit: refused as 'unreachable', not sent as joint targets."""
    with pytest.raises(TrajectoryRejected, match='outside the limits') as raised:
        PlanarCartesian('table', ARM).joints('table', 256.0, 1000.0)
    assert raised.value.kind == 'unreachable'


def test_the_cartesian_env_renders_and_closes_the_arm_env():
    """render() is the arm env's camera image; close() closes the arm env."""
    arm = arm_env()
    env = CartesianArmEnv(arm, 'ee_pose', ['x', 'y'], ['x', 'y', 'z', 'yaw'])
    env.reset(seed=3)
    img = env.render()
    assert img.shape == (480, 640, 3)
    np.testing.assert_array_equal(img, arm.render_camera())
    env.close()
    with pytest.raises(RuntimeError, match='closed'):
        arm.step(None)


# --- defects, mended -------------------------------------------------------------------------

def test_a_target_on_a_joint_limit_is_approached_within_the_acceleration_limit():
    """Targets inside the action space (here on its bounds) are tracked 'never changing speed
    faster than its acceleration limit' (module docstring); the joint overshot toward the
    limit and was stopped dead there: up to 315 rad/s^2 against 40. It brakes in time now,
    and still gets there."""
    env = arm_env()
    amax = np.asarray(ARM.max_acceleration)
    for push in (HI, LO):
        env.reset(seed=0)
        assert env.action_space.contains(push)
        vs = [env.qd.copy()]
        for _ in range(10):
            env.step(push)
            vs += [qd for _i, _q, qd in env.substep_states]
        assert (np.abs(np.diff(vs, axis=0)) / 0.01 <= amax + 1e-6).all()
        for _ in range(20):
            env.step(push)
        np.testing.assert_allclose(env.q, push, atol=1e-9)
        assert env.action_space.contains(env.q)


def test_braking_speed_stops_a_joint_exactly_at_the_limit():
    """From braking_speed(d), slowing by a*dt each substep, the moves sum to d: the joint
    stops on the limit, at speeds of whole a*dt steps and between them."""
    a, dt = np.array([40.0]), 0.01
    for u in (1, 3, 10, 27):
        d = a * dt * dt * u * (u + 1) / 2
        np.testing.assert_allclose(braking_speed(d, a, dt), u * a * dt)
    for d in np.linspace(0.0, 0.3, 61):
        v, moved = float(braking_speed(np.array([d]), a, dt)[0]), 0.0
        while v > 0:
            moved += v * dt
            v -= float(a[0]) * dt
        assert moved == pytest.approx(d, abs=1e-12)
    assert braking_speed(np.array([0.0]), a, dt)[0] == 0.0
    assert braking_speed(np.array([-1.0]), a, dt)[0] == 0.0  # past it: no speed toward it


def test_a_cartesian_action_of_the_wrong_length_is_refused_by_name():
    """An action that is not one value per action field is a ValueError naming the fields (as
    ArmPushTEnv names its '3 finite joint targets'), not numpy's or zip's message."""
    env = CartesianArmEnv(arm_env(), 'ee_pose', ['x', 'y'], ['x', 'y', 'z', 'yaw'])
    env.reset(seed=3)
    with pytest.raises(ValueError) as raised:
        env.step(np.array([200.0, 300.0, 0.0]))
    assert str(raised.value) == ("a pose of fields ['x', 'y', 'z', 'yaw'] takes 4 values, got "
                                 'shape (3,)')


@pytest.mark.parametrize('n', [2, 4])
def test_forward_refuses_a_joint_vector_that_is_not_three_joints(n):
    """The IK checks its (..., 2) input; FK (and PlanarCartesian.pose through it) should check
    its (..., 3) input the same way instead of ignoring a 4th joint or failing on a 3rd."""
    with pytest.raises(ValueError, match=r'\(\.\.\., 3\)'):
        ARM.forward(np.zeros(n))
    with pytest.raises(ValueError, match=r'\(\.\.\., 3\)'):
        PlanarCartesian('', ARM).pose(np.zeros(n))


def test_an_arm_geometry_with_impossible_limits_is_refused():
    """Negative rate limits, link lengths or an elbow range with min > max are ValueErrors
    naming the field (a negative velocity limit drove the joint away from its target)."""
    for bad, says in ((dict(max_velocity=(-1.0, 3.15, 3.15)), 'max_velocity must be > 0'),
                      (dict(max_acceleration=(40.0, 0.0, 40.0)), 'max_acceleration must be > 0'),
                      (dict(links=(320.0, -320.0, 60.0)), 'links must be > 0'),
                      (dict(ik_elbow_range=(3.0, 0.2)), 'ik_elbow_range must be'),
                      (dict(lower=(0.4, 0.0, -1.8), upper=(-2.6, 3.0, 0.3)), 'must be below'),
                      (dict(links=(320.0, 320.0)), 'links must be 3 finite numbers'),
                      (dict(shoulder=(float('nan'), 0.0)), 'shoulder must be 2 finite')):
        with pytest.raises(ValueError, match=says):
            ArmGeometry(**bad)
    assert ArmGeometry() == ARM


def test_of_robot_refuses_an_unknown_robot():
    """of_robot documents 'point' or 'arm'; a misspelt 'Arm' must not silently be the point."""
    assert PlanarCartesian.of_robot('arm', 'table').arm is ARM
    with pytest.raises(ValueError, match='Arm'):
        PlanarCartesian.of_robot('Arm', 'table')

