"""The high synthesis blocks on windows: a drag step's forward and backward pass where tracking and the loss read.

Without a mask, a drag step reads the feature block (b128) only near the handles: point tracking in a square of
radius r2 around each handle, motion supervision in discs of radius r1 around the tracked handles. Yet running
the largest blocks (b32, b64, b128) over the whole map is most of a step's cost. A windowed step therefore runs

1. the low blocks (b4 ... b16) on the whole map with autograd: cheap, and they carry the latent's gradient;
2. the `WINDOWED_BLOCKS` high blocks, with autograd, only on windows around the handles, pasted into their
   bounding box (zeros between windows); tracking and the loss read that box as a feature map of its own, with
   the handles shifted to its corner (they never read outside the windows).

Each window is grown block by block by the conv footprints (3x3 conv: 1 px each side; 2x up-conv: output o
reads input pixels ceil((o-3)/2) ... floor((o+2)/2)), plus one spare pixel, so every window pixel sees its real
neighbours: zero padding happens only where a window meets the image border, as in the full map, and the window
features equal the full map's (to float rounding: `tests/test_drag_cropped.py`). Windows use the constant noise
(`noise_mode="const"`, what a drag session renders).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .networks import SynthesisLayer, SynthesisNetwork

SPARE_PIXELS = 1          # Extra input pixels per side on top of each conv's exact footprint.
WINDOWED_BLOCKS = 3       # Blocks run on windows, up to the feature block: b32, b64, b128 for real models.
# Above this share of the feature map in windows, one full-map pass is cheaper
# (`python benchmarks/bench_drag.py --window-share`, docs/performance.md).
MAX_WINDOW_SHARE = 0.5


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


def first_windowed_block(feature_index: int) -> int:
    """Index of the lowest block run on windows (never the constant-input b4)."""
    return max(1, feature_index - WINDOWED_BLOCKS + 1)


def low_synthesis(synthesis: SynthesisNetwork, ws: torch.Tensor, feature_index: int) -> torch.Tensor:
    """Part 1: the blocks below the windowed ones on the whole map, with autograd, without ToRGB [1, C, r, r]."""
    if feature_index < 1 or feature_index >= len(synthesis.blocks):
        raise ValueError(f"feature_index must be in [1, {len(synthesis.blocks) - 1}], got {feature_index}")
    if ws.ndim != 3 or ws.shape[0] != 1 or ws.shape[1] != synthesis.num_ws:
        raise ValueError(f"ws must have shape [1, {synthesis.num_ws}, w_dim], got {list(ws.shape)}")
    _, feats = synthesis(ws, return_features=True, last_block=first_windowed_block(feature_index) - 1,
                         fused_modconv=False, rgb=False)
    return feats[-1]


def window_features(synthesis: SynthesisNetwork, ws: torch.Tensor, low: torch.Tensor, feature_index: int,
                    window: Window) -> torch.Tensor:
    """Part 2: the feature block on `window` [1, C, h, w], with autograd, from `low_synthesis`'s output."""
    first = first_windowed_block(feature_index)
    blocks = synthesis.blocks[first: feature_index + 1]
    offsets = _w_offsets(synthesis)[first: feature_index + 1]
    # Windows each layer needs, from the feature block back to the low output: conv1 in, conv0 in, per block.
    plan = [window]
    for block in reversed(blocks):
        plan.append(_conv_input(plan[-1], block.resolution))
        plan.append(_up_conv_input(plan[-1], block.resolution // 2))
    plan.reverse()  # [low crop, b32 conv0 out, b32 out, ..., b128 conv0 out, window] (real models)
    x = plan[0].slice_of(low, Window(0, low.shape[2], 0, low.shape[3]))
    step = 0
    for block, offset in zip(blocks, offsets):
        for j, layer in enumerate((block.conv0, block.conv1)):
            x = _layer_on_window(layer, x, ws[:, offset + j], plan[step], plan[step + 1])
            step += 1
    return x


def windowed_features(synthesis: SynthesisNetwork, ws: torch.Tensor, feature_index: int,
                      windows: list[Window]) -> tuple[torch.Tensor, Window]:
    """The feature block on the windows' bounding box [1, C, h', w'] with autograd, zeros between windows, and that
    box: what a windowed step reads. Not the whole map: zero-filling it and its gradient cost a tenth of a step."""
    low = low_synthesis(synthesis, ws, feature_index)
    if len(windows) == 1:
        return window_features(synthesis, ws, low, feature_index, windows[0]), windows[0]
    box = windows[0]
    for window in windows[1:]:
        box = box.union(window)
    channels = synthesis.blocks[feature_index].conv1.weight.shape[0]
    feat = low.new_zeros(1, channels, box.y1 - box.y0, box.x1 - box.x0)
    for window in windows:
        window.slice_of(feat, box)[:] = window_features(synthesis, ws, low, feature_index, window)
    return feat, box


def step_windows(handles: torch.Tensor, radius: int, image_size: tuple[int, int],
                 feature_size: tuple[int, int]) -> list[Window]:
    """Feature-map windows [y, x] that hold every pixel read within `radius` image pixels of a handle, merged.

    A read at image pixel c samples the feature map bilinearly at (c + 0.5) * scale - 0.5 (`features.py`):
    the window spans the floor of that position at c - radius to one past it at c + radius. Overlapping
    windows merge into their bounding box.
    """
    height, width = image_size
    h, w = feature_size
    windows: list[Window] = []
    for x, y in handles.tolist():
        def span(c: float, size_img: int, size_feat: int) -> tuple[int, int]:
            scale = size_feat / size_img
            lo = math.floor((c - radius + 0.5) * scale - 0.5)
            hi = math.floor((c + radius + 0.5) * scale - 0.5) + 2  # + the bilinear neighbour, half-open
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
