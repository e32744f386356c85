"""Expression presets: pure functions from 68 landmarks to drag handles and targets.

Each preset names the landmarks it moves and their displacement at full strength; `strength`
in [0, 1] scales that displacement. Magnitudes are fractions of the face's own sizes (see
FaceFrame), so a preset means the same at any resolution. Indices are iBUG 300-W, 0-based;
"right"/"left" are the subject's.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from landmarks.face import LEFT_BROW, MOUTH_CORNERS, RIGHT_BROW

from .face_frame import FaceFrame, check_landmarks

Move = tuple[tuple[int, ...], np.ndarray]  # Indices moved and their (K, 2) displacement at strength 1.
Preset = Callable[..., tuple[np.ndarray, np.ndarray]]

OPEN_EYES = 0.20  # Upper lids rise by this fraction of their eye's width (a typical eye is open ~0.3 of it).
SMILE_CORNERS = 0.10  # Mouth corners 48, 54 move this fraction of mouth width outward, and as much up.
SMILE_INNER = 0.05  # Inner corners 60, 64 likewise.
OPEN_MOUTH = 0.30  # Lower lip and chin drop by this fraction of mouth width.
SLIM_FACE = 0.05  # Jaw points move inward by this fraction of face width (jaw 0 to 16).
RAISE_BROWS = 0.15  # Brows rise by this fraction of the inter-ocular distance.
FROWN_DOWN = 0.08  # Inner brows drop by this fraction of the inter-ocular distance,
FROWN_IN = 0.06  # and move toward each other by this fraction.

PRESETS: dict[str, Preset] = {}


def check_strength(strength: float) -> float:
    """Strength as a float in [0, 1], or a ValueError."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.integer, np.floating)):
        raise ValueError(f"strength must be a number in [0, 1], got {strength!r}")
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return float(strength)


def _preset(name: str) -> Callable[[Callable[[np.ndarray, FaceFrame], Move]], Preset]:
    """Register `move` under `name` as a preset(landmarks, strength=1.0) -> (handles, targets)."""

    def register(move: Callable[[np.ndarray, FaceFrame], Move]) -> Preset:
        @functools.wraps(move)
        def preset(landmarks: np.ndarray, strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
            points = check_landmarks(landmarks)
            scale = check_strength(strength)
            indices, displacement = move(points, FaceFrame.from_landmarks(points))
            handles = points[list(indices)]
            targets = handles + scale * np.asarray(displacement, dtype=np.float64).reshape(len(indices), 2)
            return handles.astype(np.float32), targets.astype(np.float32)

        PRESETS[name] = preset
        return preset

    return register


@_preset("close eyes")
def close_eyes(points: np.ndarray, frame: FaceFrame) -> Move:
    """Upper lids onto lower lids: 37, 38 → 41, 40 and 43, 44 → 47, 46. At strength 1 the lids meet."""
    upper, lower = (37, 38, 43, 44), (41, 40, 47, 46)
    return upper, points[list(lower)] - points[list(upper)]


@_preset("open eyes wider")
def open_eyes_wider(points: np.ndarray, frame: FaceFrame) -> Move:
    """Upper lids 37, 38 and 43, 44 up by OPEN_EYES × their eye's width (36–39, 42–45)."""
    rise = [frame.right_eye_width] * 2 + [frame.left_eye_width] * 2
    return (37, 38, 43, 44), OPEN_EYES * np.outer(rise, frame.up)


@_preset("smile")
def smile(points: np.ndarray, frame: FaceFrame) -> Move:
    """Mouth corners 48, 54 outward and up by SMILE_CORNERS × mouth width each way; 60, 64 by SMILE_INNER."""
    outward = np.array([-frame.across, frame.across, -frame.across, frame.across])
    amount = frame.mouth_width * np.array([SMILE_CORNERS, SMILE_CORNERS, SMILE_INNER, SMILE_INNER])
    return MOUTH_CORNERS + (60, 64), amount[:, None] * (outward + frame.up)


@_preset("open mouth")
def open_mouth(points: np.ndarray, frame: FaceFrame) -> Move:
    """Lower lip (outer 56–58, inner 65–67) and chin (7–9) down by OPEN_MOUTH × mouth width."""
    indices = (56, 57, 58, 65, 66, 67, 7, 8, 9)
    return indices, np.tile(-OPEN_MOUTH * frame.mouth_width * frame.up, (len(indices), 1))


@_preset("close mouth")
def close_mouth(points: np.ndarray, frame: FaceFrame) -> Move:
    """Lower lip up onto the upper: inner 65–67 → 63–61, outer 56–58 by the same vectors (lip keeps its thickness)."""
    gap = points[[63, 62, 61]] - points[[65, 66, 67]]
    return (65, 66, 67, 56, 57, 58), np.concatenate([gap, gap])


@_preset("slim face")
def slim_face(points: np.ndarray, frame: FaceFrame) -> Move:
    """Jaw 2–6 and 10–14 toward the face's vertical axis by SLIM_FACE × face width."""
    right, left = tuple(range(2, 7)), tuple(range(10, 15))
    inward = np.array([frame.across] * len(right) + [-frame.across] * len(left))
    return right + left, SLIM_FACE * frame.face_width * inward


@_preset("raise eyebrows")
def raise_eyebrows(points: np.ndarray, frame: FaceFrame) -> Move:
    """Both brows, 17–26, up by RAISE_BROWS × inter-ocular distance."""
    indices = RIGHT_BROW + LEFT_BROW
    return indices, np.tile(RAISE_BROWS * frame.inter_ocular * frame.up, (len(indices), 1))


@_preset("frown")
def frown(points: np.ndarray, frame: FaceFrame) -> Move:
    """Inner brows 20, 21 and 22, 23 down by FROWN_DOWN and toward each other by FROWN_IN × inter-ocular distance."""
    down = -FROWN_DOWN * frame.inter_ocular * frame.up
    inward = FROWN_IN * frame.inter_ocular * frame.across
    return (20, 21, 22, 23), np.array([down + inward, down + inward, down - inward, down - inward])
