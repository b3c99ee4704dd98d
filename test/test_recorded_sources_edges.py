"""Edges of the recorded sources the node reads from a checkpoint: a camera's frame size in
(height, width) order, sizes and tolerances that cannot be, the widest gap tolerance."""
from __future__ import annotations

import pytest

from dp_ros.recorded_sources import check_sources, frame_size, tolerance_ns

CAM = {'kind': 'image', 'topic': '/cam', 'width': None}
JS = {'kind': 'joint_state', 'topic': '/js', 'width': 2, 'tolerance_s': 0.05}
GRIP = {'kind': 'joint_state', 'topic': '/grip', 'width': 1, 'tolerance_s': 0.2}


def test_a_cameras_frame_size_is_height_then_width():
    """A 480x640 camera is (480, 640): swapped, the node would refuse the camera it recorded."""
    sources = check_sources([{**CAM, 'frame_size': [480, 640]}], None, 'rgb')
    assert frame_size(sources) == (480, 640)
    assert frame_size([CAM]) is None and frame_size(None) is None


@pytest.mark.parametrize('bad', [
    {**CAM, 'frame_size': [0, 640]}, {**CAM, 'frame_size': [480, -1]},
    {**CAM, 'tolerance_s': -0.1}, {**CAM, 'rate_hz': -30.0}])
def test_a_size_or_time_that_cannot_be_is_refused(bad):
    """A checkpoint's zero size or negative tolerance is malformed, not a limit to apply."""
    with pytest.raises(ValueError, match='absolute topics'):
        check_sources([bad], None, 'rgb')


def test_without_a_topic_the_widest_recorded_tolerance_counts():
    """A renamed stream gets the largest tolerance recorded: never stricter than training."""
    assert tolerance_ns([JS, GRIP]) == 200_000_000
    assert tolerance_ns([JS, GRIP], '/renamed') == 200_000_000
    assert tolerance_ns([JS, GRIP], '/js') == 50_000_000
    assert tolerance_ns([CAM]) is None
