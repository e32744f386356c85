"""Facade photos as the segmenter reads them: any image file or array in, (H, W, 3) uint8 RGB out, size-checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from common.images import check_size, read_rgb, to_rgb

MIN_SIDE = 8              # Smaller images carry no facade structure; refuse them.


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Read any image file as RGB uint8 (at most `max_side` px on its long side); a clear error for non-images.

    Size is checked on the header and the file decoded already reduced (`common.images`)."""
    return read_rgb(path, max_side=max_side, min_side=MIN_SIDE)


def as_rgb(image) -> np.ndarray:
    """Grayscale, RGBA (alpha dropped) or RGB, as a PIL image (any mode or bit depth) or uint8 array -> (H, W, 3) uint8."""
    if isinstance(image, Image.Image):
        return to_rgb(image, min_side=MIN_SIDE)
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4)):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")
    h, w = image.shape[:2]
    check_size(w, h, MIN_SIDE)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    image = image[..., :3]
    return np.ascontiguousarray(image)
