"""The distance an inversion minimises: LPIPS when it can run offline, else a pixel loss over an image pyramid.

LPIPS (the `lpips` package, VGG16 backbone, as NVlabs' projector.py uses) needs torchvision and the
backbone's ImageNet weights. It is used only when both are already here: the package imports and
torchvision's `vgg16-397923af.pth` sits in the torch hub cache. Nothing is ever downloaded.

The fallback compares the images at every level of a 2x average-pooling pyramid down to 16 px, with
L1 + L2 per level. Each level is a mean, so the coarse levels weigh as much as the full image: the
low frequencies (layout, colour) steer the early steps, which a plain full-resolution L2 leaves to a
slow crawl, and the fine levels still pull in detail once the layout fits.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

PYRAMID_MIN_SIZE = 16              # Coarsest pyramid level, px.
PIXEL_LOSS_NAME = f"pixel L1+L2 over an image pyramid (down to {PYRAMID_MIN_SIZE} px)"
LPIPS_NAME = "LPIPS (VGG16)"
LPIPS_BACKBONE_FILE = "vgg16-397923af.pth"  # torchvision's VGG16 ImageNet weights, as the hub cache names them.
LPIPS_MAX_SIZE = 256               # projector.py area-downsamples larger images to 256 before VGG.


@dataclass
class ImageDistance:
    """A named distance between two image batches [N, 3, H, W] in [-1, 1], returning a scalar tensor."""
    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def __call__(self, synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.fn(synth, target)


def pyramid_pixel_distance(synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over pyramid levels (full size, 1/2, 1/4, ... down to PYRAMID_MIN_SIZE) of mean L1 + mean L2."""
    total = synth.new_zeros(())
    while True:
        diff = synth - target
        total = total + diff.abs().mean() + diff.square().mean()
        if min(synth.shape[-2:]) // 2 < PYRAMID_MIN_SIZE:
            return total
        synth, target = F.avg_pool2d(synth, 2), F.avg_pool2d(target, 2)


def lpips_backbone_cached() -> bool:
    """Whether torchvision's VGG16 weights are in the torch hub cache (so LPIPS would not download them)."""
    return (Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONE_FILE).is_file()


def _lpips_distance(device: torch.device) -> ImageDistance | None:
    """LPIPS-VGG on `device`, or None when the package or its backbone weights are not here."""
    if not lpips_backbone_cached():
        return None
    try:
        import lpips  # optional: needs torchvision, which this project does not install
    except Exception:  # a missing or broken torchvision raises more than ImportError
        return None
    net = lpips.LPIPS(net="vgg", verbose=False).eval().requires_grad_(False).to(device)

    def distance(synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if synth.shape[-1] > LPIPS_MAX_SIZE:
            synth = F.interpolate(synth, size=(LPIPS_MAX_SIZE, LPIPS_MAX_SIZE), mode="area")
            target = F.interpolate(target, size=(LPIPS_MAX_SIZE, LPIPS_MAX_SIZE), mode="area")
        return net(synth, target).mean()

    return ImageDistance(LPIPS_NAME, distance)


def image_distance(device: torch.device | str = "cpu", loss: str = "auto") -> ImageDistance:
    """The distance for `loss`: "auto" (LPIPS if it can run offline, else pixel), "lpips" or "pixel"."""
    if loss not in ("auto", "lpips", "pixel"):
        raise ValueError(f"loss must be 'auto', 'lpips' or 'pixel', got {loss!r}")
    if loss != "pixel":
        found = _lpips_distance(torch.device(device))
        if found is not None:
            return found
        if loss == "lpips":
            raise ValueError("loss='lpips' needs the lpips package (which needs torchvision) and torchvision's "
                             f"{LPIPS_BACKBONE_FILE} in {Path(torch.hub.get_dir()) / 'checkpoints'}; "
                             "use loss='auto' or 'pixel'")
    return ImageDistance(PIXEL_LOSS_NAME, pyramid_pixel_distance)
