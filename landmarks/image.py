"""Turn whatever image the user supplied into the RGB uint8 array the detectors expect."""

from __future__ import annotations

import numpy as np


def to_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return an (H, W, 3) uint8 view or copy of a grayscale, RGB or RGBA uint8 image.

    Alpha is dropped rather than composited: detectors only need the colour channels,
    and a transparent background carries no face.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (0-255), got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(
            f"{name} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def as_points(points: np.ndarray, name: str = "points") -> np.ndarray:
    """Return points as a float32 (N, 2) array of finite (x, y) pixels, or raise naming the problem."""
    array = np.asarray(points, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) of (x, y), got {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is not finite: {array[bad[0]].tolist()}")
    return array
