"""One rule for turning a camera frame into the policy's image size, wherever frames meet a
policy: the policy node, bag2zarr (training data), and the arm twin's in-process view.

Base layer (numpy; OpenCV only when a resize is needed), so that every layer can use it.
"""
from __future__ import annotations

import numpy as np


def fit_image(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 at the checkpoint's size: centre-cropped to its aspect, then cv2.resize.

    Untouched (no copy, bit-identical) when the size already matches.
    """
    h, w = rgb.shape[:2]
    if (h, w) == (height, width):
        return rgb
    import cv2  # only cameras of another size pay for OpenCV

    target_aspect = width / height
    if w / h > target_aspect + 1e-6:  # too wide: crop columns
        new_w = max(1, int(round(h * target_aspect)))
        x0 = (w - new_w) // 2
        rgb = rgb[:, x0:x0 + new_w]
    elif w / h < target_aspect - 1e-6:  # too tall: crop rows
        new_h = max(1, int(round(w / target_aspect)))
        y0 = (h - new_h) // 2
        rgb = rgb[y0:y0 + new_h]
    shrink = rgb.shape[0] > height
    return cv2.resize(np.ascontiguousarray(rgb), (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
