"""StyleGAN2 generator in plain PyTorch, layer for layer the NVlabs stylegan2-ada-pytorch architecture.

Parameter and buffer names match NVlabs `G_ema.state_dict()` exactly (`mapping.fc0.weight`,
`synthesis.b8.conv0.noise_const`, ...), so public DragGAN checkpoints load without renaming.
No compiled ops: the custom CUDA kernels of the reference are replaced by their reference maths
(`upfirdn2d` as zero-insertion + padding + FIR convolution, `bias_act` as add + activation + gain +
clamp), which is what makes the module run unchanged on CPU, CUDA and MPS. Everything is fp32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2)
RESAMPLE_TAPS = (1, 3, 3, 1)


# ----------------------------------------------------------------------------- primitives

def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """PixelNorm of the input latent: unit mean square over the feature axis."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def bias_act(x: torch.Tensor, b: torch.Tensor | None, lrelu: bool, gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """Add bias (broadcast over dim 1), optional leaky ReLU, multiply by gain, clamp to [-clamp, clamp]."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if lrelu:
        x = F.leaky_relu(x, LRELU_SLOPE)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def make_resample_filter(taps=RESAMPLE_TAPS) -> torch.Tensor:
    """The 2-D separable FIR low-pass filter (outer product of taps, normalised to sum 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def fir_filter(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int], gain: float) -> torch.Tensor:
    """Pad (or crop, where negative) both spatial axes by `pad` and convolve each channel with `f * gain`."""
    p0, p1 = pad
    c = x.shape[1]
    weight = (f * gain).flip([0, 1]).to(x.dtype)[None, None].expand(c, 1, *f.shape)
    if p0 == p1 >= 0:  # the conv pads by itself: no padded copy of a large map
        return F.conv2d(x, weight, padding=p0, groups=c)
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0): x.shape[2] - max(-p1, 0), max(-p0, 0): x.shape[3] - max(-p1, 0)]
    return F.conv2d(x, weight, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x up-sampling by zero insertion and the FIR filter (NVlabs `upfirdn2d.upsample2d`), as one transposed
    per-channel conv (stride 2, the filter × 4, cropped by 1 on every side): no zero-filled map is built."""
    c, taps = x.shape[1], f.shape[0]
    weight = (f * 4).to(x.dtype)[None, None].expand(c, 1, taps, taps)
    return F.conv_transpose2d(x, weight, stride=2, padding=(taps - 2) // 2, groups=c)


@dataclass
class KernelConstants:
    """What the unfused modulated conv derives from a fixed weight [O, I, k, k]: the demodulation's sum of squares
    over each kernel [O, I] and, for an up-sampling conv, the weight in conv_transpose2d's layout [I, O, k, k]."""
    energy: torch.Tensor
    transposed: torch.Tensor | None

    @classmethod
    def of(cls, weight: torch.Tensor, up: bool) -> "KernelConstants":
        return cls(weight.square().sum(dim=[2, 3]), weight.transpose(0, 1).contiguous() if up else None)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None,
                     demodulate: bool, up: bool = False, resample_filter: torch.Tensor | None = None,
                     fused: bool = True, constants: KernelConstants | None = None) -> torch.Tensor:
    """Style-modulated (and demodulated) convolution.

    `fused` folds the styles into per-sample weights and runs one grouped conv (NVlabs' inference
    path). Unfused scales the activations before and after a conv with the shared weight instead: the
    same maths, but its backward pass needs no per-sample weight gradient, so a gradient with respect
    to the latent (what DragGAN optimises) is cheaper: 1.2-1.3x on CPU in `benchmarks/bench_drag.py --ablations`.
    With `up`, the conv is a stride-2 transposed convolution followed by the [1,3,3,1] FIR filter,
    the sequence of NVlabs `conv2d_resample(up=2, padding=1)`. `constants` are the weight's, when the caller
    keeps them (unfused only).
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    dcoefs = None
    if fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)            # [N, O, I, k, k]
        if demodulate:
            dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()         # [N, O]
            w = w * dcoefs.reshape(n, -1, 1, 1, 1)
        x = _conv(x.reshape(1, n * in_ch, *x.shape[2:]), w.reshape(n * out_ch, in_ch, kh, kw), up,
                  resample_filter, groups=n)
        x = x.reshape(n, out_ch, *x.shape[2:])
    else:
        constants = constants or KernelConstants.of(weight, up)
        if demodulate:  # the same sum as a [N, I] x [I, O] product: no [N, O, I, k, k] tensor, nor its gradient
            dcoefs = (styles.square() @ constants.energy.t() + 1e-8).rsqrt()
        x = _conv(x * styles.reshape(n, -1, 1, 1), weight, up, resample_filter, groups=1,
                  transposed=constants.transposed)
        if dcoefs is not None:
            x = x * dcoefs.reshape(n, -1, 1, 1)
    if noise is not None:
        x = x + noise
    return x


def rendered_modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None,
                              bias: torch.Tensor, up: bool, resample_filter: torch.Tensor, gain: float,
                              clamp: float | None) -> torch.Tensor:
    """`bias_act(modulated_conv2d(..., demodulate=True, fused=True), bias, lrelu=True, gain, clamp)` without autograd,
    the path of every full render: the gain is folded into the kernels, the bias and the noise (`gain * lrelu(z)`
    is `lrelu(gain * z)` for gain > 0), the bias rides in the conv where there is no FIR after it, and the rest
    runs in place, so the large maps of the high blocks are written once instead of five times. The same numbers
    to float rounding, in half the time of a 1024 px render (`benchmarks/bench_render.py`)."""
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    w = w * ((w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() * gain).reshape(n, -1, 1, 1, 1)
    bias = (bias * gain).repeat(n)
    x = _conv(x.reshape(1, n * in_ch, *x.shape[2:]), w.reshape(n * out_ch, in_ch, kh, kw), up, resample_filter,
              groups=n, bias=bias)
    x = x.reshape(n, out_ch, *x.shape[2:])
    if noise is not None:
        x.add_(noise * gain)
    F.leaky_relu_(x, LRELU_SLOPE)
    return x if clamp is None else x.clamp_(-clamp, clamp)


def _conv(x: torch.Tensor, w: torch.Tensor, up: bool, f: torch.Tensor | None, groups: int,
          transposed: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Same-padded conv, or 2x up-sampling conv (transposed stride-2 conv, then FIR filter); `transposed` is `w` in
    conv_transpose2d's layout, when the caller keeps it; `bias` is added to the output (in place after the FIR)."""
    out_ch, in_ch, kh, kw = w.shape
    if not up:
        return F.conv2d(x, w, bias, padding=kw // 2, groups=groups)
    if transposed is None:
        transposed = w.reshape(groups, out_ch // groups, in_ch, kh, kw).transpose(1, 2).reshape(
            groups * in_ch, out_ch // groups, kh, kw)
    w = transposed
    x = F.conv_transpose2d(x, w, stride=2, groups=groups)
    taps, pad = f.shape[0], kw // 2
    x = fir_filter(x, f, (pad + (taps + 1) // 2 - (kw - 1), pad + (taps - 2) // 2 - (kw - 2)), gain=4.0)
    return x if bias is None else x.add_(bias.reshape(1, -1, 1, 1))


# ----------------------------------------------------------------------------- layers

class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer: weights stored at N(0, 1/lr_mul²), scaled at run time."""

    def __init__(self, in_features: int, out_features: int, lrelu: bool = False,
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.lrelu = lrelu
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if not self.lrelu:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, lrelu=True, gain=LRELU_GAIN)


class MappingNetwork(nn.Module):
    """z -> w: PixelNorm, `num_layers` leaky-ReLU FC layers at lr multiplier 0.01, broadcast to num_ws."""

    def __init__(self, z_dim: int,            # Input latent (Z) dimensionality.
                 w_dim: int,                  # Intermediate latent (W) dimensionality.
                 num_ws: int,                 # Number of W+ vectors the synthesis consumes.
                 num_layers: int = 8,         # Number of FC layers.
                 layer_features: int | None = None,  # Hidden width, defaults to w_dim.
                 lr_multiplier: float = 0.01):  # Learning-rate multiplier of the FC layers.
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, w_dim, num_ws, num_layers
        hidden = layer_features or w_dim
        features = [z_dim] + [hidden] * (num_layers - 1) + [w_dim]
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], lrelu=True,
                                                          lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        x = normalize_2nd_moment(z.to(torch.float32))
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x = torch.cat([self.w_avg.lerp(x[:, :cutoff], truncation_psi), x[:, cutoff:]], dim=1)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up-sampling), per-pixel noise, bias, leaky ReLU, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int,
                 resolution: int,             # Output resolution of this layer.
                 up: bool = False,            # 2x up-sample before the conv.
                 conv_clamp: float | None = None):  # Clamp pre-activations to +-conv_clamp.
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.register_buffer("resample_filter", make_resample_filter())
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", fused: bool = True,
                noise_crop: tuple[slice, slice] | None = None) -> torch.Tensor:
        """`noise_crop` (rows, columns) runs the layer on a crop of its map: the const noise is cut to match."""
        styles = self.affine(w)
        noise = None
        if noise_mode == "const":
            noise = (self.noise_const if noise_crop is None else self.noise_const[noise_crop]) * self.noise_strength
        elif noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device) * self.noise_strength
        if fused and not torch.is_grad_enabled():
            return rendered_modulated_conv2d(x, self.weight, styles, noise, self.bias, self.up, self.resample_filter,
                                             gain=LRELU_GAIN, clamp=self.conv_clamp)
        x = modulated_conv2d(x, self.weight, styles, noise, demodulate=True, up=self.up,
                             resample_filter=self.resample_filter, fused=fused,
                             constants=None if fused else self.kernel_constants())
        return bias_act(x, self.bias, lrelu=True, gain=LRELU_GAIN, clamp=self.conv_clamp)

    def kernel_constants(self) -> KernelConstants | None:
        """The weight's KernelConstants, kept while it is the same tensor, storage and version: a drag step would
        otherwise rebuild them in every layer and window. None (the caller computes them) while the weight is
        being tuned, whose gradient must flow through them, and under inference mode, whose tensors a later
        autograd pass could not save."""
        weight = self.weight
        if torch.is_inference_mode_enabled() or (weight.requires_grad and torch.is_grad_enabled()):
            return None
        key = (weight.data_ptr(), weight._version)
        kept = self.__dict__.get("_kept_constants")
        if kept is None or kept[0] is not weight or kept[1] != key:
            with torch.no_grad():
                kept = (weight, key, KernelConstants.of(weight, self.up))
            self.__dict__["_kept_constants"] = kept
        return kept[2]


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to RGB, no demodulation; its output is summed over resolutions (skip)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / np.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, noise=None, demodulate=False, fused=fused)
        return bias_act(x, self.bias, lrelu=False, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (const | up-conv0), conv1, ToRGB added to the up-sampled image."""

    def __init__(self, in_channels: int,      # 0 for the first (4x4, constant input) block.
                 out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", make_resample_filter())
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "const", fused: bool = True, rgb: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`rgb=False` skips the ToRGB branch (the image is then None) when only features are wanted."""
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        else:
            x = self.conv0(x, next(w_iter), noise_mode, fused)
        x = self.conv1(x, next(w_iter), noise_mode, fused)
        if not rgb:
            return x, None
        y = self.torgb(x, next(w_iter), fused)
        img = y if img is None else upsample2d(img, self.resample_filter).add_(y)
        return x, img


class SynthesisNetwork(nn.Module):
    """W+ -> image through blocks b4, b8, ..., b{img_resolution}, skip architecture."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int = 3,
                 channel_base: int = 32768,   # Overall multiplier for the number of channels.
                 channel_max: int = 512,      # Maximum number of channels in any layer.
                 num_fp16_res: int = 0,       # Accepted for checkpoint compatibility; we always run fp32.
                 conv_clamp: float | None = None):
        super().__init__()
        log2 = int(np.log2(img_resolution))
        if img_resolution != 2 ** log2 or img_resolution < 4:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_channels, channels[res], w_dim, res, img_channels, conv_clamp=conv_clamp)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last ToRGB has a w of its own

    @property
    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def offset_shape(self, index: int) -> tuple[int, int, int, int]:
        """Shape [1, C, r, r] of one image's `feature_offset` on block `index`'s output."""
        block = self.blocks[index]
        return 1, block.conv1.weight.shape[0], block.resolution, block.resolution

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", return_features: bool = False,
                last_block: int | None = None, fused_modconv: bool = True, rgb: bool = True,
                feature_offset: tuple[int, torch.Tensor] | None = None):
        """Render `ws` [N, num_ws, w_dim].

        `return_features` also returns every block's output `x` (`feats[i]` is block b{4*2**i}).
        `last_block=i` stops after block i: the image is then the running skip RGB at that block's
        resolution, a cheap preview, and the higher-resolution blocks are never run.
        `fused_modconv=False` is the cheaper path for gradients with respect to `ws` (see
        `modulated_conv2d`); `rgb=False` skips every ToRGB and returns None as the image.
        `feature_offset=(i, offset)` adds `offset` to block i's output `x` before the next block reads it (a drag's
        local edit, `DragConfig.feature_res`).
        """
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        blocks = self.blocks
        if last_block is not None:
            if not 0 <= last_block < len(blocks):
                raise ValueError(f"last_block must be in [0, {len(blocks) - 1}], got {last_block}")
            blocks = blocks[: last_block + 1]
        ws = ws.to(torch.float32)
        x = img = None
        feats = []
        w_idx = 0
        for block in blocks:
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), noise_mode,
                           fused_modconv, rgb)
            w_idx += block.num_conv
            if feature_offset is not None and len(feats) == feature_offset[0]:
                x = x + feature_offset[1]
            feats.append(x)
        return (img, feats) if return_features else img


# Sanity bounds for a generator config read from a file, checked before anything is allocated. The largest
# public StyleGAN2 (1024 px, channel_max 512, 8 mapping layers, z/w 512) holds 33 M parameters (133 MB fp32).
MAX_RESOLUTION = 4096
MAX_WIDTH = 4096              # z_dim, w_dim, channel_max, mapping layer_features.
MAX_MAPPING_LAYERS = 32
MAX_PARAMETER_BYTES = 10 ** 9  # fp32 parameters and buffers: 7.5x the largest public generator.


def _shown(value) -> str:
    """A value for an error message, cut short: a hostile file may hold a 300-digit number."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__} {_shown(value)}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {_shown(value)}")


def _check_number(name: str, value, high: float, allow_none: bool = False) -> None:
    """A finite number in (0, high], or None where allowed."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {_shown(value)}")
    if not 0 < value <= high:  # also false for NaN
        raise ValueError(f"{name} must be in (0, {high:g}], got {_shown(value)}")


def _check_mapping(name: str, value) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping of names to values, got {type(value).__name__}")
    return value


@dataclass
class GeneratorConfig:
    """The NVlabs `init_kwargs` of a Generator, as stored in its pickle; checked on creation (`validate`)."""
    z_dim: int = 512
    w_dim: int = 512
    img_resolution: int = 512
    img_channels: int = 3
    c_dim: int = 0
    mapping_kwargs: dict = field(default_factory=lambda: {"num_layers": 8})
    synthesis_kwargs: dict = field(default_factory=lambda: {"channel_base": 32768, "channel_max": 512,
                                                            "num_fp16_res": 4, "conv_clamp": 256})

    MAPPING_KEYS = ("num_layers", "layer_features", "lr_multiplier")
    SYNTHESIS_KEYS = ("channel_base", "channel_max", "num_fp16_res", "conv_clamp")

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Types and ranges of every field, so a hostile config fails here and not by allocating gigabytes."""
        for name in ("z_dim", "w_dim"):
            _check_int(name, getattr(self, name), 1, MAX_WIDTH)
        _check_int("img_resolution", self.img_resolution, 4, MAX_RESOLUTION)
        if self.img_resolution & (self.img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two, got {self.img_resolution}")
        _check_int("img_channels", self.img_channels, 1, 4)
        _check_int("c_dim", self.c_dim, 0, 0)
        mapping = _check_mapping("mapping_kwargs", self.mapping_kwargs)
        _check_int("mapping_kwargs.num_layers", mapping.get("num_layers", 8), 1, MAX_MAPPING_LAYERS)
        if mapping.get("layer_features") is not None:
            _check_int("mapping_kwargs.layer_features", mapping["layer_features"], 1, MAX_WIDTH)
        _check_number("mapping_kwargs.lr_multiplier", mapping.get("lr_multiplier", 0.01), 100.0)
        synthesis = _check_mapping("synthesis_kwargs", self.synthesis_kwargs)
        _check_int("synthesis_kwargs.channel_max", synthesis.get("channel_max", 512), 1, MAX_WIDTH)
        # At least one channel in the last block: channel_base // img_resolution >= 1.
        _check_int("synthesis_kwargs.channel_base", synthesis.get("channel_base", 32768), self.img_resolution,
                   MAX_WIDTH * MAX_RESOLUTION)
        _check_int("synthesis_kwargs.num_fp16_res", synthesis.get("num_fp16_res", 0), 0, 32)
        _check_number("synthesis_kwargs.conv_clamp", synthesis.get("conv_clamp"), 1e6, allow_none=True)
        unknown = sorted(set(mapping) - set(self.MAPPING_KEYS)) + sorted(set(synthesis) - set(self.SYNTHESIS_KEYS))
        if unknown:
            raise ValueError(f"unknown mapping/synthesis arguments {unknown}")

    def parameter_bytes(self) -> int:
        """fp32 bytes of every parameter and buffer of the Generator this config builds (counted on the meta
        device: nothing is allocated)."""
        with torch.device("meta"):
            return sum(t.numel() * 4 for t in Generator(self).state_dict().values())

    @classmethod
    def from_init_kwargs(cls, kwargs: dict) -> "GeneratorConfig":
        """Keep the arguments that shape the unconditional skip generator; refuse what we do not implement."""
        kwargs = dict(_check_mapping("init_kwargs", kwargs))
        if kwargs.get("c_dim", 0):
            raise ValueError(f"conditional generators (c_dim={_shown(kwargs['c_dim'])}) are not supported")
        # stylegan3-codebase generators (DragGAN's own) take **synthesis_kwargs, so their pickles keep
        # channel_base, conv_clamp, ... at the top level: read them from both places.
        synthesis = {k: v for k, v in kwargs.items() if k in cls.SYNTHESIS_KEYS + ("architecture",)}
        synthesis.update(_check_mapping("synthesis_kwargs", kwargs.get("synthesis_kwargs") or {}))
        architecture = synthesis.pop("architecture", "skip")
        if architecture != "skip":
            raise ValueError(f"only the 'skip' synthesis architecture is supported, got {_shown(architecture)}")
        mapping = _check_mapping("mapping_kwargs", kwargs.get("mapping_kwargs") or {})
        missing = [k for k in ("z_dim", "w_dim", "img_resolution") if k not in kwargs]
        if missing:
            raise ValueError(f"generator init kwargs lack {missing}")
        return cls(z_dim=kwargs["z_dim"], w_dim=kwargs["w_dim"], img_resolution=kwargs["img_resolution"],
                   img_channels=kwargs.get("img_channels", 3),
                   mapping_kwargs={k: v for k, v in mapping.items() if k in cls.MAPPING_KEYS},
                   synthesis_kwargs={k: v for k, v in synthesis.items() if k in cls.SYNTHESIS_KEYS})


class Generator(nn.Module):
    """Mapping + synthesis, with NVlabs attribute names (`G.z_dim`, `G.num_ws`, `G.mapping`, `G.synthesis`)."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.z_dim, self.w_dim = config.z_dim, config.w_dim
        self.img_resolution, self.img_channels = config.img_resolution, config.img_channels
        self.synthesis = SynthesisNetwork(config.w_dim, config.img_resolution, config.img_channels,
                                          **config.synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, self.num_ws, **config.mapping_kwargs)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation_psi, truncation_cutoff), noise_mode=noise_mode)
