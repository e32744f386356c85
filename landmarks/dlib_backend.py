"""dlib backend: HOG face detector + the 68-point shape predictor. Runs fully offline.

The predictor file comes from the face-recognition-models package. Importing that package
fails on current setuptools (its __init__ needs pkg_resources), so the file is located
through the import system without running the package.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from .face import BackendUnavailable, Face

PREDICTOR_FILE = "models/shape_predictor_68_face_landmarks.dat"
UPSAMPLE_BELOW = 800  # Longer image side (px) under which the detector upsamples once by default.


def predictor_path() -> Path:
    """Path of dlib's 68-point predictor inside the installed face-recognition-models package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "the dlib backend needs the 68-point predictor from face-recognition-models; "
            "install it with `pip install face-recognition-models`"
        )
    path = Path(spec.submodule_search_locations[0]) / PREDICTOR_FILE
    if not path.is_file():
        raise BackendUnavailable(f"dlib's 68-point predictor is missing: {path} (reinstall face-recognition-models)")
    return path


def is_available() -> bool:
    """dlib imports and the predictor file is present."""
    if importlib.util.find_spec("dlib") is None:
        return False
    try:
        predictor_path()
    except BackendUnavailable:
        return False
    return True


@lru_cache(maxsize=1)
def _models():
    """Load the detector and the ~100 MB predictor once per process."""
    try:
        import dlib
    except ImportError as error:
        raise BackendUnavailable("the dlib backend needs dlib; install it with `pip install dlib-bin`") from error
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


@dataclass(frozen=True)
class DlibBackend:
    """Faces and landmarks from dlib, keeping only boxes the detector is fairly sure of."""

    name: ClassVar[str] = "dlib"
    # Times the detector doubles the image first. dlib finds faces down to ~80 px, ~40 px after one
    # doubling. None: double images whose longer side is under UPSAMPLE_BELOW px, so the smallest face
    # found is 5-10 % of the image's side without paying 4x the time on images that are already large.
    upsample: int | None = None
    # Detector score below which a box is dropped. dlib's own cut-off is 0; its known false
    # positives score around 0.1 and real frontal faces above 0.5, so 0.3 sits between them.
    min_score: float = 0.3

    def upsampling(self, side: int) -> int:
        """Times an image whose longer side is `side` px is doubled before detection."""
        return self.upsample if self.upsample is not None else int(side < UPSAMPLE_BELOW)

    def smallest_face(self, side: int) -> float:
        """The HOG window (80 px), halved by each doubling of an image whose longer side is `side` px."""
        return 80.0 / 2 ** self.upsampling(side)

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        detector, predictor = _models()
        upsample = self.upsampling(max(rgb.shape[:2]))
        boxes, scores, _ = detector.run(rgb, upsample, self.min_score)
        faces = []
        for box, score in zip(boxes, scores):
            shape = predictor(rgb, box)
            points = np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float32)
            # dlib's right/bottom are the last pixel inside the box; +1 gives its edge.
            edges = (float(box.left()), float(box.top()), float(box.right() + 1), float(box.bottom() + 1))
            faces.append(Face(points=points, score=float(score), box=edges))
        return faces
