"""The 12 CMP facade classes, their label colours, and colour <-> class conversion.

The facades data set ships no palette: its label maps are JPEG-compressed colour
images, so colours near class borders are blended. ``derive_palette`` recovers the
class colours from the data (pure function), and ``PALETTE`` hard-codes what it
found on ``shared/datasets/facades/train`` (all 400 label maps):

    python -m segmentation.derive_palette ../shared/datasets/facades/train

The colours form a jet-like ramp from dark blue to dark red. The class order
follows that ramp and the CMP class list (Tyleček and Šára, GCPR 2013):
background is the darkest blue, shop the darkest red.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "background", "facade", "window", "door", "cornice", "sill",
    "balcony", "blind", "deco", "molding", "pillar", "shop",
)

# Derived by ``derive_palette`` on the 400 training label maps (see module docstring).
PALETTE: np.ndarray = np.array(
    [
        [0, 0, 222],      # background
        [0, 48, 255],     # facade
        [2, 127, 255],    # window
        [1, 207, 255],    # door
        [34, 254, 225],   # cornice
        [112, 254, 144],  # sill
        [192, 255, 63],   # balcony
        [254, 240, 3],    # blind
        [255, 159, 2],    # deco
        [254, 80, 1],     # molding
        [251, 1, 2],      # pillar
        [174, 0, 1],      # shop
    ],
    dtype=np.uint8,
)


def _flat_pixels(label_rgb: np.ndarray, tolerance: int) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood is uniform: away from JPEG-blended borders."""
    img = label_rgb.astype(np.int16)
    h, w, _ = img.shape
    centre = img[1:-1, 1:-1]
    flat = np.ones((h - 2, w - 2), dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            nb = img[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]
            flat &= np.abs(nb - centre).max(axis=-1) <= tolerance
    return centre[flat].reshape(-1, 3)


def derive_palette(
    label_maps: Iterable[np.ndarray],
    num_classes: int = 12,
    min_distance: float = 60.0,
    tolerance: int = 10,
) -> np.ndarray:
    """Find the ``num_classes`` label colours as histogram peaks of flat label pixels.

    Peaks are taken greedily by pixel count, each at least ``min_distance`` (RGB
    Euclidean) from those already taken, then refined to the median of the flat
    pixels near them. The result is sorted along the blue -> red ramp
    (by R - B, then G), which is the CMP class order.
    """
    pixels = [_flat_pixels(np.asarray(m), tolerance) for m in label_maps]
    if not pixels:
        raise ValueError("derive_palette needs at least one label map")
    flat = np.concatenate(pixels)
    if len(flat) == 0:
        raise ValueError("derive_palette found no uniform label regions")
    bins = flat // 8                                    # 32 levels per channel
    counts = np.bincount((bins[:, 0] * 32 + bins[:, 1]) * 32 + bins[:, 2], minlength=32 ** 3)
    centres: list[np.ndarray] = []
    for key in np.argsort(-counts, kind="stable"):
        if counts[key] == 0:
            break
        c = np.array([key // 1024, key // 32 % 32, key % 32]) * 8 + 4
        if all(np.linalg.norm(c - p) >= min_distance for p in centres):
            centres.append(c)
            if len(centres) == num_classes:
                break
    if len(centres) < num_classes:
        raise ValueError(
            f"derive_palette found only {len(centres)} distinct colours, expected {num_classes}"
        )
    refined = []
    for c in centres:
        near = flat[np.linalg.norm(flat - c, axis=1) < min_distance / 2]
        refined.append(np.median(near, axis=0))
    palette = np.clip(np.rint(np.array(refined)), 0, 255).astype(np.uint8)
    return palette[np.argsort([_jet_position(c) for c in palette], kind="stable")]


def _jet_position(colour: np.ndarray) -> float:
    """Where a colour sits on the jet ramp (0 = dark blue, 1 = dark red)."""
    t = np.linspace(0.0, 1.0, 1024)[:, None]
    offsets = np.array([3.0, 2.0, 1.0])
    jet = np.clip(1.5 - np.abs(4.0 * t - offsets), 0.0, 1.0) * 255.0
    return float(t[np.linalg.norm(jet - colour.astype(float), axis=1).argmin(), 0])


def colours_to_classes(rgb: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """Nearest palette entry for every pixel: (H, W, 3) uint8 -> (H, W) int64."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) colour image, got shape {rgb.shape}")
    flat = rgb.reshape(-1, 3).astype(np.int32)
    pal = palette.astype(np.int32)
    dist = ((flat[:, None, :] - pal[None, :, :]) ** 2).sum(-1)
    return dist.argmin(1).reshape(rgb.shape[:2]).astype(np.int64)


def classes_to_colours(classes: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """Colour a class-index map: (H, W) int -> (H, W, 3) uint8."""
    if classes.ndim != 2:
        raise ValueError(f"expected an (H, W) class map, got shape {classes.shape}")
    if classes.min(initial=0) < 0 or classes.max(initial=0) >= len(palette):
        raise ValueError(f"class indices must lie in [0, {len(palette) - 1}]")
    return palette[classes]


def quantise(rgb: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """Snap every pixel to its nearest palette colour."""
    return classes_to_colours(colours_to_classes(rgb, palette), palette)
