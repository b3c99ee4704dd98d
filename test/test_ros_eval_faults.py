"""`dp-ros eval --via ros`'s reading of the sim's per-episode results (dp_ros/app/ros_eval.py):
which episodes had problems, and which of those void a lockstep evaluation (the sim held an
action, or rejected one for a reason that is not the policy's own)."""
from __future__ import annotations

from dp_ros.app.ros_eval import POLICY_REFUSALS, episode_problems, evaluation_faults


def result(seed: int, **extra) -> dict:
    return {'seed': seed, 'steps': 10, 'max_reward': 0.5, 'terminated': False, **extra}


def test_only_episodes_with_held_or_rejected_actions_are_problems():
    """A clean episode (no key, or zero counts and no rejections) is not listed; the others
    are, by seed, with both counts."""
    results = [result(1), result(2, action_timeouts=0, rejected={}),
               result(3, action_timeouts=2), result(4, rejected={'unreachable': 1})]
    assert episode_problems(results) == {
        3: {'action_timeouts': 2, 'rejected': {}},
        4: {'action_timeouts': 0, 'rejected': {'unreachable': 1}}}


def test_an_unreachable_target_is_the_policys_and_anything_else_is_a_fault():
    """'unreachable' alone is scored as the in-process loop scores it; a held action or any
    other rejection kind, alone or beside 'unreachable', is the evaluation's fault."""
    assert POLICY_REFUSALS == {'unreachable'}
    problems = episode_problems([
        result(1, rejected={'unreachable': 3}),
        result(2, rejected={'ends_in_past': 1}),
        result(3, rejected={'unreachable': 1, 'non_finite': 1}),
        result(4, action_timeouts=1, rejected={'unreachable': 1}),
    ])
    assert sorted(evaluation_faults(problems)) == [2, 3, 4]
    assert evaluation_faults(problems)[3] == problems[3]
    assert evaluation_faults({}) == {}
