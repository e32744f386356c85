"""Motion supervision: pull the features around each handle one pixel toward its target.

loss = sum_i mean_{q in disc(p_i, r1)} |F(q + d_i) - sg(F(q))|_1, with d_i the unit vector from handle
p_i to target t_i, plus an optional fixed-region term lambda * mean(|F - F0|_1 outside the mask).
The paper writes sums; like the official code we average each handle's term over its disc pixels and
channels and the mask term over the map, so lambda = 20 weighs like quantities at any resolution and
channel count (Adam itself does not care about the overall scale).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .features import sample_upsampled

MOTION_RADIUS_512 = 3    # r1 at 512 px (the paper's value).
MASK_WEIGHT = 20.0       # lambda of the fixed-region term (the paper's value).
NO_LOSS_DISTANCE = 1.0   # A handle within this many pixels of its target adds no loss.


def motion_radius(image_height: int) -> int:
    """r1 = 3 px at 512, scaled with the image, at least 1 px (the official rounding: round(3/512 * H))."""
    return max(1, round(MOTION_RADIUS_512 / 512 * image_height))


def disc_offsets(radius: int) -> torch.Tensor:
    """Integer (dx, dy) offsets [K, 2] of the pixels within `radius` of a pixel centre (the disc Omega1)."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    inside = dx.square() + dy.square() <= radius ** 2
    return torch.stack([dx[inside], dy[inside]], dim=-1)


def motion_supervision_loss(feat: torch.Tensor, handles: torch.Tensor, targets: torch.Tensor, radius: int,
                            image_size: tuple[int, int], origin: torch.Tensor | None = None) -> torch.Tensor:
    """The motion term for `feat` [1, C, h, w] and pixel positions `handles`, `targets` [P, 2] (x, y).

    With `origin` (x, y), `feat` is the box of an image_size region whose corner sits there, and handles and
    targets are pixels of the whole image: the shifted positions q + d are formed there, so they round as on the
    whole map. Disc pixels outside the region are left out (the reference only indexes pixels that exist).
    Returns a 0-d tensor; zero, without a graph, when every handle is within NO_LOSS_DISTANCE.
    """
    height, width = image_size
    direction = targets - handles
    length = direction.norm(dim=1)
    active = length > NO_LOSS_DISTANCE
    if not bool(active.any()):
        return feat.new_zeros(())
    p, d = handles[active], direction[active] / length[active, None]
    q = p[:, None, :] + disc_offsets(radius).to(p)[None]                       # [P, K, 2]
    local = q if origin is None else q - origin
    inside = ((local[..., 0] >= 0) & (local[..., 0] <= width - 1) & (local[..., 1] >= 0)
              & (local[..., 1] <= height - 1))
    n_points, n_disc = q.shape[:2]
    both = sample_upsampled(feat, torch.cat([q, q + d[:, None, :]]).reshape(-1, 2), image_size, origin)
    here, moved = both.reshape(2, n_points, n_disc, -1).unbind(0)
    per_pixel = (moved - here.detach()).abs().mean(dim=-1)                    # [P, K]
    weight = inside.to(per_pixel.dtype)
    return ((per_pixel * weight).sum(dim=1) / weight.sum(dim=1)).sum()


def fixed_weight(mask: torch.Tensor, feature_size: tuple[int, int]) -> torch.Tensor:
    """Weight [1, 1, h, w] of each feature pixel in the fixed region: 1 - the flexible share of its area.

    `mask` [H, W] is 1 where the image may change. The official code applies the full-resolution mask
    to the up-sampled map; averaging it over each feature pixel's footprint is the low-resolution match.
    """
    return 1 - F.adaptive_avg_pool2d(mask[None, None].float(), feature_size)


def fixed_region_loss(feat: torch.Tensor, feat0: torch.Tensor, weight: torch.Tensor,
                      mask_weight: float = MASK_WEIGHT) -> torch.Tensor:
    """lambda * mean |F - F0|_1 over the fixed region, `weight` from `fixed_weight`."""
    return mask_weight * ((feat - feat0).abs() * weight).mean()
