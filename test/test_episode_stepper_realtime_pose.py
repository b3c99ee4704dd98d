"""EpisodeStepper.receive_pose in realtime: a PoseStamped target is stamped when it was sent
(the policy node stamps each streamed target with its clock), so it always arrives a little
after its stamp. As a Cartesian controller takes the latest target, the sim takes it from its
arrival on (held), instead of refusing it as a one-point trajectory that ends in the past
(which refused every target of a realtime Cartesian run). Still refused: another frame, out of
reach, stamped before the episode start. Lockstep keeps its stamp rule: a target for an
earlier step is not the waiting step's."""
from __future__ import annotations

import numpy as np
import pytest
from test_episode_stepper import DT, make_arm
from test_episode_stepper import make as make_point

FRAME = 'pusht_workspace'
T0 = 10**12  # a realtime episode start on the wall clock, in ns
MS = 1_000_000
TARGET = (200.0, 250.0)  # px: on the table, in the arm's reach


def started(robot: str, mode: str = 'realtime'):
    make = make_arm if robot == 'arm' else make_point
    stepper, rec = make(mode=mode, seeds=[5], auto_reset=False, max_steps=5)
    stepper.start_episode(now_ns=T0)
    return stepper, rec


@pytest.mark.parametrize('robot', ['point', 'arm'])
def test_a_realtime_target_stamped_when_sent_is_taken_on_arrival(robot):
    """Stamped 5 ms before it arrives: no refusal, due on arrival and held, and the next
    step runs it."""
    stepper, rec = started(robot)
    start = stepper.follower.target
    arrival = T0 + 30 * MS
    assert stepper.receive_pose(FRAME, arrival - 5 * MS, *TARGET, arrival)
    joints = stepper.cartesian.joints(FRAME, *TARGET)
    assert stepper.follower.peek(arrival - 1).tolist() == start.tolist()
    assert stepper.follower.peek(arrival).tolist() == joints.tolist()
    assert stepper.follower.peek(arrival + 10 * DT).tolist() == joints.tolist()  # held
    stepper.realtime_step(stepper.next_tick, T0 + DT)  # step 0: fixed at its start
    assert stepper.next_tick.target.tolist() == joints.tolist()
    assert stepper.rejections.as_dict() == {}


@pytest.mark.parametrize('robot', ['point', 'arm'])
def test_a_realtime_target_stamped_ahead_is_still_due_at_its_stamp(robot):
    stepper, _ = started(robot)
    due = T0 + 2 * DT
    assert stepper.receive_pose(FRAME, due, *TARGET, T0 + MS)
    assert stepper.follower.peek(due - 1).tolist() == stepper.follower.target.tolist()
    assert stepper.follower.peek(due).tolist() == \
        stepper.cartesian.joints(FRAME, *TARGET).tolist()


def test_a_realtime_target_from_before_the_episode_start_is_refused():
    """A target of the previous episode (stamped before this one started) is not taken from
    its arrival: counted as previous_episode, the robot holds."""
    stepper, _ = started('arm')
    start = stepper.follower.target
    assert not stepper.receive_pose(FRAME, T0 - MS, *TARGET, T0 + 2 * MS)
    assert stepper.rejections.as_dict() == {'previous_episode': 1}
    assert stepper.follower.peek(T0 + DT).tolist() == start.tolist()


def test_a_late_realtime_target_out_of_reach_holds_from_its_arrival():
    """The hold fallback: an unreachable target stamped before its arrival is counted once
    and the arm holds, from the arrival, the target it was running then (filed as a
    one-point hold, not refused in turn as ending in the past)."""
    stepper, _ = started('arm')
    assert stepper.receive_pose(FRAME, T0 + 10 * MS, *TARGET, T0 + 12 * MS)
    joints = stepper.cartesian.joints(FRAME, *TARGET)
    arrival = T0 + 60 * MS
    assert not stepper.receive_pose(FRAME, arrival - 4 * MS, 256.0, 600.0, arrival)
    assert stepper.rejections.as_dict() == {'unreachable': 1}
    assert stepper.follower.covers(arrival)  # the hold was filed, due on arrival
    assert stepper.follower.peek(arrival + DT).tolist() == joints.tolist()


@pytest.mark.parametrize('robot', ['point', 'arm'])
def test_lockstep_still_refuses_a_target_stamped_for_an_earlier_step(robot):
    """Lockstep: the step waiting at t_1 takes no target stamped for t_0 (ends_in_past); it
    waits for its own, stamped t_1."""
    make = make_arm if robot == 'arm' else make_point
    stepper, _ = make(seeds=[5], auto_reset=False, max_steps=5)
    stepper.start_episode()
    assert stepper.receive_pose(FRAME, 0, *TARGET, 0)
    stepper.lockstep_step()
    assert stepper.t_ns == DT and not stepper.action_ready()
    assert not stepper.receive_pose(FRAME, 0 + 5 * MS, 210.0, 250.0, 0)
    assert stepper.rejections.as_dict() == {'ends_in_past': 1}
    assert not stepper.action_ready()
    assert stepper.receive_pose(FRAME, DT, 210.0, 250.0, 0)
    assert stepper.action_ready()
    np.testing.assert_array_equal(stepper.follower.peek(DT),
                                  stepper.cartesian.joints(FRAME, 210.0, 250.0))
