"""Point tracking: each handle moves to the nearest neighbour of its initial feature in a square window.

The window is every integer pixel within r2 (Chebyshev) of the handle, clipped at the image borders,
so a handle at an edge or corner just searches a smaller window. Distances are L1 over channels, as in
the paper (the official code uses L2). Features are read from the low-resolution map at integer
pixels, which equals the reference's nearest-neighbour search over the up-sampled map.
"""
from __future__ import annotations

import torch

from .features import sample_features

TRACKING_RADIUS_512 = 12  # r2 at 512 px (the paper's value).


def tracking_radius(image_height: int) -> int:
    """r2 = 12 px at 512, scaled with the image, at least 1 px (the official rounding: round(12/512 * H))."""
    return max(1, round(TRACKING_RADIUS_512 / 512 * image_height))


def window_pixels(handles: torch.Tensor, radius: int, image_size: tuple[int, int]) -> torch.Tensor:
    """Integer pixels [P, (2r+1)^2, 2] of each handle's search square, clipped to the image.

    Clipping repeats border pixels instead of dropping them, which keeps one tensor for all handles and
    cannot change which pixel is nearest: a repeat is a pixel already inside the clipped window.
    """
    height, width = image_size
    r = torch.arange(-radius, radius + 1, device=handles.device, dtype=handles.dtype)
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    offsets = torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=-1)
    window = handles.round()[:, None, :] + offsets[None]
    limit = handles.new_tensor([width - 1, height - 1])
    return torch.minimum(window.clamp(min=0), limit)


@torch.no_grad()
def track_points(feat: torch.Tensor, handles: torch.Tensor, initial_features: torch.Tensor, radius: int,
                 image_size: tuple[int, int]) -> torch.Tensor:
    """New handle positions [P, 2]: in each window, the pixel whose feature is L1-closest to f_i [P, C]."""
    window = window_pixels(handles, radius, image_size)                       # [P, K, 2]
    n_points, n_window = window.shape[:2]
    candidates = sample_features(feat, window.reshape(-1, 2), image_size).reshape(n_points, n_window, -1)
    distance = (candidates - initial_features[:, None, :]).abs().sum(dim=-1)  # [P, K]
    best = distance.argmin(dim=1)
    return window[torch.arange(n_points, device=window.device), best]
