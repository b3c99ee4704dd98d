"""A camera whose every frame fails to decode stops a moving plan as stale inputs do. Frames
are filed undecoded (decoded when an observation uses them), so corrupt ones keep the
stream 'fresh'; before this, a moving arm was never stopped (the plan waited 'inputs: bad
frame' for ever), where a silent camera is stopped max_input_age_s after its last frame.
One bad frame only delays a plan; lockstep waits as before."""
from __future__ import annotations

import numpy as np
from test_planning_loop import DT, T0, make_loop

from dp_ros.runtime.camera_frames import CameraFrame
from dp_ros.runtime.input_checks import BadInput
from dp_ros.runtime.planning_loop import BAD_FRAME, PlanRequest
from dp_ros.runtime.safety import Hold


def good() -> np.ndarray:
    return np.zeros((2, 2, 3), np.uint8)


def bad() -> np.ndarray:
    raise BadInput('image_decode', 'corrupt jpeg')


def moving(**values):
    loop = make_loop(**values)
    for t in (T0, T0 + DT):
        loop.add('image', t, CameraFrame(good), t)
        loop.add('agent_pos', t, np.zeros(2), t)
    request = loop.poll(T0 + DT, False)
    assert isinstance(request, PlanRequest), request
    loop.submitted(request)
    loop.finish(request.context, np.zeros((16, 2), np.float32), None, T0 + DT)
    return loop


def run(loop, decoders: list) -> list:
    """A frame (of each decode function in turn) and a state every period, polled."""
    results = []
    for k, decode in enumerate(decoders, start=2):
        t = T0 + k * DT
        loop.add('image', t, CameraFrame(decode), t)
        loop.add('agent_pos', t, np.zeros(2), t)
        result = loop.poll(t, False)
        results.append(result)
        if isinstance(result, PlanRequest):
            loop.submitted(result)
            loop.finish(result.context, np.zeros((16, 2), np.float32), None, t)
    return results


def test_frames_that_never_decode_stop_a_moving_plan_as_stale():
    loop = moving()
    results = run(loop, [bad] * 28)
    holds = [r for r in results if isinstance(r, Hold)]
    assert [h.reason for h in holds] == ['stale'] and not loop.moving
    assert loop.holds['stale'] == 1
    # no sooner than max_input_age_s (0.4 s) after the first refused observation
    first_refused = next(i for i, r in enumerate(results) if getattr(r, 'reason', '')
                         == BAD_FRAME)
    stop = results.index(holds[0])
    assert (stop - first_refused) * DT > 400_000_000 >= (stop - first_refused - 1) * DT


def test_one_bad_frame_only_delays_the_next_plan():
    loop = moving()
    results = run(loop, [bad] + [good] * 27)
    assert not any(isinstance(r, Hold) for r in results) and loop.moving


def test_lockstep_waits_as_before():
    loop = moving(lockstep=True)
    results = run(loop, [bad] * 10)
    assert not any(isinstance(r, Hold) for r in results) and loop.holds['stale'] == 0
