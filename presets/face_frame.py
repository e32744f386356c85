"""A face's own axes and sizes, measured from its 68 landmarks (iBUG 300-W, 0-based).

Presets move points along the face's axes ("up" is toward the brows even on a tilted head) and by
fractions of its sizes, so an edit means the same at 256 px as at 1024 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landmarks.face import LEFT_EYE, RIGHT_EYE, check_landmarks  # the one definition of the 68 points


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
