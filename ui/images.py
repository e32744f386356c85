"""Image helpers of the UI: how a generated image is shown (enlarged, tinted) and how a painted mask is read."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from common.images import entering_image
from ui.visitor_files import visitor_file

DISPLAY_MIN_SIDE = 512    # Small (demo) images are shown enlarged by an integer factor to at least this.
MASK_MAX_SIDE = 2048      # A sent mask layer is read at most this large: masks are used at generator size.
MAX_MASK_LAYERS = 4       # The page sends one layer (layers=False); an API client may send a few, not hundreds.


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
    """One layer of a gr.ImageEditor value as an array, at most MASK_MAX_SIDE px: as gradio decoded it, or read
    here from the file record a client sent (the events run unprocessed; only a file the visitor may name,
    ui/visitor_files.py); either way through the shape limits of `common.images`, checked on the header, so a
    40,000,000×1 layer is refused instead of costing gigabytes."""
    name = f"mask layer {index + 1}"
    if not isinstance(layer, (np.ndarray, Image.Image)):
        layer, _ = visitor_file(layer, name)
    painted_rgb = isinstance(layer, np.ndarray) and not (layer.ndim == 3 and layer.shape[-1] == 4)
    return entering_image(layer, MASK_MAX_SIDE, name=name,
                          mode="RGB" if painted_rgb else "RGBA")  # keep what says "painted": alpha, if any


def ink(layer: np.ndarray) -> np.ndarray:
    """Where a mask layer is painted: its alpha, else any colour, as (H, W) bool."""
    if layer.ndim == 3 and layer.shape[-1] == 4:
        return layer[..., 3] > 0
    return layer.max(axis=-1) > 0 if layer.ndim == 3 else layer > 0


def mask_from_editor(value: Any, size: tuple[int, int]) -> np.ndarray | None:
    """The painted flexible region of a gr.ImageEditor value as an (H, W) bool mask; None when nothing is painted.

    Layers are read one at a time (at most MAX_MASK_LAYERS), so a payload costs one layer's memory, not the sum.
    A layer that is not a readable image raises a ValueError that names it."""
    if not isinstance(value, dict):
        return None
    layers = [layer for layer in value.get("layers") or [] if layer is not None]
    if len(layers) > MAX_MASK_LAYERS:
        raise ValueError(f"the mask has {len(layers)} layers; at most {MAX_MASK_LAYERS} are read")
    painted = None
    for index, layer in enumerate(layers):
        painted_here = ink(editor_layer(layer, index))
        same = painted is not None and painted.shape == painted_here.shape
        painted = painted | painted_here if same else painted_here
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
