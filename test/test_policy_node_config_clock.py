"""The policy node's timing against the checkpoint and the clock, without ROS.

A control_period_s other than the checkpoint's spaces the observations and executes the
actions at another rate than the policy learned on: the node warns at start naming both (it
was accepted without a word). Lockstep needs use_sim_time: the rule the node checks at start
and on a run-time change of use_sim_time (rclpy lets it change while the node runs).
"""
from __future__ import annotations

import pytest
from test_policy_node_config import cfg, metadata

from dp_ros.runtime.policy_node_config import lockstep_clock_problem, resolve_setup


@pytest.mark.parametrize('period', [0.05, 0.2])
def test_a_control_period_other_than_the_checkpoints_is_warned_naming_both(period):
    setup = resolve_setup(cfg(control_period_s=period), metadata())
    assert setup.dt_ns == round(period * 1e9)  # still the override: a warning, not a refusal
    lines = [w for w in setup.warnings if 'control_period_s' in w]
    assert len(lines) == 1, setup.warnings
    assert f'parameter control_period_s {period:g} s' in lines[0]
    assert 'trained at (0.1 s' in lines[0]


@pytest.mark.parametrize('period', [0.0, 0.1])
def test_the_checkpoints_own_control_period_is_not_warned(period):
    setup = resolve_setup(cfg(control_period_s=period), metadata())
    assert not [w for w in setup.warnings if 'control_period_s' in w], setup.warnings
    assert setup.dt_ns == 100_000_000


def test_lockstep_needs_use_sim_time_and_realtime_runs_on_either():
    assert lockstep_clock_problem(True, False) == (
        "parameter lockstep needs use_sim_time:=true (the sim's /clock)")
    assert lockstep_clock_problem(True, True) is None
    assert lockstep_clock_problem(False, False) is None
    assert lockstep_clock_problem(False, True) is None


@pytest.mark.parametrize('lockstep', [True, False])
@pytest.mark.parametrize('period', [1e-10, 1e-7])
def test_a_control_period_under_a_microsecond_is_refused_naming_it(period, lockstep):
    """1e-10 s rounds to 0 ns: lockstep accepted it and the node failed after loading the
    model ('dt_ns must be > 0' naming no parameter); realtime blamed n_action_steps."""
    with pytest.raises(ValueError) as info:
        resolve_setup(cfg(control_period_s=period, lockstep=lockstep), metadata())
    assert str(info.value) == (f'parameter control_period_s {period:g} s is under 1e-06 s: '
                               'give the time between actions')
    with pytest.raises(ValueError, match=r"control_period_s 1e-10 s \(0: the checkpoint's\)"):
        resolve_setup(cfg(lockstep=lockstep), {**metadata(), 'control_period_s': 1e-10})


def test_steps_beyond_the_checkpoints_and_float16_on_a_cpu_are_refused_at_start():
    """Both passed the start and failed every configure of the managed node (its parameters
    read-only: no retry could work): refused by resolve_setup, naming the parameter."""
    trained = metadata()['config'].get('num_train_timesteps', 100)
    with pytest.raises(ValueError, match=f'parameter num_inference_steps {trained + 1} must be '
                                         f'in 1..{trained}'):
        resolve_setup(cfg(num_inference_steps=trained + 1), metadata())
    assert resolve_setup(cfg(num_inference_steps=trained), metadata()).dt_ns > 0
    with pytest.raises(ValueError, match="parameter dtype 'float16' needs a CUDA device"):
        resolve_setup(cfg(dtype='float16', device='cpu'), metadata())
