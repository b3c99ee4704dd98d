"""PlanningLoop.jump: a state message whose action joints moved further since the previous
message than 3 max steps per control period allow is refused (the node: bad_joint_jump).

Defect pinned (exploratory run of the node): with max_step_delta 5 and the arm at [250, 260],
one joint-state message [0, 0] (a driver at start-up, or a joint_state_publisher left running
beside the driver) was planned on, and a stop just after it held at [0, 0], due one period
ahead: a 250-unit move; a second publisher alternating with the driver went unnoticed.
"""
from __future__ import annotations

import numpy as np
from test_planning_loop import DT, MS, T0, make_loop, start_moving

ARM = np.array([250.0, 260.0])


def test_a_wrong_message_and_the_one_after_it_are_refused_then_the_arm_is_taken_again():
    loop = make_loop(max_step_delta=[5.0, 5.0])
    assert loop.jump(T0, ARM) is None  # the first: nothing to compare with
    assert loop.jump(T0 + 10 * MS, ARM + [1.0, -2.0]) is None  # a plausible move
    why = loop.jump(T0 + 20 * MS, np.array([0.0, 0.0]))
    assert "['agent_x', 'agent_y'] moved [251.0, 258.0]" in why and 'second publisher' in why
    assert loop.jump(T0 + 30 * MS, ARM) is not None  # compared with the wrong one: refused
    assert loop.jump(T0 + 40 * MS, ARM) is None


def test_the_allowance_grows_with_the_time_between_messages():
    loop = make_loop(max_step_delta=[5.0, 5.0])
    loop.jump(T0, ARM)
    assert loop.jump(T0 + DT // 2, ARM + 15.0) is None  # 3 steps: at least one period's
    assert loop.jump(T0 + DT, ARM + 31.0) is not None  # 16 in half a period
    loop.jump(T0 + DT, ARM)
    assert loop.jump(T0 + 11 * DT, ARM + 140.0) is None  # 10 periods later: 150 allowed


def test_only_the_joints_a_message_gives_are_compared():
    loop = make_loop(max_step_delta=[5.0, 5.0])
    loop.jump(T0, ARM)
    assert loop.jump(T0 + 10 * MS, np.array([np.nan, 0.0])) is not None  # agent_y jumped
    loop = make_loop(max_step_delta=[5.0, 5.0])
    loop.jump(T0, np.array([np.nan, 260.0]))  # a gripper's driver: its own joint only
    assert loop.jump(T0 + 10 * MS, np.array([0.0, 261.0])) is None


def test_unchecked_without_a_step_limit_in_lockstep_and_after_a_reset():
    assert make_loop().jump(T0, ARM) is None
    loop = make_loop()
    loop.jump(T0, ARM)
    assert loop.jump(T0 + MS, np.zeros(2)) is None  # no max_step: no speed known
    loop = make_loop(max_step_delta=[5.0, 5.0], lockstep=True)
    loop.jump(T0, ARM)
    assert loop.jump(T0 + MS, np.zeros(2)) is None  # a sim's reset moves the arm at once
    loop = make_loop(max_step_delta=[5.0, 5.0])
    start_moving(loop)
    loop.jump(T0, ARM)
    loop.reset(T0 + 2 * DT)
    assert loop.jump(T0 + 2 * DT, np.zeros(2)) is None
