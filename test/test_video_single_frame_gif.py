"""A GIF of one frame (a 1-step dataset's `dp-ros inspect --video x.gif`): Pillow takes one
frame's delay as a number, not a list of one; a list made it a TypeError traceback."""
from __future__ import annotations

import numpy as np
from PIL import Image

from sim_bridge.video import write_video


def test_a_one_frame_gif_is_written_with_its_frame_and_delay(tmp_path):
    frame = np.zeros((16, 24, 3), np.uint8)
    frame[:, 12:] = (255, 0, 0)  # two colours: the palette keeps them exactly
    path = tmp_path / 'one.gif'
    write_video(path, [frame], 10.0)
    with Image.open(path) as image:
        assert image.n_frames == 1
        assert image.info['duration'] == 100
        np.testing.assert_array_equal(np.asarray(image.convert('RGB')), frame)


def test_a_60_fps_gif_of_one_frame_keeps_it(tmp_path):
    """Above GIF_MAX_FPS every other frame is kept: of one frame, that one."""
    path = tmp_path / 'one60.gif'
    write_video(path, [np.full((8, 8, 3), 40, np.uint8)], 60.0)
    with Image.open(path) as image:
        assert image.n_frames == 1
