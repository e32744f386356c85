"""Facade photos as the segmenter reads them: any image file or array in, (H, W, 3) uint8 RGB out, size-checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from common.images import read_rgb, rgb_uint8, to_rgb

MIN_SIDE = 8              # Smaller images carry no facade structure; refuse them.


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Read any image file as RGB uint8 (at most `max_side` px on its long side); a clear error for non-images.

    Size is checked on the header and the file decoded already reduced (`common.images`)."""
    return read_rgb(path, max_side=max_side, min_side=MIN_SIDE)


def as_rgb(image) -> np.ndarray:
    """Grayscale, RGBA (alpha dropped) or RGB, as a PIL image (any mode or bit depth) or uint8 array -> (H, W, 3) uint8."""
    if isinstance(image, Image.Image):
        return to_rgb(image, min_side=MIN_SIDE, name="the photo")
    return rgb_uint8(image, "the photo", MIN_SIDE)
