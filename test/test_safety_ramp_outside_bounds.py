"""The ramp-in against action bounds: it runs from the measured position to the clamped target.

`dp-ros inspect --draft-params` drafts action_lower/upper as the training actions' range and
ramp_in_s 1.0 with the step limit left to fill in; an arm enabled at a pose outside that
range (its home, a gripper opened wider than in the demonstrations) must still ramp in, not
leap to the bound (defect: the envelope ramped first and clamped second, so the clamp threw
the ramp's small first steps away).
"""
from __future__ import annotations

import numpy as np

from dp_ros.runtime.safety import SafetyEnvelope, combine_limits

DT_NS = 100_000_000
RAMP_NS = 1_000_000_000  # ramp_in_s 1.0: the first point takes 1/11 of the way
LOWER, UPPER = [100.0, 120.0], [400.0, 380.0]
DUE = 5 * DT_NS + np.arange(8, dtype=np.int64) * DT_NS


def ramped(measured, target, ramp_ns=RAMP_NS, **limits) -> tuple[np.ndarray, SafetyEnvelope]:
    envelope = SafetyEnvelope(combine_limits(2, 0.1, lower=LOWER, upper=UPPER, **limits),
                              DT_NS, ramp_ns)
    measured = np.asarray(measured, dtype=np.float64)
    envelope.start_motion(measured, int(DUE[0]))
    return envelope.apply(DUE, np.tile(target, (len(DUE), 1)), measured), envelope


def test_ramp_in_from_outside_the_bounds_does_not_leap_to_the_bound():
    """The first point after enabling stays near the measured position (the ramp's first
    share of the way), not clamped straight to the bound 200 units away in one period."""
    measured, target = np.array([600.0, 20.0]), np.array([250.0, 250.0])  # outside; inside
    out, _ = ramped(measured, target)
    first_step = np.abs(out[0] - measured)
    ramp_share = DT_NS / (RAMP_NS + DT_NS)
    assert np.all(first_step <= ramp_share * np.abs(target - measured) + 1e-6), (
        f'first point {out[0].tolist()} from the measured {measured.tolist()}: a leap of '
        f'{first_step.tolist()} in one period despite ramp_in_s 1.0')


def test_the_ramp_walks_in_from_outside_toward_the_clamped_target():
    """Each point is measured + w(t) * (clamp(target) - measured): outside the bounds at first,
    moving steadily toward the bounded target, never past it."""
    measured, target = np.array([600.0, 20.0]), np.array([500.0, 0.0])  # both outside too
    out, envelope = ramped(measured, target)
    goal = np.clip(target, LOWER, UPPER)  # [400, 120]
    weights = np.array([envelope.ramp_weight(int(t)) for t in DUE])
    np.testing.assert_allclose(out, measured + weights[:, None] * (goal - measured))
    assert np.all(np.diff(out[:, 0]) < 0) and np.all(np.diff(out[:, 1]) > 0)
    assert envelope.clamped == 2 * len(DUE)  # the targets were clamped, not the walk


def test_from_inside_the_bounds_the_ramp_stays_inside_them():
    """Measured inside, target outside: the ramp goes to the bound, every point within."""
    out, _ = ramped([250.0, 250.0], [900.0, -900.0])
    assert np.all(out >= LOWER) and np.all(out <= UPPER)


def test_the_step_limit_still_bounds_every_step_of_the_walk_in():
    """max_step_delta keeps its rule with the ramp: no step from the measured position, or
    between points, exceeds it; without a ramp the walk in goes at the step limit."""
    measured = np.array([600.0, 20.0])
    out, _ = ramped(measured, [250.0, 250.0], max_step_delta=[5.0, 5.0])
    steps = np.abs(np.diff(np.vstack([measured, out]), axis=0))
    assert np.all(steps <= 5.0 + 1e-9), steps
    out, _ = ramped(measured, [250.0, 250.0], ramp_ns=0, max_step_delta=[5.0, 5.0])
    np.testing.assert_allclose(out[:, 0], 600.0 - 5.0 * np.arange(1, 9))
    np.testing.assert_allclose(out[:, 1], 20.0 + 5.0 * np.arange(1, 9))
