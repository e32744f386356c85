"""The entry point: 68-point landmarks for every face in an image, largest face first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, TypeVar

import numpy as np

from . import dlib_backend, fan_backend
from .face import Face, NoFaceFound
from .geometry import CropResize, crop_resize, gen_box_to_photo, gen_to_photo
from .image import to_rgb_uint8

MAX_SIDE = 1024  # Longer image side detection runs at; larger photos are downscaled first.
FaceT = TypeVar("FaceT")


class Backend(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray) -> list[Face]: ...


BACKENDS: dict[str, Callable[[], Backend]] = {
    "face_alignment": fan_backend.FanBackend,
    "dlib": dlib_backend.DlibBackend,
}


@dataclass(frozen=True)
class DetectionResult:
    backend: str  # Name of the backend that ran.
    faces: tuple[Face, ...]  # Largest face first; empty when no face was found.


def resolve_backend(backend: str = "auto") -> str:
    """Name of the backend to run: "auto" means face_alignment when it can run now, else dlib."""
    if backend == "auto":
        return "face_alignment" if fan_backend.is_available() else "dlib"
    if backend not in BACKENDS:
        raise ValueError(f"unknown landmark backend {backend!r}; choose 'auto', {', '.join(map(repr, BACKENDS))}")
    return backend


def detect_faces(image: np.ndarray, backend: str | Backend = "auto", max_side: int = MAX_SIDE) -> DetectionResult:
    """Find faces and their landmarks, reporting which backend ran.

    `image` is grayscale, RGB or RGBA uint8. Images whose longer side exceeds `max_side` are
    downscaled for detection; points and boxes come back in the input's pixel coordinates.
    `backend` is "auto", a name from BACKENDS, or a configured backend such as DlibBackend(upsample=0).
    """
    rgb = to_rgb_uint8(image)
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    runner = BACKENDS[resolve_backend(backend)]() if isinstance(backend, str) else backend

    height, width = rgb.shape[:2]
    factor = max_side / max(height, width)
    if factor < 1:
        small = CropResize.resize((width, height), (max(1, round(width * factor)), max(1, round(height * factor))))
        faces = [_to_photo(face, small) for face in runner(crop_resize(rgb, small))]
    else:
        faces = runner(rgb)
    faces.sort(key=lambda face: face.area, reverse=True)
    return DetectionResult(backend=runner.name, faces=tuple(faces))


def detect_landmarks(rgb_uint8: np.ndarray, backend: str = "auto") -> list[np.ndarray]:
    """(68, 2) float32 (x, y) landmarks per face, largest face first; [] when there is no face."""
    return [face.points for face in detect_faces(rgb_uint8, backend).faces]


def select_face(faces: Sequence[FaceT], number: int = 1) -> FaceT:
    """Face `number` of a detection, counting from 1 = the largest (as `draw_faces` labels them).

    Works on `detect_faces(...).faces` and on `detect_landmarks(...)`; raises NoFaceFound when the
    list is empty and ValueError when there is no face with that number.
    """
    if len(faces) == 0:
        raise NoFaceFound(
            "no face found in the photo; use a photo with a clear, roughly frontal face at least about 80 px wide"
        )
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or not 1 <= number <= len(faces):
        raise ValueError(
            f"face {number!r} does not exist: the photo has {len(faces)} face(s), numbered 1 to {len(faces)}"
        )
    return faces[number - 1]


def _to_photo(face: Face, transform: CropResize) -> Face:
    """A face found on the downscaled image, in the original image's coordinates."""
    return Face(
        points=gen_to_photo(face.points, transform),
        score=face.score,
        box=gen_box_to_photo(face.box, transform),
    )


