"""face-alignment backend: S3FD face detector + 2DFAN4 landmarks (Bulat & Tzimiropoulos, 2017).

The package is optional and imported only when this backend runs. It downloads its weights
into torch hub's checkpoint folder on first use, so "available" means the package is installed
and either the weights are already cached or the download can happen.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from common import pick_device

from .face import BackendUnavailable, Face

WEIGHT_FILES = ("2DFAN4*.zip", "s3fd-*.pth")  # Names face-alignment gives its downloads.
WEIGHTS_HOST = "www.adrianbulat.com"  # Where face-alignment downloads them from.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "LANDMARKS_OFFLINE")  # Set to 1 to forbid downloads.


def installed() -> bool:
    """The face_alignment package can be imported (checked without importing it)."""
    return importlib.util.find_spec("face_alignment") is not None


def checkpoint_dir() -> Path:
    """torch hub's checkpoint folder, where face-alignment caches its weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_cached() -> bool:
    """Both the face detector's and the landmark network's weights are already on disk."""
    folder = checkpoint_dir()
    return all(any(folder.glob(pattern)) for pattern in WEIGHT_FILES)


def offline_requested() -> bool:
    """The environment forbids downloads (any of OFFLINE_VARIABLES set to a true value)."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_VARIABLES)


@lru_cache(maxsize=1)
def weights_host_reachable(timeout_s: float = 2.0) -> bool:
    """A TCP connection to the weights host opens. Asked once per process."""
    try:
        with socket.create_connection((WEIGHTS_HOST, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def is_available() -> bool:
    """face-alignment can run now: installed, and its weights cached or downloadable."""
    if not installed():
        return False
    if weights_cached():
        return True
    return not offline_requested() and weights_host_reachable()


@lru_cache(maxsize=2)
def _model(device: str):
    """Build (and on first use download) the 2D landmark model once per device."""
    try:
        import face_alignment
    except ImportError as error:
        raise BackendUnavailable(
            "the face_alignment backend needs `pip install face-alignment`; use backend='dlib' offline"
        ) from error
    two_d = getattr(face_alignment.LandmarksType, "TWO_D", None) or face_alignment.LandmarksType._2D
    return face_alignment.FaceAlignment(two_d, device=device, face_detector="sfd")


@dataclass(frozen=True)
class FanBackend:
    """Faces and landmarks from face-alignment's 2DFAN4; S3FD already drops boxes scoring under 0.5."""

    name: ClassVar[str] = "face_alignment"
    device: str | None = None  # None: pick cuda, mps or cpu when first run.

    @staticmethod
    def smallest_face(side: int) -> float:
        """S3FD's smallest anchor is 16 px; faces of about 20 px are found at any image size."""
        return 20.0

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        model = _model(self.device or str(pick_device()))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No faces were detected")
            points, _, boxes = model.get_landmarks_from_image(rgb, return_bboxes=True)
        if points is None:
            return []
        return [
            Face(
                points=np.asarray(face_points[:, :2], dtype=np.float32),
                score=float(box[4]),
                box=tuple(float(v) for v in box[:4]),
            )
            for face_points, box in zip(points, boxes)
        ]
