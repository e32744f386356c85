"""What the drag tab and its photo panel show of an `editor.Editor`, and how a refused edit is answered.

The image with the mask tint, landmarks, points and arrows drawn on (enlarged when small), the points
table as the page sends and shows it, the mask editor's background, and `answers`, which turns an
`editor.Refused` into the status output while every other output is left as it is.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

import gradio as gr
import numpy as np

import landmarks
from editor import Editor, Refused
from ui.images import display_scale, enlarge, tint_outside

POINT_COLUMNS = ["handle x", "handle y", "target x", "target y"]


def answers(outputs: int, status: int = 1):
    """A handler whose `Refused` becomes its message in output `status` and gr.skip() in the others (a warning
    pop-up too when the refusal asks for one). A streaming handler stays a generator for gradio."""
    def refusal(err: Refused) -> tuple:
        if err.warn:
            gr.Warning(str(err).replace("**", ""))
        return tuple(str(err) if i == status else gr.skip() for i in range(outputs))

    def wrap(handler):
        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def stream(*args, **kwargs):
                try:
                    yield from handler(*args, **kwargs)
                except Refused as err:
                    yield refusal(err)
            return stream

        @functools.wraps(handler)
        def respond(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except Refused as err:
                return refusal(err)
        return respond
    return wrap


def view(ed: Editor, frame: np.ndarray | None = None) -> np.ndarray | None:
    """The image (or a drag's `frame`), enlarged when small, with the mask tint, landmarks, points and arrows."""
    if ed.session is None:
        return None
    image = ed.image if frame is None else frame
    height, width = image.shape[:2]
    if ed.show_mask and ed.mask is not None and ed.mask.shape == (height, width):
        image = tint_outside(image, ed.mask)
    scale = display_scale(width, height)
    image = enlarge(image, scale)
    centre = (scale - 1) / 2  # Pixel (x, y) of the image sits at the centre of its enlarged block.
    if ed.landmarks is not None:
        image = landmarks.draw_points(image, ed.landmarks * scale + centre, color=(255, 220, 0))
    handles, targets = ed.pairs()
    if len(handles):
        image = landmarks.draw_arrows(image, handles * scale + centre, targets * scale + centre)
    if len(ed.points) % 2:
        image = landmarks.draw_points(image, np.array([ed.points[-1]]) * scale + centre)
    return image


def image_pixel(ed: Editor, x: float, y: float) -> tuple[float, float]:
    """The image pixel under (x, y) of the enlarged view."""
    scale = display_scale(*ed.size)
    return (float(x) - (scale - 1) / 2) / scale, (float(y) - (scale - 1) / 2) / scale


def mask_background(ed: Editor) -> dict:
    """An empty mask editor over the current image (enlarged like the main view)."""
    image = ed.image
    return {"background": enlarge(image, display_scale(image.shape[1], image.shape[0])), "layers": [],
            "composite": None}


def points_view(ed: Editor, message: str) -> tuple:
    """(image, status, points table): what most handlers show."""
    return view(ed), message, points_table(ed.points)


def points_table(points: list[tuple[float, float]]) -> list[list[float | None]]:
    """Rows of (handle x, handle y, target x, target y); a lone last handle has an empty target."""
    rows = []
    for i in range(0, len(points), 2):
        hx, hy = points[i]
        tx, ty = points[i + 1] if i + 1 < len(points) else (None, None)
        rows.append([_round(hx), _round(hy), _round(tx), _round(ty)])
    return rows


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 1)


def points_from_table(rows: Any) -> list[tuple[float, float]]:
    """Clicks from an edited table (pandas, list of rows or gradio's {'data': ...} dict); blank cells end a row."""
    if rows is None:
        return []
    if hasattr(rows, "to_numpy"):
        rows = rows.to_numpy().tolist()
    elif isinstance(rows, dict):  # gradio's table value, as an API client sends it
        headers = rows.get("headers")
        if headers is not None and headers != POINT_COLUMNS:
            raise ValueError(f"the columns must be {', '.join(POINT_COLUMNS)}; got {str(headers)[:80]}")
        rows = rows.get("data") or []
    if not isinstance(rows, (list, tuple)):
        raise ValueError(f"expected rows of 4 numbers, got {type(rows).__name__}")
    points: list[tuple[float, float]] = []
    for index, row in enumerate(rows):
        points += _row_points(row, index)
    return points


def _row_points(row: Any, index: int) -> list[tuple[float, float]]:
    """The handle, and the target if given, of table row `index`."""
    if not isinstance(row, (list, tuple)) or len(row) > len(POINT_COLUMNS):
        raise ValueError(f"points row {index + 1} must hold at most 4 cells ({', '.join(POINT_COLUMNS)}), "
                         f"got {str(row)[:60]}")
    values = [_cell(v, index) for v in row]
    values += [None] * (4 - len(values))
    if all(v is None for v in values):
        return []
    if values[0] is None or values[1] is None:
        raise ValueError(f"points row {index + 1}: the handle needs both x and y")
    if (values[2] is None) != (values[3] is None):
        raise ValueError(f"points row {index + 1}: the target needs both x and y")
    handle = [(values[0], values[1])]
    return handle if values[2] is None else [*handle, (values[2], values[3])]


def _cell(value: Any, index: int) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"points row {index + 1}: {repr(value)[:40]} is not a number") from None
    return None if math.isnan(number) else number
