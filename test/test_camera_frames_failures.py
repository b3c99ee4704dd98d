"""Camera frames (runtime/camera_frames.py) that cannot be used, and the frames kept:
- a decode raising something other than BadInput (cv2.error, MemoryError) is kept as the
  frame's BadInput('image_decode'), every call: before, it escaped once and every later
  image() raised a bare AssertionError (None under -O);
- FrameBook drops a stream's frames as the history drops its samples, behind that stream's
  own newest: before, behind the filing camera's, so a camera lagging another had its
  newest frame released while the history still handed it out;
- a released frame asked for (a bug) is said: the Wait carries the reason (the node warns
  once), where before it was neither counted nor logged."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, T0, make_loop

from dp_ros.runtime.camera_frames import CameraFrame, FrameBook
from dp_ros.runtime.input_checks import BadInput
from dp_ros.runtime.observation_history import ObservationHistory
from dp_ros.runtime.planning_loop import BAD_FRAME, Wait


def test_any_decode_error_is_kept_as_the_frames_bad_input():
    calls = []

    def decode() -> np.ndarray:
        calls.append(1)
        raise MemoryError('oom')

    frame = CameraFrame(decode)
    for _ in range(2):
        with pytest.raises(BadInput) as exc:
            frame.image()
        assert exc.value.kind == 'image_decode' and 'MemoryError' in str(exc.value)
    assert calls == [1]


def test_frames_are_kept_behind_their_own_streams_newest():
    history = ObservationHistory(['a', 'b'], 1, 100, 500, keep_ns=500)
    book = FrameBook()
    frames = {}
    for stream, t in (('a', 900), ('a', 1000), ('b', 100), ('b', 200)):  # b lags a by 800
        frames[t] = CameraFrame(lambda: np.zeros(1))
        assert history.add(stream, t, frames[t])
        book.filed(stream, t, frames[t])
    book.release_before(0, history.oldest_stamp)
    assert not frames[200].released and not frames[100].released
    assert not frames[900].released and not frames[1000].released
    frames[800] = CameraFrame(lambda: np.zeros(1))
    assert history.add('b', 800, frames[800])
    book.filed('b', 800, frames[800])
    # 100 and 200 are more than 500 behind 800: 200 is kept, the one at or before the edge
    book.release_before(0, history.oldest_stamp)
    assert frames[100].released and not frames[200].released
    assert not frames[800].released and not frames[900].released


def test_a_released_frame_asked_for_is_said_in_the_wait():
    loop = make_loop()
    frames = []
    for t in (T0, T0 + DT):
        frames.append(CameraFrame(lambda: np.zeros((2, 2, 3), np.uint8)))
        loop.add('image', t, frames[-1], t)
        loop.add('agent_pos', t, np.zeros(2), t)
    frames[0].release()  # as a bug would
    result = loop.poll(T0 + DT, False)
    assert isinstance(result, Wait) and result.reason == BAD_FRAME
    assert 'please report' in result.detail and "'image'" in result.detail
