"""`dp-ros eval --via inprocess` (dp_ros/app/evaluate.py main, in this process): the sampling
flags reach the episodes, and the report records what ran."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support import dataset_normalizer, make_tiny_pose_checkpoint, tiny_pusht_config

from dp_ros.app.evaluate import main
from dp_ros.policy.checkpoint import load_policy, save_policy
from dp_ros.policy.diffusion import DiffusionPolicy
from training.closed_loop import run_closed_loop

SEEDS = [100000, 100001, 100002]


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory, pusht_zarr) -> Path:
    """An untrained tiny DDIM policy with the real data's normalizer: it moves the agent,
    so the sampling flags change the scores."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = DiffusionPolicy(tiny_pusht_config(), dataset_normalizer(pusht_zarr)).eval()
    return save_policy(policy, tmp_path_factory.mktemp('ckpt') / 'policy')


def run_eval(ckpt: Path, out: Path, *extra: str) -> dict:
    assert main(['--checkpoint', str(ckpt), '--seeds', ','.join(map(str, SEEDS)),
                 '--no-progress', '--eager', '--output', str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_sample_seed_and_inference_steps_reach_the_episodes(ckpt, tmp_path):
    """The report's scores are run_closed_loop's with the given --sample-seed and
    --num-inference-steps (not the defaults), --max-steps exactly; 'policy' names what ran."""
    torch.set_num_threads(1)
    report = run_eval(ckpt, tmp_path / 'r.json', '--max-steps', '16', '--sample-seed', '5',
                      '--num-inference-steps', '2', '--video-episodes', '')
    policy = load_policy(ckpt)
    direct = run_closed_loop(policy, SEEDS, max_steps=16, sample_seed=5, num_inference_steps=2,
                             progress=False)
    # each flag changes the outcome here, so the test can tell a flag that was dropped
    for other in ({'sample_seed': 0, 'num_inference_steps': 2}, {'sample_seed': 5}):
        res = run_closed_loop(policy, SEEDS, max_steps=16, progress=False, **other)
        assert res.scores != direct.scores, other
    np.testing.assert_allclose([e['score'] for e in report['episodes']], direct.scores,
                               atol=1e-6)
    assert report['episode_steps'] == direct.steps and max(direct.steps) <= 16
    assert report['policy']['num_inference_steps'] == 2
    assert report['policy']['sampler'] == policy.config.sampler  # the checkpoint's: not null
    assert 'video' not in report and 'video_episodes' not in report


def test_sampler_flag_reaches_the_episodes(ckpt, tmp_path):
    """--sampler ddpm samples with DDPM (scores differ from the checkpoint's DDIM)."""
    torch.set_num_threads(1)
    args = ('--max-steps', '16', '--num-inference-steps', '3', '--video-episodes', '')
    ddpm = run_eval(ckpt, tmp_path / 'ddpm.json', '--sampler', 'ddpm', *args)
    policy = load_policy(ckpt)
    direct = run_closed_loop(policy, SEEDS, max_steps=16, sampler='ddpm', num_inference_steps=3,
                             progress=False)
    ddim = run_closed_loop(policy, SEEDS, max_steps=16, sampler='ddim', num_inference_steps=3,
                           progress=False)
    assert direct.scores != ddim.scores
    np.testing.assert_allclose([e['score'] for e in ddpm['episodes']], direct.scores, atol=1e-6)
    assert ddpm['policy']['sampler'] == 'ddpm' and ddpm['config']['sampler'] == 'ddpm'


def test_threads_and_video_episodes_are_applied_and_recorded(ckpt, tmp_path):
    """--threads sets torch's thread count; a filmed run lists its --video-episodes."""
    torch.set_num_threads(2)
    try:
        report = run_eval(ckpt, tmp_path / 'v.json', '--max-steps', '3', '--threads', '1',
                          '--video-episodes', '1', '--video-format', 'gif')
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(1)
    assert report['video_episodes'] == [1] and report['video'].endswith('v.gif')


def test_refused_cartesian_targets_are_reported(tmp_path):
    """A Cartesian arm policy whose targets leave the arm's reach: the report counts them."""
    torch.set_num_threads(1)
    far = {'x': (-400.0, 900.0), 'y': (-400.0, 900.0)}
    ckpt = make_tiny_pose_checkpoint(tmp_path / 'pose', seed=2, state='pose', bounds=far)
    out = tmp_path / 'pose.json'
    assert main(['--checkpoint', str(ckpt), '--robot', 'arm', '--seeds', '100000',
                 '--max-steps', '16', '--no-progress', '--video-episodes', '',
                 '--output', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['refused_targets'].get('unreachable', 0) > 0


@pytest.mark.parametrize('seeds', ['-1', '-3:-1', '4294967296'])
def test_a_seed_the_sim_cannot_take_is_refused_before_the_run(ckpt, tmp_path, capsys, seeds):
    """The sim's env seeds must be in [0, 2**32): `dp-ros eval --seeds -1` is refused by the
    argument parser (exit 2, the range named) before the policy is loaded, as a malformed
    --seeds is; before, env.reset raised mid-run (a traceback)."""
    from dp_ros import cli

    out = tmp_path / 'r.json'
    with pytest.raises(SystemExit) as exit_info:
        cli.main(['eval', '--checkpoint', str(ckpt), f'--seeds={seeds}', '--max-steps', '1',
                  '--video-episodes', '', '--no-progress', '--output', str(out)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and not out.exists()
    assert err.strip().splitlines()[-1].endswith("is not in the sim's range 0..4294967295"), err
    assert not out.exists()
