"""Re-key a rosinality/stylegan2-pytorch `g_ema` state dict into the NVlabs layout of `networks.Generator`.

The two implementations compute the same function; the differences are only in where constants live:
- Mapping: `style.{i}` (EqualLinear, lr_mul 0.01, fused leaky ReLU with bias*lr_mul) is `mapping.fc{i-1}`;
  both store weight = randn/lr_mul and scale at run time, so values copy unchanged.
- Convs: rosinality multiplies the weight by 1/sqrt(fan_in) inside ModulatedConv2d; demodulation cancels
  that factor, so `convs.k.conv.weight[0]` is the NVlabs weight as is (up to the 1e-8 in the rsqrt).
- ToRGB: rosinality's 1/sqrt(in_channels) on the weight equals NVlabs' `weight_gain` on the styles
  (no demodulation, the product is the same): values copy unchanged.
- Noise: `noise.weight` [1] is `noise_strength` [], `noises.noise_k` [1,1,r,r] is `noise_const` [r,r],
  in layer order (noise_0 = b4.conv1, noise_1 = b8.conv0, noise_2 = b8.conv1, ...).
- FusedLeakyReLU's bias is the layer bias (leaky_relu(x + b, 0.2) * sqrt(2), no clamp: conv_clamp None).
- The up-sampling conv (transposed conv + [1,3,3,1] blur, pad (1,1), gain 4) and the skip up-sampling
  are the same filters as NVlabs' `conv2d_resample`/`upsample2d`.
- `w_avg` is not part of a rosinality model: it is taken from the checkpoint's `latent_avg` when present,
  else estimated the way rosinality's `mean_latent(4096)` does, with a fixed seed (0) for repeatability.

Public: `is_rosinality(state)`, `rosinality_to_nvlabs(g_ema, latent_avg=None, origin="")
-> (init_kwargs, state_dict)`, `MEAN_LATENT_SAMPLES`.
"""
from __future__ import annotations

import re

import torch

from .errors import CheckpointFormatError
from .networks import GeneratorConfig, MappingNetwork, make_resample_filter

MEAN_LATENT_SAMPLES = 4096
MAPPING_LR = 0.01


def is_rosinality(state: dict) -> bool:
    return isinstance(state, dict) and "input.input" in state and "style.1.weight" in state


def _channel_layout(channels: dict[int, int], origin: str) -> tuple[int, int]:
    """The (channel_base, channel_max) with min(channel_base // res, channel_max) == channels[res]."""
    channel_max = max(channels.values())
    below = [res for res in sorted(channels) if channels[res] < channel_max]
    channel_base = channels[below[0]] * below[0] if below else channel_max * max(channels)
    if any(min(channel_base // res, channel_max) != ch for res, ch in channels.items()):
        raise CheckpointFormatError(f"{origin}: channel counts {channels} do not follow "
                                    "min(channel_base // resolution, channel_max)")
    return channel_base, channel_max


def _mean_latent(mapping_state: dict, z_dim: int, w_dim: int, num_layers: int) -> torch.Tensor:
    mapping = MappingNetwork(z_dim, w_dim, num_ws=1, num_layers=num_layers, lr_multiplier=MAPPING_LR)
    mapping.load_state_dict({**mapping_state, "w_avg": torch.zeros(w_dim)})
    z = torch.randn(MEAN_LATENT_SAMPLES, z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return mapping(z)[:, 0].mean(dim=0)


class _Rekey:
    """Copies rosinality tensors to their NVlabs names, remembering which source keys were used."""

    def __init__(self, g_ema: dict[str, torch.Tensor], origin: str):
        self.src = {k: v.float() for k, v in g_ema.items()}
        self.origin = origin
        self.used: set[str] = set()
        self.out: dict[str, torch.Tensor] = {}

    def take(self, key: str) -> torch.Tensor:
        if key not in self.src:
            raise CheckpointFormatError(f"{self.origin}: rosinality checkpoint lacks '{key}'")
        self.used.add(key)
        return self.src[key]

    def styled_conv(self, dst: str, name: str, noise_idx: int) -> int:
        """One modulated conv with its noise and bias; returns its output channels."""
        out, take = self.out, self.take
        out[f"{dst}.weight"] = take(f"{name}.conv.weight")[0]
        out[f"{dst}.affine.weight"] = take(f"{name}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = take(f"{name}.conv.modulation.bias")
        out[f"{dst}.noise_strength"] = take(f"{name}.noise.weight").reshape([])
        out[f"{dst}.noise_const"] = take(f"noises.noise_{noise_idx}")[0, 0]
        out[f"{dst}.bias"] = take(f"{name}.activate.bias")
        out[f"{dst}.resample_filter"] = make_resample_filter()
        return out[f"{dst}.weight"].shape[0]

    def to_rgb(self, dst: str, name: str) -> None:
        self.out[f"{dst}.weight"] = self.take(f"{name}.conv.weight")[0]
        self.out[f"{dst}.affine.weight"] = self.take(f"{name}.conv.modulation.weight")
        self.out[f"{dst}.affine.bias"] = self.take(f"{name}.conv.modulation.bias")
        self.out[f"{dst}.bias"] = self.take(f"{name}.bias").reshape(-1)

    def mapping(self) -> tuple[int, int, int]:
        """The mapping layers style.1..N as mapping.fc0..N-1; returns (z_dim, w_dim, N)."""
        src, origin = self.src, self.origin
        mlp = sorted(int(m.group(1)) for k in src if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
        if mlp != list(range(1, len(mlp) + 1)):
            raise CheckpointFormatError(f"{origin}: mapping layers style.N are not numbered 1..{len(mlp)}: {mlp}")
        first, last = src["style.1.weight"], src[f"style.{len(mlp)}.weight"]
        if first.ndim != 2 or last.ndim != 2:
            raise CheckpointFormatError(f"{origin}: mapping weights must be 2-D, got style.1.weight "
                                        f"{list(first.shape)} and style.{len(mlp)}.weight {list(last.shape)}")
        for i in mlp:
            self.out[f"mapping.fc{i - 1}.weight"] = self.take(f"style.{i}.weight")
            self.out[f"mapping.fc{i - 1}.bias"] = self.take(f"style.{i}.bias")
        return first.shape[1], last.shape[0], len(mlp)

    def synthesis(self) -> tuple[int, dict[int, int]]:
        """The blocks b4 ... b{resolution}; returns (resolution, output channels per block resolution)."""
        num_rgb = sum(1 for k in self.src if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
        self.out["synthesis.b4.const"] = self.take("input.input")[0]
        self.out["synthesis.b4.resample_filter"] = make_resample_filter()
        channels = {4: self.styled_conv("synthesis.b4.conv1", "conv1", 0)}
        self.to_rgb("synthesis.b4.torgb", "to_rgb1")
        for i in range(num_rgb):
            res = 8 * 2 ** i
            self.styled_conv(f"synthesis.b{res}.conv0", f"convs.{2 * i}", 2 * i + 1)
            channels[res] = self.styled_conv(f"synthesis.b{res}.conv1", f"convs.{2 * i + 1}", 2 * i + 2)
            self.to_rgb(f"synthesis.b{res}.torgb", f"to_rgbs.{i}")
            self.out[f"synthesis.b{res}.resample_filter"] = make_resample_filter()
        return 4 * 2 ** num_rgb, channels

    def check_all_used(self) -> None:
        # Blur/upsample kernels are the fixed [1,3,3,1] filter, rebuilt by our module.
        left = sorted(k for k in self.src if k not in self.used and not k.endswith((".blur.kernel", ".upsample.kernel")))
        if left:
            raise CheckpointFormatError(f"{self.origin}: unexpected rosinality keys {left[:10]}"
                                        f"{' ...' if len(left) > 10 else ''}")


def rosinality_to_nvlabs(g_ema: dict[str, torch.Tensor], latent_avg: torch.Tensor | None = None,
                         origin: str = "") -> tuple[dict, dict[str, torch.Tensor]]:
    """NVlabs init kwargs and state dict for a rosinality `g_ema` state dict."""
    rekey = _Rekey(g_ema, origin)
    z_dim, w_dim, num_layers = rekey.mapping()
    resolution, channels = rekey.synthesis()
    rekey.check_all_used()
    channel_base, channel_max = _channel_layout(channels, origin)
    init_kwargs = dict(z_dim=z_dim, w_dim=w_dim, c_dim=0, img_resolution=resolution, img_channels=3,
                       mapping_kwargs=dict(num_layers=num_layers, lr_multiplier=MAPPING_LR),
                       synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max,
                                             num_fp16_res=0, conv_clamp=None))
    try:  # before the mean latent below builds a mapping network of the file's size
        GeneratorConfig.from_init_kwargs(init_kwargs)
    except ValueError as e:
        raise CheckpointFormatError(f"{origin}: unsupported generator config: {e}") from e
    out = rekey.out
    if latent_avg is not None:
        if latent_avg.numel() != w_dim:
            raise CheckpointFormatError(f"{origin}: latent_avg has shape {list(latent_avg.shape)}, expected [{w_dim}]")
        out["mapping.w_avg"] = latent_avg.float().reshape(w_dim)
    else:
        mapping_state = {k[len("mapping."):]: v for k, v in out.items() if k.startswith("mapping.")}
        out["mapping.w_avg"] = _mean_latent(mapping_state, z_dim, w_dim, num_layers)
    return init_kwargs, out
