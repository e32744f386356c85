"""DragSession: DragGAN (Pan et al., SIGGRAPH 2023) on a StyleGAN2 generator, one optimiser step at a time.

A step is one forward pass of the synthesis up to the feature block (b128 for real models), point
tracking on those features, the motion-supervision loss, one backward pass and an Adam update of the
first W+ layers. Where the model's `DragConfig.feature_res` asks, a step instead slides that coarse block's output
along the handles' paths (`warp.py`; no backward pass) and the latent stays. Without a mask or feature offset the
high blocks (b32, b64, b128) run, forward and backward, only on small windows around the handles that tracking
and the loss read (`cropped.py`); with a mask, whose term reads the whole map, or an offset, on the whole map.
The full image is rendered only when a frame is asked for: `drag()` asks so that frames take `frame_share` of its
time, and at the end; a step can add a preview (the skip RGB).

A drag is a run of steps toward fixed targets: `start_drag(handles, targets, mask)` begins one and
each `step()` continues it (`drag()` does both and runs to the end). The session remembers what the
paper fixes at the start of a drag: the feature map F0 (for the mask term) and each handle's feature
f_i = F0(p_i) (for tracking). Every drag (and every loaded latent) leaves a `DragRecord` on
`history`, the one undo stack: it holds the latent from before, the points and the trajectory.
A drag that ran on another session of the same generator and latent is replayed here, so that it is
undoable and exportable like one of this session's own: `start_replay`, then `replay_step` per step.
"""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
# The first torch.optim.Adam imports torch._dynamo (1 s on 2 cores): paid here, at import, and not inside a
# visitor's first drag step.
import torch._dynamo  # noqa: F401
import torch.nn.functional as F

from . import export
from .cropped import MAX_WINDOW_SHARE, Window, step_windows, windowed_features, windows_share
from .features import feature_block_index, sample_features
from .motion import MASK_WEIGHT, fixed_region_loss, fixed_weight, motion_radius, motion_supervision_loss
from .networks import Generator
from .tracking import tracking_radius, track_points
from .warp import warp_offset, warp_step

STOP_DISTANCE_512 = {True: 1.0, False: 2.0}  # d at 512 px: 1 px for up to 5 points, 2 px for more.
MAX_POINTS_FOR_FINE_STOP = 5
# Full renders keep NVlabs' fused modulated conv: on CPU the unfused one measured no faster for a
# forward pass alone (benchmarks/bench_drag.py prints both); it only pays off in the backward pass.
RENDER_FUSED_MODCONV = True
# Image pixels around a handle that a windowed step reads: tracking moves it up to r2 on each axis, then the
# loss reads its disc (r1), one unit step further (1) and the bilinear corner beyond (1).
LOSS_READ_MARGIN = 2
STALL_STEPS = 20  # A slide ends when its handles have come no closer for this many steps ...
SLIDE_LIMIT = 1.5  # ... or have slid this many times the drag's length.
TRUNCATION_PSI = 0.7  # The seed's image: truncation ψ of its w (the paper's 0.7).
# Seconds of each generator's last full render, shared by its sessions: it paces `drag()`'s frames.
_RENDER_SECONDS: weakref.WeakKeyDictionary[Generator, float | None] = weakref.WeakKeyDictionary()
_WARM_ARCHITECTURES: set[str] = set()  # Generator configs rendered once in this process.


def stop_distance(image_height: int, num_points: int) -> float:
    """d in pixels: the paper's 1 px (<= 5 points) or 2 px at 512, scaled with the image.

    Never below 1 px: tracking moves handles in whole pixels, so a smaller d would demand an exact hit.
    """
    base = STOP_DISTANCE_512[num_points <= MAX_POINTS_FOR_FINE_STOP]
    return max(1.0, base * image_height / 512)


@dataclass
class DragConfig:
    """A drag's settings. `DragConfig()` is the one default, read by the session, the editor and the app's widgets;
    `lr`, `w_plus` and `max_steps` can be overridden per drag (`drag(..., lr=...)`)."""
    lr: float = 2e-3                 # Adam learning rate (the paper's FFHQ value).
    w_plus: bool = True              # Optimise the layers separately (W+) or one shared w (W).
    max_steps: int = 200             # `drag()` gives up after this many steps.
    frame_share: float = 0.2         # `drag()` renders (and records for export) full frames so that they take about
                                     # this share of its time (1: every step), and always one at the end.
    cropped: bool | None = None      # Cropped backward (cropped.py): None = when it pays off, True = always
                                     # (a drag with a mask refuses), False = never (the full-map backward).
    num_optimized_ws: int = 6        # How many leading W+ layers move; the rest stay at their start.
    mask_weight: float = MASK_WEIGHT  # lambda of the fixed-region term.
    # A drag slides the output of the block at this resolution along the handles' paths instead of optimising the
    # latent (None: the paper). A W+ latent modulates whole channels, so a small generator can only move one object
    # by redrawing the whole image; sliding a coarse map's features moves what lies under the handle alone
    # (warp.py, docs/drag.md). lr, w_plus and num_optimized_ws then go unused.
    feature_res: int | None = None
    warp_radius: float = 1 / 16      # The slid region: within this share of the image height of a handle's path.
    max_frames: int = 600            # Frames kept for export per drag; later ones are not recorded.

    def __post_init__(self):
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr:g}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if not (np.isfinite(self.frame_share) and 0 < self.frame_share <= 1):
            raise ValueError(f"frame_share must be a number in (0, 1], got {self.frame_share:g}")
        if self.feature_res is not None and (self.feature_res < 8 or self.feature_res & (self.feature_res - 1)):
            raise ValueError(f"feature_res must be None or a power of two >= 8, got {self.feature_res}")
        if not (np.isfinite(self.warp_radius) and 0 < self.warp_radius <= 1):
            raise ValueError(f"warp_radius must be a share of the image height in (0, 1], got {self.warp_radius:g}")


@dataclass
class StepResult:
    """What one step (or the end of a drag) reports, in pixel coordinates (x right, y down)."""
    handles: list[tuple[float, float]]  # Tracked handle positions.
    done: bool                          # Every handle is within the stop distance of its target.
    step: int                           # Steps taken in this drag.
    distances: list[float]              # Per-handle distance to its target, px.
    loss: float | None                  # The loss minimised in this step (None if no update ran).
    ms: float                           # Wall time of the step.
    frame: np.ndarray | None = None     # Full-resolution H x W x 3 uint8, when rendered.
    preview: np.ndarray | None = None   # Feature-block skip RGB up-scaled to H x W x 3 uint8.
    message: str = ""                   # Why the drag stopped early (NaN, stop request), else "".


@dataclass
class DragRecord:
    """One entry of the undo stack: the latent before a drag, where its handles started, aimed and went."""
    start_ws: torch.Tensor              # [1, num_ws, w_dim] latent before the drag; `undo()` returns to it.
    handles: np.ndarray                 # [P, 2] as passed to the drag (it snaps them to whole pixels).
    targets: np.ndarray                 # [P, 2].
    trajectory: list[np.ndarray] = field(default_factory=list)  # [P, 2] after each step.
    start_features: torch.Tensor | None = None  # The feature offset before the drag (`DragConfig.feature_res`).
    # A loaded latent is undoable too; its record has no handles (P = 0).


@dataclass
class _Slide:
    """A drag that slides a block's output (`DragConfig.feature_res`): its raw output under the drag's latent and
    what the drag began with (raw + the start offset), the handles' start pixels, how far each has slid, and the
    mask's flexible share of each cell."""
    raw: torch.Tensor
    start: torch.Tensor
    starts: torch.Tensor
    shifts: torch.Tensor
    flexible: torch.Tensor | None
    features: torch.Tensor  # The current offset: warp_offset of the above.
    closest: float = float("inf")  # The least total distance of the handles to their targets so far ...
    stale: int = 0                 # ... and the steps since it last shrank.
    spent: bool = False  # The handles stopped getting closer, or slid as far as a slide may: the drag ends.


@dataclass
class _Drag:
    """The running drag: the start latent, the optimised offset (or the slide) and what the paper freezes at the
    start."""
    offset: torch.nn.Parameter
    optimizer: torch.optim.Optimizer | None  # None for a slide.
    handles: torch.Tensor
    targets: torch.Tensor
    fixed: torch.Tensor | None
    stop_distance: float
    record: DragRecord
    slide: _Slide | None = None
    feat0: torch.Tensor | None = None
    initial_features: torch.Tensor | None = None
    steps: int = 0

    def ws(self, num_optimized: int) -> torch.Tensor:
        start = self.record.start_ws
        return torch.cat([start[:, :num_optimized] + self.offset, start[:, num_optimized:]], dim=1)

    def features(self) -> torch.Tensor | None:
        return None if self.slide is None else self.slide.features


class DragSession:
    """Drag editing of one generated image: latent state, undo history, steps and recorded frames.

    `G` is switched to eval mode with gradients off for its parameters (only the latent is optimised);
    the session runs on G's device.
    """

    def __init__(self, G: Generator, seed: int = 0, truncation_psi: float = TRUNCATION_PSI,
                 ws: torch.Tensor | np.ndarray | None = None, config: DragConfig | None = None,
                 features: torch.Tensor | np.ndarray | None = None, **overrides):
        """`ws` [1, num_ws, w_dim] (e.g. `invert(...).ws`) is the start latent w0; seed and ψ are then unused.
        `config` defaults to `DragConfig()`; keyword `overrides` replace its fields (`DragSession(G, lr=1e-2)`).
        `features` is the start feature offset where `config.feature_res` asks for one (default: zeros)."""
        self.G = G.eval().requires_grad_(False)
        self.device = next(G.parameters()).device
        self.config = replace(config or DragConfig(), **overrides)
        res = G.img_resolution
        self.image_size = (res, res)
        self.feature_index = feature_block_index(res)
        self.r1, self.r2 = motion_radius(res), tracking_radius(res)
        self.offset_block = self._offset_block(self.config.feature_res)
        self.f0 = self._checked_features(features)
        self._f = None if self.f0 is None else self.f0.clone()
        if ws is not None:
            self.w0 = self._checked_latent(ws)
        else:
            z = np.random.RandomState(seed).randn(1, G.z_dim)  # the reference's seed -> z
            z = torch.from_numpy(z.astype(np.float32)).to(self.device)  # float32 first: MPS has no float64
            with torch.no_grad():
                self.w0 = G.mapping(z, truncation_psi=truncation_psi).detach()
        self._w = self.w0.clone()
        self.history: list[DragRecord] = []  # The undo stack, oldest first.
        self.frames: list[np.ndarray] = []
        self._frames_from: DragRecord | None = None  # The drag whose frames these are.
        self._drag: _Drag | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ latent and rendering

    @property
    def ws(self) -> torch.Tensor:
        """The current W+ latent [1, num_ws, w_dim] (a copy)."""
        return self._w.clone()

    @property
    def features(self) -> torch.Tensor | None:
        """The current feature offset [1, C, r, r] (a copy), None where the config moves no block's output."""
        return None if self._f is None else self._f.clone()

    def render(self) -> np.ndarray:
        """The full-resolution image of the current latent, H x W x 3 uint8."""
        return self._render(self._w, self._f)

    def _offset(self, features: torch.Tensor | None) -> tuple[int, torch.Tensor] | None:
        """`features` as the synthesis network's `feature_offset`."""
        return None if features is None else (self.offset_block, features)

    def _render(self, ws: torch.Tensor, features: torch.Tensor | None) -> np.ndarray:
        start = time.perf_counter()
        with torch.inference_mode():
            image = export.to_uint8(self.G.synthesis(ws, fused_modconv=RENDER_FUSED_MODCONV,
                                                     feature_offset=self._offset(features)))
        # An architecture's first render in this process also sets up its kernels (128 px: 1 s, then 20 ms): it is
        # not timed, so the next drag renders a frame at its first step and paces the rest by that one.
        architecture = repr(self.G.config)
        _RENDER_SECONDS[self.G] = time.perf_counter() - start if architecture in _WARM_ARCHITECTURES else None
        _WARM_ARCHITECTURES.add(architecture)
        return image

    def set_latent(self, ws: torch.Tensor | np.ndarray, features: torch.Tensor | np.ndarray | None = None) -> None:
        """Replace the current latent and feature offset (undoable; a missing offset is zeros), e.g. with ones saved
        earlier."""
        ws, features = self._checked_latent(ws), self._checked_features(features)
        self._end_drag()
        self.history.append(DragRecord(self._w.clone(), np.zeros((0, 2)), np.zeros((0, 2)),
                                       start_features=self.features))
        self._w, self._f = ws, features

    def _checked_latent(self, ws: torch.Tensor | np.ndarray) -> torch.Tensor:
        """A [1, num_ws, w_dim] finite latent as an fp32 copy on the session's device."""
        return self._checked(ws, (1, self.G.num_ws, self.G.w_dim), "latent")

    def _checked(self, x: torch.Tensor | np.ndarray, expected: tuple[int, ...], name: str) -> torch.Tensor:
        """`x` of shape `expected`, all finite, as an fp32 copy on the session's device; else a ValueError naming it."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x)
        if tuple(x.shape) != expected:
            raise ValueError(f"{name} must have shape {list(expected)}, got {list(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} holds NaN or infinite values")
        return x.detach().to(self.device, torch.float32).clone()

    def _offset_block(self, resolution: int | None) -> int | None:
        """Index of the block whose output `config.feature_res` moves; it must lie below the feature block, whose map
        tracking reads."""
        if resolution is None:
            return None
        index = int(np.log2(resolution)) - 2
        if index >= self.feature_index:
            feature_res = self.G.synthesis.blocks[self.feature_index].resolution
            raise ValueError(f"feature_res must be below the feature block's {feature_res} px, got {resolution}")
        return index

    def _checked_features(self, features: torch.Tensor | np.ndarray | None) -> torch.Tensor | None:
        """The feature offset as an fp32 copy on the session's device (zeros for None), None where the config
        moves no block's output."""
        if self.offset_block is None:
            if features is not None:
                raise ValueError("a feature offset needs a config with feature_res")
            return None
        expected = self.G.synthesis.offset_shape(self.offset_block)
        if features is None:
            return torch.zeros(expected, device=self.device)
        return self._checked(features, expected, "feature offset")

    def save_latent(self, path: str | Path) -> Path:
        """The latent as .npy, or with the feature offset as .npz (the suffix is changed to match)."""
        return export.save_latent(self._w, path, self._f)

    def load_latent(self, path: str | Path) -> None:
        self.set_latent(*export.load_latent(path, self.G.num_ws, self.G.w_dim))

    def save_png(self, path: str | Path) -> Path:
        return export.save_png(self.render(), path)

    def drag_frames(self) -> list[np.ndarray]:
        """The last drag as an animation: the image before it, then the frames it recorded. A short drag records
        few frames (they take a fifth of its time), so its animation would otherwise hold its last image alone."""
        if not self.frames or self._frames_from is None:
            return list(self.frames)
        before = self._render(self._frames_from.start_ws, self._frames_from.start_features)
        return self.frames if np.array_equal(before, self.frames[0]) else [before, *self.frames]

    def export_video(self, path: str | Path, fps: float = 10.0) -> Path:
        """The last drag (`drag_frames`) as MP4 or GIF (by extension)."""
        return export.export_video(self.drag_frames(), path, fps)

    # ------------------------------------------------------------------ history

    def undo(self) -> DragRecord | None:
        """Return to the latent from before the last drag (or loaded latent): its record, None if there is none."""
        self._end_drag()
        if not self.history:
            return None
        record = self.history.pop()
        self._w = record.start_ws.clone()
        self._f = None if record.start_features is None else record.start_features.clone()
        return record

    def reset(self) -> None:
        """Back to the start latent w0 (the seed's, or the `ws` given), with an empty history."""
        self._end_drag()
        self._w = self.w0.clone()
        self._f = None if self.f0 is None else self.f0.clone()
        self.history.clear()
        self.frames.clear()

    def swap_generator(self, G: Generator | None) -> None:
        """Edit with `G` from now on: the same network under other tuning, or None while the visitor's tuning waits
        on disk (rendering and dragging need one back first). Latent, history and frames stay."""
        self._end_drag()
        if G is not None:
            mine = (*self.w0.shape[1:], self.image_size[0])
            if (G.num_ws, G.w_dim, G.img_resolution) != mine:
                raise ValueError(f"the generator must take this session's latents and size ({mine[0]} x {mine[1]}, "
                                 f"{mine[2]} px), got ({G.num_ws} x {G.w_dim}, {G.img_resolution} px)")
            G = G.eval().requires_grad_(False)
        self.G = G

    def start_replay(self, handles: Sequence, targets: Sequence) -> DragRecord:
        """The undo record of a drag that ran elsewhere, from the current latent; its frames replace the last drag's."""
        self._end_drag()
        record = DragRecord(self._w.clone(), np.asarray(handles, np.float32).reshape(-1, 2),
                            np.asarray(targets, np.float32).reshape(-1, 2), start_features=self.features)
        self.history.append(record)
        self.frames, self._frames_from = [], record
        return record

    def replay_step(self, ws: torch.Tensor, tracked: np.ndarray | None, frame: np.ndarray | None,
                    features: torch.Tensor | None = None) -> None:
        """One step of that drag: the latent (and feature offset) it reached, the handles it tracked (None: no
        step, the closing render) and its full frame, if it rendered one."""
        self._w = ws.to(self.device)
        self._f = None if features is None else features.to(self.device)
        if tracked is not None:
            self.history[-1].trajectory.append(tracked)
        if frame is not None:
            self._keep_frame(frame)

    def stop(self) -> None:
        """Ask a running `drag()` to stop after its current step (safe to call from another thread)."""
        self._stop.set()

    def _end_drag(self) -> None:
        self._drag = None

    # ------------------------------------------------------------------ input checks

    def _points(self, points: Sequence, name: str) -> torch.Tensor:
        height, width = self.image_size
        try:
            arr = np.asarray(points, dtype=np.float64).reshape(-1, 2) if len(points) else np.zeros((0, 2))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a list of (x, y) pixel pairs: {exc}") from exc
        if arr.shape[0] != len(points):
            raise ValueError(f"{name} must be a list of (x, y) pixel pairs, got shape {np.shape(points)}")
        for i, (x, y) in enumerate(arr):
            if not (np.isfinite(x) and np.isfinite(y) and 0 <= x <= width - 1 and 0 <= y <= height - 1):
                raise ValueError(f"{name[:-1]} {i} at ({x:g}, {y:g}) is outside the {width}x{height} image "
                                 f"(x in [0, {width - 1}], y in [0, {height - 1}])")
        return torch.from_numpy(arr).to(self.device, torch.float32)

    def _mask(self, mask) -> np.ndarray | None:
        """Binary H x W flexible-region mask from bool, 0/1 or 0-255 values (1 = may change)."""
        if mask is None:
            return None
        arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if arr.shape != self.image_size:
            raise ValueError(f"mask must have shape (H, W) = {self.image_size}, got {arr.shape}")
        if arr.dtype == bool:
            return arr
        arr = arr.astype(np.float32)
        return arr > (127.5 if arr.max() > 1 else 0.5)

    # ------------------------------------------------------------------ dragging

    def start_drag(self, handles: Sequence, targets: Sequence, mask=None, lr: float | None = None,
                   w_plus: bool | None = None) -> None:
        """Begin a drag (undoable); `step()` continues it. Handles snap to the nearest pixel (tracking moves
        on the pixel grid). `lr` and `w_plus` default to the session's config."""
        p, t = self._points(handles, "handles"), self._points(targets, "targets")
        if len(p) != len(t):
            raise ValueError(f"got {len(p)} handles but {len(t)} targets; they must pair up")
        if len(p) == 0:
            raise ValueError("a drag needs at least one handle and target")
        lr = replace(self.config, lr=float(lr)).lr if lr is not None else self.config.lr  # DragConfig checks it
        w_plus = self.config.w_plus if w_plus is None else bool(w_plus)
        binary = self._mask(mask)
        fixed = None
        if binary is not None and self._f is None:
            if self.config.cropped:
                raise ValueError("config.cropped=True needs a drag without a mask: the mask term reads the whole map")
            fixed = fixed_weight(torch.from_numpy(binary).to(self.device), self._feature_size)
        if self.config.cropped and self._f is not None:
            raise ValueError("config.cropped=True needs a config without feature_res: windowed blocks carry no offset")
        k = self.config.num_optimized_ws
        offset = torch.nn.Parameter(torch.zeros(1, k if w_plus else 1, self.G.w_dim, device=self.device))
        record = DragRecord(self._w.clone(), p.cpu().numpy(), t.cpu().numpy(), start_features=self.features)
        self.history.append(record)
        self.frames, self._frames_from = [], record
        p = p.round()
        slide = None if self._f is None else self._start_slide(p, binary)
        self._drag = _Drag(offset=offset, optimizer=None if slide else torch.optim.Adam([offset], lr=lr), handles=p,
                           targets=t, fixed=fixed, stop_distance=stop_distance(self.image_size[0], len(p)),
                           record=record, slide=slide)

    def _start_slide(self, handles: torch.Tensor, flexible: np.ndarray | None) -> _Slide:
        """The slide of the offset block's output from the current latent and offset, not moved yet."""
        with torch.no_grad():
            _, feats = self.G.synthesis(self._w, return_features=True, last_block=self.offset_block, rgb=False)
        raw = feats[-1]
        share = None if flexible is None else 1 - fixed_weight(torch.from_numpy(flexible).to(self.device),
                                                               raw.shape[2:])[0, 0]
        return _Slide(raw=raw, start=raw + self._f, starts=handles.clone(), shifts=torch.zeros_like(handles),
                      flexible=share, features=self._f.clone())

    def step(self, preview: bool = False, frame: bool = False) -> StepResult:
        """One DragGAN step of the running drag (begun by `start_drag`).

        Order within a step (one forward pass): features of the current latent -> track the handles
        (the first step of a drag records F0 and f_i instead) -> stop if all are close enough -> loss,
        backward, Adam (or, for a slide, the block's output slid a step further). Without a mask the pass runs the
        high blocks only on windows around the handles (`cropped.py`). `result.handles`, the preview (the feature block's skip RGB up-scaled: free on the
        whole map, one no-grad pass up to the feature block after a windowed step) and the frame all show
        the latent the features came from.
        """
        t_start = time.perf_counter()
        if self._drag is None:
            raise ValueError("no drag is running: call start_drag(handles, targets) first")
        d, k = self._drag, self.config.num_optimized_ws
        ws, features = d.ws(k), d.features()
        windows = self._windows(d)
        img = None
        if windows is None:
            with torch.set_grad_enabled(d.optimizer is not None):
                img, feats = self.G.synthesis(ws, return_features=True, last_block=self.feature_index,
                                              fused_modconv=False, rgb=preview, feature_offset=self._offset(features))
            feat, box = feats[-1], Window(0, self._feature_size[0], 0, self._feature_size[1])
        else:
            feat, box = windowed_features(self.G.synthesis, ws, self.feature_index, windows)
        # Tracking and the loss read `feat` as the feature map of an image of its own: `box` in image pixels,
        # the handles and targets shifted to its corner (a feature pixel is a whole number of image pixels).
        scale = self.image_size[0] // self._feature_size[0]
        shift = d.handles.new_tensor([box.x0 * scale, box.y0 * scale])
        size = ((box.y1 - box.y0) * scale, (box.x1 - box.x0) * scale)
        if d.initial_features is None:
            d.feat0 = feat.detach() if d.fixed is not None else None
            d.initial_features = sample_features(feat.detach(), d.handles - shift, size)
        else:
            d.handles = track_points(feat.detach(), d.handles - shift, d.initial_features, self.r2, size) + shift
        d.record.trajectory.append(d.handles.cpu().numpy())
        distances = (d.targets - d.handles).norm(dim=1)
        done = bool((distances <= d.stop_distance).all())
        shown_ws, shown_features = ws.detach(), None if features is None else features.detach()
        loss_value, message = None, ""
        if not done and d.slide is not None:
            self._slide(d)
        elif not done:
            loss_value, message = self._update(d, feat, shift, size)
        result = StepResult(handles=[tuple(map(float, h)) for h in d.handles.cpu()], done=done, step=d.steps,
                            distances=distances.cpu().tolist(), loss=loss_value, ms=0.0, message=message)
        if preview:
            with torch.no_grad():
                if img is None:
                    img = self.G.synthesis(shown_ws, last_block=self.feature_index, fused_modconv=RENDER_FUSED_MODCONV,
                                           feature_offset=self._offset(shown_features))
                up = F.interpolate(img.detach(), size=self.image_size, mode="bilinear", align_corners=False)
            result.preview = export.to_uint8(up)
        if frame:
            result.frame = self._record_frame(shown_ws, shown_features)
        result.ms = (time.perf_counter() - t_start) * 1000
        return result

    @property
    def _feature_size(self) -> tuple[int, int]:
        res = self.G.synthesis.blocks[self.feature_index].resolution
        return res, res

    def _windows(self, d: _Drag) -> list[Window] | None:
        """The feature-map windows this step reads, or None for the whole map: as `config.cropped` says, else
        (None) windows without a mask (whose term reads the whole map) or feature offset (which the windowed blocks
        would have to carry) while they cover at most MAX_WINDOW_SHARE of the map."""
        if d.fixed is not None or d.slide is not None or self.config.cropped is False:
            return None
        windows = step_windows(d.handles, self.r2 + self.r1 + LOSS_READ_MARGIN, self.image_size, self._feature_size)
        if self.config.cropped or windows_share(windows, self._feature_size) <= MAX_WINDOW_SHARE:
            return windows
        return None

    def _slide(self, d: _Drag) -> None:
        """Slide each handle's features toward its target from where tracking found it: half the way that is left,
        at most `warp_step` (whole steps near the target swing a handle between two pixels beside it, on a feature map
        coarser than the image), and never further than SLIDE_LIMIT times the drag's own length (tracking may lag the
        features by a few pixels, but past that it has lost the handle, and more sliding would fling the map). The
        slide is spent there, or when the handles have come no closer for STALL_STEPS steps."""
        s = d.slide
        direction = d.targets - d.handles
        distance = direction.norm(dim=1, keepdim=True)
        moving = distance > d.stop_distance
        step = direction / distance.clamp(min=1e-8) * (distance / 2).clamp(max=warp_step(self.image_size[0])) * moving
        limit = SLIDE_LIMIT * (d.targets - s.starts).norm(dim=1, keepdim=True)
        shifts = s.shifts + step
        length = shifts.norm(dim=1, keepdim=True)
        s.shifts = shifts * (limit / length.clamp(min=1e-8)).clamp(max=1)
        total = float(distance.sum())
        s.stale = 0 if total < s.closest else s.stale + 1
        s.closest = min(s.closest, total)
        s.spent = s.stale >= STALL_STEPS or bool((length[moving] >= limit[moving]).all())
        radius = self.config.warp_radius * self.image_size[0]
        s.features = warp_offset(s.raw, s.start, s.starts, s.shifts, radius, self.image_size, s.flexible)
        d.steps += 1
        self._f = s.features

    def _update(self, d: _Drag, feat: torch.Tensor, shift: torch.Tensor,
                size: tuple[int, int]) -> tuple[float | None, str]:
        """Loss, backward and Adam on the drag's offset; on a non-finite loss or latent keep the last good one.
        `feat` is the map of a `size` image whose corner sits at `shift` (x, y) of the real one."""
        loss = motion_supervision_loss(feat, d.handles, d.targets, self.r1, size, origin=shift)
        if d.fixed is not None:
            loss = loss + fixed_region_loss(feat, d.feat0, d.fixed, self.config.mask_weight)
        value = float(loss.detach())
        if not np.isfinite(value):
            self._end_drag()
            return value, f"stopped at step {d.steps + 1}: the loss is {value}; kept the last good latent"
        if not loss.requires_grad:
            return value, ""
        params = [p for group in d.optimizer.param_groups for p in group["params"]]
        good = [p.detach().clone() for p in params]
        d.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        d.optimizer.step()
        if not all(bool(torch.isfinite(p).all()) for p in params):
            with torch.no_grad():
                for p, kept in zip(params, good):
                    p.copy_(kept)
            self._end_drag()
            return value, f"stopped at step {d.steps + 1}: the latent became non-finite; kept the last good latent"
        d.steps += 1
        self._w = d.ws(self.config.num_optimized_ws).detach()
        return value, ""

    def _record_frame(self, ws: torch.Tensor, features: torch.Tensor | None) -> np.ndarray:
        return self._keep_frame(self._render(ws, features))

    def _keep_frame(self, frame: np.ndarray) -> np.ndarray:
        """Record a shown frame for export, up to `max_frames` per drag."""
        if len(self.frames) < self.config.max_frames:
            self.frames.append(frame)
        return frame

    def finish(self) -> StepResult:
        """Render the current latent in full and track the handles on it: the closing result of a drag."""
        d = self._drag
        if d is None:
            raise ValueError("no drag is running")
        t_start = time.perf_counter()
        with torch.inference_mode():
            img, feats = self.G.synthesis(self._w, return_features=True, fused_modconv=RENDER_FUSED_MODCONV,
                                          feature_offset=self._offset(self._f))
            if d.initial_features is not None:
                d.handles = track_points(feats[self.feature_index], d.handles, d.initial_features, self.r2,
                                         self.image_size).clone()
        frame = self._keep_frame(export.to_uint8(img))
        distances = (d.targets - d.handles).norm(dim=1)
        return StepResult(handles=[tuple(map(float, h)) for h in d.handles.cpu()],
                          done=bool((distances <= d.stop_distance).all()), step=d.steps,
                          distances=distances.cpu().tolist(), loss=None,
                          ms=(time.perf_counter() - t_start) * 1000, frame=frame)

    def drag(self, handles: Sequence, targets: Sequence, mask=None, max_steps: int | None = None,
             frame_share: float | None = None, stop: threading.Event | None = None, lr: float | None = None,
             w_plus: bool | None = None) -> Iterator[StepResult]:
        """Run a drag to the end, yielding every step, with a full frame once the steps since the last one took
        (1 - frame_share) / frame_share times as long as a render of G (the first step renders one while G's
        render is not timed yet). Steps between frames carry no picture: a viewer shows
        the last frame with the tracked handles on it (at 512 px a step costs a tenth of a render).

        Ends when every handle is within the stop distance, after `max_steps`, on `stop()` or a set
        `stop` event, or on a NaN; the last result carries a full frame of the final latent.
        `max_steps`, `frame_share`, `lr` and `w_plus` apply to this drag only (default: the session's config).
        Bad input raises here, before the first step.
        """
        settings = {"max_steps": max_steps, "frame_share": frame_share, "lr": lr, "w_plus": w_plus}
        this_drag = replace(self.config, **{k: v for k, v in settings.items() if v is not None})
        self._stop.clear()
        self.start_drag(handles, targets, mask, lr=this_drag.lr, w_plus=this_drag.w_plus)
        return self._run(this_drag.max_steps, this_drag.frame_share, stop)

    def _run(self, max_steps: int, share: float, stop: threading.Event | None) -> Iterator[StepResult]:
        last, message = None, f"reached max_steps={max_steps} before the targets"
        steps_s = 0.0  # the time this drag's own steps took since its last frame: not the caller's time between them
        for i in range(max_steps):
            if self._stop.is_set() or (stop is not None and stop.is_set()):
                message = f"stopped on request after {i} steps"
                break
            render_s = _RENDER_SECONDS.get(self.G)
            due = render_s is None or steps_s >= render_s * (1 - share) / share
            last = self.step(frame=due)
            steps_s = 0.0 if last.frame is not None else steps_s + last.ms / 1000
            if last.message:  # NaN: the drag has ended with the last good latent
                yield last
                return
            if last.done:  # no update ran, so the current latent is the one shown
                if last.frame is None:
                    last.frame = self._record_frame(self._w, self._f)
                yield last
                return
            yield last
            if self._drag is not None and self._drag.slide is not None and self._drag.slide.spent:
                message = "the handles stopped getting closer to their targets"
                break
        final = self.finish()
        final.message = "" if final.done else message
        yield final

