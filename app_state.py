"""What the app keeps per browser session, and the checks on everything that crosses the app boundary.

Gradio hands each visitor their own `DragState` (through `gr.State`), so two people editing at
once never share points, masks or images; only the generator weights are shared (see app.py).
Inputs from the page or from an API client are validated by the pydantic models below before
any handler touches them, and a failed check becomes one readable sentence for the status line.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

DISPLAY_MIN_SIDE = 512    # Small (demo) images are shown enlarged by an integer factor to at least this.
POINT_COLUMNS = ["handle x", "handle y", "target x", "target y"]


# ----------------------------------------------------------------------------- validation models

class Point(BaseModel):
    """A pixel position (x right, y down) that must lie inside the image given as context `size`."""
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)
    x: float
    y: float

    @model_validator(mode="after")
    def _inside_image(self, info: ValidationInfo) -> Point:
        size = (info.context or {}).get("size")
        if size is not None:
            width, height = size
            if not (0 <= self.x <= width - 1 and 0 <= self.y <= height - 1):
                raise ValueError(f"({self.x:.1f}, {self.y:.1f}) lies outside the {width}x{height} image")
        return self


class DragPoints(BaseModel):
    """Handle and target lists of equal, non-zero length (validate with context={'size': (w, h)})."""
    handles: list[Point] = Field(min_length=1, max_length=68)
    targets: list[Point] = Field(min_length=1, max_length=68)

    @model_validator(mode="after")
    def _paired(self) -> DragPoints:
        if len(self.handles) != len(self.targets):
            raise ValueError(f"{len(self.handles)} handles but {len(self.targets)} targets: "
                             "every handle (red) needs a target (blue)")
        return self

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(K, 2) float32 handles and targets."""
        def arr(points: list[Point]) -> np.ndarray:
            return np.array([[p.x, p.y] for p in points], dtype=np.float32)
        return arr(self.handles), arr(self.targets)


class DragSettings(BaseModel):
    """The drag tab's settings panel."""
    model_config = ConfigDict(allow_inf_nan=False)
    model: str = Field(min_length=1)                  # Registry name, local checkpoint path or the demo entry.
    seed: int = Field(ge=0, le=2**32 - 1)             # Seed of the z latent.
    truncation_psi: float = Field(ge=0.0, le=1.5)     # 0 = the average image, 1 = no truncation.
    lr: float = Field(gt=0.0, le=0.1)                 # Adam learning rate of the latent.
    max_steps: int = Field(ge=1, le=2000)             # Optimisation steps before giving up.
    latent_space: Literal["W", "W+"] = "W+"           # Optimise one w for all layers, or one per layer.

    @property
    def w_plus(self) -> bool:
        return self.latent_space == "W+"


def explain(err: ValidationError, what: str) -> str:
    """One readable sentence per problem, e.g. "settings: seed must be ≥ 0 (got -1)"."""
    parts = []
    for problem in err.errors(include_url=False):
        where = ".".join(str(p) for p in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        got = problem.get("input")
        shown = "" if isinstance(got, (dict, list, BaseModel)) or got is None else f" (got {got!r})"
        parts.append(f"{where}: {message}{shown}" if where else f"{message}{shown}")
    return f"Invalid {what}: " + "; ".join(parts)


# ----------------------------------------------------------------------------- session state

@dataclass
class DragState:
    """One visitor's drag editing: their session on the shared generator, clicks, mask and history."""
    session: Any = None                     # draggan DragSession (its own latent; the generator is shared).
    image: np.ndarray | None = None         # The session's current image, rendered once per latent change.
    model: str = ""                         # Dropdown value the session was built from.
    points: list[tuple[float, float]] = field(default_factory=list)  # Clicks: handle, target, handle, ...
    landmarks: np.ndarray | None = None     # (68, 2) of the current image, once detected.
    mask: np.ndarray | None = None          # (H, W) bool flexible region; None = everything may move.
    show_mask: bool = False
    undo_points: list[list[tuple[float, float]]] = field(default_factory=list)  # Points before each drag.
    running: bool = False                   # A drag of this session is streaming.

    def rendered(self) -> np.ndarray:
        """Render the session's latent once, for every view until it changes again."""
        self.image = self.session.render()
        return self.image

    @property
    def handles(self) -> list[tuple[float, float]]:
        return self.points[0::2]

    @property
    def targets(self) -> list[tuple[float, float]]:
        return self.points[1::2]

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Complete handle → target pairs as (K, 2) float32 arrays (a trailing lone handle is left out)."""
        k = len(self.points) // 2
        h = np.array(self.handles[:k], dtype=np.float32).reshape(k, 2)
        t = np.array(self.targets[:k], dtype=np.float32).reshape(k, 2)
        return h, t

    def set_pairs(self, handles: np.ndarray, targets: np.ndarray) -> None:
        self.points = [p for h, t in zip(np.asarray(handles), np.asarray(targets))
                       for p in ((float(h[0]), float(h[1])), (float(t[0]), float(t[1])))]

    def new_image(self) -> None:
        """Forget everything tied to the previous image."""
        self.points.clear()
        self.landmarks = None
        self.mask = None
        self.undo_points.clear()


# ----------------------------------------------------------------------------- points table

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
    elif isinstance(rows, dict):
        rows = rows.get("data", [])
    points: list[tuple[float, float]] = []
    for index, row in enumerate(rows):
        values = [_cell(v, index) for v in list(row)[:4]]
        values += [None] * (4 - len(values))
        if all(v is None for v in values):
            continue
        if values[0] is None or values[1] is None:
            raise ValueError(f"points row {index + 1}: the handle needs both x and y")
        points.append((values[0], values[1]))
        if values[2] is not None and values[3] is not None:
            points.append((values[2], values[3]))
        elif values[2] is not None or values[3] is not None:
            raise ValueError(f"points row {index + 1}: the target needs both x and y")
    return points


def _cell(value: Any, index: int) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"points row {index + 1}: {value!r} is not a number") from None
    return None if math.isnan(number) else number


# ----------------------------------------------------------------------------- images

def display_scale(width: int, height: int) -> int:
    """Integer enlargement that shows a small image at DISPLAY_MIN_SIDE or more (1 for big ones)."""
    return max(1, math.ceil(DISPLAY_MIN_SIDE / max(width, height)))


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic enlargement by an integer factor: image pixel (x, y) lands at (x + 0.5) * scale - 0.5."""
    if scale == 1:
        return image
    height, width = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((width * scale, height * scale), Image.Resampling.BICUBIC))


def mask_from_editor(value: Any, size: tuple[int, int]) -> np.ndarray | None:
    """The painted flexible region of a gr.ImageEditor value as an (H, W) bool mask; None when nothing is painted."""
    if not isinstance(value, dict):
        return None
    layers = [np.asarray(layer) for layer in value.get("layers") or [] if layer is not None]
    painted = None
    for layer in layers:
        if layer.ndim == 3 and layer.shape[-1] == 4:
            ink = layer[..., 3] > 0
        elif layer.ndim == 3:
            ink = layer.max(axis=-1) > 0
        else:
            ink = layer > 0
        painted = ink if painted is None or painted.shape != ink.shape else painted | ink
    if painted is None or not painted.any():
        return None
    width, height = size
    if painted.shape != (height, width):
        rows = (np.arange(height) * painted.shape[0] // height)
        cols = (np.arange(width) * painted.shape[1] // width)
        painted = painted[rows][:, cols]
    return painted


def tint_outside(image: np.ndarray, mask: np.ndarray, strength: float = 0.55) -> np.ndarray:
    """Darken what lies outside the flexible region, so the user sees what will stay fixed."""
    out = image.astype(np.float32)
    out[~mask] *= 1.0 - strength
    return out.round().astype(np.uint8)


def blend(photo: np.ndarray, labels: np.ndarray, opacity: float) -> np.ndarray:
    """Label colours laid over the photo with the given opacity (0 = photo only, 1 = labels only)."""
    if photo.shape != labels.shape:
        raise ValueError(f"photo {photo.shape} and label map {labels.shape} must have the same shape")
    mixed = (1.0 - opacity) * photo.astype(np.float32) + opacity * labels.astype(np.float32)
    return mixed.round().clip(0, 255).astype(np.uint8)


def legend_html(class_names: tuple[str, ...], palette: np.ndarray, shares: dict[str, float]) -> str:
    """A colour-swatch table of the classes, largest share first."""
    rows = []
    for name, colour in sorted(zip(class_names, palette), key=lambda nc: -shares.get(nc[0], 0.0)):
        hex_colour = "#{:02x}{:02x}{:02x}".format(*(int(c) for c in colour))
        rows.append(
            f"<tr><td><span style='display:inline-block;width:1.1em;height:1.1em;background:{hex_colour};"
            f"border:1px solid #0004;vertical-align:middle'></span></td>"
            f"<td>{html.escape(name)}</td><td style='text-align:right'>{100 * shares.get(name, 0.0):.1f} %</td></tr>")
    return ("<table class='legend'><thead><tr><th></th><th>class</th><th>pixels</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
