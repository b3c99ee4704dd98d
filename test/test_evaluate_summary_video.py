"""`dp-ros eval`'s printed summary says where the video went. Pinned: it printed the scores
and `-> eval.json` only, so finding the video meant opening the report; a video that could
not be written was only in the log and the report."""
from __future__ import annotations

from pathlib import Path

from dp_ros.app.evaluate import summary_lines


def report(**extra) -> dict:
    return {'episodes': [{'seed': 100000, 'score': 0.5}, {'seed': 100001, 'score': 1.0}],
            'n_episodes': 2, 'mean_score': 0.75, **extra}


def test_the_inprocess_video_path_is_printed_after_the_scores():
    lines = summary_lines(report(video='out/eval.mp4', video_episodes=[0]), Path('out/eval.json'))
    assert lines == ['seed 100000: score 0.5000', 'seed 100001: score 1.0000',
                     'mean_score 0.7500 over 2 episodes -> out/eval.json',
                     'video -> out/eval.mp4']


def test_each_ros_video_is_printed_and_a_missing_one_is_said():
    lines = summary_lines(report(video='v_ep000.mp4', videos=['v_ep000.mp4', 'v_ep001.mp4'],
                                 video_error='the sim did not write v_ep002.mp4: see logs'),
                          Path('eval.json'))
    assert lines[-2:] == ['video -> v_ep000.mp4, v_ep001.mp4',
                          'video not written: the sim did not write v_ep002.mp4: see logs']


def test_no_video_line_without_a_video():
    assert summary_lines(report(), Path('eval.json'))[-1] == \
        'mean_score 0.7500 over 2 episodes -> eval.json'
