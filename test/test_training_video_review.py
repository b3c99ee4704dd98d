"""Review tests of training/video.py: the frame checks, the tiling grid and the file names."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from training.video import tile_episodes, write_episodes_video, write_video


def _ep(value: int, n: int, h: int = 8, w: int = 12) -> list[np.ndarray]:
    """n frames whose pixels all equal value + frame index (which frame is shown is legible)."""
    return [np.full((h, w, 3), value + t, dtype=np.uint8) for t in range(n)]


@pytest.mark.parametrize('frames, match', [
    ([], 'no frames to write'),
    ([np.zeros((8, 8, 3), dtype=np.float32)], r'frames must be \(H, W, 3\) uint8 RGB'),
    ([np.zeros((8, 8, 4), dtype=np.uint8)], r'frames must be \(H, W, 3\) uint8 RGB'),
    ([np.zeros((8, 8, 3), dtype=np.uint8), np.zeros((8, 10, 3), dtype=np.uint8)],
     'differs from the first'),
])
def test_bad_frames_are_refused_before_anything_is_written(tmp_path, frames, match):
    """Empty, non-uint8, RGBA or mixed-size frames: a ValueError and no file."""
    with pytest.raises(ValueError, match=match):
        write_video(tmp_path / 'v.gif', frames)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('fps', [0, -5.0])
def test_fps_must_be_positive(tmp_path, fps):
    """fps 0 or less is a ValueError naming fps (not a ZeroDivisionError in the encoder)."""
    with pytest.raises(ValueError, match='fps must be > 0'):
        write_video(tmp_path / 'v.gif', _ep(0, 2), fps=fps)
    assert list(tmp_path.iterdir()) == []


def test_an_ended_episode_holds_its_last_frame():
    """Tiling a 5-frame and a 2-frame episode: the short one shows its last frame from t=1."""
    tiled = tile_episodes([_ep(0, 5), _ep(100, 2)], gap=2)
    assert len(tiled) == 5
    assert [int(f[0, 14 + 1, 0]) for f in tiled] == [100, 101, 101, 101, 101]
    assert [int(f[0, 0, 0]) for f in tiled] == [0, 1, 2, 3, 4]


def test_the_grid_fills_rows_first_with_white_gaps():
    """3 episodes -> 2 columns x 2 rows, episode i at row i // 2, column i % 2; the gaps and
    the empty cell are white."""
    h, w, gap = 8, 12, 3
    (frame,) = tile_episodes([_ep(10, 1), _ep(20, 1), _ep(30, 1)], gap=gap)
    assert frame.shape == (2 * h + gap, 2 * w + gap, 3)
    assert frame[0, 0, 0] == 10
    assert frame[0, w + gap, 0] == 20
    assert frame[h + gap, 0, 0] == 30
    assert (frame[h:h + gap] == 255).all() and (frame[:, w:w + gap] == 255).all()
    assert (frame[h + gap:, w + gap:] == 255).all()


def test_untiled_episodes_get_numbered_files_and_one_episode_keeps_the_path(tmp_path):
    """tiled=False: <stem>_0, <stem>_1 ... in episode order; a single episode is written at
    the path itself."""
    paths = write_episodes_video(tmp_path / 'eval.gif', [_ep(0, 2), _ep(50, 3)], tiled=False)
    assert [p.name for p in paths] == ['eval_0.gif', 'eval_1.gif']
    assert iio.imread(paths[1], index=None).shape[0] == 3
    (single,) = write_episodes_video(tmp_path / 'one.gif', [_ep(0, 2)], tiled=False)
    assert single == tmp_path / 'one.gif' and single.is_file()


def test_a_stacked_frame_array_is_a_sequence_of_frames(tmp_path):
    """A (T, H, W, 3) uint8 array (np.stack of the frames) is written as T frames."""
    frames = np.stack(_ep(0, 3))
    path = write_video(tmp_path / 'v.gif', frames)
    assert iio.imread(path, index=None).shape[0] == 3


def test_the_suffix_is_read_whatever_its_case_and_others_are_refused(tmp_path):
    """clip.GIF is a GIF, as sim_bridge/video.py reads it; clip.avi is refused, nothing
    written."""
    path = write_video(tmp_path / 'clip.GIF', _ep(10, 3))
    assert path.name == 'clip.GIF' and len(iio.imread(path, index=None)) == 3
    with pytest.raises(ValueError, match=r"must end in one of \('.mp4', '.gif'\)"):
        write_video(tmp_path / 'clip.avi', _ep(10, 3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['clip.GIF']
