"""Episode videos of the sim: file names and writing, off the stepping thread."""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def video_file_for(path: str, episode: int, seed: int) -> Path:
    """The file of one episode: '{episode}'/'{seed}' filled in, else _epNNN after episode 0."""
    if '{episode' in path or '{seed' in path:
        return Path(path.format(episode=episode, seed=seed))
    p = Path(path)
    return p if episode == 0 else p.with_name(f'{p.stem}_ep{episode:03d}{p.suffix}')


def check_video_pattern(path: str) -> None:
    """ValueError unless `path` is a .gif or .mp4 whose only placeholders are '{episode}' and
    '{seed}': checked where it is given (the node's video_path, `dp-ros sim --video`), not on
    the worker at the first episode's end."""
    if Path(path).suffix.lower() not in ('.gif', '.mp4'):
        raise ValueError(f"must end in .gif or .mp4, got '{path}'")
    try:
        video_file_for(path, 0, 0)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"'{path}': only {{episode}} and {{seed}} can be filled in "
                         f'({exc!r})') from None


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """GIF through imageio; MP4 as H.264 through imageio's PyAV plugin, else OpenCV's 'mp4v'.

    H.264 plays in browsers; it needs even frame sizes and PyAV, so any failure of that
    encoder (odd sizes, no PyAV) falls back to OpenCV's bundled MPEG-4 Part 2 writer.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    import imageio.v3 as iio

    if path.suffix.lower() == '.gif':
        iio.imwrite(path, np.stack(frames), extension='.gif', duration=1000.0 / fps, loop=0)
        return
    try:
        iio.imwrite(path, np.stack(frames), extension='.mp4', fps=fps, codec='libx264')
    except Exception:  # noqa: BLE001 - av.error.*, ImportError, OSError: use the fallback
        path.unlink(missing_ok=True)
        import cv2

        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
        try:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
        finally:
            writer.release()


class BackgroundVideos:
    """Writes each video on its own thread: encoding must not delay the next step.

    A video is a by-product, so a failure is reported through `on_error`, never raised.
    """

    def __init__(self, fps: float, on_done: Callable[[str], None],
                 on_error: Callable[[str], None]):
        self.fps = fps
        self._on_done = on_done
        self._on_error = on_error
        self._threads: list[threading.Thread] = []

    def write(self, path: Path, frames: list[np.ndarray]) -> None:
        thread = threading.Thread(target=self._write, args=(path, frames), daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _write(self, path: Path, frames: list[np.ndarray]) -> None:
        try:
            write_video(path, frames, self.fps)
            self._on_done(f'wrote {len(frames)} frames to {path}')
        except Exception as exc:
            self._on_error(f'could not write video {path}: {exc!r}')

    def join(self, timeout: float = 30.0) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout)
