"""Episode videos of the sim: file names, labels (an episode's seed and score in a corner)
and writing, off the stepping thread. `dp-ros eval` labels its in-process tiles with the same
functions."""
from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dp_ros.atomic_dir import naming
from dp_ros.errors import UserError

FORMATS = ('.mp4', '.gif')  # what write_video writes, named by the suffix (any case)
GIF_MAX_FPS = 50.0  # 2 cs a frame: browsers play 0-1 cs delays at 10 cs


def episode_label(seed: int | None, score: float) -> str:
    """An episode as eval summaries print it and its video (tile) is labelled; seed None for
    one that started from a given state (a replayed demonstration), which no seed describes."""
    return f'{"given start" if seed is None else f"seed {seed}"}: score {score:.4f}'


def label_patch(text: str, height: int, width: int) -> np.ndarray:
    """`text` in white on a dark box, sized to a (height, width) frame's top-left corner
    (a font about 1/20 of the height), cut to the frame: drawn once per episode and pasted
    onto each of its frames, whatever they show."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(8, height // 20)
    try:
        font = ImageFont.load_default(size)
    except (ImportError, OSError, TypeError):  # an old Pillow or no FreeType: a bitmap font
        font = ImageFont.load_default()
    pad = max(1, size // 4)
    left, top, right, bottom = ImageDraw.Draw(Image.new('RGB', (1, 1))).textbbox(
        (0, 0), text, font=font)
    box = Image.new('RGB', (min(width, right + 2 * pad), min(height, bottom + 2 * pad)),
                    (0, 0, 0))
    ImageDraw.Draw(box).text((pad, pad), text, fill=(255, 255, 255), font=font)
    return np.asarray(box)


def label_episode(frames: Sequence[np.ndarray], text: str, copy: bool = True
                  ) -> list[np.ndarray]:
    """An episode's frames with `text` in the top-left corner (label_patch): copies, or with
    copy=False the frames themselves where they are writable uint8 (frames handed over for
    good, as the sim's are: 300 frames of the arm's 640 x 480 camera are 276 MB to copy)."""
    frames = [frame if not copy and isinstance(frame, np.ndarray) and frame.dtype == np.uint8
              and frame.flags.writeable else np.array(frame, dtype=np.uint8)
              for frame in frames]
    if frames:
        patch = label_patch(text, *frames[0].shape[:2])
        ph, pw = patch.shape[:2]
        for frame in frames:
            frame[:ph, :pw] = patch
    return frames


def check_video_suffix(path: str | Path) -> None:
    """ValueError unless `path` ends in a suffix write_video writes (.mp4, .gif)."""
    if Path(path).suffix.lower() not in FORMATS:
        raise ValueError(f"must end in .gif or .mp4, got '{path}'")


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
    check_video_suffix(path)
    try:
        video_file_for(path, 0, 0)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"'{path}': only {{episode}} and {{seed}} can be filled in "
                         f'({exc!r})') from None


def gif_delays_ms(n_frames: int, fps: float) -> list[int]:
    """Per-frame GIF delays (whole centiseconds, in ms) that add up to n_frames / fps: the
    hundredths alternate (15 fps: 70, 60, 70, ... ms), not every frame cut to 60 ms."""
    ends = np.round(np.arange(1, n_frames + 1) * 100.0 / fps).astype(np.int64)
    return [int(d) * 10 for d in np.diff(ends, prepend=0)]


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """GIF through imageio; MP4 as H.264 through imageio's PyAV plugin, else OpenCV's 'mp4v'.

    H.264 plays in browsers; it needs even frame sizes and PyAV, so odd sizes go straight to
    OpenCV's bundled MPEG-4 Part 2 writer (a failed H.264 writer prints a traceback when it
    is collected), and any other failure of that encoder (no PyAV) falls back to it too.
    A GIF above GIF_MAX_FPS keeps every k-th frame at fps / k: same duration, and delays a
    browser does not stretch to 100 ms.

    The file appears whole or not at all: written beside `path`, checked and renamed. One
    that does not fit (a full disk) is an OSError naming `path` (its errno: ENOSPC, EFBIG),
    never a cut-off file: OpenCV's writer drops its write errors, so its file is read back.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.stem}.tmp{path.suffix}')
    try:
        data = _encode(frames, fps, path.suffix.lower())
        if data is None:  # OpenCV writes files only
            _write_mp4v(tmp, path, frames, fps)
        else:
            with naming(path, tmp):  # a refused write names `path`, not its stand-in
                tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _encode(frames: Sequence[np.ndarray], fps: float, suffix: str) -> bytes | None:
    """The GIF or H.264 MP4 encoded in memory, so a failed write of it is an OSError and an
    encoder's never depends on the disk; None for an MP4 that OpenCV must write instead."""
    import imageio.v3 as iio

    if suffix == '.gif':
        step = int(np.ceil(fps / GIF_MAX_FPS))
        frames = frames[::step]
        delays = gif_delays_ms(len(frames), fps / step)
        # Pillow saves a single frame as a still image, whose delay must be a number (a
        # list of one is a TypeError)
        return iio.imwrite('<bytes>', np.stack(frames), extension='.gif', loop=0,
                           duration=delays[0] if len(delays) == 1 else delays)
    h, w = frames[0].shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        try:
            return iio.imwrite('<bytes>', np.stack(frames), extension='.mp4', fps=fps,
                               codec='libx264')
        except Exception:  # noqa: BLE001 - av.error.*, ImportError: use the fallback
            pass
    return None


def _write_mp4v(tmp: Path, path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """`frames` to `tmp` through OpenCV, then read back: its writer reports no write error,
    so a file that holds fewer frames is an OSError naming `path` (why the file stopped
    growing when a write past its end says so: ENOSPC, EFBIG)."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    try:
        if not writer.isOpened():  # a file that cannot be made, else no encoder
            why = _why_cut(tmp)
            if why is not None:
                raise OSError(why.errno, why.strerror or str(why), str(path))
            raise RuntimeError(f'no mp4 encoder could write {path}; write a .gif')
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    finally:
        writer.release()
    reader = cv2.VideoCapture(str(tmp))
    try:
        written = int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) if reader.isOpened() else 0
    finally:
        reader.release()
    if written != len(frames):
        why = _why_cut(tmp)
        if why is not None:  # the disk's: ENOSPC, EFBIG, EACCES
            raise OSError(why.errno, why.strerror or str(why), str(path))
        raise VideoEncodeError(errno.EIO, f'the mp4 encoder wrote {max(written, 0)} of '
                               f'{len(frames)} frames with no error: write a .gif instead',
                               str(path))


class VideoEncodeError(UserError, OSError):
    """An mp4 the encoder cut short with no system error to name (errno EIO): the user's to
    work around (a .gif, another encoder), said in one line by the commands, not a bug."""


def _why_cut(path: Path) -> OSError | None:
    """The error of writing past the end of a file that stopped growing, or of making it (a
    full disk: ENOSPC, a file-size limit: EFBIG, no permission: EACCES); None when it grows."""
    try:
        with open(path, 'ab') as file:
            file.write(bytes(1 << 16))
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        return exc
    return None


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

    def write(self, path: Path, frames: list[np.ndarray], label: str = '') -> None:
        """`frames` to `path`, `label` (episode_label) in each one's corner, on a thread."""
        thread = threading.Thread(target=self._write, args=(path, frames, label), daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _write(self, path: Path, frames: list[np.ndarray], label: str) -> None:
        try:
            # the frames are this writer's alone (the sim starts a new list): labelled in place
            write_video(path, label_episode(frames, label, copy=False) if label else frames,
                        self.fps)
            self._on_done(f'wrote {len(frames)} frames to {path}')
        except Exception as exc:
            self._on_error(f'could not write video {path}: {exc!r}')

    def join(self, timeout: float = 30.0) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout)
