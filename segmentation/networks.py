"""pix2pix networks: the encoder-decoder and U-Net generators, the PatchGAN discriminator.

Direction ``AtoB`` (segment) maps a photo (N, 3, H, W) in [-1, 1] to either per-class logits
(N, num_classes, H, W) (``head="class"``: label = argmax) or a label colour image
(N, 3, H, W) in [-1, 1] (``head="rgb"``, Tanh: label = nearest palette colour).
Direction ``BtoA`` (paint) maps a one-hot class map (N, num_classes, H, W) to a photo
(N, 3, H, W) in [-1, 1] (``head="rgb"``). H and W must be divisible by 2**depth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class SegmenterConfig:
    arch: str = "unet"        # "unet" (pix2pix) or "fcn" (the earlier L1 encoder-decoder).
    ngf: int = 16             # U-Net width: channels of the first encoder block.
    depth: int = 7            # U-Net down-samplings; 2**depth must divide the image size.
    norm: str = "instance"    # U-Net norm: "instance" (same in train and eval) or "batch".
    dropout: float = 0.0      # Dropout in the 3 innermost U-Net decoder blocks (train only).
    image_size: int = 128     # Square size the photos are scaled to in training (the crop size).
    head: str = "class"       # "class": per-class logits; "rgb": Tanh label colours (the earlier head).
    num_classes: int = 13     # Logit channels of the class head; one-hot input channels when painting.
    direction: str = "AtoB"   # "AtoB": photo -> labels (segment); "BtoA": labels -> photo (paint).

    @property
    def in_channels(self) -> int:
        return 3 if self.direction == "AtoB" else self.num_classes

    @property
    def out_channels(self) -> int:
        return self.num_classes if self.head == "class" else 3

    def to_dict(self) -> dict:
        return asdict(self)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"norm must be 'batch' or 'instance', got {kind!r}")


class EncoderDecoder(nn.Module):
    """The earlier L1 network: Conv+BN+ReLU 3->8->16->32->64->128, mirrored by ConvTranspose, Tanh."""

    widths = (8, 16, 32, 64, 128)

    def __init__(self, in_channels: int = 3, out_channels: int = 3, tanh: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for w in self.widths:
            layers += [nn.Conv2d(c, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        for w in reversed(self.widths[:-1]):
            layers += [nn.ConvTranspose2d(c, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        layers += [nn.ConvTranspose2d(c, out_channels, 4, 2, 1), nn.Tanh() if tanh else nn.Identity()]
        self.net = nn.Sequential(*layers)
        self.depth = len(self.widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Down(nn.Module):
    """Encoder block: stride-2 4x4 conv halves the size, then norm and LeakyReLU."""

    def __init__(self, cin: int, cout: int, norm: str | None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, 2, 1, bias=norm is None)
        self.norm = _norm(norm, cout) if norm else nn.Identity()
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class Up(nn.Module):
    """Decoder block: stride-2 4x4 transposed conv doubles the size, then norm, dropout, ReLU."""

    def __init__(self, cin: int, cout: int, norm: str, dropout: float):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        self.norm = _norm(norm, cout)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(self.norm(self.conv(x))))


class UNet(nn.Module):
    """pix2pix U-Net: each decoder block sees the upsampled features concatenated with its encoder twin.

    The outermost and innermost encoder blocks have no norm (the innermost map can be 1x1).
    """

    def __init__(self, ngf: int = 16, depth: int = 7, norm: str = "instance", dropout: float = 0.0,
                 in_channels: int = 3, out_channels: int = 3, tanh: bool = True):
        super().__init__()
        if depth < 2:
            raise ValueError(f"U-Net depth must be >= 2, got {depth}")
        widths = [ngf * min(2 ** i, 8) for i in range(depth)]
        self.depth = depth
        self.downs = nn.ModuleList()
        cin = in_channels
        for i, w in enumerate(widths):
            self.downs.append(Down(cin, w, None if i in (0, depth - 1) else norm))
            cin = w
        self.ups = nn.ModuleList()
        for i in range(depth - 1, 0, -1):
            cin = widths[i] if i == depth - 1 else 2 * widths[i]
            self.ups.append(Up(cin, widths[i - 1], norm, dropout if i >= depth - 3 else 0.0))
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * widths[0], out_channels, 4, 2, 1),
                                 nn.Tanh() if tanh else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = skips.pop()
        for up in self.ups:
            x = torch.cat([up(x), skips.pop()], dim=1)
        return self.out(x)


class PatchDiscriminator(nn.Module):
    """Conditional 70x70 PatchGAN (3 layers): one real/fake logit per patch of concat(photo, label).

    The label is a colour image (3 channels) or a class-probability map (num_classes channels).
    """

    def __init__(self, ndf: int = 64, n_layers: int = 3, norm: str = "instance", in_channels: int = 6):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = ndf
        for i in range(1, n_layers + 1):
            w = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(c, w, 4, stride, 1, bias=False), _norm(norm, w), nn.LeakyReLU(0.2, True)]
            c = w
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
            raise ValueError(f"discriminator needs photo and label of one size, got {tuple(x.shape)} and {tuple(y.shape)}")
        return self.net(torch.cat([x, y], dim=1))


def build_segmenter(config: SegmenterConfig) -> nn.Module:
    """The generator named by ``config.arch``, ``head`` and ``direction``, checked against ``config.image_size``."""
    if config.head not in ("class", "rgb"):
        raise ValueError(f"segmenter head must be 'class' or 'rgb', got {config.head!r}")
    if config.direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' (segment) or 'BtoA' (paint), got {config.direction!r}")
    if config.direction == "BtoA" and config.head != "rgb":
        raise ValueError("a painter (direction BtoA) outputs a photo: it needs head 'rgb'")
    tanh = config.head == "rgb"
    if config.arch == "unet":
        g = UNet(config.ngf, config.depth, config.norm, config.dropout, config.in_channels, config.out_channels, tanh)
    elif config.arch == "fcn":
        g = EncoderDecoder(config.in_channels, config.out_channels, tanh)
    else:
        raise ValueError(f"segmenter arch must be 'unet' or 'fcn', got {config.arch!r}")
    if config.image_size % (2 ** g.depth):
        raise ValueError(f"image_size {config.image_size} is not divisible by 2**{g.depth}")
    return g


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """pix2pix init: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
