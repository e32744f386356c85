"""What the drag tab keeps per visitor, and the checks on what a visitor types.

Gradio hands each visitor their own `DragState` (through `gr.State`), so two people editing at
once never share points, masks or images; only the generator weights are shared (ui/models.py).
What comes from the page or an API client is validated by the pydantic models below, so a failed
check names the field or row and becomes one readable sentence for the status line. The session
checks its own contract again (draggan/session.py): these models are for the person typing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

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
    """The typed handle → target pairs of a drag (validate with context={'size': (w, h)}), so that an error
    names the point ("handles.1"). The table pairs them up; the session checks pairing for its own callers."""
    handles: list[Point] = Field(min_length=1, max_length=68)
    targets: list[Point] = Field(min_length=1, max_length=68)

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
    """One visitor's drag editing: their session on the shared generator (which keeps the undo stack),
    clicks, mask and landmarks."""
    session: Any = None                     # draggan DragSession (its own latent; the generator is shared).
    image: np.ndarray | None = None         # The session's current image, rendered once per latent change.
    model: str = ""                         # Dropdown value the session was built from.
    points: list[tuple[float, float]] = field(default_factory=list)  # Clicks: handle, target, handle, ...
    landmarks: np.ndarray | None = None     # (68, 2) of the current image, once detected.
    mask: np.ndarray | None = None          # (H, W) bool flexible region; None = everything may move.
    show_mask: bool = False
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
