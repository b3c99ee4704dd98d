"""Edges of fitting a camera frame to the policy's size: the crop box's checks and the
resize's interpolation."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.image_fit import check_crop, fit_image


def test_a_crop_box_must_start_inside_the_frame_and_be_made_of_ints():
    """A negative x0/y0 (numpy slices from the far edge) or a bool in a crop box is refused."""
    assert check_crop([0, 0, 10, 10]) == (0, 0, 10, 10)
    for crop in ([-1, 0, 10, 10], [0, -1, 10, 10], [True, 0, 10, 10]):
        with pytest.raises(ValueError, match='camera_crop must be'):
            check_crop(crop)


def test_a_crop_box_reaching_exactly_the_frame_edge_is_the_frame():
    """A crop box up to the frame's edge is valid; a frame at the policy's size passes as is."""
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    assert fit_image(rgb, 4, 6) is rgb
    np.testing.assert_array_equal(fit_image(rgb, 2, 2, crop=(2, 0, 4, 4)), fit_image(
        np.ascontiguousarray(rgb[:, 2:]), 2, 2))
    assert fit_image(rgb, 4, 6, crop=(0, 0, 6, 4)).tolist() == rgb.tolist()


def test_shrinking_averages_the_pixels_it_merges():
    """Shrinking uses INTER_AREA as training did: stripes average, not aliased samples."""
    rgb = np.zeros((12, 12, 3), dtype=np.uint8)
    rgb[:, 2::3] = 255
    out = fit_image(rgb, 4, 4)
    assert out.shape == (4, 4, 3) and np.all(out == 85)
