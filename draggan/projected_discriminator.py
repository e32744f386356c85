"""A projected discriminator (Sauer et al. 2021, "Projected GANs converge faster") on our own facade segmenter.

A GAN trained from 400 photos on a CPU cannot afford a discriminator that learns what a facade is from scratch.
This one reads the images through the frozen encoder of a shipped segmenter, which already tells walls from
windows, mixes its feature maps with fixed random 1x1 convolutions (across channels) and a top-down pyramid (across
scales), and trains only small patch heads on each scale. Real and fake images pass the same differentiable
augmentation (DiffAugment: colour, translation, cutout) first, so D cannot memorise the few real photos.

One narrow head reads the raw pixels at full size (128 px) beside the segmenter's features: the reader's instance
norms make it blind to an image's contrast, and without that head (or with batch norms in the heads) G's colours
blew out within 4 kimg.

The reader is the `cgan` segmenter; the realism figure (`draggan.realism`) judges with the default `ce` one, so
the generator is not scored by the network it was trained against.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from segmentation import load_model

READER = "cgan"            # Shipped segmenter whose encoder the discriminator reads.
READER_SIZE = 256          # The reader's training resolution: images are resized to it before the encoder.
READ_LEVELS = (1, 2, 3, 4)  # Encoder blocks read: at 256 px in, 64², 32², 16² and 8² maps.
MIXED_CHANNELS = 64        # Width of every scale after the random channel mixing.
PIXEL_SIZE = 128           # The raw (augmented) image, at this size, feeds a narrow head of its own.
MBSTD_GROUP = 4            # Images per group of the heads' minibatch standard deviation.


def diff_augment(x: torch.Tensor, generator: torch.Generator | None = None, paired: bool = False) -> torch.Tensor:
    """DiffAugment's colour, translation (1/8 of the side) and cutout (1/2 of the side), differentiable in `x`.

    `paired`: the batch's two halves share their draws, so image i and image i + n/2 differ only in content (what
    the trainer's diversity term compares)."""
    n, _, h, w = x.shape
    if paired and n % 2:
        raise ValueError(f"paired augmentation needs an even batch, got {n}")

    def rand(*shape: int) -> torch.Tensor:
        if not paired:
            return torch.rand(*shape, generator=generator, device=x.device)
        half = torch.rand(shape[0] // 2, *shape[1:], generator=generator, device=x.device)
        return torch.cat([half, half])
    x = x + (rand(n, 1, 1, 1) - 0.5)                                                   # brightness
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (rand(n, 1, 1, 1) * 2) + mean                                     # saturation
    mean = x.mean([1, 2, 3], keepdim=True)
    x = (x - mean) * (rand(n, 1, 1, 1) + 0.5) + mean                                   # contrast
    shift = (torch.stack([rand(n) * 2 - 1, rand(n) * 2 - 1], 1) * 0.125 * 2)             # in [-1, 1] grid units
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    cy = (rand(n) * h).long().view(n, 1, 1)                                             # cutout centre
    cx = (rand(n) * w).long().view(n, 1, 1)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((ys - cy).abs() < h // 4) & ((xs - cx).abs() < w // 4)
    return x * (~inside).unsqueeze(1).to(x.dtype)


class SegmenterFeatures(nn.Module):
    """The frozen encoder of a shipped segmenter: images in [-1, 1] -> feature maps at `READ_LEVELS`."""

    def __init__(self, reader: str = READER):
        super().__init__()
        unet = load_model(reader, device="cpu").segmenter
        self.downs = nn.ModuleList(unet.downs[: max(READ_LEVELS) + 1])
        self.channels = [self.downs[i].conv.out_channels for i in READ_LEVELS]
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "SegmenterFeatures":
        return super().train(False)  # Frozen: its instance norms never switch to training statistics.

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.interpolate(x, size=(READER_SIZE, READER_SIZE), mode="bilinear", align_corners=False, antialias=True)
        feats = []
        for i, down in enumerate(self.downs):
            x = down(x)
            if i in READ_LEVELS:
                feats.append(x)
        return feats


class RandomProjection(nn.Module):
    """Fixed random mixing: a 1x1 conv per scale (across channels), then top-down 3x3 convs (across scales).

    Buffers, not parameters: they are never trained, but they are saved, so a resumed run reads the same mix.
    """

    def __init__(self, channels: list[int], width: int = MIXED_CHANNELS, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        for i, c in enumerate(channels):
            self.register_buffer(f"ccm{i}", torch.randn(width, c, 1, 1, generator=g) / c ** 0.5)
            self.register_buffer(f"csm{i}", torch.randn(width, width, 3, 3, generator=g) / (9 * width) ** 0.5)
        self.levels = len(channels)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [F.conv2d(f, getattr(self, f"ccm{i}")) for i, f in enumerate(feats)]
        out: list[torch.Tensor] = [None] * self.levels  # type: ignore[list-item]
        coarser = None
        for i in reversed(range(self.levels)):
            x = mixed[i] if coarser is None else mixed[i] + F.interpolate(coarser, size=mixed[i].shape[2:],
                                                                           mode="bilinear", align_corners=False)
            out[i] = F.conv2d(x, getattr(self, f"csm{i}"), padding=1)
            coarser = out[i]
        return out


def minibatch_std(x: torch.Tensor, group: int) -> torch.Tensor:
    """`x` with one more channel: each feature's standard deviation over a group of images, averaged (Karras et
    al. 2018). A head that reads it can tell a batch of near-identical fakes from a batch of varied photos: without
    it G drew one facade for every z by 24 kimg."""
    n, c, h, w = x.shape
    g = math.gcd(group, n)
    std = (x.float().reshape(g, -1, c, h, w).var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=[1, 2, 3])
    return torch.cat([x, std.to(x.dtype).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)], dim=1)


class PatchHead(nn.Module):
    """One scale's discriminator: stride-2 spectral-norm convs (at most 3) down to 4x4 or more, then a logit per
    patch from those features and their minibatch standard deviation. Widths grow as the maps shrink (2048 /
    side, at most 128), so every conv costs about the same.

    No normalisation layer: D scores real and fake batches apart, and a batch (or group) norm would divide out
    exactly the scale in which they differ (G's outputs reached a standard deviation of 14 with one)."""

    def __init__(self, width: int, resolution: int, downs: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c = width
        for _ in range(downs):
            if resolution <= 4:
                break
            resolution //= 2
            out = min(128, max(c, 2048 // resolution))
            layers += [spectral_norm(nn.Conv2d(c, out, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            c = out
        self.body = nn.Sequential(*layers)
        self.out = spectral_norm(nn.Conv2d(c + 1, 1, 4, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(minibatch_std(self.body(x), MBSTD_GROUP))


class ProjectedDiscriminator(nn.Module):
    """Augment -> frozen segmenter encoder -> random projection -> a patch head per scale; logits concatenated."""

    def __init__(self, reader: str = READER, seed: int = 0):
        super().__init__()
        self.features = SegmenterFeatures(reader)
        self.project = RandomProjection(self.features.channels, seed=seed)
        sizes = [READER_SIZE // 2 ** (i + 1) for i in READ_LEVELS]
        self.heads = nn.ModuleList([*(PatchHead(MIXED_CHANNELS, s) for s in sizes), PatchHead(3, PIXEL_SIZE)])

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What a resume state needs: the heads (the reader is the shipped file, the projection is seeded)."""
        return {k: v for k, v in self.state_dict().items() if k.startswith("heads.")}

    def read(self, images: torch.Tensor, augment: bool = True, paired: bool = False) -> list[torch.Tensor]:
        """The projected features of (augmented) images and their pixels at PIXEL_SIZE: what the heads read.
        `paired`: as in `diff_augment`."""
        images = diff_augment(images, paired=paired) if augment else images
        pixels = images if images.shape[-1] == PIXEL_SIZE else F.interpolate(images, size=(PIXEL_SIZE, PIXEL_SIZE),
                                                                             mode="area")
        return [*self.project(self.features(images)), pixels]

    def score(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """The heads' patch logits of projected features, all scales concatenated: (N, patches)."""
        return torch.cat([head(f).flatten(1) for head, f in zip(self.heads, feats)], dim=1)

    def forward(self, images: torch.Tensor, augment: bool = True) -> torch.Tensor:
        return self.score(self.read(images, augment))
