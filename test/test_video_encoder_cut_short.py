"""An mp4 that OpenCV's encoder cut short with the disk fine (no errno to name): a UserError
the commands say in one line (exit 2), not an OSError(EIO) traceback, and no file left.

OpenCV's writer reports no write error, so sim_bridge/video.py reads its file back; a writer
that silently drops frames (an encoder failing mid-stream) is stood in for by one whose
write() drops every frame after the first: the disk takes everything it is given.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from dp_ros.errors import UserError
from sim_bridge import video

OPENCV_WRITER = cv2.VideoWriter


class DroppingWriter:
    """cv2.VideoWriter that keeps only its first frame, as an encoder failing midway."""

    def __init__(self, *args):
        self._writer = OPENCV_WRITER(*args)
        self._frames = 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self._writer.isOpened()

    def write(self, frame) -> None:
        self._frames += 1
        if self._frames == 1:
            self._writer.write(frame)

    def release(self) -> None:
        self._writer.release()


def test_an_mp4_cut_short_without_an_errno_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(cv2, 'VideoWriter', DroppingWriter)
    frames = [np.full((33, 35, 3), i * 40, np.uint8) for i in range(5)]  # odd: OpenCV's path
    target = tmp_path / 'episode.mp4'
    with pytest.raises(UserError, match=r'wrote 1 of 5 frames with no error') as info:
        video.write_video(target, frames, 10.0)
    assert isinstance(info.value, OSError) and info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []  # no cut-off file, no temporary
