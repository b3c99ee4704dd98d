"""The sim's initial_state must put the T block where the walls let it start.

parse_initial_state checked only that the block's centre was on the table (0..512 px): a T
centred 7 px from a corner was accepted, and the first steps pushed it through the wall, off
the table for good (centre 546.9, 514.5 px), so the episode could never score and nothing said
why. The T may reach a little past the walls' inner faces (the paper's own demonstrations
start up to 15.3 px past them, and the physics pushes the block back): these tests pin the
refusal, that the paper's starts stay accepted, and that the limit is one the physics undoes.
"""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge.pusht_env import PushTEnv
from sim_bridge.pusht_geometry import (
    GOAL_POSE,
    MAX_WALL_REACH_PX,
    T_PARTS,
    pose_to_world,
    t_reach_past_walls,
)
from sim_bridge.sim_node_config import config_from_values, parse_initial_state
from sim_bridge.trajectory_follower import Workspace

CORNER = [256.0, 256.0, 505.0, 505.0, 1.0]  # agent mid-table, the T's origin by a corner
# the start of the paper's episode 200 (pusht_cchi_v7_replay.zarr): its T reaches 15.25 px
# past the wall, the furthest of the 206 demonstrations' starts
PAPER_START = [332.0, 155.0, 366.64178466796875, 398.32012939453125, 6.163830757141113]
INNER_LOW, INNER_HIGH = 7.0, 504.0  # the walls' inner faces: segments at 5, 506, radius 2


def on_table_after(state: list[float], steps: int = 30) -> float:
    """How far the T reaches past the walls after `steps` steps, the agent held mid-table."""
    env = PushTEnv(render_size=96, max_episode_steps=None, render_obs=False)
    env.reset(seed=0, options={'state': state})
    for _ in range(steps):
        env.step(np.array(state[:2]))
    return t_reach_past_walls(np.asarray(env.get_state())[2:5])


def against_wall(angle: float, wall: str, reach: float) -> list[float]:
    """A state whose T, at `angle`, reaches `reach` px past the given wall, mid-wall."""
    corners = np.concatenate([pose_to_world(part, np.array([0.0, 0.0, angle]))
                              for part in T_PARTS])
    mid = 256.0 - corners.mean(axis=0)
    x, y = mid
    if wall == 'right':
        x = INNER_HIGH + reach - corners[:, 0].max()
    elif wall == 'left':
        x = INNER_LOW - reach - corners[:, 0].min()
    elif wall == 'bottom':
        y = INNER_HIGH + reach - corners[:, 1].max()
    else:
        y = INNER_LOW - reach - corners[:, 1].min()
    return [256.0, 256.0, float(x), float(y), angle]


def test_a_t_across_the_walls_is_refused_naming_initial_state():
    """The explorer's state: the T's centre on the table, much of the T beyond the corner."""
    with pytest.raises(ValueError, match=r'^parameter initial_state puts the T block 78\.5 px '
                                         r"past the walls' inner faces"):
        config_from_values({'initial_state': CORNER}, lambda _: None)


def test_without_the_check_that_state_leaves_the_table():
    """Why it is refused: placed anyway, the block ends off the table."""
    assert on_table_after(CORNER, steps=5) > 30.0


def test_the_papers_furthest_start_is_accepted():
    """dp-ros replay and arm-record set initial_state from the paper's starts: all pass."""
    assert t_reach_past_walls(np.array(PAPER_START[2:])) == pytest.approx(15.25, abs=0.01)
    state = parse_initial_state(PAPER_START, Workspace())
    assert state is not None and state.tolist() == PAPER_START
    assert on_table_after(PAPER_START) <= 0.5  # within the contact's slop


def at_the_limit() -> list[list[float]]:
    """Bar or stem into each wall, MAX_WALL_REACH_PX - 0.1 px past it, the T's origin on the
    table (an origin off it is refused by the centre check)."""
    states = [against_wall(angle, wall, MAX_WALL_REACH_PX - 0.1)
              for wall in ('left', 'right', 'top', 'bottom')
              for angle in (0.0, np.pi / 2, np.pi, 3 * np.pi / 2, np.pi / 4)]
    return [s for s in states if all(0.0 <= v <= 512.0 for v in s[2:4])]


@pytest.mark.parametrize('state', at_the_limit(), ids=lambda s: f'{s[2]:.0f},{s[3]:.0f}@{s[4]:.2f}')
def test_a_t_at_the_limit_is_pushed_back_onto_the_table(state):
    """The limit is one the physics undoes: bar or stem that far into any wall comes back."""
    assert parse_initial_state(state, Workspace()) is not None
    assert on_table_after(state) <= 0.5


def test_just_past_the_limit_is_refused():
    state = against_wall(np.pi, 'left', MAX_WALL_REACH_PX + 0.5)
    with pytest.raises(ValueError, match='initial_state puts the T block 20.5 px'):
        parse_initial_state(state, Workspace())


def test_the_goal_pose_is_inside_the_walls():
    assert t_reach_past_walls(GOAL_POSE) < -100.0
