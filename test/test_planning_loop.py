"""The policy node's planning rules, without ROS: when a chunk is sampled, on which
observation, with which generator, and what of it is published."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.policy.inputs import episode_generator
from dp_ros.runtime.planning_loop import (
    Drop,
    PlanningLoop,
    PlanRequest,
    Wait,
    parse_episode_start,
    problems,
)
from dp_ros.runtime.policy_node_config import MAX_SEED, PolicyNodeConfig, resolve_setup
from dp_ros.runtime.safety import Hold

MS = 1_000_000
DT = 100 * MS
T0 = 10_000 * MS  # a clock far from 0, as ROS time is
# horizon 16, n_obs_steps 2, n_action_steps 8: the executed slice is chunk[1:9]
METADATA = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1}
STREAMS = ('image', 'agent_pos')


def pose_metadata(action_dim: int) -> dict:
    """A checkpoint's metadata whose state is an end effector's x, y, z and yaw (4 values) and
    whose action has `action_dim` values (a pose's four, then e.g. a gripper)."""
    return {'config': pusht_image_config(shape_meta={
        'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                'agent_pos': {'shape': [4], 'type': 'low_dim'}},
        'action': {'shape': [action_dim]}}).to_dict(), 'control_period_s': 0.1}


def make_loop(**values) -> PlanningLoop:
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                              'max_input_age_s': 0.4, **values})
    return PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')


def feed(loop: PlanningLoop, t_ns: int, streams=STREAMS) -> None:
    for name in streams:
        loop.add(name, t_ns, (name, t_ns))


def feed_until(loop: PlanningLoop, start_ns: int, stop_ns: int) -> None:
    """Both streams every dt from start_ns to stop_ns, inclusive."""
    for t in range(start_ns, stop_ns + 1, DT):
        feed(loop, t)


def chunk(offset: float = 0.0) -> np.ndarray:
    return (np.arange(32, dtype=np.float32).reshape(16, 2) + offset)


def plan_now(loop: PlanningLoop, clock_ns: int) -> PlanRequest:
    request = loop.poll(clock_ns, runner_busy=False)
    assert isinstance(request, PlanRequest), request
    loop.submitted(request)
    return request


def finish(loop, request, clock_ns, pred=None):
    return loop.finish(request.context, chunk() if pred is None else pred, None, clock_ns)


def state(loop, clock_ns, busy=False) -> str:
    result = loop.poll(clock_ns, busy)
    assert isinstance(result, Wait) and not result, result
    assert loop.state == result.reason
    return result.reason


# --- realtime --------------------------------------------------------------------------------

def test_realtime_plans_on_the_newest_full_observation_and_publishes_the_executed_slice():
    loop = make_loop()
    assert loop.state == 'starting'
    assert state(loop, T0) == 'inputs: empty'
    feed(loop, T0)
    assert state(loop, T0) == 'inputs: not_full'  # no sample at T0 - dt yet
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    obs = request.observation
    assert obs.t_ns == T0 + DT and obs.times_ns == [T0, T0 + DT]
    assert obs.values['image'] == [('image', T0), ('image', T0 + DT)]
    assert request.context.t_obs_ns == T0 + DT and request.generator is loop.generator
    assert loop.state == 'sampling'
    assert state(loop, T0 + DT, busy=True) == 'sampling'

    plan = finish(loop, request, T0 + DT)
    assert plan.first_index == 0 and plan.t_obs_ns == T0 + DT
    np.testing.assert_array_equal(plan.actions, chunk()[1:9])
    assert plan.due_ns.tolist() == [T0 + DT + i * DT for i in range(8)]
    assert loop.published == 1 and loop.schedule.dropped == 0
    assert state(loop, T0 + DT) == 'executing'


def test_points_due_when_the_chunk_arrives_are_dropped():
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    plan = finish(loop, request, T0 + DT + 250 * MS)  # 250 ms of sampling: 0..2 are past
    assert plan.first_index == 3 and len(plan) == 5
    np.testing.assert_array_equal(plan.actions, chunk()[4:9])
    assert loop.schedule.dropped == 3 and loop.diagnostics(T0, 0)['actions_dropped'] == 3


def test_a_chunk_with_every_point_due_is_not_published_and_the_old_plan_stays():
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    first = finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    feed_until(loop, T0 + 2 * DT, T0 + 7 * DT)
    request = plan_now(loop, T0 + 7 * DT)  # 2 actions left <= replan_threshold 2
    assert finish(loop, request, T0 + 15 * DT) == Drop('all_late')  # due 7..14 * dt
    assert loop.all_late == 1 and loop.published == 1
    assert loop.schedule.plan is first


def test_replan_threshold_and_action_lead():
    loop = make_loop(replan_threshold=3, action_lead_s=0.05)
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT + 60 * MS)
    assert plan.first_index == 2  # due +100 ms < now + lead (+110 ms): past
    for k in (2, 3, 4):
        feed(loop, T0 + k * DT)
        assert state(loop, T0 + k * DT) == 'executing', k  # 4+ future actions left
    feed(loop, T0 + 5 * DT)
    assert loop.schedule.remaining(T0 + 5 * DT) == 3  # 6..8 * dt; 5 * dt is within the lead
    assert isinstance(loop.poll(T0 + 5 * DT, False), PlanRequest)


def test_runner_busy_and_waiting_for_a_newer_observation():
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert state(loop, T0 + DT, busy=True) == 'sampling'
    request = plan_now(loop, T0 + DT)
    # the result is in but nothing was published (e.g. all late): not on the same observation
    assert finish(loop, request, T0 + 20 * DT) == Drop('all_late')
    assert state(loop, T0 + DT) == 'waiting for a newer observation'
    feed(loop, T0 + 2 * DT, ['image'])  # one stream newer is not a newer observation
    assert state(loop, T0 + 2 * DT) == 'waiting for a newer observation'
    feed(loop, T0 + 2 * DT, ['agent_pos'])
    assert plan_now(loop, T0 + 2 * DT).context.t_obs_ns == T0 + 2 * DT


def test_a_request_the_runner_refused_is_offered_again():
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    first = loop.poll(T0 + DT, False)
    assert isinstance(first, PlanRequest)  # not submitted(): the runner said no
    again = loop.poll(T0 + DT, False)
    assert isinstance(again, PlanRequest) and again.context == first.context


def test_stale_inputs_and_a_gap_refuse_with_a_reason_to_log():
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    result = loop.poll(T0 + DT + 401 * MS, False)
    assert result.reason == 'inputs: stale' and '401.0 ms old' in result.detail
    assert loop.diagnostics(T0 + DT + 401 * MS, 0)['state'] == 'inputs: stale'

    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + 10 * DT)  # nothing between: the sample for T0 + 9*dt is 900 ms old
    result = loop.poll(T0 + 10 * DT, False)
    assert result.reason == 'inputs: gap' and 'older than that' in result.detail

    loop = make_loop()
    feed(loop, T0)
    assert loop.poll(T0, False) == Wait('inputs: not_full')  # nothing worth a warning


def test_clamping_counts_each_clamped_value():
    loop = make_loop(action_lower=[2.0, 0.0], action_upper=[100.0, 10.0])
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    raw = chunk()[1:9].astype(np.float64)
    np.testing.assert_array_equal(plan.actions, np.clip(raw, [2.0, 0.0], [100.0, 10.0]))
    assert loop.clamped == int(np.count_nonzero(raw[:, 1] > 10.0)) == 4
    assert loop.diagnostics(T0, 0)['actions_clamped'] == 4


def test_non_finite_chunks_and_sampling_errors_are_not_published():
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    pred = chunk()
    pred[3, 1] = np.nan
    assert finish(loop, request, T0 + DT, pred) == Drop('non_finite')
    pred = chunk()
    pred[12, 0] = np.inf  # outside the executed slice [1:9]: no harm
    feed(loop, T0 + 2 * DT)
    assert finish(loop, plan_now(loop, T0 + 2 * DT), T0 + 2 * DT, pred)
    feed_until(loop, T0 + 3 * DT, T0 + 9 * DT)
    request = plan_now(loop, T0 + 9 * DT)
    assert loop.finish(request.context, None, RuntimeError('cuda'), T0) == Drop('error')
    assert loop.errors == 2 and loop.published == 1
    assert loop.diagnostics(T0, 0)['sampling_errors'] == 2


# --- enable, reset, episodes -----------------------------------------------------------------

@pytest.mark.parametrize('interrupt', ['reset', 'disable', 'disable_enable', 'episode'])
def test_a_chunk_in_flight_after_reset_or_disable_is_discarded(interrupt):
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    if interrupt == 'reset':
        loop.reset(T0)
    elif interrupt == 'episode':
        assert loop.start_episode(3, T0)
    else:
        assert loop.enable(False) is True
        if interrupt == 'disable_enable':
            assert loop.enable(True) is False
    assert finish(loop, request, T0 + DT) == Drop('discarded')
    assert loop.discarded == 1 and loop.published == 0 and loop.schedule.plan is None


def test_disabled_plans_nothing_and_disable_clears_the_plan():
    loop = make_loop(start_enabled=False)
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert state(loop, T0 + DT) == 'disabled'
    assert loop.diagnostics(T0 + DT, 0)['enabled'] is False
    assert loop.enable(True) is False
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    assert loop.diagnostics(T0 + DT, 0)['plan_remaining'] == 8
    generator = loop.generator
    loop.enable(False)
    assert loop.schedule.plan is None and state(loop, T0 + DT) == 'disabled'
    assert loop.generator is generator  # enabling is not a new episode
    loop.enable(True)
    assert state(loop, T0 + DT) == 'waiting for a newer observation'


def test_announced_episodes_arm_the_loop_and_old_announcements_are_ignored():
    loop = make_loop(episode_start_topic='/sim/episode_start', env_seed=9)
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert state(loop, T0 + DT) == 'waiting for an episode start'
    assert loop.start_episode(5, T0 + DT)
    assert loop.env_seed == 5 and loop.diagnostics(T0, 0)['env_seed'] == 5
    # samples before the episode are gone; times before its start take its first sample
    request = plan_now(loop, T0 + DT)
    assert request.observation.stamps_ns['image'] == [T0 + DT, T0 + DT]
    generator, history_size = loop.generator, loop.history.size('image')
    # a latched re-delivery and an older episode change nothing
    assert not loop.start_episode(5, T0 + DT)
    assert not loop.start_episode(6, T0)
    assert loop.generator is generator and loop.history.size('image') == history_size
    assert finish(loop, request, T0 + DT)  # not discarded
    # ~/reset: wait for the next episode; the current one, re-delivered, does not re-arm
    loop.reset(T0)
    assert loop.history.size('image') == 0 and loop.schedule.plan is None
    feed(loop, T0 + 2 * DT)
    feed(loop, T0 + 3 * DT)
    assert state(loop, T0 + 3 * DT) == 'waiting for an episode start'
    assert not loop.start_episode(5, T0 + DT)
    assert loop.start_episode(7, T0 + 2 * DT)
    assert isinstance(loop.poll(T0 + 3 * DT, False), PlanRequest)


def draws(generator: torch.Generator) -> list[float]:
    return torch.randn(4, generator=generator).tolist()


def test_one_generator_per_episode_seeded_by_the_episode_rule():
    loop = make_loop(episode_start_topic='/sim/episode_start', sample_seed=7)
    assert loop.start_episode(5, T0)
    feed(loop, T0)
    first = plan_now(loop, T0)
    finish(loop, first, T0)
    feed_until(loop, T0 + DT, T0 + 8 * DT)
    second = plan_now(loop, T0 + 8 * DT)
    assert second.generator is first.generator  # the episode's chunks draw in order
    expected = episode_generator(7, 5)
    assert draws(first.generator) == draws(expected)
    # a new episode with the same seed draws the same noise again, from the start
    assert loop.start_episode(5, T0 + 20 * DT)
    assert loop.generator is not first.generator
    assert draws(loop.generator) == draws(episode_generator(7, 5))
    assert loop.start_episode(6, T0 + 30 * DT)
    assert draws(loop.generator) == draws(episode_generator(7, 6)) != draws(expected)
    # ~/reset re-seeds with the current episode's seed
    draws(loop.generator)
    loop.reset(T0)
    assert draws(loop.generator) == draws(episode_generator(7, 6))


def test_without_announcements_the_generator_uses_env_seed():
    loop = make_loop(sample_seed=3, env_seed=11)
    assert draws(loop.generator) == draws(episode_generator(3, 11))
    loop.reset(T0)
    assert draws(loop.generator) == draws(episode_generator(3, 11))


# --- lockstep --------------------------------------------------------------------------------

def test_lockstep_first_observation_starts_the_episode_and_is_padded():
    loop = make_loop(lockstep=True, replan_threshold=4, action_lead_s=0.05)
    assert loop.schedule.replan_threshold == 0 and loop.schedule.lead_ns == 0
    feed(loop, T0)
    assert loop.history.episode_start_ns == T0
    request = plan_now(loop, 0)  # /clock not received yet: now is the newest observation
    assert request.observation.times_ns == [T0 - DT, T0]
    assert request.observation.stamps_ns['agent_pos'] == [T0, T0]
    plan = finish(loop, request, 0)
    assert plan.first_index == 0  # point 0 is the action for the observation the sim waits on
    for k in range(1, 8):  # the sim steps: the plan runs out before the next one
        feed(loop, T0 + k * DT)
        assert state(loop, T0 + k * DT) == 'executing'
    feed(loop, T0 + 8 * DT)
    assert plan_now(loop, T0 + 8 * DT).context.t_obs_ns == T0 + 8 * DT
    # after a reset the next observation starts the next episode
    loop.reset(T0)
    feed(loop, T0 + 50 * DT)
    assert loop.history.episode_start_ns == T0 + 50 * DT


def test_lockstep_plans_only_on_the_observation_of_the_current_sim_time():
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    feed(loop, T0 + DT, ['image'])  # the joint state of T0 + dt is not in yet
    assert loop.now_ns(T0) == T0
    assert state(loop, T0 + DT) == 'waiting for the observation of the current sim time'
    feed(loop, T0 + DT, ['agent_pos'])
    assert plan_now(loop, T0 + DT).context.t_obs_ns == T0 + DT
    # now = max(clock, newest observation): a /clock behind the observations does not matter
    assert loop.now_ns(T0) == T0 + DT and loop.now_ns(T0 + 5 * DT) == T0 + 5 * DT


def test_lockstep_with_announced_episodes_waits_for_one():
    loop = make_loop(lockstep=True, episode_start_topic='/sim/episode_start')
    feed(loop, T0)
    assert loop.history.episode_start_ns is None
    assert state(loop, T0) == 'waiting for an episode start'
    assert loop.start_episode(1, T0)
    assert isinstance(loop.poll(T0, False), PlanRequest)


# --- bookkeeping -----------------------------------------------------------------------------

def test_input_stats_bad_messages_and_diagnostics():
    loop = make_loop()
    for i in range(5):
        loop.received('image', i * 100 * MS)
        assert loop.add('image', T0 + i * DT, 'a', wall_ns=i * 100 * MS)
    assert not loop.add('image', T0 + 4 * DT, 'b', wall_ns=450 * MS)  # a re-send
    loop.received('image', 450 * MS)
    loop.bad_message('joint_size')
    loop.bad_message('joint_size')
    loop.bad_message('image_encoding')
    values = loop.diagnostics(T0 + 4 * DT + 50 * MS, 400 * MS)
    assert values['input_image_received'] == 6 and values['input_image_filed'] == 5
    assert values['input_image_duplicates'] == 1 and values['input_image_older'] == 0
    assert values['input_image_rate_hz'] == 10.0
    assert values['input_image_age_ms'] == 50.0 and values['input_agent_pos_age_ms'] is None
    assert values['bad_messages'] == 3 and values['bad_joint_size'] == 2
    assert values['bad_image_encoding'] == 1
    assert values['mode'] == 'realtime' and values['chunks_published'] == 0
    assert values['execution_mode'] == 'replace'
    assert make_loop(lockstep=True).diagnostics(0, 0)['mode'] == 'lockstep'


def test_parse_episode_start():
    start = parse_episode_start('{"episode": 2, "seed": 100001, "start_ns": 5000000000}')
    assert (start.episode, start.seed, start.start_ns) == (2, 100001, 5_000_000_000)
    for text in ('not json', '{"seed": 1}', '{"seed": "x", "start_ns": 0}', '[]',
                 '{"seed": 1e999, "start_ns": 0}', f'{{"seed": {MAX_SEED + 1}, "start_ns": 0}}',
                 '{"seed": -1, "start_ns": 0}'):
        with pytest.raises(ValueError):
            parse_episode_start(text)


# --- input stamps and rates (issue 13, defects 1, 3, 4) --------------------------------------

def test_a_stamp_far_ahead_of_the_clock_is_rejected_and_does_not_stall_the_stream():
    """Defect: one JointState stamped 1 h ahead made every later message 'not newer'."""
    loop = make_loop(stamp_tolerance_s=1.0)
    hour = 3600 * 1000 * MS
    filing = loop.add('agent_pos', T0 + hour, 'future', clock_ns=T0)
    assert not filing and filing.kind == 'stamp_future' and '3600.000 s ahead' in filing.detail
    filing = loop.add('image', T0 - hour, 'past', clock_ns=T0)
    assert filing.kind == 'stamp_past' and 'behind' in filing.detail
    for t in (T0, T0 + DT):  # valid messages after it are filed and planned on
        for name in STREAMS:
            assert loop.add(name, t, (name, t), clock_ns=t)
    assert isinstance(loop.poll(T0 + DT, False), PlanRequest)
    values = loop.diagnostics(T0 + DT, 0)
    assert values['bad_stamp_future'] == 1 and values['bad_stamp_past'] == 1
    assert values['bad_messages'] == 2 and values['input_agent_pos_duplicates'] == 0
    assert 'bad message' in ' '.join(problems(values))
    assert 'use_sim_time' not in filing.detail  # an hour: a clock out of sync


def test_a_sim_stamp_on_a_wall_clock_node_names_use_sim_time():
    """A sim's stamps (seconds since its start) on a node without use_sim_time are decades
    behind its clock: the hint names the parameter, not only clock synchronisation."""
    loop = make_loop(stamp_tolerance_s=1.0)
    filing = loop.add('agent_pos', 12 * 10**9, 'sim', clock_ns=1_750_000_000 * 10**9)
    assert filing.kind == 'stamp_past' and 'set the parameter use_sim_time' in filing.detail


def test_stamp_tolerance_edges_and_an_unset_clock():
    loop = make_loop(stamp_tolerance_s=1.0, lockstep=True)
    assert loop.add('image', T0 + 1000 * MS, 'x', clock_ns=T0)  # exactly the tolerance
    loop = make_loop(stamp_tolerance_s=1.0)
    assert loop.add('image', T0 - 1000 * MS, 'x', clock_ns=T0)  # behind: the tolerance
    assert loop.add('image', T0 + 5000 * MS, 'x', clock_ns=0)  # sim time before /clock
    assert loop.add('image', T0 + 6000 * MS, 'x')  # no clock given
    loop = make_loop(stamp_tolerance_s=0.0)  # no limit of its own: behind is not checked
    assert loop.add('image', T0 - 99_000_000 * MS, 'x', clock_ns=T0)


def test_in_realtime_a_stamp_ahead_by_more_than_max_input_age_is_refused():
    """Defect: inputs 0.9 s ahead passed stamp_tolerance_s (1 s) and stayed fresh 0.9 s
    longer than max_input_age_s (0.4 s here): the stale stop came that much later."""
    loop = make_loop(stamp_tolerance_s=1.0)
    filing = loop.add('image', T0 + 900 * MS, 'x', clock_ns=T0)
    assert filing.kind == 'stamp_future' and 'max_input_age_s' in filing.detail
    assert loop.add('image', T0 + 400 * MS, 'x', clock_ns=T0)  # exactly max_input_age_s
    assert loop.add('agent_pos', T0 - 900 * MS, 'x', clock_ns=T0)  # behind: the tolerance
    # lockstep never stops on stale inputs: ahead, the tolerance alone
    assert make_loop(stamp_tolerance_s=1.0, lockstep=True).add('image', T0 + 900 * MS, 'x',
                                                               clock_ns=T0)


def test_an_older_stamp_is_counted_apart_from_a_resend_and_reported():
    """Defect: older-stamped messages were silently counted as duplicates."""
    loop = make_loop()
    assert loop.add('image', T0, 'a')
    assert loop.add('image', T0, 'again').kind == 'duplicate'
    filing = loop.add('image', T0 - 30 * MS, 'late')
    assert filing.kind == 'older' and '30.0 ms before the newest' in filing.detail
    values = loop.diagnostics(T0, 0)
    assert values['input_image_older'] == 1 and values['input_image_duplicates'] == 1
    assert values['inputs_older'] == 1
    assert any('stamped before' in p for p in problems(values))


def test_rates_count_only_filed_messages():
    """Defect: a camera sending only garbage read 80 Hz."""
    loop = make_loop()
    for i in range(9):
        loop.received('image', i * 12 * MS)  # arrived, then rejected as bad
    assert loop.diagnostics(T0, 100 * MS)['input_image_rate_hz'] == 0.0
    for i in range(3):
        loop.add('image', T0 + i * DT, 'x', wall_ns=i * DT)
    assert loop.diagnostics(T0, 2 * DT)['input_image_rate_hz'] == 10.0


def test_an_input_much_slower_than_its_recorded_rate_is_reported_once_its_window_is_full():
    """A camera recorded at 30 Hz that comes at 10 Hz: samples at the observation times up to
    100 ms old where training had 33; reported (inputs_slow, a WARN problem) once two
    seconds of it were filed, not from its first frames; not at 25 Hz (within 0.7 of 30),
    nor in lockstep, where the sim's pace sets the rates."""
    import dataclasses

    def loop_with_rates(**values) -> PlanningLoop:
        loop = make_loop(**values)
        loop.setup = dataclasses.replace(loop.setup,
                                         recorded_rates_hz={'image': 30.0, 'agent_pos': None})
        return loop

    def file_images(loop, hz, seconds):
        period = int(1e9 / hz)
        for i in range(int(seconds * hz) + 1):
            loop.add('image', T0 + i * period, 'x', wall_ns=i * period)
        return int(seconds * hz) * period  # the wall time of the last

    loop = loop_with_rates()
    wall = file_images(loop, 10, 1.0)
    assert loop.slow_inputs(wall) == {}  # one second filed: too little to judge
    values = loop.diagnostics(T0, wall)
    assert values['inputs_slow'] == '' and values['input_image_recorded_rate_hz'] == 30.0
    assert 'input_agent_pos_recorded_rate_hz' not in values
    loop = loop_with_rates()
    wall = file_images(loop, 10, 3.0)
    assert loop.slow_inputs(wall) == {'image': (pytest.approx(10.0), 30.0)}
    values = loop.diagnostics(T0, wall)
    assert values['inputs_slow'] == 'image'
    assert 'inputs slower than their training data: image' in problems(values)
    loop = loop_with_rates()
    assert loop.slow_inputs(file_images(loop, 25, 3.0)) == {}
    loop = loop_with_rates(lockstep=True)
    assert loop.slow_inputs(file_images(loop, 10, 3.0)) == {}


# --- stops, safety and execution through the loop --------------------------------------------

def start_moving(loop, measured=(150.0, 150.0)) -> None:
    loop.measure(T0 + DT, np.array(measured))
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    assert loop.moving


def test_joint_states_from_two_topics_measure_their_own_joints_and_both_gate_an_observation():
    """The arm's driver gives agent_x, the gripper's agent_y: an observation needs both
    streams (the older one's stamp is its newest time), and the measured position (a stop's
    hold) is complete only while each joint's newest measurement is fresh."""
    arm, grip = '/joint_states', '/gripper/joint_states'
    loop = make_loop(state_joint_topics=[arm, grip])
    streams = ('image', f'agent_pos:{arm}', f'agent_pos:{grip}')
    assert loop.history.streams == list(streams)
    loop.measure(T0, np.array([150.0, np.nan]))  # the arm's message: no gripper in it
    assert loop.measured_at(T0) is None
    loop.measure(T0 + DT, np.array([np.nan, 20.0]))
    assert loop.measured_at(T0 + DT).tolist() == [150.0, 20.0]
    # the arm's measurement goes stale (max_input_age_s 0.4) while the gripper's is fresh
    loop.measure(T0 + 5 * DT, np.array([np.nan, 30.0]))
    assert loop.measured_at(T0 + 5 * DT) is None
    feed(loop, T0 - DT, streams)
    feed(loop, T0, streams)
    feed(loop, T0 + DT, streams[:2])  # the gripper's newest is still T0
    request = loop.poll(T0 + DT, runner_busy=False)
    assert isinstance(request, PlanRequest) and request.observation.t_ns == T0
    loop.submitted(request)
    feed(loop, T0 + DT, streams[2:])
    request = loop.poll(T0 + DT, runner_busy=False)
    assert request.observation.t_ns == T0 + DT
    assert request.observation.stamps_ns[f'agent_pos:{grip}'] == [T0, T0 + DT]


def test_a_plan_is_stamped_for_when_its_first_point_runs():
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT + 250 * MS)
    assert plan.first_index == 3 and plan.stamp_ns == T0 + 4 * DT == plan.due_ns[0]
    assert plan.sampled.due_ns[0] == T0 + DT and len(plan.sampled.due_ns) == 15


def test_disable_holds_at_the_measured_position_and_discards_the_chunk_in_flight():
    loop = make_loop()
    start_moving(loop)
    feed_until(loop, T0 + 2 * DT, T0 + 7 * DT)
    request = plan_now(loop, T0 + 7 * DT)
    loop.measure(T0 + 7 * DT, np.array([160.0, 170.0]))
    hold = loop.stop('disabled', T0 + 7 * DT + 10 * MS)
    loop.enable(False)
    assert hold.reason == 'disabled' and hold.source == 'measured'
    assert hold.position.tolist() == [160.0, 170.0] and hold.stamp_ns == T0 + 7 * DT + 10 * MS
    assert finish(loop, request, T0 + 7 * DT) == Drop('discarded')
    assert loop.schedule.plan is None and not loop.moving
    assert loop.stop('disabled', T0 + 8 * DT) is None  # nothing moves: nothing to hold
    values = loop.diagnostics(T0, 0)
    assert values['holds_published'] == 1 and values['holds_disabled'] == 1


def test_without_a_fresh_measurement_the_hold_is_the_commanded_point():
    loop = make_loop()
    start_moving(loop)
    hold = loop.stop('shutdown', T0 + DT + 900 * MS)  # measured 900 ms ago: stale
    assert hold.source == 'commanded'
    np.testing.assert_array_equal(hold.position, chunk()[8])  # the last point, in force


def test_a_stop_before_the_first_point_of_an_unmeasured_motion_holds_that_point():
    """Defect: with no fresh measurement (an arm whose state is its end effector's pose)
    and no step limit or ramp-in, a stop before the first chunk's first point fell due sent
    nothing, and the controller ran that whole chunk."""
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT - 60 * MS)
    assert plan.due_ns[0] > T0 + DT - 50 * MS
    hold = loop.stop('disabled', T0 + DT - 50 * MS)
    assert hold is not None and hold.source == 'commanded'
    np.testing.assert_array_equal(hold.position, plan.actions[0])
    assert loop.holds['disabled'] == 1 and not loop.moving


def test_a_refused_or_out_of_order_state_does_not_move_the_measured_position():
    """Defect: the node measured a joint state before checking its stamp: one stamped 5 s
    ahead (refused) became the fresh measured position, and an older one replaced a newer."""
    loop = make_loop(stamp_tolerance_s=1.0)
    refused = loop.add('agent_pos', T0 + 5000 * MS, 'x', clock_ns=T0, measured=np.zeros(2))
    assert refused.kind == 'stamp_future' and loop.measured_at(T0) is None
    assert loop.add('agent_pos', T0, 'x', clock_ns=T0, measured=np.array([1.0, 2.0]))
    older = loop.add('agent_pos', T0 - 30 * MS, 'x', clock_ns=T0, measured=np.array([5.0, 5.0]))
    assert older.kind == 'older'
    assert loop.measured_at(T0).tolist() == [1.0, 2.0]
    loop.reset(T0)  # a new history takes any stamps: so do the measurements
    assert loop.measured_at(T0) is None
    assert loop.add('agent_pos', T0 - 30 * MS, 'x', clock_ns=T0, measured=np.array([5.0, 5.0]))
    assert loop.measured_at(T0).tolist() == [5.0, 5.0]


def test_stale_inputs_in_realtime_stop_a_running_plan_once():
    loop = make_loop()
    start_moving(loop)
    assert loop.poll(T0 + DT + 300 * MS, False) == Wait('executing')
    hold = loop.poll(T0 + DT + 401 * MS, False)  # inputs 401 ms old, limit 400
    assert isinstance(hold, Hold) and hold.reason == 'stale'
    assert loop.schedule.plan is None and loop.state == 'inputs: stale'
    again = loop.poll(T0 + DT + 450 * MS, False)  # one hold, then waiting
    assert isinstance(again, Wait) and again.reason == 'inputs: stale'
    assert loop.holds['stale'] == 1
    # lockstep never stops on stale inputs: the sim waits for the node
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    finish(loop, plan_now(loop, T0), T0)
    assert not isinstance(loop.poll(T0 + 50 * DT, False), Hold)


def test_step_limit_holds_across_chunk_boundaries_and_needs_a_measurement():
    loop = make_loop(max_step_delta=[1.0, 1.0])
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    assert finish(loop, request, T0 + DT) == Drop('no_reference')
    assert loop.diagnostics(T0, 0)['chunks_no_reference'] == 1
    loop.measure(T0 + DT, np.array([0.0, 0.0]))
    feed(loop, T0 + 2 * DT)
    first = finish(loop, plan_now(loop, T0 + 2 * DT), T0 + 2 * DT)
    assert np.abs(np.diff(np.vstack([[0.0, 0.0], first.actions]), axis=0)).max() <= 1.0
    feed_until(loop, T0 + 3 * DT, T0 + 8 * DT)
    second = finish(loop, plan_now(loop, T0 + 8 * DT), T0 + 8 * DT, chunk(500.0))
    in_force = first.actions[first.due_ns <= T0 + 8 * DT][-1]
    steps = np.diff(np.vstack([in_force, second.actions]), axis=0)
    assert np.abs(steps).max() <= 1.0 + 1e-12
    assert loop.diagnostics(T0, 0)['actions_rate_limited'] > 0


def test_ramp_in_after_enabling_starts_at_the_measured_position():
    loop = make_loop(ramp_in_s=0.3, start_enabled=False)
    loop.measure(T0 + DT, np.array([200.0, 200.0]))
    feed(loop, T0)
    feed(loop, T0 + DT)
    loop.enable(True)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    target = chunk()[1:9].astype(np.float64)
    expected = [200.0 + w * (target[j] - 200.0) for j, w in enumerate([0.25, 0.5, 0.75])]
    np.testing.assert_allclose(plan.actions[:3], expected)
    np.testing.assert_array_equal(plan.actions[3:], target[3:])


def test_a_chunk_replanned_early_during_the_ramp_in_is_ramped_too():
    """Defect: the ramp ended once a chunk's last point was past it, though the next chunk
    (replanned early) began before that point: a step of half the distance in one period."""
    ramp_s = 1.0
    loop = make_loop(ramp_in_s=ramp_s, replan_threshold=6)
    target = np.full((16, 2), 100.0, dtype=np.float32)
    timeline: dict[int, float] = {}  # due time -> commanded value, the newest plan's
    plans = 0
    for k in range(30):
        t = T0 + k * DT
        feed(loop, t)
        loop.measure(t, np.zeros(2))
        request = loop.poll(t, runner_busy=False)
        if isinstance(request, PlanRequest):
            loop.submitted(request)
            plan = loop.finish(request.context, target, None, t)
            plans += 1
            timeline.update(zip(plan.due_ns.tolist(), plan.actions[:, 0].tolist(),
                                strict=True))
    values = np.array([0.0] + [timeline[d] for d in sorted(timeline)])
    assert plans >= 3 and values[-1] == 100.0
    ramp_step = 100.0 * DT / (ramp_s * 1e9 + DT)
    assert np.diff(values).max() <= ramp_step + 1e-9


@pytest.mark.parametrize('mode', ['temporal_ensemble', 'blend'])
def test_other_execution_modes_change_only_the_points_after_the_first_chunk(mode):
    loop = make_loop(execution_mode=mode)
    feed(loop, T0)
    feed(loop, T0 + DT)
    first = finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    np.testing.assert_array_equal(first.actions, chunk()[1:9])  # nothing to combine with
    feed_until(loop, T0 + 2 * DT, T0 + 7 * DT)
    second = finish(loop, plan_now(loop, T0 + 7 * DT), T0 + 7 * DT, chunk(100.0))
    new = chunk(100.0)[1:9].astype(np.float64)
    assert not np.array_equal(second.actions, new)
    assert np.all(second.actions <= new) and second.actions[-1].tolist() != \
        first.actions[-1].tolist()
    loop.reset(T0)
    assert not loop.execution.memory


def test_step_limit_follows_plans_that_replace_each_other_before_they_begin():
    """A controller whose tick comes late still holds the point of the plan before: the
    limit keeps to the commanded timeline, chained over plans that replaced each other."""
    loop = make_loop(max_step_delta=[1.0, 1.0], replan_threshold=8)
    loop.measure(T0 + DT, np.array([0.0, 0.0]))
    feed(loop, T0)
    feed(loop, T0 + DT)
    first = finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    feed_until(loop, T0 + 2 * DT, T0 + 7 * DT)
    second = finish(loop, plan_now(loop, T0 + 7 * DT), T0 + 7 * DT + 50 * MS, chunk(-500.0))
    assert second.due_ns[0] == T0 + 8 * DT
    feed(loop, T0 + 8 * DT)
    third = finish(loop, plan_now(loop, T0 + 8 * DT), T0 + 8 * DT + 50 * MS, chunk(-1000.0))
    assert third.due_ns[0] == T0 + 9 * DT
    for held in (second.actions[0], first.actions[first.due_ns == T0 + 7 * DT][0]):
        assert np.abs(third.actions[0] - held).max() <= 1.0 + 1e-12


def test_step_limit_covers_the_points_a_late_chunk_leaves_to_run():
    """A chunk that reaches the controller after action_lead_s leaves it the running plan's
    points due before the chunk's first: its first point keeps within the limit of them too."""
    loop = make_loop(max_step_delta=[1.0, 1.0], action_lead_s=0.05, replan_threshold=8)
    loop.measure(T0 + DT, np.array([0.0, 0.0]))
    feed(loop, T0)
    feed(loop, T0 + DT)
    first = finish(loop, plan_now(loop, T0 + DT), T0 - 50 * MS)  # lands at T0: 1..8
    np.testing.assert_allclose(first.actions[:, 0], np.arange(1.0, 9.0))
    feed_until(loop, T0 + 2 * DT, T0 + 7 * DT)
    second = finish(loop, plan_now(loop, T0 + 7 * DT), T0 + 8 * DT - 30 * MS, chunk(500.0))
    assert second.due_ns[0] == T0 + 9 * DT  # 8 * dt is due within the lead: dropped
    # lands at 8 (share 0.8); may hold 7 (now, or its tick late at the landing) or 8 (the
    # chunk late): 7.8 is within 0.8 of 8 and within 1 of 7
    np.testing.assert_allclose(second.actions[0], [7.8, 7.8])


def test_a_streamed_command_gets_each_point_once_as_it_falls_due():
    """point_due: the newest point due at or before now, once; nothing before the first, and
    nothing once stopped (the hold is sent instead)."""
    loop = make_loop()
    assert loop.point_due(T0) is None  # nothing moves
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT)  # points due T0 + (1..8) dt
    assert loop.point_due(T0 + DT - 1) is None
    np.testing.assert_array_equal(loop.point_due(T0 + DT), plan.actions[0])
    assert loop.point_due(T0 + DT + 5 * MS) is None  # the same point: sent already
    np.testing.assert_array_equal(loop.point_due(T0 + 4 * DT), plan.actions[3])  # newest
    assert loop.points_streamed == 2 and loop.diagnostics(T0, 0)['points_streamed'] == 2
    np.testing.assert_array_equal(loop.point_due(T0 + 100 * DT), plan.actions[-1])
    assert loop.point_due(T0 + 101 * DT) is None  # after the last: the controller keeps it
    assert isinstance(loop.stop('disabled', T0 + 101 * DT), Hold)
    assert loop.point_due(T0 + 102 * DT) is None


def test_a_velocity_servo_gets_twists_toward_the_plan_while_it_moves():
    """action_twist_topics: no twist before a plan, twists toward the plan's pose while it
    runs, a counted zero twist when the measured pose goes stale (a WARN), none after the
    stop."""
    metadata = pose_metadata(4)
    pose = ['x', 'y', 'z', 'yaw']
    cfg = config_from_dict(PolicyNodeConfig, {
        'checkpoint': '/policy', 'device': 'cpu', 'max_input_age_s': 0.4,
        'joint_state_topic': '/ee', 'state_joint_names': pose, 'state_pose_topics': ['/ee'],
        'action_topic': '/servo', 'action_joint_names': pose, 'action_twist_topics': ['/servo'],
        'frame_id': 'base_link', 'twist_max_linear': 10.0, 'twist_max_angular': 10.0})
    loop = PlanningLoop(cfg, resolve_setup(cfg, metadata), device='cpu')
    group = loop.setup.commands[0]
    assert group.twist and loop.twist_due(T0, group) is None  # nothing moves yet
    feed_until(loop, T0, T0 + DT)
    loop.measure(T0 + DT, np.array([0.4, 0.0, 0.2, 0.0]))
    request = plan_now(loop, T0 + DT)
    # the plan: x rises 0.01 per point, the rest as measured
    pred = np.tile(np.float32([0.4, 0.0, 0.2, 0.0]), (16, 1))
    pred[:, 0] += 0.01 * np.arange(16, dtype=np.float32)
    plan = finish(loop, request, T0 + DT, pred)
    first = int(plan.due_ns[0])
    linear, angular = loop.twist_due(first, group)
    # gain 5 times the error to the plan's point now, plus its velocity (0.01 per 0.1 s)
    expected = 5.0 * (float(plan.actions[0][0]) - 0.4) + 0.1
    assert linear[0] == pytest.approx(expected, abs=1e-5) and linear[0] > 0
    assert np.allclose(linear[1:], 0, atol=1e-6) and np.allclose(angular, 0, atol=1e-6)
    assert loop.diagnostics(first, 0)['twists_sent'] == 1
    stale = first + 500 * MS  # the measured pose is older than max_input_age_s
    assert [v.tolist() for v in loop.twist_due(stale, group)] == [[0.0] * 3, [0.0] * 3]
    values = loop.diagnostics(stale, 0)
    assert values['twists_unmeasured'] == 1
    assert 'zero twists sent for want of a fresh measured pose' in problems(values)
    loop.stop('disabled', stale)
    assert loop.twist_due(stale, group) is None


def test_a_reset_while_moving_stops_the_arm():
    """Defect: ~/reset forgot the plan without a stop, so the controller ran the rest of the
    chunk and a disable right after sent nothing (nothing was 'moving' any more)."""
    loop = make_loop()
    start_moving(loop)
    hold = loop.reset(T0 + DT + 50 * MS)
    assert isinstance(hold, Hold) and hold.reason == 'reset'
    np.testing.assert_array_equal(hold.position, [150.0, 150.0])  # measured, fresh
    assert not loop.moving and loop.holds['reset'] == 1
    assert loop.reset(T0 + DT + 60 * MS) is None  # nothing moves: nothing to stop


def test_the_clock_going_back_stops_the_plan_and_starts_a_new_history():
    """Defect: a realtime node on sim time whose sim restarted (/clock back to 0.5 s) filed
    no new input (all older than the history's newest), saw no stale input (negative ages)
    and ran a plan whose points were all in the future: 'executing' for ever."""
    loop = make_loop()
    start_moving(loop)
    back = 500 * MS  # the restarted clock
    feed(loop, back)
    hold = loop.poll(back, False)
    assert isinstance(hold, Hold) and hold.reason == 'clock_back'
    assert not loop.moving and loop.schedule.plan is None
    assert loop.diagnostics(back, 0)['clock_jumps_back'] == 1
    # inputs on the new clock fill the new history, and the node plans again
    feed_until(loop, back, back + DT)
    request = plan_now(loop, back + DT)
    assert request.observation.t_ns == back + DT
    # a step back within max_input_age_s (400 ms) is not a jump
    assert loop.poll(back + DT - 300 * MS, True) == Wait('sampling')
    assert loop.clock_jumps == 1


def test_a_velocity_servo_beside_an_unmeasured_gripper_still_gets_twists():
    """Defect: a twist servo for the pose beside a gripper joint that no state topic
    measures sent only zero twists ('want of a fresh measured pose'): the freshness check
    took every action joint, not the servo's."""
    metadata = pose_metadata(5)
    pose = ['x', 'y', 'z', 'yaw']
    cfg = config_from_dict(PolicyNodeConfig, {
        'checkpoint': '/policy', 'device': 'cpu', 'max_input_age_s': 0.4,
        'joint_state_topic': '/ee', 'state_joint_names': pose, 'state_pose_topics': ['/ee'],
        'action_topic': '/servo', 'action_joint_names': pose + ['finger'],
        'action_joint_topics': ['/servo'] * 4 + ['/gripper_controller/joint_trajectory'],
        'action_twist_topics': ['/servo'], 'frame_id': 'base_link'})
    loop = PlanningLoop(cfg, resolve_setup(cfg, metadata), device='cpu')
    (servo,) = [g for g in loop.setup.commands if g.twist]
    measured = np.array([0.4, 0.0, 0.2, 0.0, np.nan])  # the pose topic gives no 'finger'
    for t in (T0, T0 + DT):
        loop.add('image', t, 'img')
        loop.add('agent_pos', t, 'pose', measured=measured)
    pred = np.tile(np.float32([0.4, 0.0, 0.2, 0.0, 0.0]), (16, 1))
    pred[:, 0] += 0.02 * np.arange(16, dtype=np.float32)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT, pred)
    linear, _ = loop.twist_due(int(plan.due_ns[0]), servo)
    assert linear[0] > 0 and loop.twists_sent == 1 and loop.twists_unmeasured == 0
    assert loop.measured_at(int(plan.due_ns[0])) is None  # a stop still needs all joints
