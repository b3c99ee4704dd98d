"""Evaluation videos: one episode per file, or several episodes tiled into one.

The encoding is sim_bridge/video.py's (the sim node's episode videos): gif through
imageio/Pillow; mp4 through imageio when it has an FFmpeg or PyAV backend, else OpenCV's
bundled FFmpeg (MPEG-4 Part 2, 'mp4v': the pip environment has neither backend). This module
adds the checks and the tiling; the labels that say which episode a tile
is are the sim's (sim_bridge/video.py label_episode), as its own episode videos carry them.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sim_bridge import video as sim_video
from sim_bridge.video import label_episode

FORMATS = sim_video.FORMATS


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: float = 10.0) -> Path:
    """Write (H, W, 3) uint8 RGB frames; the suffix (.mp4 or .gif) picks the format.

    The file appears whole or not at all (written beside it, checked, then renamed); one that
    does not fit is an OSError naming `path` (sim_bridge/video.py write_video).
    """
    path = Path(path)
    if path.suffix.lower() not in FORMATS:  # clip.MP4 as sim_bridge/video.py takes it
        raise ValueError(f'video path {path} must end in one of {FORMATS}')
    frames = [np.asarray(frame) for frame in frames]  # a list, or a (T, H, W, 3) array
    if not frames:
        raise ValueError(f'no frames to write to {path}')
    first = frames[0]
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise ValueError(f'frames must be (H, W, 3) uint8 RGB, got {first.shape} {first.dtype}')
    for frame in frames[1:]:
        if frame.shape != first.shape:
            raise ValueError(f'frame shape {frame.shape} differs from the first {first.shape}')
    if fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    sim_video.write_video(path, frames, float(fps))
    return path


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
                         fps: float = 10.0, tiled: bool = True,
                         labels: Sequence[str] | None = None) -> list[Path]:
    """One tiled video at `path`, or (tiled=False) `<stem>_<i><suffix>` per episode;
    `labels` (one per episode: its seed and score) in each tile's corner (label_episode)."""
    path = Path(path)
    if labels is not None:
        if len(labels) != len(episodes):
            raise ValueError(f'{len(labels)} labels for {len(episodes)} episodes')
        episodes = [label_episode(e, text) for e, text in zip(episodes, labels, strict=True)]
    if tiled or len(episodes) == 1:
        return [write_video(path, tile_episodes(episodes) if len(episodes) > 1 else
                            list(episodes[0]), fps)]
    return [write_video(path.with_name(f'{path.stem}_{i}{path.suffix}'), e, fps)
            for i, e in enumerate(episodes)]
