"""Evaluation videos: one episode per file, or several episodes tiled into one.

mp4 goes through OpenCV's bundled FFmpeg (MPEG-4 Part 2, 'mp4v': the pip environment has
no imageio-ffmpeg or PyAV); gif through imageio/Pillow.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

FORMATS = ('.mp4', '.gif')


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: float = 10.0) -> Path:
    """Write (H, W, 3) uint8 RGB frames; the suffix (.mp4 or .gif) picks the format."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f'video path {path} must end in one of {FORMATS}')
    if not frames:
        raise ValueError(f'no frames to write to {path}')
    first = np.asarray(frames[0])
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise ValueError(f'frames must be (H, W, 3) uint8 RGB, got {first.shape} {first.dtype}')
    if fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.stem}.tmp{path.suffix}')
    if path.suffix == '.gif':
        import imageio.v3 as iio
        iio.imwrite(tmp, np.stack(frames), extension='.gif', duration=1000.0 / fps, loop=0)
    else:
        _write_mp4(tmp, frames, fps)
    tmp.replace(path)
    return path


def _write_mp4(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    import cv2
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), float(fps), (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV could not open an mp4 writer for {path}; write a .gif')
    try:
        for frame in frames:
            frame = np.asarray(frame)
            if frame.shape != (h, w, 3):
                raise ValueError(f'frame shape {frame.shape} differs from the first {(h, w, 3)}')
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))  # RGB -> BGR
    finally:
        writer.release()


def tile_episodes(episodes: Sequence[Sequence[np.ndarray]], cols: int | None = None,
                  gap: int = 2) -> list[np.ndarray]:
    """Episodes side by side in a grid; an episode that ended holds its last frame."""
    if not episodes or any(len(e) == 0 for e in episodes):
        raise ValueError('tile_episodes needs at least one episode, each with frames')
    n = len(episodes)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    h, w = np.asarray(episodes[0][0]).shape[:2]
    length = max(len(e) for e in episodes)
    out = []
    for t in range(length):
        canvas = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255,
                         dtype=np.uint8)
        for i, episode in enumerate(episodes):
            r, c = divmod(i, cols)
            frame = np.asarray(episode[min(t, len(episode) - 1)])
            canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = frame
        out.append(canvas)
    return out


def write_episodes_video(path: str | Path, episodes: Sequence[Sequence[np.ndarray]],
                         fps: float = 10.0, tiled: bool = True) -> list[Path]:
    """One tiled video at `path`, or (tiled=False) `<stem>_<i><suffix>` per episode."""
    path = Path(path)
    if tiled or len(episodes) == 1:
        return [write_video(path, tile_episodes(episodes) if len(episodes) > 1 else
                            list(episodes[0]), fps)]
    return [write_video(path.with_name(f'{path.stem}_{i}{path.suffix}'), e, fps)
            for i, e in enumerate(episodes)]
