"""`dp-ros eval` argument checks and report format (dp_ros/app/eval_report.py): the bounds
of every numeric flag, the in-process/ROS split, seed parsing, and what the report records."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
from support import make_tiny_checkpoint

from dp_ros.app.eval_report import (
    build_eval_parser,
    check_eval_args,
    check_video_episodes,
    eval_config_dict,
    make_eval_report,
    parse_indices,
    parse_seeds,
    video_path,
)
from dp_ros.errors import UserError
from dp_ros.policy.checkpoint import CheckpointError


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('ckpt') / 'policy')


def parse(ckpt: Path, tmp_path: Path, *extra: str) -> argparse.Namespace:
    return build_eval_parser().parse_args(['--checkpoint', str(ckpt), '--output',
                                           str(tmp_path / 'report.json'), '--seeds', '1:4',
                                           '--device', 'cpu', *extra])


def test_parse_seeds_ranges_are_end_exclusive_and_empty_selections_are_refused():
    """'a:b' is range(a, b); a selection of no episode is an argparse error, not []."""
    assert parse_seeds('5:8') == [5, 6, 7]
    assert parse_seeds(' 7 ') == [7]
    assert parse_seeds('1,2,') == [1, 2]  # a trailing comma is tolerated
    for empty in ('5:5', '8:5', ','):
        with pytest.raises(argparse.ArgumentTypeError, match='select no episode'):
            parse_seeds(empty)
    with pytest.raises(argparse.ArgumentTypeError, match='expected'):
        parse_seeds('a:b')


def test_parse_indices_allows_none():
    """'' films no episode; '0,2' two of them."""
    assert parse_indices('') == [] and parse_indices('0,2') == [0, 2]


@pytest.mark.parametrize('flags, words', [
    (('--max-steps', '0'), '--max-steps must be >= 1, got 0'),
    (('--threads', '0'), '--threads must be >= 1, got 0'),
    (('--batch-size', '0'), '--batch-size must be >= 1, got 0'),
    (('--num-inference-steps', '0'), '--num-inference-steps must be >= 1, got 0'),
    (('--mode', 'realtime'), 'need --via ros'),
    (('--execution-mode', 'blend'), 'need --via ros'),
    (('--video-episodes', '3'), '--video-episodes [3] out of range for 3 seeds'),
    (('--video-episodes', '-1'), '--video-episodes [-1] out of range for 3 seeds'),
    (('--dtype', 'fp16'), 'float16'),
])
def test_bad_arguments_are_one_user_error_before_anything_runs(ckpt, tmp_path, flags, words):
    """Each flag's lower bound is 1 (0 refused), video indices are 0..n-1, realtime and
    other execution modes are ROS-only, fp16 needs CUDA: UserError naming the flag."""
    args = parse(ckpt, tmp_path, *flags)
    with pytest.raises(UserError) as info:
        check_eval_args(args)
    assert words in str(info.value)


def test_the_ros_path_accepts_realtime_and_other_execution_modes(ckpt, tmp_path):
    """--via ros takes --mode realtime and --execution-mode blend; the boundary values 1 and
    the last video index are accepted."""
    args = parse(ckpt, tmp_path, '--via', 'ros', '--mode', 'realtime', '--execution-mode',
                 'blend', '--max-steps', '1', '--threads', '1',
                 '--num-inference-steps', '1', '--video-episodes', '2')
    check_eval_args(args)
    assert args.checkpoint == ckpt and args.device == 'cpu'


def test_a_policy_of_another_robot_is_named_by_the_commands_flag(ckpt, tmp_path):
    """The in-process check's message names --robot (the user's flag), not eval.robot."""
    with pytest.raises(UserError) as info:
        check_eval_args(parse(ckpt, tmp_path, '--robot', 'arm'))
    assert "--robot 'arm'" in str(info.value) and 'eval.robot' not in str(info.value)


def test_a_malformed_policy_config_is_a_checkpoint_error(ckpt, tmp_path):
    """policy.json whose config PolicyConfig refuses: CheckpointError (exit 2), naming it."""
    bad = tmp_path / 'bad'
    bad.mkdir()
    meta = json.loads((ckpt / 'policy.json').read_text())
    meta['config']['no_such_key'] = 1
    (bad / 'policy.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match='policy.json: unknown PolicyConfig keys'):
        check_eval_args(parse(bad, tmp_path))


def test_device_auto_is_resolved(ckpt, tmp_path):
    """args.device is the resolved torch device, never 'auto', so the report names it."""
    args = parse(ckpt, tmp_path, '--device', 'auto')
    check_eval_args(args)
    assert args.device in ('cpu', 'cuda', 'cuda:0')


def test_video_episode_bounds():
    """Indices 0..n-1 pass; n and negatives are refused."""
    check_video_episodes([0, 2], 3)
    check_video_episodes([], 0)
    for bad in ([3], [-1]):
        with pytest.raises(UserError, match='out of range for 3 seeds'):
            check_video_episodes(bad, 3)


def test_report_mean_is_the_mean_and_extra_cannot_overwrite_fields():
    """mean_score is the arithmetic mean; an `extra` key that would replace a report field is
    refused; no scores: NaN."""
    report = make_eval_report([1, 2, 3], [0.2, 0.4, 0.9], {})
    assert report['mean_score'] == pytest.approx(0.5) and report['n_episodes'] == 3
    for key in ('mean_score', 'episodes', 'config', 'format'):
        with pytest.raises(ValueError, match='would overwrite'):
            make_eval_report([1], [0.5], {}, {key: 0})
    assert math.isnan(make_eval_report([], [], {})['mean_score'])


def test_config_dict_records_the_settings(ckpt, tmp_path):
    """The report's config: the checkpoint as given, batch size, TorchScript unless --eager."""
    args = parse(ckpt, tmp_path, '--batch-size', '2')
    check_eval_args(args)
    config = eval_config_dict(args)
    assert config['torchscript'] is True and config['batch_size'] == 2
    assert config['checkpoint'] == str(ckpt) and config['seeds'] == [1, 2, 3]
    args.eager = True
    assert eval_config_dict(args)['torchscript'] is False


def test_video_path_takes_the_format():
    """The video sits beside the report with the chosen format's suffix."""
    assert video_path(Path('out/r.json'), 'gif') == Path('out/r.gif')
    assert video_path(Path('out/r.json'), 'mp4') == Path('out/r.mp4')


@pytest.mark.parametrize('given, kept', [('fp32', 'float32'), ('bf16', 'bfloat16'),
                                         ('bfloat16', 'bfloat16'), ('Float32', 'float32')])
def test_dtype_takes_torch_names_and_short_ones_as_dp_ros_sim_does(ckpt, tmp_path, given, kept):
    """`dp-ros eval --dtype` and `dp-ros sim --dtype` share one parser: torch's names (the
    node's dtype parameter) and accelerate's short ones, kept as torch's name in the report."""
    from dp_ros.app.sim_launcher import build_parser as build_sim_parser

    assert parse(ckpt, tmp_path, '--dtype', given).dtype == kept
    assert build_sim_parser().parse_args(['--dtype', given]).dtype == kept


def test_an_unknown_dtype_is_an_argparse_error_naming_the_choices(ckpt, tmp_path, capsys):
    """float64 is no denoiser dtype: exit 2 with the names to use."""
    with pytest.raises(SystemExit) as info:
        parse(ckpt, tmp_path, '--dtype', 'float64')
    assert info.value.code == 2
    assert 'use float32, bfloat16 or float16' in capsys.readouterr().err


def test_a_seed_given_twice_is_refused_not_counted_twice():
    """'1,1' or '3:6,4'-like repeats run one episode twice and weigh its score double."""
    with pytest.raises(argparse.ArgumentTypeError, match=r'seeds \[1\] given more than once'):
        parse_seeds('1,1')
    assert parse_seeds('1,2') == [1, 2]


def test_a_report_at_the_videos_path_is_refused(ckpt, tmp_path):
    """In process, --output rep.mp4 wrote the video, then the report over it, and said the
    video was there."""
    args = build_eval_parser().parse_args(['--checkpoint', str(ckpt), '--output',
                                           str(tmp_path / 'rep.mp4'), '--seeds', '1:3'])
    with pytest.raises(UserError, match='the video would be written there too'):
        check_eval_args(args)
    args = build_eval_parser().parse_args(['--checkpoint', str(ckpt), '--output',
                                           str(tmp_path / 'rep.mp4'), '--seeds', '1:3',
                                           '--video-episodes', ''])
    check_eval_args(args)  # no video: the path is the report's alone


def test_batch_size_over_ros_and_repeated_video_episodes_are_refused(ckpt, tmp_path):
    with pytest.raises(UserError, match='--batch-size 7: episodes are stepped together in '
                                        'process'):
        check_eval_args(parse(ckpt, tmp_path, '--via', 'ros', '--batch-size', '7'))
    check_eval_args(parse(ckpt, tmp_path, '--via', 'ros', '--batch-size', '1'))  # one at a time
    with pytest.raises(UserError, match=r'--video-episodes \[0\] given twice'):
        check_eval_args(parse(ckpt, tmp_path, '--video-episodes', '0,0'))


def test_ros_logs_beside_the_report_that_are_a_file_are_refused(ckpt, tmp_path):
    """--via ros keeps the nodes' logs in <report>_ros_logs: a file there was a traceback
    after the nodes started."""
    (tmp_path / 'report_ros_logs').write_text('')
    with pytest.raises(UserError, match='--output \\(its node logs\\) .*report_ros_logs is a '
                                        'file'):
        check_eval_args(parse(ckpt, tmp_path, '--via', 'ros'))
