"""DragGAN's feature map, read in image-pixel coordinates straight from its low-resolution block.

The official DragGAN up-samples the 128x128 block output bilinearly (align_corners=False) to the image
size at every step and then indexes pixels. Up-sampling is linear, so that value at integer pixel x is
the low-resolution map sampled bilinearly at x_low = (x + 0.5) * w / W - 0.5, which is what
`grid_sample(align_corners=False)` reads at the normalised coordinate g = (2x + 1) / W - 1. We sample
there and never build the full-resolution map: identical values at integer pixels, and at sub-pixel
positions the same bilinear blend of the four surrounding pixels that the reference computes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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


def pixels_to_grid(points: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """(x, y) pixel coordinates [..., 2] -> grid_sample coordinates of those pixel centres in [-1, 1]."""
    height, width = image_size
    scale = points.new_tensor([2.0 / width, 2.0 / height])
    return (2 * points + 1) * (scale / 2) - 1


def sample_features(feat: torch.Tensor, points: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Bilinear features [P, C] of `feat` [1, C, h, w] at pixel positions `points` [P, 2] of an image_size image.

    Border padding: a position past the last pixel centre reads the border, as the up-sampled map does.
    """
    if feat.ndim != 4 or feat.shape[0] != 1:
        raise ValueError(f"feat must have shape [1, C, h, w], got {list(feat.shape)}")
    grid = pixels_to_grid(points.to(feat.dtype), image_size).reshape(1, 1, -1, 2)
    out = F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].t()


def sample_upsampled(feat: torch.Tensor, points: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Features [P, C] that the up-sampled map would give at sub-pixel `points` [P, 2], without building it.

    The reference reads the full-resolution map bilinearly between its four surrounding pixel
    centres; each of those is an exact `sample_features` read, so we blend the same four values with
    the same weights. Positions past the border read the border pixels.
    """
    height, width = image_size
    base = points.floor()
    frac = points - base
    corners = base[:, None, :] + points.new_tensor([[0, 0], [1, 0], [0, 1], [1, 1]])
    corners = torch.minimum(corners.clamp(min=0), points.new_tensor([width - 1, height - 1]))
    values = sample_features(feat, corners.reshape(-1, 2), image_size).reshape(len(points), 4, -1)
    fx, fy = frac[:, 0:1], frac[:, 1:2]
    return ((values[:, 0] * (1 - fx) + values[:, 1] * fx) * (1 - fy)
            + (values[:, 2] * (1 - fx) + values[:, 3] * fx) * fy)
