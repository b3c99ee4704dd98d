"""A denoising step count that starts far below the top step with the paper's 'leading'
spacing (51..99 of 100 start at n - 1: DDIM-51 at step 50) is warned of where it is chosen:
the node's parameter or the checkpoint's, training's policy and eval sections, `dp-ros eval`.
A review measured DDIM-51's error 2.3x DDIM-50's on the shipped policy; nothing said so."""
from __future__ import annotations

import pytest

from dp_ros.params import config_from_dict
from dp_ros.policy.config import late_start_warning, pusht_image_config
from dp_ros.policy.noise_schedule import inference_timesteps
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup


@pytest.mark.parametrize('steps, fewer', [(1, None), (2, None), (3, None), (4, None),
                                           (10, None), (16, None), (34, 33), (50, None),
                                           (51, 50), (64, 50), (75, 50), (99, None),
                                           (100, None)])
def test_a_count_starting_below_a_smaller_ones_start_is_warned_of(steps, fewer):
    """DDIM-4 starts at 75 (the README's realtime setting): few steps start low by nature."""
    first = int(inference_timesteps(100, steps)[0])
    said = late_start_warning(100, steps)
    assert bool(said) == (fewer is not None), (steps, said)
    if said:
        top = int(inference_timesteps(100, fewer)[0])
        assert said.startswith(f'num_inference_steps {steps} starts denoising at step {first} '
                               f'of 99'), said
        assert f'where {fewer} steps start at {top}:' in said and top > first, said


def _setup(steps_param: int, checkpoint_steps: int):
    metadata = {'config': pusht_image_config(num_inference_steps=checkpoint_steps).to_dict(),
                'control_period_s': 0.1}
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                              'num_inference_steps': steps_param})
    return resolve_setup(cfg, metadata)


def test_the_node_warns_of_its_parameter_or_the_checkpoints_count():
    said = [w for w in _setup(51, 10).warnings if 'starts denoising' in w]
    assert len(said) == 1 and said[0].startswith('parameter num_inference_steps 51 starts')
    said = [w for w in _setup(0, 64).warnings if 'starts denoising' in w]
    assert len(said) == 1 and said[0].startswith("the checkpoint's num_inference_steps 64")
    assert not [w for w in _setup(0, 100).warnings + _setup(10, 64).warnings
                if 'starts denoising' in w]


def test_training_warns_of_its_policy_and_eval_counts(tmp_path, caplog):
    import logging

    from tiny_runs import small_config, write_small_store

    from training.run_check import check_run

    cfg = small_config(write_small_store(tmp_path / 'small.zarr'))
    cfg.policy = {**cfg.policy, 'num_inference_steps': 64}
    cfg.eval.num_inference_steps = 51
    with caplog.at_level(logging.WARNING):
        check_run(cfg, tmp_path / 'run', 'never')
    said = [r.getMessage() for r in caplog.records if 'starts denoising' in r.getMessage()]
    assert [s.split(' starts')[0] for s in said] == ['policy.num_inference_steps 64',
                                                     'eval.num_inference_steps 51'], said
