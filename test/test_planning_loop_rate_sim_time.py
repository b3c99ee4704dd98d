"""The input rates of a realtime node whose clock runs at another pace than the wall (sim
time: Gazebo at a real-time factor of 0.5, `ros2 bag play --rate 0.5 --clock`).

Defect pinned: the 'input slower than its training data' check counted arrivals on the wall
clock, so a camera at its recorded 30 Hz of sim time read 15 Hz with sim time at half speed
(WARN on /diagnostics, a warning to check the driver's rate), and a camera really too slow
was missed with sim time faster than the wall. Its samples at the observation times (node
clock) are as old as the stamps say, so the rate is measured on the stamps; /diagnostics'
input_<name>_rate_hz is the same rate the warning quotes.
"""
from __future__ import annotations

import dataclasses

from test_planning_loop import T0, make_loop

CAMERA_PERIOD_NS = 33_333_333  # 30 Hz of sim time, as recorded
WALL0 = 5_000_000_000


def loop_recorded_at_30_hz(**values):
    loop = make_loop(**values)
    loop.setup = dataclasses.replace(loop.setup,
                                     recorded_rates_hz={'image': 30.0, 'agent_pos': None})
    return loop


def file_camera(loop, period_ns: int, wall_per_sim: float, seconds: float) -> tuple[int, int]:
    """Frames every period_ns of sim time, arriving wall_per_sim wall ns per sim ns; the
    stamp and wall time of the last."""
    n = int(seconds * 1e9 / period_ns)
    for i in range(n + 1):
        stamp = T0 + i * period_ns
        loop.add('image', stamp, 'x', clock_ns=stamp,
                 wall_ns=WALL0 + int(wall_per_sim * i * period_ns))
    return T0 + n * period_ns, WALL0 + int(wall_per_sim * n * period_ns)


def test_a_camera_at_its_recorded_rate_of_sim_time_is_not_slow_when_sim_time_runs_at_half_speed():
    """30 Hz of the node clock (15 Hz of wall time) is not slower than the recorded 30 Hz."""
    loop = loop_recorded_at_30_hz()
    clock, wall = file_camera(loop, CAMERA_PERIOD_NS, 2.0, 3.0)
    assert loop.slow_inputs(wall) == {}, (
        'the camera at 30 Hz of sim time reported slow, rate measured on the wall clock')
    values = loop.diagnostics(clock, wall)
    assert values['inputs_slow'] == '' and round(values['input_image_rate_hz']) == 30


def test_a_camera_too_slow_in_sim_time_is_reported_when_sim_time_runs_faster():
    """10 Hz of sim time at three times the wall's pace (30 Hz of wall time) is slow."""
    loop = loop_recorded_at_30_hz()
    clock, wall = file_camera(loop, 100_000_000, 1 / 3, 3.0)
    assert set(loop.slow_inputs(wall)) == {'image'}
    rate, recorded = loop.slow_inputs(wall)['image']
    assert round(rate) == 10 and recorded == 30.0
    assert loop.diagnostics(clock, wall)['inputs_slow'] == 'image'


def test_a_camera_that_stopped_reads_0_hz_and_the_rate_restarts_with_the_clock():
    """A window of wall time without a frame: 0 Hz (no stale rate). After the clock went back
    the stamps of the old clock do not count: the window fills anew."""
    loop = loop_recorded_at_30_hz()
    clock, wall = file_camera(loop, CAMERA_PERIOD_NS, 1.0, 3.0)
    assert round(loop.diagnostics(clock, wall)['input_image_rate_hz']) == 30
    assert loop.diagnostics(clock, wall + 2_100_000_000)['input_image_rate_hz'] == 0.0
    loop.poll(clock, False)
    back = T0 - 5_000_000_000
    assert not loop.poll(back, False) and loop.clock_jumps == 1
    loop.add('image', back, 'x', clock_ns=back, wall_ns=wall + 1)
    assert not loop.stats['image'].window_full(wall + 1, on_stamps=True)
    assert loop.slow_inputs(wall + 1) == {}


def test_after_a_reset_the_rate_starts_anew_without_failing():
    """~/reset clears the history (older stamps may come next), and the stamps the rate is
    on with it: 0 Hz until two frames are filed again, then their rate."""
    loop = loop_recorded_at_30_hz()
    clock, wall = file_camera(loop, CAMERA_PERIOD_NS, 1.0, 1.0)
    loop.reset(clock)
    assert loop.diagnostics(clock, wall)['input_image_rate_hz'] == 0.0
    for i in (1, 2):
        loop.add('image', clock + i * CAMERA_PERIOD_NS, 'x', wall_ns=wall + i * CAMERA_PERIOD_NS)
    assert round(loop.diagnostics(clock, wall + 2 * CAMERA_PERIOD_NS)['input_image_rate_hz']) == 30
