"""Image helpers of the UI: how a generated image is shown (enlarged, tinted) and how a painted mask is read."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from common.images import entering_image

DISPLAY_MIN_SIDE = 512    # Small (demo) images are shown enlarged by an integer factor to at least this.
MASK_MAX_SIDE = 2048      # A sent mask layer is read at most this large: masks are used at generator size.


def display_scale(width: int, height: int) -> int:
    """Integer enlargement that shows a small image at DISPLAY_MIN_SIDE or more (1 for big ones)."""
    return max(1, math.ceil(DISPLAY_MIN_SIDE / max(width, height)))


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic enlargement by an integer factor: image pixel (x, y) lands at (x + 0.5) * scale - 0.5."""
    if scale == 1:
        return image
    height, width = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((width * scale, height * scale), Image.Resampling.BICUBIC))


def editor_layer(layer: Any, index: int) -> np.ndarray:
    """One layer of a gr.ImageEditor value as an array, at most MASK_MAX_SIDE px: as gradio decoded it (the
    page), or read here from the file an API client sent (the event runs unprocessed); either way through the
    shape limits of `common.images`, so a 40,000,000×1 layer is refused instead of costing gigabytes."""
    painted_rgb = isinstance(layer, np.ndarray) and not (layer.ndim == 3 and layer.shape[-1] == 4)
    return entering_image(layer, MASK_MAX_SIDE, name=f"mask layer {index + 1}",
                          mode="RGB" if painted_rgb else "RGBA")  # keep what says "painted": alpha, if any


def mask_from_editor(value: Any, size: tuple[int, int]) -> np.ndarray | None:
    """The painted flexible region of a gr.ImageEditor value as an (H, W) bool mask; None when nothing is painted.

    A layer that is not a readable image raises a ValueError that names it."""
    if not isinstance(value, dict):
        return None
    layers = [editor_layer(layer, index) for index, layer in enumerate(value.get("layers") or [])
              if layer is not None]
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
