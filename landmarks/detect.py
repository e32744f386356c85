"""The entry point: 68-point landmarks for every face in an image, largest face first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, TypeVar

import numpy as np

from common.images import rgb_uint8

from . import dlib_backend, fan_backend
from .face import Face, NoFaceFound
from .geometry import CropResize, crop_resize, gen_box_to_photo, gen_to_photo

# Longer image side each backend detects at (larger photos are downscaled first). dlib's HOG window is
# 80 px: at 1024 px the faces of a 4500 px photo had to be 350 px wide to be found, at 2560 px 150 px faces
# are (a 36-face 3600x4500 group photo: 1.3 s on 2 cores). S3FD runs a VGG on the whole image, so the
# face_alignment backend stays at 1024 px, where it still finds faces of about 20 px.
DETECT_SIDE = {"dlib": 2560, "face_alignment": 1024}
FaceT = TypeVar("FaceT")


class Backend(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray) -> list[Face]: ...

    def smallest_face(self, side: int) -> float:
        """Width (px) of the smallest face it finds in an image whose longer side is `side` px."""


BACKENDS: dict[str, Callable[[], Backend]] = {
    "face_alignment": fan_backend.FanBackend,
    "dlib": dlib_backend.DlibBackend,
}


@dataclass(frozen=True)
class DetectionResult:
    backend: str  # Name of the backend that ran.
    faces: tuple[Face, ...]  # Largest face first; empty when no face was found.
    smallest_face: float = 0.0  # Width (px of the input image) of the smallest face this detection can find.

    def no_face(self, name: str) -> NoFaceFound:
        """The error for a photo without a face, with the true minimum face width of this photo."""
        return NoFaceFound(f"**No face found** in {name}. Use a photo with a clear, roughly frontal face at least "
                           f"about {self.smallest_face:.0f} px wide in it.")


def resolve_backend(backend: str = "auto") -> str:
    """Name of the backend to run: "auto" means face_alignment when it can run now, else dlib."""
    if backend == "auto":
        return "face_alignment" if fan_backend.is_available() else "dlib"
    if backend not in BACKENDS:
        raise ValueError(f"unknown landmark backend {backend!r}; choose 'auto', {', '.join(map(repr, BACKENDS))}")
    return backend


def detect_faces(image: np.ndarray, backend: str | Backend = "auto", max_side: int | None = None) -> DetectionResult:
    """Find faces and their landmarks, reporting which backend ran and the smallest face it could find.

    `image` is grayscale, RGB or RGBA uint8. Images whose longer side exceeds `max_side` (default: the
    backend's DETECT_SIDE) are downscaled for detection; points and boxes come back in the input's pixels.
    `backend` is "auto", a name from BACKENDS, or a configured backend such as DlibBackend(upsample=0).
    """
    rgb = rgb_uint8(image)
    runner = BACKENDS[resolve_backend(backend)]() if isinstance(backend, str) else backend
    max_side = DETECT_SIDE.get(runner.name, 1024) if max_side is None else max_side
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")

    height, width = rgb.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor < 1:
        small = CropResize.resize((width, height), (max(1, round(width * factor)), max(1, round(height * factor))))
        faces = [_to_photo(face, small) for face in runner(crop_resize(rgb, small))]
    else:
        faces = runner(rgb)
    faces.sort(key=lambda face: face.area, reverse=True)
    smallest = runner.smallest_face(round(max(height, width) * factor)) / factor
    return DetectionResult(backend=runner.name, faces=tuple(faces), smallest_face=smallest)


def detect_landmarks(rgb_uint8: np.ndarray, backend: str = "auto") -> list[np.ndarray]:
    """(68, 2) float32 (x, y) landmarks per face, largest face first; [] when there is no face."""
    return [face.points for face in detect_faces(rgb_uint8, backend).faces]


def select_face(faces: Sequence[FaceT], number=1) -> FaceT:
    """Face `number` of a detection, counting from 1 = the largest (as `draw_faces` labels them).

    Works on `detect_faces(...).faces` and on `detect_landmarks(...)`. `number` may come as a form sends it
    (None or "" = 1, 2.0, "2"). Raises NoFaceFound when the list is empty and ValueError when there is no
    face with that number.
    """
    if len(faces) == 0:
        raise NoFaceFound(
            "no face found in the photo; use a photo with a clear, roughly frontal face (DetectionResult.no_face "
            "says how wide)"
        )
    return faces[face_number(number, len(faces)) - 1]


def face_number(value, count: int) -> int:
    """A face number as 1..count (None or "" = 1); a ValueError names the face and how many there are."""
    try:
        number = float(1 if value is None or value == "" else value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not (1 <= number <= count and number == int(number)):  # NaN fails the range
        raise ValueError(f"face {str(value)[:20]} does not exist: the photo has {count} face"
                         f"{'s' * (count != 1)}, numbered 1 to {count} (1 = the largest)")
    return int(number)


def _to_photo(face: Face, transform: CropResize) -> Face:
    """A face found on the downscaled image, in the original image's coordinates."""
    return Face(
        points=gen_to_photo(face.points, transform),
        score=face.score,
        box=gen_box_to_photo(face.box, transform),
    )


