"""Expression edits as pure functions from 68 landmarks to drag handles and targets.

    from presets import PRESETS
    handles, targets = PRESETS["smile"](landmarks, strength=0.7)   # (K, 2) float32 each
"""

from .expressions import (
    PRESETS,
    check_strength,
    close_eyes,
    close_mouth,
    frown,
    open_eyes_wider,
    open_mouth,
    raise_eyebrows,
    slim_face,
    smile,
)
from .face_frame import FaceFrame, check_landmarks

__all__ = [
    "PRESETS",
    "FaceFrame",
    "check_landmarks",
    "check_strength",
    "close_eyes",
    "close_mouth",
    "frown",
    "open_eyes_wider",
    "open_mouth",
    "raise_eyebrows",
    "slim_face",
    "smile",
]
