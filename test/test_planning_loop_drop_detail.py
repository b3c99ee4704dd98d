"""Why a sampled chunk was not published, said in its line and on /diagnostics (a review
found a slow policy published nothing while the status stayed OK, the reason logged once per
node life, and a chunk dropped for want of a measured position that named no joint)."""
from __future__ import annotations

import numpy as np
from test_planning_loop import DT, MS, T0, feed, feed_until, finish, make_loop, plan_now

from dp_ros.runtime.planning_loop import Drop, problems
from dp_ros.runtime.recent_problems import PROBLEM_COUNTERS, RecentCounts


def test_a_chunk_sampled_after_all_its_points_says_how_late_and_the_status_warns():
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    feed_until(loop, T0 + 2 * DT, T0 + 7 * DT)
    dropped = finish(loop, plan_now(loop, T0 + 7 * DT), T0 + 15 * DT)  # due 7..14 * dt
    assert dropped == Drop('all_late')
    assert dropped.detail.startswith('it was ready 800 ms after its observation, its last '
                                     'point due 700 ms after it: sample faster'), dropped.detail
    values = loop.diagnostics(T0 + 15 * DT, 0)
    assert 'chunks_all_late' in PROBLEM_COUNTERS and values['chunks_all_late'] == 1
    recent = RecentCounts(PROBLEM_COUNTERS, 5 * 10**9).recent(values, 0)
    assert ('1 chunk(s) late: sampled after all their points were due, none published '
            '(sampling slower than a chunk runs)') in problems(recent)
    later = RecentCounts(PROBLEM_COUNTERS, 5 * 10**9)
    later.recent(values, 0)
    assert not any('late' in p for p in problems(later.recent(values, 6 * 10**9)))


def test_a_chunk_without_a_measured_position_names_the_joints_and_why():
    loop = make_loop(max_step_delta=[1.0, 1.0])
    names = loop.cfg.action_joint_names
    feed(loop, T0)
    feed(loop, T0 + DT)
    dropped = finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    assert dropped == Drop('no_reference')
    assert dropped.detail == (f"never measured: {', '.join(names)} (no subscribed joint-state "
                              'topic has given it: an action joint is measured from the state '
                              'topics only)')
    # one joint measured long ago, the other never
    loop = make_loop(max_step_delta=[1.0, 1.0])
    loop.measure(T0 - 500 * MS, np.array([0.0, np.nan]))
    feed(loop, T0)
    feed(loop, T0 + DT)
    dropped = finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    assert dropped.detail.startswith(f'never measured: {names[1]} ('), dropped.detail
    assert dropped.detail.endswith(f'; measured over 0.4 s ago (max_input_age_s): {names[0]}')


def test_after_a_reset_the_joints_are_not_said_never_measured():
    """A reset forgets the measurements: the drop said 'never measured ... no subscribed
    joint-state topic has given it', a configuration fault that is not there."""
    loop = make_loop(max_step_delta=[1.0, 1.0])
    names = loop.cfg.action_joint_names
    loop.measure(T0, np.array([0.0, 0.0]))
    loop.reset(T0)
    feed(loop, T0 + DT)
    feed(loop, T0 + 2 * DT)
    dropped = finish(loop, plan_now(loop, T0 + 2 * DT), T0 + 2 * DT)
    assert dropped.detail == f"not measured since the reset or clock jump: {', '.join(names)}"


def test_a_clamped_chunk_names_the_joints_and_how_far_beyond_the_bounds():
    """Clamping to the action bounds was a counter only: a policy asking for positions
    outside them at every chunk (bounds too tight, a joint mapped wrongly) went unsaid."""
    loop = make_loop(action_lower=[-1.0, -1.0], action_upper=[1.0, 1.0])
    names = loop.cfg.action_joint_names
    feed(loop, T0)
    feed(loop, T0 + DT)
    pred = np.zeros((16, 2))
    pred[3, 1] = 1.25  # an executed point of the second joint beyond its upper bound
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT, pred)
    assert plan.actions[:, 1].max() == 1.0 and loop.safety.clamped == 1
    assert plan.note == ('the policy asked for targets beyond the action bounds, clamped to '
                         f'them: {names[1]} by up to 0.25 (bounds [-1, 1]) (actions_clamped on '
                         '/diagnostics)'), plan.note
    feed_until(loop, T0 + 2 * DT, T0 + 8 * DT)
    plan = finish(loop, plan_now(loop, T0 + 8 * DT), T0 + 8 * DT, np.zeros((16, 2)))
    assert plan.note == '' and loop.safety.clamped == 1
