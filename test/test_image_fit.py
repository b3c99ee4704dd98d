"""image_fit.frame_size_problem: a live camera against the size its training frames were
recorded at (bag2zarr's frame_size)."""
from __future__ import annotations

from dp_ros.image_fit import frame_size_problem


def test_the_recorded_size_or_an_unknown_one_passes():
    assert frame_size_problem((480, 640), (480, 640), [10, 10, 100, 100]) is None
    assert frame_size_problem((960, 1280), None, [10, 10, 100, 100]) is None
    # a frame without pixels is the decoder's to refuse (image_size), not a division by 0
    assert frame_size_problem((0, 0), (480, 640), None) is None
    assert frame_size_problem((480, 0), (480, 640), None) is None


def test_another_size_with_a_crop_box_is_refused():
    refused, why = frame_size_problem((960, 1280), (480, 640), [137, 11, 366, 366])
    assert refused and 'frame 1280x960 px' in why and 'recorded at 640x480 px' in why
    assert '[137, 11, 366, 366]' in why and 'set the camera driver to 640x480' in why


def test_another_aspect_is_refused_and_the_same_aspect_only_said():
    refused, why = frame_size_problem((720, 1280), (480, 640), None)  # 16:9 for 4:3
    assert refused and 'another aspect' in why
    refused, why = frame_size_problem((960, 1280), (480, 640), None)  # 4:3 at twice the size
    assert not refused and 'the same aspect' in why
