"""In-process closed-loop evaluation: the paper's protocol, batching-independent results,
the `dp-ros eval` report and videos."""
from __future__ import annotations

import json
from collections import deque

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
import torch
from support import PAPER_TEST_SEEDS, dataset_normalizer, tiny_pusht_config

from dp_ros import cli
from dp_ros.app.eval_report import build_eval_parser, make_eval_report, parse_seeds
from dp_ros.app.evaluate import main
from dp_ros.policy.checkpoint import save_policy
from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.inputs import episode_generator
from sim_bridge.pusht_env import PushTEnv
from training.closed_loop import policy_obs, run_closed_loop
from training.video import tile_episodes, write_video

SEEDS = list(PAPER_TEST_SEEDS[:3])
MAX_STEPS = 20


@pytest.fixture(scope='module')
def policy(pusht_zarr) -> DiffusionPolicy:
    """An untrained tiny policy with the real data's normalizer: it moves, so scores vary."""
    torch.set_num_threads(1)  # the CPU is shared; more threads only contend
    torch.manual_seed(0)
    return DiffusionPolicy(tiny_pusht_config(sampler='ddpm'), dataset_normalizer(pusht_zarr)).eval()


class Recorder:
    """The real policy, with every observation batch it was given kept."""

    def __init__(self, policy):
        self.policy, self.calls = policy, []

    def __getattr__(self, name):
        return getattr(self.policy, name)

    def predict_action(self, obs, **kw):
        out = self.policy.predict_action(obs, **kw)
        self.calls.append({k: v.clone() for k, v in obs.items()})  # planned calls only
        return out


def test_episode_generator_rule():
    g = episode_generator(3, 100007)
    ref = torch.Generator().manual_seed(3 * 1_000_003 + 100007)
    assert torch.equal(torch.randn(5, generator=g), torch.randn(5, generator=ref))


def test_matches_a_plain_single_episode_rollout(policy):
    """The protocol written out for one episode: first obs repeated, 8 actions per plan,
    stop on success or at max_steps, score = max reward."""
    res = run_closed_loop(policy, SEEDS, max_steps=MAX_STEPS, batch_size=1, progress=False)
    cfg = policy.config
    for i, seed in enumerate(SEEDS):
        env = PushTEnv(max_episode_steps=MAX_STEPS)
        obs, _ = env.reset(seed=seed)
        hist = deque([obs] * cfg.n_obs_steps, maxlen=cfg.n_obs_steps)
        gen = episode_generator(0, seed)
        rewards, done = [], False
        while not done:
            action = policy.predict_action(policy_obs([hist], policy.device),
                                           generator=gen)['action'][0].numpy()
            for a in action:
                obs, reward, terminated, _, _ = env.step(a)
                hist.append(obs)
                rewards.append(reward)
                if terminated or len(rewards) >= MAX_STEPS:
                    done = True
                    break
        assert res.steps[i] == len(rewards)
        assert res.scores[i] == pytest.approx(max(rewards), abs=1e-9)
    assert res.mean_score == pytest.approx(np.mean(res.scores))
    assert len(set(res.scores)) > 1  # the episodes differ: the test can tell them apart


def test_observation_history_and_plan_spacing(policy):
    rec = Recorder(policy)
    run_closed_loop(rec, SEEDS[:2], max_steps=MAX_STEPS, progress=False)
    first = rec.calls[0]  # one batch of both episodes, or (the fallback) episode 0 alone
    b = len(first['image'])
    assert first['image'].shape == (b, 2, 3, 96, 96) and first['agent_pos'].shape == (b, 2, 2)
    assert first['image'].dtype == torch.float32 and 0 <= first['image'].min()
    assert first['image'].max() <= 1
    for key in ('image', 'agent_pos'):  # at reset the first observation is repeated
        assert torch.equal(first[key][:, 0], first[key][:, 1])
    # 20 steps at 8 actions per plan: each episode plans at steps 0, 8, 16
    assert sum(len(c['image']) for c in rec.calls) == 2 * 3
    env = PushTEnv(max_episode_steps=MAX_STEPS)
    obs, _ = env.reset(seed=SEEDS[0])
    assert np.allclose(first['agent_pos'][0, 1].numpy(), obs['agent_pos'])
    assert torch.equal(first['image'][0, 1], torch.from_numpy(obs['image']).permute(2, 0, 1) / 255)


def test_scores_do_not_depend_on_batching(policy):
    """Same per-episode noise whatever the batching; only float rounding of batched convs
    differs (about 1e-4 px in actions), so scores agree closely but not bit for bit."""
    together = run_closed_loop(policy, SEEDS, max_steps=MAX_STEPS, progress=False)
    alone = run_closed_loop(policy, SEEDS, max_steps=MAX_STEPS, batch_size=1, progress=False)
    pairs = run_closed_loop(policy, SEEDS, max_steps=MAX_STEPS, batch_size=2, progress=False)
    assert alone.steps == together.steps == pairs.steps
    np.testing.assert_allclose(alone.scores, together.scores, atol=1e-3)
    np.testing.assert_allclose(pairs.scores, together.scores, atol=1e-3)
    other = run_closed_loop(policy, SEEDS, max_steps=MAX_STEPS, sample_seed=1, progress=False)
    assert other.scores != together.scores  # the sample seed does reach the noise


def test_eval_command_report_and_video(policy, tmp_path):
    ckpt = save_policy(policy, tmp_path / 'policy')
    out = tmp_path / 'eval' / 'report.json'
    assert main(['--checkpoint', str(ckpt), '--seeds', '100000:100002', '--max-steps',
                 str(MAX_STEPS), '--video-episodes', '0,1', '--no-progress',
                 '--output', str(out)]) == 0
    report = json.loads(out.read_text())
    direct = run_closed_loop(policy, SEEDS[:2], max_steps=MAX_STEPS, progress=False)
    assert [e['seed'] for e in report['episodes']] == SEEDS[:2]
    np.testing.assert_allclose([e['score'] for e in report['episodes']], direct.scores,
                               atol=1e-6)
    assert report['mean_score'] == pytest.approx(np.mean(direct.scores))
    assert report['config']['sample_seed'] == 0 and report['config']['max_steps'] == MAX_STEPS
    video = out.with_suffix('.mp4')
    assert report['video'] == str(video)
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == max(direct.steps) + 1
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 2 * 256 + 2  # two episodes side by side


def test_a_video_that_cannot_be_written_does_not_lose_the_report(policy, tmp_path):
    """Defect: the video was written before the report, so a failed write lost the run."""
    ckpt = save_policy(policy, tmp_path / 'policy')
    out = tmp_path / 'eval' / 'report.json'
    out.with_suffix('.mp4').mkdir(parents=True)  # a folder where the video should go
    assert main(['--checkpoint', str(ckpt), '--seeds', '100000', '--max-steps', '3',
                 '--video-episodes', '0', '--no-progress', '--output', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['n_episodes'] == 1 and 'video' not in report
    assert str(out.with_suffix('.mp4')) in report['video_error']


@pytest.mark.parametrize('via', ['inprocess', 'ros'])
def test_an_output_that_cannot_be_written_is_refused_before_the_run(policy, tmp_path, capsys,
                                                                    via):
    """Defect: an --output that is a directory failed after the whole run (minutes) and left
    a hidden .outputs.tmp beside it. Both paths check it first (--via ros: no process
    started), one line, exit 2; nothing is written."""
    ckpt = save_policy(policy, tmp_path / 'policy')
    (tmp_path / 'outputs').mkdir()
    (tmp_path / 'a_file').write_text('x')
    for out, words in ((tmp_path / 'outputs', 'outputs is a directory'),
                       (tmp_path / 'a_file' / 'report.json', 'a_file is not a directory')):
        before = sorted(tmp_path.rglob('*'))
        code = cli.main(['eval', '--via', via, '--checkpoint', str(ckpt), '--seeds', '100000',
                         '--max-steps', '3', '--video-episodes', '', '--no-progress',
                         '--output', str(out)])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f'dp-ros eval: --output {out}') and words in err, err
        assert sorted(tmp_path.rglob('*')) == before


def test_eval_parser_and_report_schema():
    args = build_eval_parser().parse_args(['--checkpoint', 'x', '--output', 'o.json'])
    assert args.seeds == list(PAPER_TEST_SEEDS) and args.max_steps == 300
    assert args.via == 'inprocess' and args.sample_seed == 0
    assert parse_seeds('5,7') == [5, 7]
    report = make_eval_report([1, 2], [0.5, 1.0], {'a': 1}, {'via': 'ros'})
    assert report['mean_score'] == 0.75 and report['via'] == 'ros'
    assert report['episodes'] == [{'seed': 1, 'score': 0.5}, {'seed': 2, 'score': 1.0}]
    with pytest.raises(ValueError, match='2 seeds but 1 scores'):
        make_eval_report([1, 2], [0.5], {}, None)


def test_videos_mp4_and_gif(tmp_path):
    frames = [np.full((32, 48, 3), 10 * i, dtype=np.uint8) for i in range(6)]
    short = frames[:3]
    tiled = tile_episodes([frames, short], gap=2)
    assert len(tiled) == 6 and tiled[0].shape == (32, 98, 3)
    assert np.array_equal(tiled[5][:, 50:], short[-1])  # an ended episode holds its last frame
    gif = iio.imread(write_video(tmp_path / 'a.gif', frames), index=None)
    assert gif.shape[0] == 6
    cap = cv2.VideoCapture(str(write_video(tmp_path / 'a.mp4', tiled)))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    with pytest.raises(ValueError, match='must end in'):
        write_video(tmp_path / 'a.avi', frames)


def arm_shape_meta(joints: int = 3, cameras: tuple[str, ...] = ('image',), size=(96, 96)):
    obs = {c: {'shape': [3, *size], 'type': 'rgb'} for c in cameras}
    obs['joint_pos'] = {'shape': [joints], 'type': 'low_dim'}
    return {'obs': obs, 'action': {'shape': [joints]}}


def test_a_policy_is_checked_against_the_eval_sim_before_it_runs():
    """Each sim runs the policies of its own robot; another robot's policy is named with what
    the sim gives and what the policy reads (a 7-joint arm with two cameras: no sim here)."""
    from training.eval_env import check_eval_fits

    check_eval_fits('point', tiny_pusht_config())
    check_eval_fits('arm', tiny_pusht_config(shape_meta=arm_shape_meta()))
    with pytest.raises(ValueError, match=r"eval.robot 'point': the sim gives image and "
                                         r'agent_pos \(2,\) and takes 2 actions; this policy '
                                         r'reads joint_pos \(3,\)'):
        check_eval_fits('point', tiny_pusht_config(shape_meta=arm_shape_meta()))
    with pytest.raises(ValueError, match=r'this policy outputs 2'):
        check_eval_fits('arm', tiny_pusht_config())
    with pytest.raises(ValueError, match=r"reads cameras \['wrist', 'scene'\]"):
        check_eval_fits('arm', tiny_pusht_config(
            shape_meta=arm_shape_meta(7, cameras=('wrist', 'scene'))))
    with pytest.raises(ValueError, match='reads joint_pos \\(7,\\)'):
        check_eval_fits('arm', tiny_pusht_config(shape_meta=arm_shape_meta(7)))
    with pytest.raises(ValueError, match='square images; this policy reads image 96 x 128'):
        check_eval_fits('point', tiny_pusht_config(
            shape_meta=arm_shape_meta(2, size=(96, 128)), crop_shape=(84, 84)))
