"""Camera frames filed undecoded (runtime/camera_frames.py): the planning loop decodes only
the frames an observation uses, each once; a frame that cannot be used is a bad message of
its kind, counted once, and refuses the observation it is in (newer frames move the
observation on); frames no later observation can use are released unread (superseded).

Why: decoding every full-size frame where it arrived kept the policy node's executor from
its joint states (test/ros/test_policy_node_camera_load.py)."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, MS, T0, make_loop, plan_now

from dp_ros.runtime.camera_frames import CameraFrame, FrameBook
from dp_ros.runtime.input_checks import BadInput
from dp_ros.runtime.planning_loop import BAD_FRAME, PlanRequest, Wait


class Decoder:
    """Decode functions that count their calls and give an image per stamp (or fail)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def frame(self, t_ns: int, fail: str | None = None) -> CameraFrame:
        def decode() -> np.ndarray:
            self.calls.append(t_ns)
            if fail is not None:
                raise BadInput(fail, f'frame {t_ns} broken')
            return np.full((2, 2, 3), t_ns // DT % 256, np.uint8)
        return CameraFrame(decode)


def feed(loop, decoder: Decoder, t_ns: int, fail: str | None = None) -> None:
    assert loop.add('image', t_ns, decoder.frame(t_ns, fail), clock_ns=t_ns)
    assert loop.add('agent_pos', t_ns, np.zeros(2, np.float32), clock_ns=t_ns)


def test_a_frame_is_decoded_once_and_its_failure_kept():
    decoder = Decoder()
    frame = decoder.frame(T0)
    assert not frame.decoded
    assert frame.image() is frame.image() and decoder.calls == [T0]
    bad = decoder.frame(T0, fail='image_decode')
    for _ in range(2):
        with pytest.raises(BadInput) as exc:
            bad.image()
        assert exc.value.kind == 'image_decode'
    assert decoder.calls == [T0, T0]


def test_only_the_frames_an_observation_uses_are_decoded_each_once():
    loop, decoder = make_loop(), Decoder()
    for k in range(5):  # camera frames at 3x the control rate: most never used
        assert loop.add('image', T0 + k * DT // 3, decoder.frame(T0 + k * DT // 3),
                        clock_ns=T0 + k * DT // 3)
    loop.add('agent_pos', T0, np.zeros(2, np.float32), clock_ns=T0)
    loop.add('agent_pos', T0 + DT, np.zeros(2, np.float32), clock_ns=T0 + DT)
    request = plan_now(loop, T0 + DT)  # times T0, T0 + dt: the frames stamped so
    assert decoder.calls == [T0, T0 + DT]
    images = request.observation.values['image']
    assert all(isinstance(v, np.ndarray) for v in images), images
    assert request.observation.stamps_ns['image'] == [T0, T0 + DT]
    loop.finish(request.context, np.zeros((16, 2), np.float32), None, T0 + DT)
    # the next observation shares its older frame with this one: decoded once
    feed(loop, decoder, T0 + 2 * DT)
    loop.schedule.clear()
    plan_now(loop, T0 + 2 * DT)
    assert decoder.calls == [T0, T0 + DT, T0 + 2 * DT]
    # the next frame filed: those before T0 + dt (the oldest time a later observation can
    # ask for), 33 and 66 ms, were released unread; the one at 133 ms may still be used
    assert loop.add('image', T0 + 2 * DT + 10 * MS, decoder.frame(0), clock_ns=T0 + 2 * DT)
    values = loop.diagnostics(T0 + 2 * DT, 0)
    assert values['camera_frames_decoded'] == 3
    assert values['camera_frames_superseded'] == 2, values


def test_a_frame_that_fails_refuses_its_observations_counted_once_then_newer_ones_plan():
    loop, decoder = make_loop(), Decoder()
    feed(loop, decoder, T0)
    feed(loop, decoder, T0 + DT, fail='camera_crop')
    for _ in range(3):  # polled again: the same refusal, not counted again
        result = loop.poll(T0 + DT, runner_busy=False)
        assert isinstance(result, Wait) and result.reason == BAD_FRAME
        assert loop.state == BAD_FRAME
    values = loop.diagnostics(T0 + DT, 0)
    assert values['bad_camera_crop'] == 1 and values['bad_messages'] == 1
    feed(loop, decoder, T0 + 2 * DT)  # still in the observation (its older time)
    assert loop.poll(T0 + 2 * DT, runner_busy=False).reason == BAD_FRAME
    feed(loop, decoder, T0 + 3 * DT)
    assert isinstance(loop.poll(T0 + 3 * DT, runner_busy=False), PlanRequest)
    assert loop.diagnostics(T0 + 3 * DT, 0)['bad_messages'] == 1


def test_plain_values_pass_through_untouched():
    loop = make_loop()
    for t in (T0, T0 + DT):
        loop.add('image', t, ('image', t))
        loop.add('agent_pos', t, ('agent_pos', t))
    request = plan_now(loop, T0 + DT)
    assert request.observation.values['image'] == [('image', T0), ('image', T0 + DT)]


def test_the_book_releases_frames_a_newer_one_stands_in_for():
    decoder, book = Decoder(), FrameBook()
    frames = [decoder.frame(t) for t in range(4)]
    for t, frame in enumerate(frames):
        book.filed('cam', t, frame)
    frames[1].image()
    book.release_before(2)  # times >= 2 take the frame at 2 or a newer one
    assert [f.decoded for f in frames] == [True, True, False, False]
    assert book.superseded == 1  # frame 0; frame 1 was decoded
    with pytest.raises(BadInput):
        frames[0].image()  # released: never used, but never a crash either
    book.clear()
    assert book.superseded == 1 and all(f.decoded for f in frames)
