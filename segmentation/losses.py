"""pix2pix losses: the GAN objective (vanilla BCE or LSGAN) and the reconstruction terms.

The generator's total, λ_rec·rec + λ_adv·GAN(D(x, G(x)), real), is summed in ``train.train_step``.
"""

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


def class_l1(probs: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
    """L1 between the softmax map and the one-hot labels: summed over classes, averaged over pixels.

    Summing over classes keeps the scale of the RGB L1 (a wholly wrong pixel costs 2), so
    λ_rec : λ_adv means the same for both heads.
    """
    return (probs - one_hot).abs().sum(1).mean()


def class_reconstruction(kind: str, logits: torch.Tensor, classes: torch.Tensor,
                         one_hot: torch.Tensor) -> torch.Tensor:
    """The class head's rec term: "l1" (softmax vs one-hot, the mission's L1) or "ce" (cross-entropy)."""
    if kind == "l1":
        return class_l1(logits.softmax(1), one_hot)
    if kind == "ce":
        return F.cross_entropy(logits, classes)
    raise ValueError(f"reconstruction loss must be 'l1' or 'ce', got {kind!r}")
