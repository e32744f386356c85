"""One detected face: what every backend returns, in the coordinates of the image it was given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_POINTS = 68  # iBUG 300-W markup, 0-based.


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
