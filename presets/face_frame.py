"""A face's own axes and sizes, measured from its 68 landmarks (iBUG 300-W, 0-based).

Presets move points along the face's axes ("up" is toward the brows even on a tilted head) and by
fractions of its sizes, so an edit means the same at 256 px as at 1024 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_POINTS = 68
JAW = tuple(range(0, 17))  # 0 under the subject's right ear (image left) round to 16.
RIGHT_BROW = tuple(range(17, 22))  # Subject's right: 17 outer … 21 inner.
LEFT_BROW = tuple(range(22, 27))  # 22 inner … 26 outer.
NOSE = tuple(range(27, 36))
RIGHT_EYE = tuple(range(36, 42))  # Corners 36 (outer), 39 (inner); upper lid 37, 38; lower lid 41, 40.
LEFT_EYE = tuple(range(42, 48))  # Corners 42 (inner), 45 (outer); upper lid 43, 44; lower lid 47, 46.
OUTER_LIPS = tuple(range(48, 60))  # Corners 48 (subject's right) and 54.
INNER_LIPS = tuple(range(60, 68))  # Corners 60 and 64; upper 61-63, lower 65-67 (65 under 63, 67 under 61).


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks as a float64 (68, 2) array, or a ValueError naming what is wrong."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (NUM_POINTS, 2):
        raise ValueError(f"landmarks must have shape ({NUM_POINTS}, 2) of (x, y) pixels, got {points.shape}")
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if bad.size:
        raise ValueError(f"landmark {bad[0]} is not finite: {points[bad[0]].tolist()}")
    return points


@dataclass(frozen=True)
class FaceFrame:
    across: np.ndarray  # (2,) unit vector from the subject's right eye to the left eye (image right when upright).
    up: np.ndarray  # (2,) unit vector from the mouth toward the brows, perpendicular to `across`.
    inter_ocular: float  # Distance between the eye centres, px.
    mouth_width: float  # Distance between mouth corners 48 and 54, px.
    face_width: float  # Distance between jaw ends 0 and 16, px.
    right_eye_width: float  # Corner 36 to corner 39, px.
    left_eye_width: float  # Corner 42 to corner 45, px.

    @classmethod
    def from_landmarks(cls, points: np.ndarray) -> FaceFrame:
        points = check_landmarks(points)
        eye_line = points[list(LEFT_EYE)].mean(axis=0) - points[list(RIGHT_EYE)].mean(axis=0)
        inter_ocular = float(np.hypot(*eye_line))
        if inter_ocular < 1e-6:
            raise ValueError("landmarks have both eye centres at the same place; the face's axes are undefined")
        across = eye_line / inter_ocular
        up = np.array([across[1], -across[0]])  # Image y grows downward, so this turns `across` toward the brows.
        if np.dot(points[27] - points[8], up) <= 0:
            raise ValueError("landmarks put the chin (8) above the nose bridge (27); is the point order iBUG 300-W?")

        def distance(a: int, b: int) -> float:
            return float(np.hypot(*(points[b] - points[a])))

        return cls(
            across=across,
            up=up,
            inter_ocular=inter_ocular,
            mouth_width=distance(48, 54),
            face_width=distance(0, 16),
            right_eye_width=distance(36, 39),
            left_eye_width=distance(42, 45),
        )
