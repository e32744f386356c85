"""A drag that slides a block's output along each handle's path: a backward warp of its features, as an offset.

A W+ latent modulates whole channels, so a small generator can only move one object by redrawing the image, and an
offset optimised by motion supervision smears it (docs/drag.md). Moving the block's features themselves carries
the object whole: every cell within `radius` of the segment from a handle's start to its shifted position reads the
features `shift` behind it (weight 1, falling linearly to 0 at twice the radius), and the higher blocks render the
moved features into the image. The warp is stored as the additive offset the session already carries
(warped - raw), so undo, reset, replay and the latent file need nothing new.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

WARP_STEP_512 = 4.0  # px the handles' features slide per step at 512 px (scaled): well inside the tracking radius.


def warp_step(image_height: int) -> float:
    """The most a step slides the features, at least 1 px (tracking moves handles in whole pixels)."""
    return max(1.0, WARP_STEP_512 * image_height / 512)


def cell_centres(resolution: int, image_size: tuple[int, int]) -> torch.Tensor:
    """(x, y) image-pixel positions [r * r, 2] of a `resolution`-square map's cells (align_corners=False)."""
    height, width = image_size
    ys = (torch.arange(resolution) + 0.5) * height / resolution - 0.5
    xs = (torch.arange(resolution) + 0.5) * width / resolution - 0.5
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=-1)


def path_weights(points: torch.Tensor, starts: torch.Tensor, shifts: torch.Tensor, radius: float) -> torch.Tensor:
    """[P, N] weight of each of `points` [N, 2] in each handle's moved region: 1 within `radius` of the segment from
    its start to start + shift [P, 2], falling linearly to 0 at twice the radius."""
    length2 = shifts.square().sum(dim=1).clamp(min=1e-12)                             # [P]
    rel = points[None] - starts[:, None]                                              # [P, N, 2]
    t = ((rel * shifts[:, None]).sum(dim=-1) / length2[:, None]).clamp(0, 1)
    distance = (rel - t[..., None] * shifts[:, None]).norm(dim=-1)
    return (2 - distance / radius).clamp(0, 1)


def warp_offset(raw: torch.Tensor, start: torch.Tensor, starts: torch.Tensor, shifts: torch.Tensor, radius: float,
                image_size: tuple[int, int], flexible: torch.Tensor | None = None) -> torch.Tensor:
    """The offset [1, C, r, r] that turns the block's `raw` output into its drag-start output `start` (raw + the
    offset the drag began with) slid by `shifts` [P, 2] px around the handles' `starts` [P, 2]. Where regions
    overlap, the shifts average; `flexible` [r, r] (0..1, from the drag's mask) scales the slide, so fixed cells
    keep their features."""
    resolution = raw.shape[-1]
    points = cell_centres(resolution, image_size).to(raw)
    weights = path_weights(points, starts.to(raw), shifts.to(raw), radius)           # [P, N]
    if flexible is not None:
        weights = weights * flexible.reshape(1, -1).to(raw)
    flow = (weights[..., None] * shifts.to(raw)[:, None]).sum(dim=0) / weights.sum(dim=0).clamp(min=1)[:, None]
    source = points - flow                                                            # [N, 2] image px
    size = raw.new_tensor([image_size[1], image_size[0]])
    grid = ((source + 0.5) / size * 2 - 1).reshape(1, resolution, resolution, 2)
    warped = F.grid_sample(start, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return warped - raw
