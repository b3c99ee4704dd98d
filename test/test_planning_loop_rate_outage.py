"""The input rate check (inputs_slow, input_<name>_rate_hz) after a short input outage.

Defect pinned (real-arm run, the replayed drivers paused 0.7 s between bags): the rate was the
frames counted over the last two seconds of stamps, so the outage read as slowness: 'input
comes at 19.2 Hz, its training data was recorded at 30.0 Hz ... check the driver's rate' and an
inputs_slow WARN for every input, after the stale stop had reported the outage already. Gaps
between stamps longer than max_input_age_s (outages, reported as stale) are now left out of
the rate; a driver really too slow (10 fps where 30 was recorded) is still reported, outage or
not, and one whose every gap is that long reads its own rate.
"""
from __future__ import annotations

from test_planning_loop import T0
from test_planning_loop_rate_sim_time import CAMERA_PERIOD_NS, WALL0, loop_recorded_at_30_hz

MS = 1_000_000


def file_with_outage(loop, period_ns: int, outage_ns: int, before_s: float = 3.0,
                     after_s: float = 1.3) -> tuple[int, int]:
    """Frames every period_ns (stamps on the wall's pace) for before_s, none for outage_ns,
    then again for after_s; the stamp and wall time of the last."""
    stamps = [T0 + i * period_ns for i in range(int(before_s * 1e9 / period_ns) + 1)]
    resume = stamps[-1] + outage_ns
    stamps += [resume + i * period_ns for i in range(int(after_s * 1e9 / period_ns) + 1)]
    for stamp in stamps:
        loop.add('image', stamp, 'x', clock_ns=stamp, wall_ns=WALL0 + stamp - T0)
    return stamps[-1], WALL0 + stamps[-1] - T0


def test_a_camera_at_its_recorded_rate_is_not_slow_after_a_short_outage():
    """0.7 s without frames (max_input_age_s 0.4) in the two-second window: still 30 Hz."""
    loop = loop_recorded_at_30_hz()
    clock, wall = file_with_outage(loop, CAMERA_PERIOD_NS, 700 * MS)
    assert loop.slow_inputs(wall) == {}, 'the outage counted as a slow camera'
    values = loop.diagnostics(clock, wall)
    assert values['inputs_slow'] == '' and round(values['input_image_rate_hz']) == 30


def test_a_camera_too_slow_is_still_reported_across_an_outage():
    loop = loop_recorded_at_30_hz()
    clock, wall = file_with_outage(loop, 100 * MS, 700 * MS)
    rate, recorded = loop.slow_inputs(wall)['image']
    assert round(rate) == 10 and recorded == 30.0
    assert loop.diagnostics(clock, wall)['inputs_slow'] == 'image'


def test_a_pause_within_max_input_age_still_counts():
    """A gap of max_input_age_s or less is no outage (no stale stop): it counts as before."""
    loop = loop_recorded_at_30_hz(max_input_age_s=2.0)
    clock, wall = file_with_outage(loop, CAMERA_PERIOD_NS, 700 * MS)
    rate, _ = loop.slow_inputs(wall)['image']
    assert 18 < rate < 21  # 40 frames over 2 s


def test_a_driver_whose_every_gap_is_over_max_input_age_reads_its_own_rate():
    """2 Hz with max_input_age_s 0.4: every gap is longer, none is left out (not 0 Hz)."""
    loop = loop_recorded_at_30_hz()
    clock, wall = file_with_outage(loop, 500 * MS, 500 * MS)
    assert round(loop.diagnostics(clock, wall)['input_image_rate_hz']) == 2
    assert set(loop.slow_inputs(wall)) == {'image'}
