"""One detected face: what every backend returns, in the coordinates of the image it was given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# iBUG 300-W markup, 0-based; right/left are the subject's. Jaw 0-16 (0 under the right ear, image left), nose
# 27-35, outer lips 48-59 (corners 48 and 54), inner lips 60-67 (corners 60 and 64; upper 61-63, lower 65-67,
# 65 under 63). The groups below are the ones the presets and the face frame read.
NUM_POINTS = 68
RIGHT_BROW = tuple(range(17, 22))  # Subject's right: 17 outer … 21 inner.
LEFT_BROW = tuple(range(22, 27))  # 22 inner … 26 outer.
RIGHT_EYE = tuple(range(36, 42))  # Corners 36 (outer), 39 (inner); upper lid 37, 38; lower lid 41, 40.
LEFT_EYE = tuple(range(42, 48))  # Corners 42 (inner), 45 (outer); upper lid 43, 44; lower lid 47, 46.
MOUTH_CORNERS = (48, 54)


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks as a float64 (68, 2) array of finite (x, y) pixels, or a ValueError naming what is wrong."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (NUM_POINTS, 2):
        raise ValueError(f"landmarks must have shape ({NUM_POINTS}, 2) of (x, y) pixels, got {points.shape}")
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if bad.size:
        raise ValueError(f"landmark {bad[0]} is not finite: {points[bad[0]].tolist()}")
    return points


class BackendUnavailable(RuntimeError):
    """A landmark backend cannot run here: its package or its weights are missing."""


class NoFaceFound(ValueError):
    """The photo has no face the detector is sure of, so there is nothing to align or edit."""


@dataclass(frozen=True)
class Face:
    points: np.ndarray  # (68, 2) float32 (x, y) pixels, iBUG 300-W order.
    score: float  # Face detector confidence; the scale differs between backends.
    box: tuple[float, float, float, float]  # (left, top, right, bottom) pixel edges of the detector's box.

    def __post_init__(self) -> None:
        if self.points.shape != (NUM_POINTS, 2) or self.points.dtype != np.float32:
            raise ValueError(
                f"Face.points must be ({NUM_POINTS}, 2) float32, got {self.points.shape} {self.points.dtype}"
            )

    @property
    def area(self) -> float:
        left, top, right, bottom = self.box
        return max(right - left, 0.0) * max(bottom - top, 0.0)
