"""/diagnostics status of the recent past: one glitch makes the policy node WARN for a while,
not for the rest of its life (RecentCounts over the planning loop's cumulative counters)."""
from __future__ import annotations

from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.planning_loop import PlanningLoop, problems
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup
from dp_ros.runtime.recent_problems import PROBLEM_COUNTERS, RecentCounts

S = 1_000_000_000
METADATA = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1}


def make_loop() -> PlanningLoop:
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu'})
    return PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')


def test_one_bad_message_warns_for_the_window_then_the_status_is_ok_again():
    """Defect: the level came from the cumulative counts, so one bad message left
    /diagnostics WARN for ever."""
    loop, recent = make_loop(), RecentCounts(PROBLEM_COUNTERS, 5 * S)
    # (the loop's own wall clock stays at 0: no "no message on input(s)" after its 5 s)
    assert problems(recent.recent(loop.diagnostics(0, 0), 0)) == []
    loop.bad_message('non_finite')
    for wall_ns in (1 * S, 2 * S, 5 * S):  # the window of the rise (at 1 s)
        found = problems(recent.recent(loop.diagnostics(0, 0), wall_ns))
        assert found == ['1 bad message(s)'], (wall_ns, found)
    for wall_ns in (6 * S, 7 * S, 600 * S):
        values = loop.diagnostics(0, 0)
        assert problems(recent.recent(values, wall_ns)) == []
        assert values['bad_messages'] == 1 and values['bad_non_finite'] == 1  # cumulative
    loop.bad_message('non_finite')  # a new glitch warns again
    assert problems(recent.recent(loop.diagnostics(0, 0), 601 * S)) == [
        '1 bad message(s)']


def test_every_rise_shows_once_however_far_apart_the_calls():
    """A diagnostics period longer than the window: the rise since the previous message
    still makes the next one WARN, and only that one."""
    recent = RecentCounts(['sampling_errors'], 1 * S)
    assert recent.recent({'sampling_errors': 0}, 0)['sampling_errors'] == 0
    assert recent.recent({'sampling_errors': 3}, 60 * S)['sampling_errors'] == 3
    assert recent.recent({'sampling_errors': 3}, 120 * S)['sampling_errors'] == 0


def test_rises_within_the_window_add_up_and_a_restarted_counter_counts_from_zero():
    recent = RecentCounts(['inputs_older', 'bad_messages'], 5 * S)
    assert recent.recent({'inputs_older': 2, 'state': 'idle'}, 1 * S) == {
        'inputs_older': 2, 'state': 'idle'}  # absent counters stay absent
    assert recent.recent({'inputs_older': 3}, 3 * S)['inputs_older'] == 3
    assert recent.recent({'inputs_older': 3}, 7 * S)['inputs_older'] == 1  # the 1 s rise aged
    assert recent.recent({'inputs_older': 1}, 8 * S)['inputs_older'] == 1  # went down: from 0
    assert recent.recent({'inputs_older': 1}, 20 * S)['inputs_older'] == 0


def test_current_conditions_still_warn_whatever_the_counts():
    """Stale inputs and the like are a state now, not a count: untouched by the window."""
    recent = RecentCounts(PROBLEM_COUNTERS, 5 * S)
    values = make_loop().diagnostics(0, 0)
    values.update(state='inputs: stale', inputs_slow='image')
    found = problems(recent.recent(values, 100 * S))
    assert 'inputs stale' in found and any('slower' in p for p in found)
