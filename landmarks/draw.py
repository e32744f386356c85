"""Drawing points and drag arrows on an image, for the app and the README pictures."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from common.images import rgb_uint8

from .face import Face
from .image import as_points

HANDLE_COLOR = (255, 0, 0)  # Red, as in DragGAN's UI.
TARGET_COLOR = (0, 0, 255)  # Blue.
ARROW_COLOR = (255, 255, 255)
LABEL_COLOR = (255, 255, 0)
FACE_COLOR = (255, 255, 255)  # Boxes of the faces not chosen.
CHOSEN_COLOR = (0, 255, 0)  # Box of the chosen face.


def _radius(image: Image.Image) -> int:
    """Dot radius that stays visible at any resolution: 1/160 of the longer side, at least 3 px."""
    return max(3, round(max(image.size) / 160))


def default_font(size: int) -> ImageFont.ImageFont:
    """PIL's bundled font at `size` px where this Pillow can scale it."""
    try:
        return ImageFont.load_default(size=size)  # Scalable since Pillow 10.1.
    except TypeError:
        return ImageFont.load_default()


def _dot(draw: ImageDraw.ImageDraw, x: float, y: float, radius: int, color: tuple[int, int, int]) -> None:
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color, outline=(0, 0, 0))


def draw_points(
    image: np.ndarray,
    points: np.ndarray,
    numbered: bool = False,
    color: tuple[int, int, int] = HANDLE_COLOR,
) -> np.ndarray:
    """A copy of `image` (RGB uint8) with a dot at each (x, y) point, labelled with its index if `numbered`."""
    canvas = Image.fromarray(rgb_uint8(image).copy())
    points = as_points(points)
    draw = ImageDraw.Draw(canvas)
    radius = _radius(canvas)
    font = default_font(max(8, 3 * radius))
    for index, (x, y) in enumerate(points):
        _dot(draw, x, y, radius, color)
        if numbered:
            draw.text((x + radius + 1, y - radius), str(index), fill=LABEL_COLOR, font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    return np.asarray(canvas)


def draw_arrows(image: np.ndarray, handles: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """A copy of `image` (RGB uint8) with an arrow from each handle (red) to its target (blue)."""
    handles = as_points(handles, "handles")
    targets = as_points(targets, "targets")
    if handles.shape != targets.shape:
        raise ValueError(f"handles {handles.shape} and targets {targets.shape} must have the same shape")
    canvas = Image.fromarray(rgb_uint8(image).copy())
    draw = ImageDraw.Draw(canvas)
    radius = _radius(canvas)
    width = max(1, radius // 2)
    for (hx, hy), (tx, ty) in zip(handles, targets):
        draw.line((hx, hy, tx, ty), fill=ARROW_COLOR, width=width)
        length = math.hypot(tx - hx, ty - hy)
        if length >= 1:
            angle = math.atan2(ty - hy, tx - hx)
            head = min(3 * radius, length / 2)
            for side in (-1, 1):
                wing = angle + math.pi - side * math.radians(25)
                draw.line((tx, ty, tx + head * math.cos(wing), ty + head * math.sin(wing)), fill=ARROW_COLOR, width=width)
    for (hx, hy), (tx, ty) in zip(handles, targets):
        _dot(draw, hx, hy, radius, HANDLE_COLOR)
        _dot(draw, tx, ty, radius, TARGET_COLOR)
    return np.asarray(canvas)


def draw_faces(image: np.ndarray, faces: list, chosen: int | None = 1) -> np.ndarray:
    """A copy of `image` (RGB uint8) with a numbered box on each face, the `chosen` one (1 = first) in green.

    `faces` is `detect_faces(...).faces` (boxes from the detector) or `detect_landmarks(...)` (boxes
    around the points); the numbers are the ones `select_face` takes.
    """
    canvas = Image.fromarray(rgb_uint8(image).copy())
    draw = ImageDraw.Draw(canvas)
    width = max(2, _radius(canvas) // 2)
    font = default_font(max(12, 6 * _radius(canvas)))
    for number, face in enumerate(faces, start=1):
        if isinstance(face, Face):
            left, top, right, bottom = face.box
        else:
            points = as_points(face, f"faces[{number - 1}]")
            (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
        color = CHOSEN_COLOR if number == chosen else FACE_COLOR
        draw.rectangle((left, top, right, bottom), outline=color, width=width * (2 if number == chosen else 1))
        corner = (left + width, top + width)
        draw.text(corner, str(number), fill=color, font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(canvas)
