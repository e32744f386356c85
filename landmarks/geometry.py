"""Mapping points between a photo and the generator's image made from it.

Landmarks may be found on the photo or on the generator's output, and drag points are
clicked on either. A `CropResize` records how the generator image was cut out of the photo,
so points move between the two without drift.

Convention: points are pixel indices, (x, y) = (0, 0) being the centre of the top-left pixel, as in
landmark arrays and UI clicks. Crop boxes are given by pixel edges: (0, 0, W, H) is the whole W×H
photo. This matches how PIL resamples, so a mapped point lands on the pixel that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from common.images import rgb_uint8

from .image import as_points


@dataclass(frozen=True)
class CropResize:
    """Photo → generator image: cut `box` out of the photo, then resize it to `size`."""

    photo_size: tuple[int, int]  # (width, height) of the photo, pixels.
    box: tuple[float, float, float, float]  # (left, top, right, bottom) crop edges in photo pixels.
    size: tuple[int, int]  # (width, height) of the generator image, pixels.

    def __post_init__(self) -> None:
        for field in ("photo_size", "size"):
            width, height = getattr(self, field)
            if int(width) != width or int(height) != height or width < 1 or height < 1:
                raise ValueError(f"CropResize.{field} must be two positive integers, got {getattr(self, field)}")
        left, top, right, bottom = self.box
        photo_w, photo_h = self.photo_size
        if not (0 <= left < right <= photo_w and 0 <= top < bottom <= photo_h):
            raise ValueError(
                f"CropResize.box {self.box} must be a non-empty (left, top, right, bottom) "
                f"inside the {photo_w}x{photo_h} photo"
            )

    @classmethod
    def resize(cls, photo_size: tuple[int, int], size: tuple[int, int]) -> CropResize:
        """The whole photo resized (aspect ratio not kept) to `size`."""
        return cls(tuple(photo_size), (0.0, 0.0, float(photo_size[0]), float(photo_size[1])), tuple(size))

    @classmethod
    def center_square(cls, photo_size: tuple[int, int], resolution: int) -> CropResize:
        """The largest centred square of the photo, resized to resolution × resolution."""
        photo_w, photo_h = photo_size
        side = min(photo_w, photo_h)
        left, top = (photo_w - side) / 2, (photo_h - side) / 2
        return cls(tuple(photo_size), (left, top, left + side, top + side), (resolution, resolution))

    @classmethod
    def square_around(
        cls,
        box: tuple[float, float, float, float],
        photo_size: tuple[int, int],
        resolution: int,
        margin: float = 0.5,
    ) -> CropResize:
        """A square around `box` (e.g. a face), `margin` × its longer side wider, kept inside the photo.

        The square shrinks to the photo's shorter side if needed and slides inward at the borders,
        so the crop never needs padding.
        """
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        left, top, right, bottom = box
        photo_w, photo_h = photo_size
        side = min(max(right - left, bottom - top) * (1 + margin), photo_w, photo_h)
        x0 = float(np.clip((left + right - side) / 2, 0, photo_w - side))
        y0 = float(np.clip((top + bottom - side) / 2, 0, photo_h - side))
        return cls(tuple(photo_size), (x0, y0, x0 + side, y0 + side), (resolution, resolution))

    @property
    def scale(self) -> np.ndarray:
        """Generator pixels per photo pixel along (x, y)."""
        left, top, right, bottom = self.box
        return np.array([self.size[0] / (right - left), self.size[1] / (bottom - top)], dtype=np.float64)


def photo_to_gen(points: np.ndarray, transform: CropResize) -> np.ndarray:
    """Photo pixel coordinates (N, 2) → generator pixel coordinates (N, 2), float32."""
    points = as_points(points).astype(np.float64)
    origin = np.array(transform.box[:2], dtype=np.float64)
    return ((points + 0.5 - origin) * transform.scale - 0.5).astype(np.float32)


def gen_to_photo(points: np.ndarray, transform: CropResize) -> np.ndarray:
    """Generator pixel coordinates (N, 2) → photo pixel coordinates (N, 2), float32."""
    points = as_points(points).astype(np.float64)
    origin = np.array(transform.box[:2], dtype=np.float64)
    return ((points + 0.5) / transform.scale + origin - 0.5).astype(np.float32)


def gen_box_to_photo(box: tuple[float, float, float, float], transform: CropResize) -> tuple[float, ...]:
    """A (left, top, right, bottom) box of pixel edges on the generator image → the same box on the photo.

    Edges scale without the half-pixel shift that pixel centres need.
    """
    corners = np.reshape(np.asarray(box, dtype=np.float64), (2, 2))
    corners = corners / transform.scale + np.asarray(transform.box[:2], dtype=np.float64)
    return tuple(float(v) for v in corners.ravel())


def crop_resize(image: np.ndarray, transform: CropResize) -> np.ndarray:
    """Apply the transform to the photo itself: the generator-sized RGB uint8 image it describes."""
    rgb = rgb_uint8(image)
    if (rgb.shape[1], rgb.shape[0]) != tuple(transform.photo_size):
        raise ValueError(
            f"image is {rgb.shape[1]}x{rgb.shape[0]} but the transform expects a "
            f"{transform.photo_size[0]}x{transform.photo_size[1]} photo"
        )
    resized = Image.fromarray(rgb).resize(transform.size, Image.Resampling.LANCZOS, box=transform.box)
    return np.asarray(resized)
