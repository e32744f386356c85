"""Synthesis of the two highest blocks on windows: the cropped backward pass of a drag step.

Without a mask, the motion-supervision loss reads the feature block (b128) only in small discs around
the handles, yet a backward pass through the whole map runs the largest transposed convs (b64, b128)
at full size. A step therefore runs in three parts:

1. the low-resolution blocks (b4 ... b32) with autograd: cheap, and they carry the latent's gradient;
2. the two high blocks on the whole map without autograd: the features for tracking and the preview;
3. the two high blocks again with autograd, only on windows around the handles' loss support, pasted
   into the map of part 2, so the loss code reads one feature map as before.

Each window is grown block by block by the conv footprints (3x3 conv: 1 px each side; 2x up-conv:
output o reads input pixels ceil((o-3)/2) ... floor((o+2)/2)), plus one spare pixel, so every window
pixel sees its real neighbours: zero padding happens only where a window meets the image border, as
in the full map. Windows use the constant noise (`noise_mode="const"`, what a drag session renders).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .motion import NO_LOSS_DISTANCE
from .networks import SynthesisLayer, SynthesisNetwork

SPARE_PIXELS = 1          # Extra input pixels per side on top of each conv's exact footprint.
MAX_WINDOW_SHARE = 0.5    # Above this share of the feature map in windows, one full-map pass is cheaper.


@dataclass(frozen=True)
class Window:
    """A rectangle of a feature map, half-open: rows y0 <= y < y1, columns x0 <= x < x1."""
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def area(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)

    def overlaps(self, other: "Window") -> bool:
        return self.y0 < other.y1 and other.y0 < self.y1 and self.x0 < other.x1 and other.x0 < self.x1

    def union(self, other: "Window") -> "Window":
        return Window(min(self.y0, other.y0), max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1))

    def slice_of(self, x: torch.Tensor, origin: "Window") -> torch.Tensor:
        """This window cut out of `x` [N, C, h, w], whose pixel [0, 0] sits at `origin`'s top left corner."""
        return x[:, :, self.y0 - origin.y0: self.y1 - origin.y0, self.x0 - origin.x0: self.x1 - origin.x0]


def _conv_input(window: Window, size: int) -> Window:
    """Input window a 3x3 same conv needs for `window` of a size x size map."""
    return Window(max(window.y0 - 1, 0), min(window.y1 + 1, size), max(window.x0 - 1, 0), min(window.x1 + 1, size))


def _up_conv_input(window: Window, size_in: int) -> Window:
    """Input window (of the half-size map) a 2x up-conv needs for `window` of its output, plus spare pixels."""
    def span(lo: int, hi: int) -> tuple[int, int]:
        return max((lo - 3) // 2 - SPARE_PIXELS, 0), min((hi - 1 + 2) // 2 + 1 + SPARE_PIXELS, size_in)
    (y0, y1), (x0, x1) = span(window.y0, window.y1), span(window.x0, window.x1)
    return Window(y0, y1, x0, x1)


def _layer_on_window(layer: SynthesisLayer, x: torch.Tensor, w: torch.Tensor, x_window: Window,
                     out_window: Window) -> torch.Tensor:
    """`layer` on the input crop `x` (covering `x_window`), cut to `out_window` of its output map.

    The layer's own maths (unfused modulated conv, noise, bias, leaky ReLU, clamp), with the noise
    map sliced to the crop; the crop's edge pixels that saw zero padding inside the image are cut off.
    """
    scale = 2 if layer.up else 1
    raw = Window(x_window.y0 * scale, x_window.y1 * scale, x_window.x0 * scale, x_window.x1 * scale)
    x = layer(x, w, "const", fused=False, noise_crop=(slice(raw.y0, raw.y1), slice(raw.x0, raw.x1)))
    return out_window.slice_of(x, raw)


def _w_offsets(synthesis: SynthesisNetwork) -> list[int]:
    """Index of each block's first w in the W+ latent (blocks share the w at their boundary)."""
    offsets, idx = [], 0
    for block in synthesis.blocks:
        offsets.append(idx)
        idx += block.num_conv
    return offsets


@dataclass
class SplitForward:
    """Part 1 and 2 of a step: the low blocks' output with autograd, the feature block without."""
    low: torch.Tensor               # Output of block feature_index - 2 [1, C, r, r], attached to ws.
    feat: torch.Tensor              # Feature block output [1, C, 4r, 4r], no autograd.
    img: torch.Tensor | None        # Skip RGB at the feature block (the preview), no autograd.


def split_synthesis(synthesis: SynthesisNetwork, ws: torch.Tensor, feature_index: int, rgb: bool = True,
                    fused_high: bool = True) -> SplitForward:
    """Run the synthesis up to block `feature_index`, with autograd only below its last two blocks.

    `fused_high` picks the modulated conv of the no-grad high blocks (fused is NVlabs' inference path).
    """
    if feature_index < 2 or feature_index >= len(synthesis.blocks):
        raise ValueError(f"feature_index must be in [2, {len(synthesis.blocks) - 1}], got {feature_index}")
    if ws.ndim != 3 or ws.shape[0] != 1 or ws.shape[1] != synthesis.num_ws:
        raise ValueError(f"ws must have shape [1, {synthesis.num_ws}, w_dim], got {list(ws.shape)}")
    offsets = _w_offsets(synthesis)
    x = img = None
    for i, block in enumerate(synthesis.blocks[: feature_index + 1]):
        if i == feature_index - 1:
            low = x
            x, img = x.detach(), None if img is None else img.detach()
        grad = torch.enable_grad() if i < feature_index - 1 else torch.no_grad()
        with grad:
            x, img = block(x, img, ws.narrow(1, offsets[i], block.num_conv + block.num_torgb), "const",
                           fused_high if i >= feature_index - 1 else False, rgb)
    return SplitForward(low=low, feat=x, img=img)


def window_features(synthesis: SynthesisNetwork, ws: torch.Tensor, low: torch.Tensor, feature_index: int,
                    window: Window) -> torch.Tensor:
    """Part 3: the feature block on `window` [1, C, h, w], with autograd, from the attached low output."""
    blocks = synthesis.blocks[feature_index - 1: feature_index + 1]
    offsets = _w_offsets(synthesis)[feature_index - 1: feature_index + 1]
    # Windows each layer needs, from the feature block back to the low output: conv1 in, conv0 in, per block.
    plan = [window]
    for block in reversed(blocks):
        plan.append(_conv_input(plan[-1], block.resolution))
        plan.append(_up_conv_input(plan[-1], block.resolution // 2))
    plan.reverse()  # [low crop, b64 conv0 out, b64 out, b128 conv0 out, window] (real models)
    x = plan[0].slice_of(low, Window(0, low.shape[2], 0, low.shape[3]))
    step = 0
    for block, offset in zip(blocks, offsets):
        for j, layer in enumerate((block.conv0, block.conv1)):
            x = _layer_on_window(layer, x, ws[:, offset + j], plan[step], plan[step + 1])
            step += 1
    return x


def loss_windows(handles: torch.Tensor, targets: torch.Tensor, radius: int, image_size: tuple[int, int],
                 feature_size: tuple[int, int], slack: int = 0) -> list[Window]:
    """Feature-map windows [y, x] that the motion loss of each moving handle reads, overlaps merged.

    A handle's disc pixels q and q + d (|d| = 1) lie within radius + 1 px of it; their bilinear
    reads add one more pixel each way. `slack` grows the windows by that many image pixels (to
    predict the windows of handles that tracking may still move). Handles within NO_LOSS_DISTANCE of
    their targets add no loss and get no window.
    """
    height, width = image_size
    h, w = feature_size
    reach = radius + 2 + slack
    windows: list[Window] = []
    moving = (targets - handles).norm(dim=1) > NO_LOSS_DISTANCE
    for x, y in handles[moving].tolist():
        def span(c: float, size_img: int, size_feat: int) -> tuple[int, int]:
            scale = size_feat / size_img  # pixel c sits at (c + 0.5) * scale - 0.5 on the feature map
            lo = math.floor((c - reach + 0.5) * scale - 0.5)
            hi = math.floor((c + reach + 0.5) * scale - 0.5) + 2  # + the bilinear neighbour, half-open
            return max(lo, 0), min(hi, size_feat)
        (y0, y1), (x0, x1) = span(y, height, h), span(x, width, w)
        windows.append(Window(y0, y1, x0, x1))
    merged = True
    while merged:
        merged = False
        for i in range(len(windows)):
            for j in range(i + 1, len(windows)):
                if windows[i].overlaps(windows[j]):
                    windows[i] = windows[i].union(windows.pop(j))
                    merged = True
                    break
            if merged:
                break
    return windows


def windows_share(windows: list[Window], feature_size: tuple[int, int]) -> float:
    """Share of the feature map that the windows cover (they do not overlap)."""
    return sum(w.area for w in windows) / (feature_size[0] * feature_size[1])


def features_for_loss(synthesis: SynthesisNetwork, ws: torch.Tensor, split: SplitForward, feature_index: int,
                      windows: list[Window]) -> torch.Tensor:
    """The feature map of `split` with each window recomputed with autograd: the map the loss reads.

    Outside the windows it is the no-grad map; the motion loss never reads there, so its gradient
    with respect to ws is the full pass's.
    """
    feat = split.feat.detach().clone()
    for window in windows:
        feat[:, :, window.y0:window.y1, window.x0:window.x1] = window_features(synthesis, ws, split.low,
                                                                                feature_index, window)
    return feat
