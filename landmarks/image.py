"""Points as the landmark code takes them. Images are checked by `common.images.rgb_uint8`, the app's one
uint8 -> RGB conversion."""

from __future__ import annotations

import numpy as np


def as_points(points: np.ndarray, name: str = "points") -> np.ndarray:
    """Return points as a float32 (N, 2) array of finite (x, y) pixels, or raise naming the problem."""
    array = np.asarray(points, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) of (x, y), got {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is not finite: {array[bad[0]].tolist()}")
    return array
