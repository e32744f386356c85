"""The straightforward full-resolution DragGAN step, as the official implementation runs it.

Every step renders the whole image (fused modulated conv, the NVlabs inference default), up-samples
the feature block to image size, and does motion supervision and tracking on that full-resolution
map. It is the baseline of benchmarks/bench_drag.py and the oracle the fast `DragSession` is tested
against: both must move the handles along the same pixels.
"""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

from draggan.features import feature_block_index
from draggan.motion import NO_LOSS_DISTANCE, disc_offsets, motion_radius
from draggan.networks import Generator
from draggan.session import DragConfig, stop_distance
from draggan.tracking import tracking_radius


def _bilinear(feat: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear read [P, C] of the full-resolution map at pixel positions [P, 2] (pixel centres at corners)."""
    h, w = feat.shape[-2:]
    grid = torch.stack([points[:, 0] / (w - 1), points[:, 1] / (h - 1)], dim=-1) * 2 - 1
    return F.grid_sample(feat, grid[None, None], mode="bilinear", padding_mode="border",
                         align_corners=True)[0, :, 0].t()


def full_resolution_drag(G: Generator, start_ws: torch.Tensor, handles: torch.Tensor, targets: torch.Tensor,
                         max_steps: int, lr: float = DragConfig.lr,
                         num_optimized_ws: int = DragConfig.num_optimized_ws,
                         fused_modconv: bool = True) -> Iterator[tuple[torch.Tensor, bool]]:
    """Yield (tracked handles [P, 2], done) once per step; each step ends with its Adam update (if not done).
    `fused_modconv=False` runs the same maths with other float rounding (benchmarks/drag_divergence.py)."""
    res = G.img_resolution
    index, r1, r2 = feature_block_index(res), motion_radius(res), tracking_radius(res)
    disc = disc_offsets(r1).to(start_ws.device)
    d_stop = stop_distance(res, len(handles))
    offset = torch.nn.Parameter(torch.zeros(1, num_optimized_ws, G.w_dim, device=start_ws.device))
    optimizer = torch.optim.Adam([offset], lr=lr)
    p, t = handles.round().clone(), targets.clone()
    f0 = None
    for _ in range(max_steps):
        ws = torch.cat([start_ws[:, :num_optimized_ws] + offset, start_ws[:, num_optimized_ws:]], dim=1)
        _, feats = G.synthesis(ws, return_features=True, fused_modconv=fused_modconv)
        feat = F.interpolate(feats[index], size=(res, res), mode="bilinear", align_corners=False)
        if f0 is None:
            f0 = feat[0, :, p[:, 1].long(), p[:, 0].long()].t().detach()
        else:
            with torch.no_grad():
                for i, (x, y) in enumerate(p.long().tolist()):
                    x0, x1, y0, y1 = max(x - r2, 0), min(x + r2, res - 1), max(y - r2, 0), min(y + r2, res - 1)
                    window = feat[0, :, y0:y1 + 1, x0:x1 + 1]
                    dist = (window - f0[i][:, None, None]).abs().sum(dim=0)
                    best = int(dist.argmin())
                    p[i] = torch.tensor([x0 + best % dist.shape[1], y0 + best // dist.shape[1]], dtype=p.dtype)
        done = bool(((t - p).norm(dim=1) <= d_stop).all())
        if not done:
            loss = feat.new_zeros(())
            for i in range(len(p)):
                direction = t[i] - p[i]
                if direction.norm() <= NO_LOSS_DISTANCE:
                    continue
                q = p[i] + disc
                q = q[(q >= 0).all(dim=1) & (q <= res - 1).all(dim=1)]
                here = feat[0, :, q[:, 1].long(), q[:, 0].long()].t().detach()
                moved = _bilinear(feat, q + direction / direction.norm())
                loss = loss + (moved - here).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        yield p.clone(), done
        if done:
            return
