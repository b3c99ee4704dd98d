"""Camera frames filed undecoded, decoded (and fitted) only when an observation uses them.

Decoding a full-size frame costs milliseconds (a 1080p jpeg about 15 ms); done for every
frame in the subscription callback, three such cameras at 30 Hz kept the single-threaded
executor busy, so the joint states were read at the cameras' pace, each the oldest of its
queue. A frame is therefore filed as a CameraFrame holding its decode function: an
observation decodes the n_obs_steps frames it uses (most shared with the previous plan:
each decoded once), the others are released unread when a newer frame stands in for every
time a later observation can ask (FrameBook: counted as superseded, not an error).

ROS-free (the decode function is the caller's); not thread-safe: the caller holds a lock.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from dp_ros.runtime.input_checks import BadInput


class CameraFrame:
    """A filed camera message: its fitted image, decoded on first use, once."""

    __slots__ = ('_decode', '_image', '_failure', '_released')

    def __init__(self, decode: Callable[[], np.ndarray]):
        self._decode: Callable[[], np.ndarray] | None = decode
        self._image: np.ndarray | None = None
        self._failure: BadInput | None = None
        self._released = False

    @property
    def released(self) -> bool:
        """Whether the frame was released undecoded: asked for then, it is a bug to report."""
        return self._released

    @property
    def decoded(self) -> bool:
        """Whether the decode ran (or the frame was released): image() costs nothing now."""
        return self._decode is None

    def image(self) -> np.ndarray:
        """The fitted image; BadInput (the same one on every call) when the frame cannot be
        used. The message is dropped once decoded: only the small image is kept."""
        if self._decode is not None:
            decode, self._decode = self._decode, None
            try:
                self._image = decode()
            except BadInput as exc:
                self._failure = exc
            except Exception as exc:  # noqa: BLE001 (cv2.error, MemoryError): kept as the
                # frame's failure, not raised once and then a bare assertion on every call
                self._failure = BadInput('image_decode', f'decoding failed: {exc!r}')
        if self._failure is not None:
            raise self._failure
        if self._image is None:  # (a decode function returning None)
            self._failure = BadInput('image_decode', 'decoding gave no image')
            raise self._failure
        return self._image

    def release(self) -> None:
        """Drop the undecoded message: no observation can use the frame any more."""
        if self._decode is not None:
            self._decode = None
            self._released = True
            self._failure = BadInput('image_decode', 'a camera frame released as superseded '
                                     'was asked for (a bug: please report it)')


class FrameBook:
    """Per camera stream, the filed frames from the oldest a later observation may use on:
    an older one is released (its message freed), counted as superseded when never decoded."""

    def __init__(self) -> None:
        self._frames: dict[str, deque[tuple[int, CameraFrame]]] = {}
        self.decoded = 0  # frames decoded for an observation (each once)
        self.superseded = 0  # frames released undecoded: a newer one stood in for them

    def filed(self, stream: str, stamp_ns: int, frame: CameraFrame) -> None:
        self._frames.setdefault(stream, deque()).append((int(stamp_ns), frame))

    def release_before(self, usable_from_ns: int,
                       kept_from: Callable[[str], int | None] | None = None) -> None:
        """Release the frames no observation at or after `usable_from_ns` can use: those
        with a newer frame at or before it (the rule takes the newest at or before a time),
        and those the history no longer keeps: older than kept_from(stream), the stamp of
        the oldest sample it keeps of the stream (None: it keeps none). The history's own
        rule decides (its keep_ns behind that stream's newest, not another camera's; its
        max_samples cap, which never drops what an observation needs), so a frame it still
        hands out is never released."""
        for stream, frames in self._frames.items():
            oldest = None if kept_from is None or not frames else kept_from(stream)
            while frames and ((len(frames) > 1 and frames[1][0] <= usable_from_ns)
                              or (kept_from is not None
                                  and (oldest is None or frames[0][0] < oldest))):
                self._release(frames.popleft()[1])

    def clear(self, keep_from_ns: int | None = None) -> None:
        """The history was cleared (or cut at an episode start, keep_from_ns): its frames
        released, not counted as superseded (nothing stood in for them)."""
        for frames in self._frames.values():
            while frames and (keep_from_ns is None or frames[0][0] < keep_from_ns):
                frames.popleft()[1].release()

    def _release(self, frame: CameraFrame) -> None:
        if not frame.decoded:
            self.superseded += 1
        frame.release()
