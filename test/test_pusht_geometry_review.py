"""Review tests of sim_bridge/pusht_geometry.py: the T's world shape, coverage and reward,
checked against pymunk's own body transform (an independent implementation)."""
from __future__ import annotations

import numpy as np
import pymunk
import pytest
import shapely.geometry as sg

from sim_bridge.pusht_geometry import (
    GOAL_POSE,
    T_BAR_VERTICES,
    T_STEM_VERTICES,
    coverage,
    reward_from_coverage,
    t_geometry,
)

# asymmetric in x/y and in angle sign, so a swapped axis or a flipped rotation shows
POSES = [(300.0, 200.0, 0.3), (230.0, 270.0, -0.7), (256.0, 256.0, np.pi / 4 + 0.2),
         (280.0, 250.0, np.pi / 4), (150.0, 380.0, 2.5)]


def _pymunk_t(pose) -> sg.MultiPolygon:
    """The T's two parts placed by a pymunk body (as the physics sees them)."""
    body = pymunk.Body(1, 1)
    body.position = (pose[0], pose[1])
    body.angle = pose[2]
    return sg.MultiPolygon([sg.Polygon([tuple(body.local_to_world(v)) for v in part])
                            for part in (T_BAR_VERTICES, T_STEM_VERTICES)])


@pytest.mark.parametrize('pose', POSES)
def test_t_geometry_is_where_pymunk_puts_the_block(pose):
    """t_geometry(pose) is the bar and the stem exactly where a pymunk body at pose has them."""
    ours, ref = t_geometry(np.array(pose)), _pymunk_t(pose)
    assert len(ours.geoms) == 2
    for a, b in zip(ours.geoms, ref.geoms, strict=True):
        np.testing.assert_allclose(np.asarray(a.exterior.coords), np.asarray(b.exterior.coords),
                                   atol=1e-9)
    assert ours.area == pytest.approx(7 * 30 * 30)  # bar 4x1 + stem 3x1 squares of 30 px


@pytest.mark.parametrize('pose', POSES)
def test_coverage_is_the_overlap_fraction_of_the_goal(pose):
    """coverage = area(goal T & block T) / area(goal T), both Ts placed as pymunk places them."""
    goal = _pymunk_t(GOAL_POSE)
    expected = goal.intersection(_pymunk_t(pose)).area / goal.area
    assert coverage(np.array(pose)) == pytest.approx(expected, abs=1e-9)
    assert 0.0 < expected < 1.0  # the poses are partial overlaps: a real check


def test_reward_saturates_at_95_percent_and_success_needs_more():
    """The paper: reward = clip(cov / 0.95, 0, 1); done = cov > 0.95 (strictly)."""
    assert reward_from_coverage(0.95) == (1.0, False)
    assert reward_from_coverage(0.9501) == (1.0, True)
    assert reward_from_coverage(0.0) == (0.0, False)
    reward, success = reward_from_coverage(0.475)
    assert reward == pytest.approx(0.5) and not success


@pytest.mark.parametrize('bad', [[np.nan, 256.0, 0.0], [256.0, 256.0, np.inf],
                                 [1.0, 2.0, 3.0, 4.0], [1.0, 2.0]])
def test_coverage_refuses_a_pose_that_is_not_3_finite_numbers(bad):
    """A NaN/inf or wrongly sized pose is a ValueError naming what is expected."""
    with pytest.raises(ValueError, match='block_pose must be 3 finite numbers'):
        coverage(bad)
