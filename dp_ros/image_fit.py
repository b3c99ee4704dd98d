"""One rule for turning a camera frame into the policy's image size, wherever frames meet a
policy: the policy node, bag2zarr (training data), and the arm twin's in-process view.

An optional camera crop (a box in camera pixels: the workspace) is cut first, then the rest
is the same: centre crop to the target aspect, resize. The crop travels with the data:
bag2zarr records it on the image array, training copies it into the checkpoint's shape_meta
(`camera_crop`), and the node cuts the same box from the live camera. So does the size of
the camera's frames (the source's `frame_size`): a live camera of another size is refused
where the box would cut elsewhere, or the picture shows another field of view
(frame_size_problem).

Base layer (numpy; OpenCV only when a resize is needed), so that every layer can use it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Crop = tuple[int, int, int, int]  # x0, y0, width, height in camera pixels
# The crop's name wherever it is stored: zarr array attrs, a checkpoint's shape_meta rgb entry,
# a LeRobot camera feature in info.json.
CAMERA_CROP = 'camera_crop'


def check_crop(crop: Sequence[int] | None, where: str = 'camera_crop') -> Crop | None:
    """A crop box as 4 ints [x0, y0, width, height] (x0, y0 >= 0; width, height > 0), or None.

    Raises ValueError naming `where` for anything else.
    """
    if crop is None:
        return None
    values = list(crop) if isinstance(crop, (list, tuple)) else None
    if (values is None or len(values) != 4
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in values)
            or values[0] < 0 or values[1] < 0 or values[2] <= 0 or values[3] <= 0):
        raise ValueError(f'{where} must be [x0, y0, width, height] in camera pixels (ints, '
                         f'x0, y0 >= 0, width, height > 0), got {crop!r}')
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def fit_image(rgb: np.ndarray, height: int, width: int,
              crop: Sequence[int] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 at the checkpoint's size: `crop` cut (if any), centre-cropped to the
    aspect, then cv2.resize.

    Untouched (no copy, bit-identical) when there is no crop and the size already matches.
    A crop box reaching outside the frame raises ValueError (a camera of another size than
    the one the data was recorded with).
    """
    if crop is not None:
        x0, y0, cw, ch = crop
        problem = crop_problem(crop, *rgb.shape[:2])
        if problem is not None:
            raise ValueError(problem)
        rgb = rgb[y0:y0 + ch, x0:x0 + cw]
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
    # a BGR frame's RGB view (channels reversed) is resized as stored and its few output
    # pixels reversed: the resize is per channel, so the result is the same, without
    # copying the whole frame into RGB order first
    reversed_channels = rgb.ndim == 3 and rgb.strides[2] < 0
    if reversed_channels:
        rgb = rgb[:, :, ::-1]
    out = cv2.resize(np.ascontiguousarray(rgb), (width, height),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(out[:, :, ::-1]) if reversed_channels else out


def crop_problem(crop: Sequence[int], height: int, width: int) -> str | None:
    """Why the crop box cannot be cut from a frame of (height, width) (it reaches outside: a
    camera of another size than the data was recorded with); None when it can. Known from
    the frame's size alone: checked before a frame is decoded."""
    x0, y0, cw, ch = crop
    if x0 + cw > width or y0 + ch > height:
        return (f'camera_crop {list(crop)} (x0, y0, width, height) reaches outside the '
                f'{width}x{height} frame: is this the camera the data was recorded with?')
    return None


# how far the live camera's width / height may be from the recorded one's as the same aspect
ASPECT_TOLERANCE = 0.01


# what frame_size_problem's recorded size is, in its message
RECORDED_AT = 'the training data was recorded at'


def frame_size_problem(frame_hw: Sequence[int], recorded_hw: Sequence[int] | None,
                       crop: Sequence[int] | None, reference: str = RECORDED_AT
                       ) -> tuple[bool, str] | None:
    """Whether a live camera frame of (height, width) fits the policy's training frames,
    recorded at `recorded_hw` (None: not recorded): None when it does, else (refuse, why).

    Refused: a frame of another size with a crop box (its pixels are the recorded camera's:
    it would cut another part of the scene), or of another aspect (centre-cropped to the
    trained aspect it would show another field of view). Another size of the same aspect
    is not refused (resized as the training frames were), but said: a camera mode of
    another resolution may see another field of view too. `reference` says what
    `recorded_hw` is (a node whose checkpoint records no size compares with the camera's
    first frame).
    """
    if recorded_hw is None or tuple(frame_hw) == tuple(recorded_hw) or min(frame_hw) <= 0:
        return None  # a frame without pixels: the decoder refuses it (image_size)
    (h, w), (rh, rw) = frame_hw, recorded_hw
    size = f'frame {w}x{h} px, {reference} {rw}x{rh} px'
    remedy = f'set the camera driver to {rw}x{rh}'
    if crop is not None:
        return True, (f'{size} and its camera_crop {list(crop)} is in those pixels: it would '
                      f'cut another part of the scene; {remedy}')
    if abs((w / h) / (rw / rh) - 1.0) > ASPECT_TOLERANCE:
        return True, (f'{size}: another aspect, which would show another field of view; '
                      f'{remedy}')
    return False, (f'{size}: the same aspect, resized as the training frames were (a camera '
                   f'mode of another resolution may see another field of view: {remedy} to '
                   'be sure)')
