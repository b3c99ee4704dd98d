"""The Push-T score is the paper's reward, min(coverage / 0.95, 1), maximised over an episode;
what the model card and EvalConfig tell a reader it is must not be the plain coverage (an
episode that covered half of the goal scores 0.526, not 0.5)."""
from __future__ import annotations

from dp_ros.app import push
from sim_bridge.pusht_geometry import reward_from_coverage
from training.config import EvalConfig


def _card() -> str:
    meta = {'config': {'n_obs_steps': 2, 'horizon': 16, 'n_action_steps': 8,
                       'sampler': 'ddim', 'num_inference_steps': 10},
            'obs_keys': {'rgb': ['image'], 'low_dim': ['agent_pos']},
            'obs_shapes': {'image': [3, 96, 96], 'agent_pos': [2]}, 'action_dim': 2,
            'control_period_s': 0.1,
            'provenance': {'metrics': {'test/mean_score': 0.5}}}
    return push.model_card(meta, 'org/x')


def test_the_score_is_not_the_coverage():
    """The fact: half the goal covered is a reward of 0.5 / 0.95."""
    assert abs(reward_from_coverage(0.5)[0] - 0.5 / 0.95) < 1e-12


def test_the_model_card_explains_mean_score_as_the_reward_not_the_coverage():
    """The card's line on test/mean_score says 'best coverage of the goal'; it should name the
    reward (coverage / 0.95, capped at 1) the score is."""
    line = next(x for x in _card().splitlines() if x.startswith('test/mean_score'))
    assert 'reward' in line or '0.95' in line, line


def test_eval_config_explains_the_score_as_the_reward_not_the_coverage():
    """EvalConfig's docstring (the training config's reference) says 'the best T coverage it
    reached'; the score is the best reward."""
    doc = EvalConfig.__doc__.split('Attributes:')[0]
    assert 'reward' in doc or '0.95' in doc, doc
