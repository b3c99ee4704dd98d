"""`dp-ros eval --via ros` == `--via inprocess`: same checkpoint, seeds and sampling seed give the
same per-episode scores, through the sim bridge and the policy node over real topics."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from support import REPO_ROOT, checkout_env, make_tiny_checkpoint, module_cmd

pytestmark = pytest.mark.ros
# this checkout, not an installed copy, also in the node processes the commands start
ENV = checkout_env()

SEEDS = '100001,100002,100003'
MAX_STEPS = 30


class Eval:
    """`dp-ros eval` started in its own process; result() waits for it (240 s at most, then it
    is killed) and reads its report."""

    def __init__(self, checkpoint, via: str, output, *extra: str, seeds: str = SEEDS,
                 max_steps: int = MAX_STEPS, sample_seed: int = 7):
        cmd = module_cmd('dp_ros.cli', 'eval', '--via', via, '--checkpoint', str(checkpoint),
                         '--seeds', seeds, '--max-steps', str(max_steps),
                         '--sample-seed', str(sample_seed),
                         '--threads', '1', '--no-progress', '--video-episodes', '',
                         '--output', str(output), *extra)
        self.output = output
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=ENV)

    def result(self) -> dict:
        try:
            out, err = self.proc.communicate(timeout=240)
        finally:
            self.kill()
        assert self.proc.returncode == 0, out[-3000:] + err[-3000:]
        return json.loads(self.output.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def run_eval(checkpoint, via: str, output, *extra: str, seeds: str = SEEDS,
             max_steps: int = MAX_STEPS, sample_seed: int = 7) -> dict:
    return Eval(checkpoint, via, output, *extra, seeds=seeds, max_steps=max_steps,
                sample_seed=sample_seed).result()


def ros_and_inprocess_eval(checkpoint, output_dir, *extra: str,
                           inprocess_extra: tuple[str, ...] = (), **kwargs) -> tuple[dict, dict]:
    """The same eval through ROS and in process (plus inprocess_extra), side by side (the
    in-process one uses no ROS and no shared file: nothing of one reaches the other): the
    (ros, inprocess) reports."""
    inprocess = Eval(checkpoint, 'inprocess', output_dir / 'inprocess.json', *extra,
                     *inprocess_extra, **kwargs)
    try:
        ros = run_eval(checkpoint, 'ros', output_dir / 'ros.json', *extra, **kwargs)
        return ros, inprocess.result()
    finally:
        inprocess.kill()


def test_ros_eval_matches_inprocess_eval(tmp_path):
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny', seed=3)
    ros, inprocess = ros_and_inprocess_eval(checkpoint, tmp_path,
                                            inprocess_extra=('--batch-size', '1'))
    assert [e['seed'] for e in ros['episodes']] == [100001, 100002, 100003]
    # bit-identical: the same floats, not merely close ones
    assert [e['score'] for e in ros['episodes']] == [e['score'] for e in inprocess['episodes']]
    assert ros['episode_steps'] == inprocess['episode_steps']
    assert ros['mean_score'] == inprocess['mean_score']
    assert any(e['score'] > 0 for e in ros['episodes']), 'a test that cannot tell them apart'
    assert ros['config']['via'] == 'ros' and ros['ros']['mode'] == 'lockstep'


def test_a_video_the_sim_cannot_write_is_named_in_the_report_not_a_lost_run(tmp_path):
    """Through ROS the sim writes the videos; one it cannot write (a folder in its place)
    leaves the episodes and the report intact, and the report says where to look."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny', seed=3)
    out = tmp_path / 'eval' / 'ros.json'
    blocked = out.with_name('ros_ep0.mp4')
    blocked.mkdir(parents=True)
    report = run_eval(checkpoint, 'ros', out, '--video-episodes', '0', '--video-format',
                      'mp4', seeds='100001', max_steps=5)
    assert report['n_episodes'] == 1 and 'video' not in report
    assert str(blocked) in report['video_error'] and 'pusht_sim.log' in report['video_error']
    assert blocked.is_dir()


def test_dp_ros_sim_without_checkpoint_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    from dp_ros.app import sim_launcher

    # a default that exists neither in the source tree nor in the installed share/
    monkeypatch.setattr(sim_launcher, 'DEFAULT_CHECKPOINT', Path('checkpoints/absent_for_test'))
    assert sim_launcher.main([]) == 2
    err = capsys.readouterr().err
    assert 'checkpoints/absent_for_test' in err and 'dp-ros train' in err


def test_dp_ros_sim_runs_episodes_prints_scores_and_writes_videos(tmp_path):
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny', seed=3)
    video = tmp_path / 'out' / 'sim.gif'
    cmd = module_cmd('dp_ros.cli', 'sim', '--checkpoint', str(checkpoint), '--seeds', '100001',
                     '100003', '--max-steps', '20', '--device', 'cpu', '--threads', '1',
                     '--video', str(video), '--logs', str(tmp_path / 'logs'), '--no-progress')
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env=ENV)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'score (max reward per episode)' in proc.stdout, proc.stdout
    assert video.is_file() and (video.parent / 'sim_ep001.gif').is_file()
    assert (tmp_path / 'logs' / 'policy_node.log').is_file()


def node_processes(marker: str) -> list[int]:
    """PIDs of live processes whose command line contains marker."""
    pids = []
    for proc in Path('/proc').iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / 'cmdline').read_bytes().decode(errors='replace')
            state = (proc / 'stat').read_text().split()[2]
        except OSError:
            continue
        if marker in cmdline and state != 'Z':
            pids.append(int(proc.name))
    return pids


def test_terminated_sim_command_stops_its_node_processes(tmp_path):
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny', seed=3)
    marker = str(checkpoint)  # every node command line names this checkpoint
    cmd = module_cmd('dp_ros.cli', 'sim', '--checkpoint', str(checkpoint), '--seeds',
                     *map(str, range(100000, 100020)), '--device', 'cpu', '--threads', '1',
                     '--no-video', '--logs', str(tmp_path / 'logs'), '--no-progress')
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while len(node_processes(marker)) < 2:  # the policy node and the sim (order of events)
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, 'the node processes never started'
            time.sleep(0.2)
        sim_log = tmp_path / 'logs' / 'pusht_sim.log'
        while 'episode 0 started' not in (sim_log.read_text() if sim_log.exists() else ''):
            assert proc.poll() is None, proc.communicate()  # stop it mid-episode
            assert time.monotonic() < deadline, 'no episode started'
            time.sleep(0.2)
        proc.terminate()  # SIGTERM, as kill or a CI timeout sends
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert 'interrupted' in err, err[-2000:]
    deadline = time.monotonic() + 30
    while node_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert node_processes(marker) == []
    for log in (tmp_path / 'logs').glob('*.log'):  # each node stopped cleanly, no traceback
        assert 'Traceback' not in log.read_text(), log.read_text()[-2000:]
