"""DragGAN's feature map, read in image-pixel coordinates straight from its low-resolution block.

The official DragGAN up-samples the 128x128 block output bilinearly (align_corners=False) to the image
size at every step and then indexes pixels. Up-sampling is linear, so that value at integer pixel x is
the low-resolution map sampled bilinearly at x_low = (x + 0.5) * w / W - 0.5. We sample there and never
build the full-resolution map: identical values at integer pixels, and at sub-pixel
positions the same bilinear blend of the four surrounding pixels that the reference computes.
"""
from __future__ import annotations

import math

import torch

FEATURE_RESOLUTION = 128  # The paper's block (feats[5]) for the 256, 512 and 1024 models.
MIN_IMAGE_RESOLUTION = 32


def feature_block_index(img_resolution: int) -> int:
    """Index into `feats` of the block DragGAN reads: b128, or b{res/2} for generators under 256 px.

    Real models (256 px and up) get the paper's b128. Smaller test models get the largest block at
    half the image resolution, so the feature map is always coarser than the image, as in the paper.
    """
    if img_resolution < MIN_IMAGE_RESOLUTION:
        raise ValueError(f"DragGAN needs a generator of at least {MIN_IMAGE_RESOLUTION} px, got {img_resolution}")
    res = min(FEATURE_RESOLUTION, img_resolution // 2)
    return int(math.log2(res)) - 2


def _bilinear(v00: torch.Tensor, v10: torch.Tensor, v01: torch.Tensor, v11: torch.Tensor, fx: torch.Tensor,
              fy: torch.Tensor) -> torch.Tensor:
    """Blend of four corner values (vXY: X along x, Y along y) at fractions fx, fy [P, 1]: one formula for both reads,
    so a whole-map read and a box read blend in the same order."""
    return (v00 * (1 - fx) + v10 * fx) * (1 - fy) + (v01 * (1 - fx) + v11 * fx) * fy


def sample_features(feat: torch.Tensor, points: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Bilinear features [P, C] of `feat` [1, C, h, w] at pixel positions `points` [P, 2] of an image_size image.

    The feature-map position (x + 0.5) * w / W - 0.5 is exact for the powers of two that w / W is, so a box cut
    out of the map (`cropped.py`) reads bit for bit what the whole map reads at the same pixels (`grid_sample`'s
    normalised coordinates would round differently for each map size). Border padding: a position past the last
    pixel centre reads the border, as the up-sampled map does.
    """
    if feat.ndim != 4 or feat.shape[0] != 1:
        raise ValueError(f"feat must have shape [1, C, h, w], got {list(feat.shape)}")
    h, w = feat.shape[2:]
    height, width = image_size
    points = points.to(feat.dtype)
    x = ((points[:, 0] + 0.5) * (w / width) - 0.5).clamp(0, w - 1)
    y = ((points[:, 1] + 0.5) * (h / height) - 0.5).clamp(0, h - 1)
    x0, y0 = x.floor(), y.floor()
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    flat = feat[0].reshape(feat.shape[1], -1).t()                              # [h * w, C]
    return _bilinear(flat[y0 * w + x0], flat[y0 * w + x1], flat[y1 * w + x0], flat[y1 * w + x1], fx, fy)


def sample_upsampled(feat: torch.Tensor, points: torch.Tensor, image_size: tuple[int, int],
                     origin: torch.Tensor | None = None) -> torch.Tensor:
    """Features [P, C] that the up-sampled map would give at sub-pixel `points` [P, 2], without building it.

    The reference reads the full-resolution map bilinearly between its four surrounding pixel
    centres; each of those is an exact `sample_features` read, so we blend the same four values with
    the same weights. Positions past the border read the border pixels. With `origin` (x, y), `points` are
    pixels of the whole image and `feat` is the box of an image_size region whose corner sits there: the
    sub-pixel weights come from the whole image's coordinates, so box and whole map blend alike.
    """
    height, width = image_size
    base = points.floor()
    frac = points - base
    if origin is not None:
        base = base - origin
    corners = base[:, None, :] + points.new_tensor([[0, 0], [1, 0], [0, 1], [1, 1]])
    corners = torch.minimum(corners.clamp(min=0), points.new_tensor([width - 1, height - 1]))
    values = sample_features(feat, corners.reshape(-1, 2), image_size).reshape(len(points), 4, -1)
    return _bilinear(*values.unbind(1), frac[:, 0:1], frac[:, 1:2])
