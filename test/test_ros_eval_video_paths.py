"""`dp-ros eval --via ros`: the sim's video pattern comes from --output, which is a file name.

Braces in --output ('run{best}.json') are the user's, not placeholders: the pattern given to
the sim escapes them, so the sim films run{best}_ep0.mp4 and the report names that file (not
a sim refusal of a parameter the user never set). Episodes not asked for are removed also
when the run ends in an error or an interrupt (the sim films every episode). The session is
replaced by a fake that does what the sim node does with the pattern.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from support import SHIPPED_CHECKPOINT

from dp_ros.app import sim_launcher
from dp_ros.app.ros_eval import run_ros_eval
from sim_bridge.video import video_file_for


def eval_args(output: Path, seeds: list[int], video_episodes: list[int]) -> argparse.Namespace:
    return argparse.Namespace(
        checkpoint=SHIPPED_CHECKPOINT, via='ros', robot='point', mode='lockstep',
        execution_mode='replace', seeds=seeds, max_steps=3, sampler=None,
        num_inference_steps=None, sample_seed=0, batch_size=None,
        video_episodes=video_episodes, video_format='mp4', device='cpu', dtype='float32',
        threads=None, eager=False, no_progress=True, output=output)


def film(cfg: sim_launcher.SessionConfig) -> list[dict]:
    """What the sim node does: write each episode's video by its naming rule (a KeyError
    for a placeholder other than {episode} and {seed}, which the node refuses)."""
    results = []
    for episode, seed in enumerate(cfg.seeds):
        video_file_for(cfg.video_path, episode, seed).write_bytes(b'video')
        results.append({'episode': episode, 'seed': seed, 'steps': 3, 'max_reward': 0.5,
                        'terminated': False, 'reason': 'max_steps'})
    return results


def test_braces_in_the_report_path_are_not_placeholders(monkeypatch, tmp_path):
    monkeypatch.setattr(sim_launcher, 'run_session', lambda cfg, progress=True: film(cfg))
    report = run_ros_eval(eval_args(tmp_path / 'run{best}.json', [100000], [0]))
    assert report['video'] == str(tmp_path / 'run{best}_ep0.mp4')
    assert 'video_error' not in report


def test_an_interrupted_run_keeps_only_the_videos_asked_for(monkeypatch, tmp_path):
    def interrupted(cfg, progress=True):
        film(cfg)
        raise KeyboardInterrupt

    monkeypatch.setattr(sim_launcher, 'run_session', interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ros_eval(eval_args(tmp_path / 'r.json', [100000, 100001, 100002], [1]))
    assert sorted(p.name for p in tmp_path.glob('*.mp4')) == ['r_ep1.mp4']
