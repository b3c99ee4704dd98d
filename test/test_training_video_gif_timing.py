"""GIF timing: frame delays are whole centiseconds, so they alternate to add up to
frames / fps (every frame cut to 60 ms made a 15 fps clip 10% short, a 30 fps one 10%
fast); above 50 fps a browser would play 10 ms delays at 100 ms, so frames are thinned."""
from __future__ import annotations

import numpy as np
from PIL import Image

from sim_bridge.video import gif_delays_ms
from training.video import write_video


def gif_delays(path) -> list[int]:
    with Image.open(path) as image:
        delays = []
        for index in range(image.n_frames):
            image.seek(index)
            delays.append(image.info['duration'])
    return delays


def distinct_frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (32, 32, 3)).astype(np.uint8) for _ in range(n)]


def test_a_15_fps_gif_lasts_frames_over_fps(tmp_path):
    """`dp-ros inspect --video x.gif --fps 15` (a 15 Hz camera): 30 frames last 2 s, not
    1.8 s (66.7 ms a frame cut to 60 ms on every frame)."""
    delays = gif_delays(write_video(tmp_path / 'clip.gif', distinct_frames(30), fps=15))
    assert len(delays) == 30 and sum(delays) == 2000 and set(delays) == {60, 70}, delays


def test_delays_add_up_at_every_frame_and_stay_exact_where_fps_divides_100():
    assert gif_delays_ms(4, 10) == [100] * 4
    for fps in (7, 15, 24, 30, 50):
        delays = gif_delays_ms(61, fps)
        assert all(d % 10 == 0 for d in delays)
        ends = np.cumsum(delays)
        assert np.abs(ends - np.arange(1, 62) * 1000 / fps).max() <= 5, fps


def test_a_60_fps_gif_keeps_every_other_frame_at_30_fps(tmp_path):
    """60 fps (10 ms a frame, which browsers play at 100 ms: 6x slow): every other frame at
    30 fps, the same 0.5 s."""
    delays = gif_delays(write_video(tmp_path / 'fast.gif', distinct_frames(30), fps=60))
    assert len(delays) == 15 and sum(delays) == 500 and min(delays) >= 20, delays
