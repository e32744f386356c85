"""The 13 label colours of the CMP facade maps, their names, and colour <-> class conversion.

The facades data set ships no palette: its label maps are JPEG-compressed colour
images, so colours near class borders are blended. ``derive_palette`` recovers the
class colours from the data (pure function), and ``CLASS_COLOURS`` (whose colours are
``PALETTE``) hard-codes what it found on ``shared/datasets/facades/train`` (all 400 label maps):

    python -m segmentation.derive_palette ../shared/datasets/facades/train

The colours form a jet ramp from dark blue to dark red, one step per CMP label
index (Tyleček and Šára, GCPR 2013): 1 background, 2 facade, ... 12 shop. Index 0,
the darkest blue (7, 8, 161), is "unlabelled": the pixels no annotated box claims.
In the data it never forms a region (no 3x3-uniform patch of it in 400 maps); it
draws the 1-2 px seams between annotated boxes and the image's first column (in
96 % of maps), 6.5 % of all pixels. It is a real colour of every map, so it is a
class: a prediction that paints seams where the annotators left them scores for it.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

# Each class's name and colour, in CMP label order; the colours are what ``derive_palette`` found on the 400
# training label maps (see the module docstring).
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "unlabelled": (7, 8, 161), "background": (0, 0, 222), "facade": (0, 48, 255), "window": (2, 127, 255),
    "door": (1, 207, 255), "cornice": (34, 254, 225), "sill": (112, 254, 144), "balcony": (192, 255, 63),
    "blind": (254, 240, 3), "deco": (255, 159, 2), "molding": (254, 80, 1), "pillar": (251, 1, 2),
    "shop": (174, 0, 1),
}
CLASS_NAMES: tuple[str, ...] = tuple(CLASS_COLOURS)
PALETTE: np.ndarray = np.array(list(CLASS_COLOURS.values()), dtype=np.uint8)  # (13, 3), row = class index


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
    num_classes: int = 13,
    min_distance: float = 50.0,
    tolerance: int = 10,
    min_share: float = 0.001,
) -> np.ndarray:
    """Find the ``num_classes`` label colours of JPEG-compressed label maps.

    Region colours are histogram peaks of flat pixels (3x3-uniform), taken
    greedily by count, each at least ``min_distance`` (RGB Euclidean) from those
    already taken and holding at least ``min_share`` of the flat pixels. Colours
    drawn only as thin lines have no flat pixels; the remaining classes are the
    peaks of the pixels that are neither near a region colour nor on a JPEG
    blend (a straight RGB segment) between two of them. Each peak is refined to
    the median of the pixels near it, and the result is sorted along the
    blue -> red jet ramp, which is the CMP class order.
    """
    maps = [np.asarray(m) for m in label_maps]
    if not maps:
        raise ValueError("derive_palette needs at least one label map")
    flat = np.concatenate([_flat_pixels(m, tolerance) for m in maps])
    if len(flat) == 0:
        raise ValueError("derive_palette found no uniform label regions")
    regions = _refine(flat, _histogram_peaks(flat, [], num_classes, min_distance, min_share * len(flat)),
                      min_distance)
    lines: list[np.ndarray] = []
    if len(regions) < num_classes:
        pixels = np.concatenate([m.reshape(-1, 3)[::4] for m in maps])  # every 4th pixel is plenty
        unexplained = pixels[_blend_distance(pixels, regions) > min_distance / 2]
        # A line colour may sit closer to a region colour: the blend test already separated them.
        peaks = _histogram_peaks(unexplained, regions, num_classes, min_distance / 2, 1)[len(regions):]
        lines = _refine(unexplained, peaks, min_distance)
    if len(regions) + len(lines) < num_classes:
        raise ValueError(
            f"derive_palette found only {len(regions) + len(lines)} distinct colours, expected {num_classes}"
        )
    palette = np.clip(np.rint(np.array(regions + lines)), 0, 255).astype(np.uint8)
    return palette[np.argsort([_jet_position(c) for c in palette], kind="stable")]


def _refine(pixels: np.ndarray, centres: list[np.ndarray], min_distance: float) -> list[np.ndarray]:
    """Each centre moved to the median of the pixels within ``min_distance / 2`` of it."""
    return [np.median(pixels[np.linalg.norm(pixels - c, axis=1) < min_distance / 2], axis=0) for c in centres]


def _histogram_peaks(pixels: np.ndarray, centres: list, num: int, min_distance: float,
                     min_count: float) -> list[np.ndarray]:
    """Add greedy peaks of a 32-level RGB histogram to ``centres`` until there are ``num``."""
    centres = list(centres)
    bins = pixels.astype(np.int64) // 8
    counts = np.bincount((bins[:, 0] * 32 + bins[:, 1]) * 32 + bins[:, 2], minlength=32 ** 3)
    for key in np.argsort(-counts, kind="stable"):
        if len(centres) == num or counts[key] < max(min_count, 1):
            break
        c = np.array([key // 1024, key // 32 % 32, key % 32]) * 8 + 4
        if all(np.linalg.norm(c - p) >= min_distance for p in centres):
            centres.append(c)
    return centres


def _blend_distance(pixels: np.ndarray, centres: list[np.ndarray]) -> np.ndarray:
    """Each pixel's RGB distance to the nearest blend segment between two centres (or a centre)."""
    px = pixels.astype(np.float32)
    best = np.full(len(px), np.inf, np.float32)
    for i, a in enumerate(centres):
        for b in centres[i:]:
            a32, d = a.astype(np.float32), (b - a).astype(np.float32)
            t = np.clip((px - a32) @ d / max(float(d @ d), 1e-6), 0.0, 1.0)
            best = np.minimum(best, np.linalg.norm(px - a32 - t[:, None] * d, axis=1))
    return best


def _jet_position(colour: np.ndarray) -> float:
    """Where a colour sits on the jet ramp (0 = dark blue, 1 = dark red)."""
    t = np.linspace(0.0, 1.0, 1024)[:, None]
    offsets = np.array([3.0, 2.0, 1.0])
    jet = np.clip(1.5 - np.abs(4.0 * t - offsets), 0.0, 1.0) * 255.0
    return float(t[np.linalg.norm(jet - colour.astype(float), axis=1).argmin(), 0])


LOOKUP_CHUNK = 65_536  # Pixels snapped at once: their distance tables take ~20 MB.


def colours_to_classes(rgb: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """Nearest palette entry for every pixel: (H, W, 3) uint8 -> (H, W) int64."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) colour image, got shape {rgb.shape}")
    flat = rgb.reshape(-1, 3)
    pal = palette.astype(np.int32)
    classes = np.empty(len(flat), np.int64)
    for start in range(0, len(flat), LOOKUP_CHUNK):  # (pixels, classes, 3) distances: bounded, not 0.27 GB/Mpx
        chunk = flat[start:start + LOOKUP_CHUNK].astype(np.int32)
        classes[start:start + LOOKUP_CHUNK] = ((chunk[:, None, :] - pal[None, :, :]) ** 2).sum(-1).argmin(1)
    return classes.reshape(rgb.shape[:2])


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
