"""pix2pix losses: the GAN objective (vanilla BCE or LSGAN) and the weighted generator loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gan_loss(logits: torch.Tensor, real: bool, mode: str = "vanilla") -> torch.Tensor:
    """How far the patch logits are from "all real" or "all fake"."""
    target = torch.full_like(logits, 1.0 if real else 0.0)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    raise ValueError(f"GAN mode must be 'vanilla' or 'lsgan', got {mode!r}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, mode: str = "vanilla"):
    """D = 1/2 (GAN(real) + GAN(fake)); returns (total, real part, fake part)."""
    real = gan_loss(real_logits, True, mode)
    fake = gan_loss(fake_logits, False, mode)
    return 0.5 * (real + fake), real, fake
