"""training/closed_loop.py: the argument checks of run_closed_loop, what an episode that runs
out of steps counts as, the policy's mode after the run, and the aggregate metrics."""
from __future__ import annotations

import math

import pytest
import torch
from support import make_tiny_checkpoint

from dp_ros.policy.checkpoint import load_policy
from training.closed_loop import ClosedLoopResult, EvalInterrupted, run_closed_loop

SEEDS = [100000, 100001]


@pytest.fixture(scope='module')
def policy(tmp_path_factory):
    torch.set_num_threads(1)
    return load_policy(make_tiny_checkpoint(tmp_path_factory.mktemp('cl') / 'policy', seed=3))


@pytest.mark.parametrize('kwargs, words', [
    ({'max_steps': 0}, 'max_steps must be >= 1, got 0'),
    ({'batch_size': 0}, 'batch_size must be >= 1, got 0'),
    ({'video_episodes': [2]}, r'video_episodes \[2\] out of range for 2 episodes'),
    ({'video_episodes': [-1]}, r'video_episodes \[-1\] out of range'),
])
def test_bad_arguments_are_refused_before_any_episode(policy, kwargs, words):
    """max_steps and batch_size >= 1, video indices 0..n-1: ValueError, nothing silently run
    (batch_size 0 used to be able to return zero scores for every episode)."""
    with pytest.raises(ValueError, match=words):
        run_closed_loop(policy, SEEDS, progress=False, **kwargs)


def test_an_episode_that_runs_out_of_steps_is_no_success(policy):
    """An untrained policy does not place the T in 5 steps: each episode runs exactly
    max_steps and counts as a failure, its score its best reward (< 1)."""
    res = run_closed_loop(policy, SEEDS, max_steps=5, progress=False,
                          video_episodes=[1])
    assert res.steps == [5, 5] and res.success == [False, False]
    assert all(0.0 <= s < 1.0 for s in res.scores)
    assert list(res.frames) == [1] and len(res.frames[1]) == 5 + 1  # reset frame + one a step
    assert res.metrics()['test/success_rate'] == 0.0


def test_the_policy_mode_is_restored(policy):
    """A policy in train mode (the trainer's) is back in train mode after the evaluation;
    one in eval mode stays in eval mode."""
    policy.train()
    try:
        run_closed_loop(policy, SEEDS[:1], max_steps=1, progress=False)
        assert policy.training
    finally:
        policy.eval()
    run_closed_loop(policy, SEEDS[:1], max_steps=1, progress=False)
    assert not policy.training


def test_should_stop_interrupts_and_restores_the_mode(policy):
    """should_stop() true: EvalInterrupted before the first plan; the mode is restored."""
    policy.train()
    try:
        with pytest.raises(EvalInterrupted):
            run_closed_loop(policy, SEEDS, max_steps=3, progress=False,
                            should_stop=lambda: True)
        assert policy.training
    finally:
        policy.eval()


def test_metrics_are_means_over_episodes():
    """success_rate and mean_steps are means over episodes (not max); no episode: NaN score,
    0 rates; refused targets summed over kinds."""
    res = ClosedLoopResult(seeds=[1, 2, 3, 4], scores=[0.1, 0.2, 0.3, 1.0],
                           steps=[10, 20, 30, 40], success=[True, False, False, False],
                           seconds=1.5, refused={'unreachable': 2, 'other': 1})
    m = res.metrics()
    assert m['test/mean_score'] == pytest.approx(0.4)
    assert m['test/success_rate'] == 0.25 and m['test/mean_steps'] == 25.0
    assert m['test/refused_targets'] == 3.0 and m['test/eval_seconds'] == 1.5
    empty = ClosedLoopResult(seeds=[], scores=[], steps=[], success=[], seconds=0.0)
    assert math.isnan(empty.mean_score)
    assert empty.metrics('x/')['x/success_rate'] == 0.0 and 'x/refused_targets' not in \
        empty.metrics('x/')
