"""What a review of the loop beside a real arm found around the ramp-in and the seams between
chunks, each reproduced with the real PlanningLoop: a decelerating stop during the ramp-in's
walk back into the action bounds leapt onto the bound (the stop path was clipped to them);
blend applied the ramp twice, so the arm stepped back toward its start at each replan of the
ramp-in; a twist servo's feedforward was taken over the millisecond seam between a plan and
the one replacing it (a full-speed reverse twist from a millimetre's disagreement); the clamp
line blamed the policy for the running plan's walk-in points."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, MS, T0, feed_until, make_loop, plan_now, pose_metadata

from dp_ros.params import config_from_dict
from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup


def feed(loop: PlanningLoop, t_ns: int, measured: np.ndarray) -> None:
    loop.add('image', t_ns, 'image')
    loop.add('agent_pos', t_ns, measured, measured=measured)


def test_a_decelerating_stop_on_the_walk_into_the_bounds_does_not_leap_to_them():
    loop = make_loop(action_lower=[100.0, 100.0], action_upper=[400.0, 400.0],
                     max_step_delta=[10.0, 10.0], ramp_in_s=2.0, stop_deceleration=[100.0])
    home = np.array([20.0, 250.0])  # 80 below the lower bound: walked in at the step limit
    feed(loop, T0, home)
    feed(loop, T0 + DT, home)
    plan = loop.finish(plan_now(loop, T0 + DT).context, np.full((16, 2), 250.0), None,
                       T0 + DT)
    np.testing.assert_allclose(plan.actions[:4, 0], [20.0, 30.0, 40.0, 50.0])
    t = T0 + 450 * MS
    feed(loop, t - 50 * MS, np.array([35.0, 250.0]))
    hold = loop.stop('disabled', t)
    commanded = float(np.interp(t, plan.due_ns, plan.actions[:, 0]))  # 55
    steps = np.diff(np.concatenate([[commanded], hold.path[:, 0]]))
    # it was 55 -> 100 (the bound) in one period, then on to 105
    assert steps.max() <= 10.0 + 1e-9 and (steps >= -1e-9).all(), hold.path[:, 0]
    assert hold.path[-1, 0] < 100.0 + 10.0


@pytest.mark.parametrize('limits', [{}, {'max_step_delta': [20.0, 20.0]}],
                         ids=['no_step_limit', 'step_limit'])
def test_blend_during_the_ramp_in_does_not_step_back_at_a_replan(limits):
    """Both chunks want 100 from an arm at 0: blend gives the same points as replace (the
    running plan and the new chunk agree), where it fell back 17 at the replan."""
    runs = {}
    for mode in ('replace', 'blend'):
        loop = make_loop(execution_mode=mode, ramp_in_s=1.0, blend_steps=3, **limits)
        feed(loop, T0, np.zeros(2))
        feed(loop, T0 + DT, np.zeros(2))
        want = np.full((16, 2), 100.0)
        first = loop.finish(plan_now(loop, T0 + DT).context, want, None, T0 + DT)
        t2 = T0 + 7 * DT
        feed(loop, t2 - DT, np.full(2, 50.0))
        feed(loop, t2, np.full(2, 50.0))
        second = loop.finish(plan_now(loop, t2).context, want, None, t2)
        runs[mode] = (first, second)
    first, second = runs['blend']
    np.testing.assert_allclose(second.actions, runs['replace'][1].actions, atol=1e-9)
    at = {int(t): x for t, x in zip(first.due_ns, first.actions[:, 0], strict=True)}
    for t, x in zip(second.due_ns.tolist(), second.actions[:, 0].tolist(), strict=True):
        if t in at:
            assert x >= at[t] - 1e-9, (t, at[t], x)


def test_a_twist_across_the_seam_between_two_plans_keeps_the_plans_velocity():
    pose = ['x', 'y', 'z', 'yaw']
    cfg = config_from_dict(PolicyNodeConfig, {
        'checkpoint': '/policy', 'device': 'cpu', 'max_input_age_s': 0.4,
        'joint_state_topic': '/ee', 'state_joint_names': pose, 'state_pose_topics': ['/ee'],
        'action_topic': '/servo', 'action_joint_names': pose, 'action_twist_topics': ['/servo'],
        'frame_id': 'base_link'})
    loop = PlanningLoop(cfg, resolve_setup(cfg, pose_metadata(4)), device='cpu')
    group = loop.setup.commands[0]
    feed_until(loop, T0, T0 + DT)
    loop.measure(T0 + DT, np.array([0.4, 0.0, 0.2, 0.0]))
    # plan 1 moves x at 0.05 m/s
    pred = np.tile([0.4, 0.0, 0.2, 0.0], (16, 1))
    pred[:, 0] += 0.005 * np.arange(16)
    loop.finish(plan_now(loop, T0 + DT).context, pred, None, T0 + DT)
    t2 = T0 + 6 * DT + 2 * MS  # a camera's stamp, 2 ms off plan 1's grid
    feed_until(loop, t2 - DT, t2)
    again = np.tile([0.4, 0.0, 0.2, 0.0], (16, 1))  # on the same line, 4 mm ahead
    again[:, 0] = 0.4 + 0.025 + 0.004 + 0.005 * (np.arange(16) - 1)
    loop.finish(plan_now(loop, t2).context, again, None, t2 + 60 * MS)
    assert 700 * MS + T0 in loop.commanded.due_ns.tolist()  # the seam 700 -> 702 ms
    for t_ms in (699, 700, 701, 702, 720):
        t = T0 + t_ms * MS
        x = float(np.interp(t, loop.commanded.due_ns, loop.commanded.actions[:, 0]))
        loop.measure(t, np.array([x, 0.0, 0.2, 0.0]))  # on the plan: the feedforward alone
        linear, _ = loop.twist_due(t, group)
        assert linear[0] == pytest.approx(0.05, abs=1e-6), (t_ms, linear[0])  # was -0.25


def test_the_clamp_line_names_only_the_policys_own_targets():
    """blend mixes in the running plan's walk-in points, outside the bounds by design: the
    line said the policy asked for targets beyond the bounds, every one inside them."""
    loop = make_loop(execution_mode='blend', action_lower=[100.0, 100.0],
                     action_upper=[400.0, 400.0], ramp_in_s=5.0)
    home = np.array([-100.0, 250.0])
    feed(loop, T0, home)
    feed(loop, T0 + DT, home)
    want = np.full((16, 2), 250.0)
    assert loop.finish(plan_now(loop, T0 + DT).context, want, None, T0 + DT).note == ''
    t2 = T0 + 7 * DT
    feed(loop, t2 - DT, np.array([-50.0, 250.0]))
    feed(loop, t2, np.array([-50.0, 250.0]))
    plan = loop.finish(plan_now(loop, t2).context, want, None, t2)
    assert plan.note == '' and loop.safety.clamped == 0
    assert np.all(np.diff(plan.actions[:, 0]) > 0)  # still walking in, never leapt
