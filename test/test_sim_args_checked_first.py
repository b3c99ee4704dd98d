"""`dp-ros sim` and `dp-ros eval --via ros`: a user error is found before any node starts.

The rule of every `dp-ros` command: an expected error is one line on stderr and exit code 2,
found before anything starts. `dp-ros sim` checks its arguments as `dp-ros eval` does (the
same functions of dp_ros/app/eval_report.py) and the video pattern as the sim node does; a
policy of another robot is refused by the policy node's own check, run before the nodes
start, in `dp-ros sim` and `eval --via ros` alike (not in the node's log, three lines in its
parameter names, exit 1). run_session is replaced by one that fails if reached.
"""
from __future__ import annotations

import argparse

import pytest
import torch
from support import SHIPPED_CHECKPOINT

from dp_ros.app import sim_launcher
from dp_ros.app.ros_eval import run_ros_eval
from dp_ros.errors import UserError


def no_session(*args, **kwargs):
    raise AssertionError('the nodes were started for an argument error')


@pytest.mark.parametrize('extra, says', [
    (['--video', 'outputs/test/pusht.avi'], '--video must end in .gif or .mp4'),
    (['--video', 'outputs/test/v_{seed}_{take}.mp4'], 'only {episode} and {seed}'),
    (['--robot', 'arm'], 'on the arm robot'),
    (['--num-inference-steps', '-1'], '--num-inference-steps must be >= 1'),
    (['--num-inference-steps', '5000'], '--num-inference-steps 5000 must be in'),
    (['--threads', '-2'], '--threads must be >= 1'),
    (['--sample-seed', '-1'], '--sample-seed must be in'),
    # named as the options' fault, not as the robot's (the node's check refuses them too)
    (['--device', 'gpu'], "--device/--dtype: device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    (['--device', 'cuda:x'], '--device/--dtype: device \'cuda:x\': the CUDA index must be'),
    (['--dtype', 'float16', '--device', 'cpu'],
     "--device/--dtype: dtype 'float16' needs a CUDA device"),
    pytest.param(['--device', 'cuda'], "--device/--dtype: device 'cuda' asked for, but CUDA "
                 'is not available here', marks=pytest.mark.skipif(
                     torch.cuda.is_available(), reason='CUDA is here')),
], ids=['video-avi', 'video-placeholder', 'point-policy-on-arm', 'neg-inference-steps',
        'too-many-inference-steps', 'neg-threads', 'neg-sample-seed', 'device-name',
        'device-index', 'fp16-on-cpu', 'cuda-without-cuda'])
def test_sim_refuses_a_bad_argument_in_one_line_before_the_nodes_start(
        monkeypatch, tmp_path, capsys, extra, says):
    monkeypatch.setattr(sim_launcher, 'run_session', no_session)
    argv = ['--checkpoint', str(SHIPPED_CHECKPOINT), '--seeds', '100000', '--max-steps', '3',
            '--no-progress', '--logs', str(tmp_path / 'logs'), *extra]
    if '--video' not in extra:
        argv.append('--no-video')
    assert sim_launcher.main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('dp-ros sim: '), captured.err
    assert says in lines[0], lines[0]
    assert not captured.out  # nothing announced a run that never started


def test_eval_via_ros_refuses_a_policy_of_another_robot_before_the_nodes_start(
        monkeypatch, tmp_path):
    monkeypatch.setattr(sim_launcher, 'run_session', no_session)
    args = argparse.Namespace(
        checkpoint=SHIPPED_CHECKPOINT, via='ros', robot='arm', mode='lockstep',
        execution_mode='replace', seeds=[100000], max_steps=3, sampler=None,
        num_inference_steps=None, sample_seed=0, batch_size=None, video_episodes=[],
        video_format='mp4', device='cpu', dtype='float32', threads=None, eager=False,
        no_progress=True, output=tmp_path / 'r.json')
    with pytest.raises(UserError, match="on the arm robot.*state_joint_names"):
        run_ros_eval(args)


def test_the_printed_videos_are_the_files_of_a_seed_pattern(tmp_path):
    """`--video 'v_{seed}.gif'`: the line names the files the sim writes by its rule, not
    the pattern, and says which it did not write."""
    pattern = str(tmp_path / 'v_{seed}.gif')
    (tmp_path / 'v_100000.gif').write_bytes(b'gif')
    line = sim_launcher.video_line(pattern, [100000, 100001], tmp_path / 'logs')
    assert str(tmp_path / 'v_100000.gif') in line and str(tmp_path / 'v_100001.gif') in line
    assert '{seed}' not in line and '_ep' not in line
    assert 'did not write 1' in line


def test_sim_refuses_a_video_path_it_cannot_write_before_the_nodes_start(
        monkeypatch, tmp_path, capsys):
    """--video under a file: one line naming --video, exit 2 (the episodes ran, the video was
    lost and the command exited 0)."""
    monkeypatch.setattr(sim_launcher, 'run_session', no_session)
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    argv = ['--checkpoint', str(SHIPPED_CHECKPOINT), '--seeds', '100000', '--max-steps', '3',
            '--no-progress', '--logs', str(tmp_path / 'logs'),
            '--video', str(a_file / 'pusht.gif')]
    assert sim_launcher.main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('dp-ros sim: --video '), lines
    assert 'is not a directory' in lines[0]


@pytest.mark.parametrize('extra, says', [
    (['--episode-timeout', '-5'], '--episode-timeout must be >= 0 s (0: never), got -5.0'),
    (['--seeds', '1:1'], "--seeds '1:1' select no episode"),
    (['--seeds', '1,x'], "--seeds '1,x': expected 'start:stop' or a comma list"),
    (['--seeds', '5:8', '-1'], "--seeds -1 is not in the sim's range"),
    (['--seeds', '5:8', '7'], '--seeds [7] given more than once'),
])
def test_sim_refuses_negative_timeouts_and_bad_seed_forms(monkeypatch, tmp_path, capsys,
                                                          extra, says):
    """A negative --episode-timeout was read as 'never'; seeds take eval's forms, checked."""
    monkeypatch.setattr(sim_launcher, 'run_session', no_session)
    argv = ['--checkpoint', str(SHIPPED_CHECKPOINT), '--max-steps', '3', '--no-progress',
            '--no-video', '--logs', str(tmp_path / 'logs'), *extra]
    assert sim_launcher.main(argv) == 2
    err = capsys.readouterr().err
    assert says in err, err


def test_sim_takes_eval_seed_forms_and_plain_values_in_order():
    """'100000:100003' (end exclusive), '7,9' and plain values, concatenated in order."""
    args = sim_launcher.build_parser().parse_args(
        ['--checkpoint', str(SHIPPED_CHECKPOINT), '--seeds', '100000:100003', '7,9', '11',
         '--no-video'])
    assert sim_launcher.session_from_args(args).seeds == [100000, 100001, 100002, 7, 9, 11]
