"""A decelerating stop (stop_deceleration) keeps the hold point: Hold.position is where the
arm is (measured, else commanded, now), what a pose target is sent at once (a forward
controller too after a stop that ends streaming); trajectory controllers get the path, whose
end lies v^2/(2a) beyond where the controller was commanded, and forward controllers its
points as they fall due (test_planning_loop_stop_stream.py). Before, Hold.position was the
path's last point: a forward controller was sent a target far ahead in one step. A stop on
stale inputs (blind) lasts at most what the running plan still commanded."""
from __future__ import annotations

import numpy as np
from test_safety_stop_deceleration import DT, MS, T0, moving_loop

from dp_ros.runtime.safety import stop_path


def test_the_hold_point_is_where_the_controller_is_commanded_not_the_path_end():
    loop = moving_loop(stop_deceleration=[1.0])  # 20/s at 1/s^2: 20 s, 200 units on
    now = T0 + 3 * DT + 50 * MS
    hold = loop.stop('disabled', now)
    np.testing.assert_allclose(hold.position, [7.0, 8.0])  # commanded now (unmeasured)
    assert hold.source == 'commanded'
    assert hold.path is not None and hold.path[-1, 0] > 100  # the trajectory's rest point


def test_a_measured_arm_holds_at_the_measured_position():
    loop = moving_loop(stop_deceleration=[1.0])
    now = T0 + 3 * DT
    loop.measure(now, np.array([6.5, 7.5]))
    hold = loop.stop('disabled', now)
    assert hold.source == 'measured'
    np.testing.assert_allclose(hold.position, [6.5, 7.5])
    assert hold.path is not None


def test_a_stale_stop_lasts_at_most_the_plans_remaining_horizon():
    loop = moving_loop(stop_deceleration=[1.0])
    now = T0 + 3 * DT + 50 * MS
    remaining = int(loop.commanded.due_ns[-1]) - now
    hold = loop.stop('stale', now)
    assert hold.path is not None and len(hold.path) * hold.step_ns <= remaining + DT
    # a harder stop: it ends no further on than the plan's own last point
    assert np.all(hold.path[-1] <= moving_loop().commanded.actions[-1] + 1e-9)
    # a disable (the node still sees the arm) decelerates at stop_deceleration
    assert len(moving_loop(stop_deceleration=[1.0]).stop('disabled', now).path) == 200


def test_a_cap_at_or_below_zero_is_the_one_point_hold():
    assert stop_path(np.zeros(1), np.ones(1), np.ones(1), DT, max_duration_ns=0) is None
    path, step = stop_path(np.zeros(1), np.ones(1), np.ones(1), DT, max_duration_ns=2 * DT)
    assert len(path) == 2 and step == DT
    np.testing.assert_allclose(path[-1], [0.1])  # 1/s to rest in 0.2 s: 0.1 on
