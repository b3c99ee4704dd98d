"""The loop's model of a joint_trajectory_controller (interpolate_from_desired_state: a new
trajectory replaces the running one on arrival and runs from the desired state straight to its
first point), checked against such a controller, as a randomized sequence review found it
wrong: a chunk that landed before the running chunk's first point was taken for the plan
before it until that point (the next chunk's point 0, limited from the wrong position, was
reached at 85x the speed limit); a re-enable while a decelerating stop ran limited the new
motion from the lagging measured arm, not the controller's position on the stop path (a pull
back at 5x the limit); and a forward controller on a plan at exactly the step limit got up to
1.9x it (rounding emptied the one value within reach of every point it may hold)."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, MS, T0, feed, feed_until, make_loop, plan_now

LIMIT = 0.05  # max_step_delta per 0.1 s period: 0.5 units/s


class Controller:
    """A joint_trajectory_controller with interpolate_from_desired_state, linear between
    points: what the node models."""

    def __init__(self, position: np.ndarray):
        self.t_recv, self.start = 0, np.asarray(position, dtype=float)
        self.times: np.ndarray | None = None
        self.points: np.ndarray | None = None

    def desired(self, t: int) -> np.ndarray:
        if self.times is None:
            return self.start.copy()
        if t <= self.times[0]:
            span = self.times[0] - self.t_recv
            w = 1.0 if span <= 0 else max(0.0, (t - self.t_recv) / span)
            return self.start + w * (self.points[0] - self.start)
        if t >= self.times[-1]:
            return self.points[-1].copy()
        i = int(np.searchsorted(self.times, t, side='right')) - 1
        w = (t - self.times[i]) / (self.times[i + 1] - self.times[i])
        return self.points[i] + w * (self.points[i + 1] - self.points[i])

    def receive(self, t: int, times: np.ndarray, points: np.ndarray) -> None:
        self.start, self.t_recv = self.desired(t), t
        self.times, self.points = np.asarray(times), np.asarray(points, dtype=float)

    def fastest(self, start: int, stop: int) -> float:
        """The largest speed (units/s) of the desired state over [start, stop], per ms."""
        path = np.array([self.desired(t)[0] for t in range(start, stop + 1, MS)])
        return float(np.abs(np.diff(path)).max() / (MS / 1e9))


def moving_forward(loop, sent_ns: int = T0 + DT, lead_ns: int = 0) -> Controller:
    """The loop's first chunk (+x at the step limit from the measured 0) sent at `sent_ns`,
    landing lead_ns later on a modelled controller, which is returned."""
    jtc = Controller(np.zeros(2))
    loop.measure(T0 + DT, np.zeros(2))
    feed(loop, T0)
    feed(loop, T0 + DT)
    ahead = np.zeros((16, 2))
    ahead[1:, 0] = LIMIT * np.arange(15)  # +x at the step limit
    plan = loop.finish(plan_now(loop, T0 + DT).context, ahead, None, sent_ns)
    jtc.receive(sent_ns + lead_ns, plan.due_ns, plan.actions)
    return jtc


def test_a_chunk_landing_before_the_running_chunks_first_point_is_modelled_from_its_landing():
    loop = make_loop(max_step_delta=[LIMIT, LIMIT], replan_threshold=6)
    jtc = moving_forward(loop)
    for k in range(2, 5):
        feed(loop, T0 + k * DT)
    feed(loop, T0 + 4 * DT + 20 * MS)  # a camera stamp off the grid
    slow = plan_now(loop, T0 + 4 * DT + 20 * MS)
    feed(loop, T0 + 5 * DT)
    t_a = T0 + 55 * DT // 10  # sampled slowly: its first point due at 6.2 dt
    back = loop.finish(slow.context, np.zeros((16, 2)), None, t_a)
    jtc.receive(t_a, back.due_ns, back.actions)
    fast = plan_now(loop, t_a)  # on the observation of 5 dt
    t_b = T0 + 6 * DT - MS  # sampled in 49 ms: its first point due at 6 dt
    np.testing.assert_allclose(loop._controller_at(t_b), jtc.desired(t_b), atol=1e-9)
    on = loop.finish(fast.context, np.tile([1.0, 0.0], (16, 1)), None, t_b)
    jtc.receive(t_b, on.due_ns, on.actions)
    assert jtc.fastest(t_a, T0 + 8 * DT) <= LIMIT / 0.1 * (1 + 1e-6)  # it was 42.5 /s


@pytest.mark.parametrize('again', [None, 'disabled', 'reset'])
def test_a_re_enable_during_a_decelerating_stop_goes_on_from_the_stop_path(again):
    """`again`: a stop while nothing moves (a disable sent again by a deadman client, a reset
    while disabled) forgot the running stop's path: the pull-back came back (5x)."""
    lag = 30 * MS  # the arm follows its command 30 ms late
    loop = make_loop(max_step_delta=[LIMIT, LIMIT], stop_deceleration=[0.5])
    jtc = moving_forward(loop)
    t_stop = T0 + 4 * DT + 50 * MS
    loop.measure(t_stop - 5 * MS, jtc.desired(t_stop - 5 * MS - lag))
    hold = loop.stop('disabled', t_stop)
    loop.enable(False)
    jtc.receive(t_stop, t_stop + hold.step_ns * np.arange(1, len(hold.path) + 1), hold.path)
    if again == 'disabled':
        assert loop.stop('disabled', t_stop + 20 * MS) is None
    elif again == 'reset':
        assert loop.reset(t_stop + 20 * MS) is None
    t_on = t_stop + 100 * MS
    loop.enable(True)
    feed(loop, t_on - DT)
    feed(loop, t_on)
    loop.measure(t_on, jtc.desired(t_on - lag))
    request = plan_now(loop, t_on)
    t_fin = t_on + 95 * MS
    on = np.zeros((16, 2))
    on[:, 0] = jtc.desired(t_on)[0] + LIMIT * np.arange(16)  # go on forward
    loop.measure(t_fin - 5 * MS, jtc.desired(t_fin - 5 * MS - lag))
    assert loop._measured[0] < jtc.desired(t_fin)[0] - 0.01  # the arm lags its command
    new = loop.finish(request.context, on, None, t_fin)
    jtc.receive(t_fin, new.due_ns, new.actions)
    assert jtc.fastest(t_stop, t_fin + 3 * DT) <= LIMIT / 0.1 * (1 + 1e-6)  # it was 2.5 /s


def test_a_forward_controller_on_a_plan_at_the_step_limit_stays_within_it():
    for start in np.round(np.arange(0.0, 1.0, 0.01), 2):  # 0.26 was rounded out of reach
        loop = make_loop(max_step_delta=[LIMIT, LIMIT], replan_threshold=8,
                         action_stream_topics=['/pusht/joint_trajectory'])
        loop.measure(T0 + DT, np.full(2, start))
        feed(loop, T0)
        feed(loop, T0 + DT)
        ahead = np.full((16, 2), start)
        ahead[1:, 0] = start + LIMIT * np.arange(15)
        loop.finish(plan_now(loop, T0 + DT).context, ahead, None, T0 + DT)
        sent = []
        for t in range(T0 + DT, T0 + 5 * DT + 1, 5 * MS):
            if (p := loop.point_due(t)) is not None:
                sent.append(p[0])
        t_obs = T0 + 5 * DT + 2 * MS  # 2 ms off the plan's grid
        feed(loop, t_obs - DT)
        feed(loop, t_obs)
        request = plan_now(loop, t_obs)
        loop.finish(request.context, np.full((16, 2), start), None, t_obs + 10 * MS)  # back
        for t in range(T0 + 5 * DT + 5 * MS, T0 + 7 * DT, 5 * MS):
            if (p := loop.point_due(t)) is not None:
                sent.append(p[0])
        assert np.abs(np.diff(sent)).max() <= LIMIT * (1 + 1e-9), (start, sent)


@pytest.mark.parametrize('mixed', [False, True])
def test_a_stop_sent_while_a_chunk_is_on_its_way_starts_from_where_that_chunk_takes_it(mixed):
    """With action_lead_s, a decelerating stop sent while the newest chunk is still on its
    way lands after it: the controller then runs from that chunk's line, not from the plan
    it replaced. The stop's path started from the controller at the stop (on the old plan,
    going on forward at full speed) and was reached from the new chunk's line at 1.2x the
    step limit (a randomized review of the loop). `mixed`: the second joint on a forward
    controller (an arm's gripper), which gets its stop point by point from now (a closing
    review: any forward topic took the trajectory's path from now again, 1.05x)."""
    lead = 50 * MS
    extra = dict(action_joint_topics=['/arm/joint_trajectory', '/gripper/commands'],
                 action_stream_topics=['/gripper/commands']) if mixed else {}
    loop = make_loop(max_step_delta=[LIMIT, LIMIT], replan_threshold=6, action_lead_s=0.05,
                     stop_deceleration=[0.5], **extra)
    assert loop.forward_streams == mixed
    t_a = T0 + DT - lead  # sent early enough to land by the observation's time
    jtc = moving_forward(loop, t_a, lead)
    feed_until(loop, T0 + 2 * DT, T0 + 4 * DT)
    request = plan_now(loop, T0 + 4 * DT)
    t_b = T0 + 4 * DT + 30 * MS
    back = loop.finish(request.context, np.zeros((16, 2)), None, t_b)  # the policy turns back
    jtc.receive(t_b + lead, back.due_ns, back.actions)
    t_stop = t_b + 20 * MS  # the chunk still on its way
    loop.measure(t_stop - 5 * MS, jtc.desired(t_stop - 5 * MS))
    at_stop = loop._controller_at(t_stop)
    hold = loop.stop('disabled', t_stop)
    if mixed:  # the forward controller's points: from where it is at the stop, now
        np.testing.assert_allclose(loop.stopping.actions[0], at_stop)
        assert loop.stopping.due_ns[0] == t_stop
    assert hold is not None and hold.path is not None
    jtc.receive(t_stop + lead, t_stop + lead + hold.step_ns * np.arange(1, len(hold.path) + 1),
                hold.path)
    end = t_stop + lead + hold.step_ns * len(hold.path)
    assert jtc.fastest(t_a, end) <= LIMIT / 0.1 * (1 + 1e-6)
    # the loop's model of the stop is the controller's
    for t in range(t_stop + lead, end + 1, 10 * MS):
        np.testing.assert_allclose(loop._stopping_at(t), jtc.desired(t), atol=1e-9)
