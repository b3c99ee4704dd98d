"""Edges of training's measurements: the fixed action-MSE windows (how many, the same ones
each time, none without data), the validation loss's batch cap and empty cases, and the
closed-loop evaluation's aggregates, video episodes, no episodes and a stop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (autouse)

from training.config import DataConfig, EvalConfig
from training.train_metrics import closed_loop_metrics, fixed_batch, validation_loss


class _Windows(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {'x': torch.tensor(float(i))}


def test_fixed_batch_is_the_same_windows_at_most_a_batch_of_them():
    a, b = fixed_batch(_Windows(20), 8, seed=3), fixed_batch(_Windows(20), 8, seed=3)
    assert torch.equal(a['x'], b['x']) and len(a['x']) == 8
    assert len(set(a['x'].tolist())) == 8
    other = fixed_batch(_Windows(20), 8, seed=4)
    assert not torch.equal(a['x'], other['x'])
    few = fixed_batch(_Windows(3), 8, seed=3)
    assert sorted(few['x'].tolist()) == [0.0, 1.0, 2.0]
    assert fixed_batch(_Windows(0), 8, seed=3) is None


class _MeanLoss(torch.nn.Module):
    """A stand-in policy whose denoising loss is the batch's mean value."""

    def compute_loss(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        assert generator is not None
        return batch['x'].mean()


@pytest.fixture(scope='module')
def accelerator():
    from accelerate import Accelerator

    return Accelerator(cpu=True)


@pytest.mark.parametrize('max_batches, expected', [
    (None, np.mean([0.5, 2.5, 4.5, 6.0])), (1, 0.5), (2, 1.5), (3, 2.5), (9, 3.375)])
def test_validation_loss_is_the_mean_over_at_most_max_batches(accelerator, max_batches,
                                                              expected):
    data = DataConfig(batch_size=2)  # batches [0, 1], [2, 3], [4, 5], [6]
    loss = validation_loss(_MeanLoss(), _Windows(7), data, accelerator, seed=0,
                           max_batches=max_batches)
    assert loss == pytest.approx(expected)


@pytest.mark.parametrize('max_batches, shown', [(None, '/4 '), (2, '/2 ')])
def test_validation_loss_shows_its_progress_when_asked(accelerator, capsys, max_batches,
                                                       shown):
    """A large validation set's pass takes minutes (and a Ctrl-C waits for it): a bar, the
    batches it measures its total, and none without progress."""
    data = DataConfig(batch_size=2)
    validation_loss(_MeanLoss(), _Windows(7), data, accelerator, seed=0,
                    max_batches=max_batches, progress=True)
    err = capsys.readouterr().err
    assert 'validation' in err and shown in err, err
    validation_loss(_MeanLoss(), _Windows(7), data, accelerator, seed=0,
                    max_batches=max_batches)
    assert capsys.readouterr().err == ''


def test_validation_loss_without_windows_or_batches_is_none(accelerator):
    data = DataConfig(batch_size=2)
    assert validation_loss(_MeanLoss(), _Windows(0), data, accelerator, seed=0,
                           max_batches=None) is None
    assert validation_loss(_MeanLoss(), _Windows(4), data, accelerator, seed=0,
                           max_batches=0) is None


@pytest.fixture(scope='module')
def tiny_policy(tmp_path_factory):
    from dp_ros.policy.checkpoint import load_policy

    return load_policy(make_tiny_checkpoint(tmp_path_factory.mktemp('ck') / 'ck'))


def _eval(**kwargs) -> EvalConfig:
    return EvalConfig(**{'n_episodes': 2, 'max_steps': 8, 'n_video_episodes': 0, **kwargs})


def test_closed_loop_metrics_aggregate_the_episodes_of_every_seed(tiny_policy):
    from training.closed_loop import run_closed_loop

    e = _eval(start_seed=7)
    out = closed_loop_metrics(tiny_policy, e, rank=0, world=1, progress=False,
                              should_stop=lambda: False)
    res = run_closed_loop(tiny_policy, [7, 8], max_steps=8, sampler=e.sampler,
                          num_inference_steps=e.num_inference_steps, sample_seed=0,
                          progress=False)
    assert out['test/scores'] == {'7': res.scores[0], '8': res.scores[1]}
    assert out['test/mean_score'] == pytest.approx(np.mean(res.scores))
    assert out['test/success_rate'] == pytest.approx(np.mean(res.success))
    assert out['test/mean_steps'] == pytest.approx(np.mean(res.steps))
    assert out['test/n_episodes'] == 2 and 'video' not in out


def test_no_video_episodes_write_no_video_and_one_is_written_when_asked(tiny_policy,
                                                                        tmp_path):
    none = closed_loop_metrics(tiny_policy, _eval(), rank=0, world=1, progress=False,
                               should_stop=lambda: False, video_path=tmp_path / 'a.gif')
    assert 'video' not in none and not (tmp_path / 'a.gif').exists()
    one = closed_loop_metrics(tiny_policy, _eval(n_video_episodes=1, n_episodes=1), rank=0,
                              world=1, progress=False, should_stop=lambda: False,
                              video_path=tmp_path / 'b.gif')
    assert one['video'] == str(tmp_path / 'b.gif') and Path(one['video']).stat().st_size > 0


def test_no_episodes_and_a_stop_give_no_metrics(tiny_policy):
    assert closed_loop_metrics(tiny_policy, _eval(n_episodes=0), rank=0, world=1,
                               progress=False, should_stop=lambda: False) is None
    assert closed_loop_metrics(tiny_policy, _eval(), rank=0, world=1, progress=False,
                               should_stop=lambda: True) is None


def test_action_mse_is_the_mean_squared_error_raw_and_normalized(tiny_policy):
    """Sampled with the measurement's seed on the first n_obs_steps observations, against
    the demonstrated actions: squared errors, not absolute ones, in both units."""
    from training.train_metrics import action_mse

    gen = torch.Generator().manual_seed(0)
    b, h = 3, tiny_policy.config.horizon
    batch = {'obs': {'image': torch.rand(b, 4, 3, 96, 96, generator=gen),
                     'agent_pos': torch.rand(b, 4, 2, generator=gen) * 400 + 50},
             'action': torch.rand(b, h, 2, generator=gen) * 400 + 50}
    e = _eval(sampler='ddim', num_inference_steps=3)
    out = action_mse(tiny_policy, batch, e, seed=5, split='val')
    n_obs = tiny_policy.config.n_obs_steps
    pred = tiny_policy.predict_action({k: v[:, :n_obs] for k, v in batch['obs'].items()},
                                      generator=torch.Generator().manual_seed(5),
                                      sampler='ddim', num_inference_steps=3)['action_pred']
    norm = tiny_policy.normalizer
    expected = ((pred - batch['action']) ** 2).mean().item()
    expected_norm = ((norm.normalize('action', pred)
                      - norm.normalize('action', batch['action'])) ** 2).mean().item()
    assert set(out) == {'val_action_mse', 'val_action_mse_norm'}
    assert out['val_action_mse'] == pytest.approx(expected, rel=1e-5)
    assert out['val_action_mse_norm'] == pytest.approx(expected_norm, rel=1e-5)


def test_trainings_evaluation_video_tiles_say_their_seed_and_score(tiny_policy, tmp_path):
    """dp-ros eval's videos said each tile's seed and score; training's own had no word."""
    import imageio.v3 as iio

    out = closed_loop_metrics(tiny_policy, _eval(n_video_episodes=1, n_episodes=1), rank=0,
                              world=1, progress=False, should_stop=lambda: False,
                              video_path=tmp_path / 'c.gif')
    first = np.asarray(iio.imread(out['video'], index=0))[..., :3]
    corner = first[:16, :100]
    assert (corner.max(axis=2) < 40).mean() > 0.5  # the label's dark box
    assert (corner.min(axis=2) > 200).sum() > 20  # its letters
