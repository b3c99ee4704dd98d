"""`dp-ros eval --via ros` (dp_ros/app/ros_eval.py): the sim films every episode, and only the
episodes asked for keep their video; the report says what ran and that nothing was held."""
from __future__ import annotations

import json
import subprocess

import pytest
from support import REPO_ROOT, checkout_env, make_tiny_checkpoint, module_cmd

pytestmark = pytest.mark.ros


def test_only_the_requested_episode_videos_are_kept(tmp_path):
    """--video-episodes 1 of two seeds: ep1's video is reported, ep0's (which the sim also
    wrote) is removed; a clean lockstep run reports no problems and no skipped slots."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny', seed=3)
    out = tmp_path / 'eval' / 'ros.json'
    cmd = module_cmd('dp_ros.cli', 'eval', '--via', 'ros', '--checkpoint', str(checkpoint),
                     '--seeds', '100001,100002', '--max-steps', '4', '--threads', '1',
                     '--no-progress', '--video-episodes', '1', '--video-format', 'gif',
                     '--output', str(out))
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
                          env=checkout_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    kept, dropped = out.with_name('ros_ep1.gif'), out.with_name('ros_ep0.gif')
    assert report['videos'] == [str(kept)] and report['video'] == str(kept)
    assert report['video_episodes'] == [1] and 'video_error' not in report
    assert kept.is_file() and not dropped.exists()
    assert report['ros']['problems'] == {} and report['episode_slots_skipped'] == [0, 0]
    assert report['episode_steps'] == [4, 4] and report['config']['via'] == 'ros'


def test_dp_ros_sim_no_video_writes_none(tmp_path):
    """`dp-ros sim --no-video` (dp_ros/app/sim_launcher.py main): the sim is given no video
    path, so none is written even where --video names one, and no video line is printed."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny', seed=3)
    video = tmp_path / 'out' / 'sim.gif'
    cmd = module_cmd('dp_ros.cli', 'sim', '--checkpoint', str(checkpoint), '--seeds', '100001',
                     '--max-steps', '3', '--device', 'cpu', '--threads', '1', '--no-video',
                     '--video', str(video), '--logs', str(tmp_path / 'logs'), '--no-progress')
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env=checkout_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'score (max reward per episode)' in proc.stdout
    assert 'video:' not in proc.stdout and not video.parent.exists()
