"""`dp-ros eval --video-episodes`: each tile of the tiled video says which episode it is,
its seed and score as the summary prints them, in its top-left corner. Pinned: the tiles
had no word on which was which. The label is drawn on copies of the rendered frames for
the video only: the policy's observations and the report's numbers do not change."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from support import make_tiny_checkpoint

from dp_ros.app.evaluate import main
from sim_bridge.pusht_env import PushTEnv
from sim_bridge.video import episode_label, label_episode
from training import video

SEEDS = '100000:100002'


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    torch.set_num_threads(1)
    return make_tiny_checkpoint(tmp_path_factory.mktemp('ev') / 'policy', seed=3)


def render(seed: int = 100000) -> np.ndarray:
    env = PushTEnv()
    env.reset(seed=seed)
    return env.render()


def test_a_label_is_white_text_on_a_dark_corner_of_a_copy():
    frame = render()
    (labelled,) = label_episode([frame], 'seed 100000: score 0.1234')
    assert labelled.shape == frame.shape and labelled.dtype == np.uint8
    corner = labelled[:16, :100]
    assert (corner.max(axis=2) < 40).mean() > 0.5  # the dark box
    assert (corner.min(axis=2) > 200).sum() > 20  # the letters
    assert not np.array_equal(corner, frame[:16, :100])
    assert np.array_equal(labelled[64:], frame[64:])  # the rest is the render
    assert np.array_equal(frame, render())  # the frame given is left as it was


def test_frames_handed_over_are_labelled_in_place_unless_they_cannot_be():
    """copy=False (the sim's writer, which owns its episode's frames): no copy of an
    episode's frames; a read-only or non-uint8 frame is still copied, not failed."""
    owned = render()
    read_only = render()
    read_only.flags.writeable = False
    floats = render().astype(np.float32)
    labelled = label_episode([owned, read_only, floats], 'seed 100000: score 0.1234',
                             copy=False)
    assert labelled[0] is owned and not np.array_equal(owned, render())
    assert labelled[1] is not read_only and np.array_equal(read_only, render())
    assert labelled[2].dtype == np.uint8
    assert all(np.array_equal(labelled[0], other) for other in labelled[1:])


def test_a_label_wider_than_a_small_frame_is_cut_to_it():
    (labelled,) = label_episode([np.full((24, 30, 3), 255, np.uint8)], 'seed 1: score 0.5')
    assert labelled.shape == (24, 30, 3)


def test_eval_video_tiles_carry_seed_and_score_and_the_report_is_unchanged(
        checkpoint, tmp_path, monkeypatch):
    given = []
    write = video.write_episodes_video

    def keep(path, episodes, **kw):
        given.append(([np.array(e) for e in episodes], kw.get('labels')))
        return write(path, episodes, **kw)

    monkeypatch.setattr(video, 'write_episodes_video', keep)
    args = ['--checkpoint', str(checkpoint), '--seeds', SEEDS, '--max-steps', '2',
            '--no-progress', '--video-format', 'gif']
    out = tmp_path / 'eval.json'
    assert main([*args, '--video-episodes', '0,1', '--output', str(out)]) == 0
    report = json.loads(out.read_text())
    plain = tmp_path / 'plain.json'
    assert main([*args, '--video-episodes', '', '--output', str(plain)]) == 0
    assert json.loads(plain.read_text())['episodes'] == report['episodes']  # same numbers

    ((episodes, labels),) = given
    assert labels == [episode_label(e['seed'], e['score']) for e in report['episodes']]
    assert labels[0].startswith('seed 100000: score ')
    # what the rollout kept (and the policy never saw) is unlabelled: the reset render
    assert np.array_equal(episodes[0][0], render(100000))
    frames = iio.imread(report['video'], index=None)
    assert frames.shape[2] == 2 * 256 + 2  # two tiles side by side
    for tile in (frames[0, :16, :100], frames[0, :16, 258:358]):
        assert (tile.max(axis=2) < 40).mean() > 0.5 and (tile.min(axis=2) > 200).sum() > 20
    assert (episodes[0][0][:16, :100].max(axis=2) < 40).mean() < 0.1  # a light render
