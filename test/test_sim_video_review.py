"""Review tests of sim_bridge/video.py: episode file names, GIF timing, the OpenCV fallback's
colours and sizes, and the background writer's reports."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from sim_bridge.video import BackgroundVideos, video_file_for, write_video


def _frames(h: int, w: int, n: int = 4) -> list[np.ndarray]:
    """Red frames (RGB), each a little different (a GIF writer merges equal frames)."""
    frames = []
    for i in range(n):
        f = np.zeros((h, w, 3), dtype=np.uint8)
        f[..., 0] = 255
        f[0, 0, 1] = 40 * i
        frames.append(f)
    return frames


def test_file_names_per_episode():
    """Episode 0 keeps the path; every later one (1 included) gets _epNNN; a {seed}-only
    template is filled in."""
    assert video_file_for('d/v.mp4', 0, 7) == Path('d/v.mp4')
    assert video_file_for('d/v.mp4', 1, 7) == Path('d/v_ep001.mp4')
    assert video_file_for('d/v.gif', 12, 7) == Path('d/v_ep012.gif')
    assert video_file_for('d/ep_{seed}.gif', 3, 42) == Path('d/ep_42.gif')
    assert video_file_for('d/ep_{episode}.gif', 3, 42) == Path('d/ep_3.gif')


def test_gif_frames_last_one_control_period_and_loop(tmp_path):
    """A GIF at fps 10 shows each frame 100 ms and loops forever (loop=0)."""
    path = tmp_path / 'a' / 'b' / 'ep.gif'  # missing folders are made
    write_video(path, _frames(16, 24), 10.0)
    with Image.open(path) as im:
        assert im.n_frames == 4
        assert im.info['duration'] == 100
        assert im.info.get('loop') == 0


def test_mp4_fallback_keeps_rgb_order_and_odd_sizes(tmp_path):
    """Odd sizes defeat H.264, so OpenCV's writer takes over: every frame is written at its
    size (MPEG-4 rounds odd sizes down to even on decode) and red stays red (RGB frames
    converted to OpenCV's BGR)."""
    path = tmp_path / 'nested' / 'odd.mp4'
    write_video(path, _frames(33, 47, n=5), 10.0)
    cap = cv2.VideoCapture(str(path))
    try:
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
        ok, bgr = cap.read()
    finally:
        cap.release()
    assert ok and bgr.shape[:2] in ((33, 47), (32, 46))
    b, g, r = bgr[10:20, 10:30].reshape(-1, 3).mean(axis=0)
    assert r > 200 and b < 60 and g < 60


def test_background_writer_reports_success_and_failure(tmp_path):
    """A written video is reported through on_done; a failure through on_error, never raised."""
    done, errors = [], []
    videos = BackgroundVideos(10.0, done.append, errors.append)
    videos.write(tmp_path / 'ok.gif', _frames(8, 8, n=2))
    (tmp_path / 'file').write_text('not a folder')
    videos.write(tmp_path / 'file' / 'bad.gif', _frames(8, 8, n=2))
    videos.join(timeout=60)
    assert done == [f'wrote 2 frames to {tmp_path / "ok.gif"}']
    assert len(errors) == 1 and errors[0].startswith(
        f'could not write video {tmp_path / "file" / "bad.gif"}')
    assert (tmp_path / 'ok.gif').stat().st_size > 0
