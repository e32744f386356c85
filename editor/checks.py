"""The checks on what a visitor sends the editor: settings, points and step counts, as pydantic models.

A failed check names the field or the point ("handles.1") and `explain` turns it into one readable sentence
for the status line. The defaults are not written here: they come from `DragConfig()` and `InvertConfig()`,
the one source the engine reads too. The session checks its own contract again (draggan/session.py): these
models are for the person typing.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from draggan.inversion import InvertConfig
from draggan.session import DragConfig

MAX_STEPS = 2000              # The most drag steps a visitor may ask for.
MAX_POINTS = 68               # The most handle → target pairs of one drag (a preset uses at most 16).
MAX_INVERT_STEPS = 5000       # The most projection steps; PTI at most MAX_PTI_STEPS.
MAX_PTI_STEPS = 2000
DRAG = DragConfig()
INVERT = InvertConfig()


def latent_space(w_plus: bool) -> str:
    """The settings' name of a latent space: "W+" (one w per layer) or "W" (one shared w)."""
    return "W+" if w_plus else "W"


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
                raise ValueError(f"({_short(self.x)}, {_short(self.y)}) lies outside the {width}x{height} image")
        return self


class DragPoints(BaseModel):
    """The typed handle → target pairs of a drag (validate with context={'size': (w, h)}), so that an error
    names the point ("handles.1")."""
    handles: list[Point] = Field(min_length=1, max_length=MAX_POINTS)
    targets: list[Point] = Field(min_length=1, max_length=MAX_POINTS)

    @classmethod
    def of(cls, points: list[tuple[float, float]], size: tuple[int, int]) -> DragPoints:
        """Clicks (handle, target, handle, ...) of complete pairs, checked against the image `size` (w, h)."""
        return cls.model_validate({"handles": [{"x": x, "y": y} for x, y in points[0::2]],
                                   "targets": [{"x": x, "y": y} for x, y in points[1::2]]}, context={"size": size})

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(K, 2) float32 handles and targets."""
        def arr(points: list[Point]) -> np.ndarray:
            return np.array([[p.x, p.y] for p in points], dtype=np.float32)
        return arr(self.handles), arr(self.targets)


class DragSettings(BaseModel):
    """The drag settings panel: which image (model, seed, ψ) and how to drag it (lr, steps, W or W+)."""
    model_config = ConfigDict(allow_inf_nan=False)
    model: str = Field(min_length=1)                        # Registry name, local checkpoint path or the demo entry.
    seed: int = Field(ge=0, le=2**32 - 1)                    # Seed of the z latent.
    truncation_psi: float = Field(ge=0.0, le=1.5)            # 0 = the average image, 1 = no truncation.
    lr: float = Field(DRAG.lr, gt=0.0, le=0.1)               # Adam learning rate of the latent.
    max_steps: int = Field(DRAG.max_steps, ge=1, le=MAX_STEPS)  # Optimisation steps before giving up.
    latent_space: Literal["W", "W+"] = latent_space(DRAG.w_plus)  # One w for all layers, or one per layer.

    @property
    def w_plus(self) -> bool:
        return self.latent_space == "W+"

    @model_validator(mode="after")
    def _offered_model(self, info: ValidationInfo) -> DragSettings:
        choices = (info.context or {}).get("choices")
        if choices is not None and self.model not in choices:
            raise ValueError(f"model {self.model[:80]!r} is not one of the {len(choices)} models the app offers")
        return self


class InvertSettings(BaseModel):
    """The photo panel's step counts (errors name the field); defaults: `InvertConfig()`."""
    steps: int = Field(INVERT.steps, ge=1, le=MAX_INVERT_STEPS)          # W+ projection steps.
    pti_steps: int = Field(INVERT.pti_steps, ge=0, le=MAX_PTI_STEPS)     # PTI (0: none; the ToRGB fit runs either way).


def _short(value: float) -> str:
    """A coordinate for a message: one decimal, or 3 significant digits when huge (1e308 is not 309 digits)."""
    return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"


def explain(err: ValidationError, what: str) -> str:
    """One readable sentence per problem, e.g. "settings: seed must be ≥ 0 (got -1)"."""
    parts = []
    for problem in err.errors(include_url=False):
        where = ".".join(str(p) for p in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        got = problem.get("input")
        shown = "" if isinstance(got, (dict, list, BaseModel)) or got is None else f" (got {repr(got)[:40]})"
        parts.append(f"{where}: {message}{shown}" if where else f"{message}{shown}")
    return f"Invalid {what}: " + "; ".join(parts)
