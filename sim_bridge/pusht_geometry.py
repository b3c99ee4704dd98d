"""The T block's shape, the walls, the goal pose and the coverage score of the paper's Push-T.

Pure numpy/shapely, no physics: the reward can be computed from a logged block pose alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import shapely.geometry as sg

WINDOW_SIZE = 512
# the table's walls: pymunk segments (end points, px) of this radius, as the paper's
WALL_RADIUS = 2
WALLS = (((5, 506), (5, 5)), ((5, 5), (506, 5)), ((506, 5), (506, 506)), ((5, 506), (506, 506)))
# How far a start state's T may reach past the walls' inner faces (px): the physics pushes
# it back onto the table. The paper's own demonstrations start up to 15.3 px past them (6 of
# its 206); 540 random starts up to 24 px past all came back, deeper ones wedge in a wall or
# leave the table (an episode that cannot score).
MAX_WALL_REACH_PX = 20.0
GOAL_POSE = np.array([256.0, 256.0, np.pi / 4])
SUCCESS_THRESHOLD = 0.95

T_SCALE = 30
_T_LENGTH = 4
# Local vertices in the order the paper passes them to pymunk.Poly: the bar, then the stem.
T_BAR_VERTICES = (
    (-_T_LENGTH * T_SCALE / 2, T_SCALE),
    (_T_LENGTH * T_SCALE / 2, T_SCALE),
    (_T_LENGTH * T_SCALE / 2, 0.0),
    (-_T_LENGTH * T_SCALE / 2, 0.0),
)
T_STEM_VERTICES = (
    (-T_SCALE / 2, T_SCALE),
    (-T_SCALE / 2, _T_LENGTH * T_SCALE),
    (T_SCALE / 2, _T_LENGTH * T_SCALE),
    (T_SCALE / 2, T_SCALE),
)
T_PARTS = (T_BAR_VERTICES, T_STEM_VERTICES)


def pose_to_world(vertices: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Local vertices (N, 2) of a body whose origin sits at pose (x, y, angle) -> world (N, 2)."""
    x, y, angle = (float(v) for v in pose)
    c, s = np.cos(angle), np.sin(angle)
    v = np.asarray(vertices, dtype=np.float64)
    return np.stack([c * v[:, 0] - s * v[:, 1] + x, s * v[:, 0] + c * v[:, 1] + y], axis=1)


def finite_pose(block_pose: Any) -> np.ndarray:
    """The block pose as float64 (x, y, angle); ValueError for anything else (a NaN reached
    past no wall: nan > a bound is False)."""
    pose = np.asarray(block_pose, dtype=np.float64)
    if pose.shape != (3,) or not np.all(np.isfinite(pose)):
        raise ValueError(f'block_pose must be 3 finite numbers (x, y, angle), got {block_pose!r}')
    return pose


def t_reach_past_walls(pose: np.ndarray) -> float:
    """How far (px) the T at pose (x, y, angle) reaches past the walls' inner faces along x or
    y; <= 0: wholly inside them."""
    pose = finite_pose(pose)
    ends = np.asarray(WALLS, dtype=np.float64).reshape(-1, 2)
    low, high = ends.min() + WALL_RADIUS, ends.max() - WALL_RADIUS
    corners = np.concatenate([pose_to_world(part, pose) for part in T_PARTS])
    return float(max(low - corners.min(), corners.max() - high))


def t_geometry(pose: np.ndarray) -> sg.MultiPolygon:
    """The T at a pose as the paper's shapely MultiPolygon (bar and stem as separate parts)."""
    return sg.MultiPolygon([sg.Polygon(pose_to_world(part, pose)) for part in T_PARTS])


_GOAL_GEOMETRY = t_geometry(GOAL_POSE)
_GOAL_AREA = _GOAL_GEOMETRY.area


def coverage(block_pose: np.ndarray) -> float:
    """Fraction of the goal T covered by the block T at block_pose (x, y, angle of its origin)."""
    pose = finite_pose(block_pose)
    return float(_GOAL_GEOMETRY.intersection(t_geometry(pose)).area / _GOAL_AREA)


def reward_from_coverage(cov: float) -> tuple[float, bool]:
    """(reward, success): the paper's reward saturates at 95% coverage, which also ends the run."""
    return float(np.clip(cov / SUCCESS_THRESHOLD, 0.0, 1.0)), bool(cov > SUCCESS_THRESHOLD)
