"""Photo -> latent: W+ projection as in NVlabs' projector.py, then pivotal tuning (PTI, Roich et al. 2022).

Stage 1 optimises a W+ latent, starting from w_avg on every layer, with Adam and projector.py's
schedule: the learning rate ramps up over the first 5 % of steps and down (cosine) over the last
25 %, and Gaussian noise added to w decays to zero over the first 75 %, so that early steps explore.
The per-layer noise buffers are NOT optimised (so projector.py's noise regulariser has nothing to
do): a drag moves content while `noise_const` stays fixed to the pixel grid, so detail fitted into
the noise would stay behind as a ghost of the old image; and with `pti_steps=0` the result's
generator is G itself, which must stay untouched.

Stage 2 (PTI) fine-tunes a deep copy of the synthesis network on the fixed pivot latent with Adam
(lr 3e-4, PTI's defaults) and PTI's loss: L2 plus the stage-1 distance. PTI's locality regulariser
is off, as in PTI's own configuration; it would double the cost of every step.

Fast schedule: projection steps other than the last FULL_RESOLUTION_SHARE compare the skip
architecture's running RGB at a low-resolution block (b128, or b256 for 1024 px generators) with the
target area-downsampled to that size, so the highest blocks run only in the final steps, where the
w-noise is already zero and the learning rate ramps down (see benchmarks/bench_invert.py).
"""
from __future__ import annotations

import copy
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .export import to_uint8
from .image_distance import ImageDistance, image_distance
from .networks import Generator

INITIAL_LR = 0.1                 # projector.py's initial_learning_rate.
LR_RAMPUP = 0.05                 # Share of steps over which the learning rate ramps up.
LR_RAMPDOWN = 0.25               # Share of steps over which it ramps down (cosine).
INITIAL_NOISE_FACTOR = 0.05      # w-noise at step 0, in units of the spread of W.
NOISE_RAMP = 0.75                # Share of steps after which the w-noise is zero.
W_AVG_SAMPLES = 2000             # z samples for w_avg and the spread of W (projector.py takes 10000).
PTI_LR = 3e-4                    # PTI's pti_learning_rate.
FAST_RESOLUTION = 128            # Lowest block the fast schedule compares at (b256 for 1024 px generators).
FULL_RESOLUTION_SHARE = 0.25     # Share of projection steps at full resolution in the fast schedule.


@dataclass(frozen=True)
class InvertConfig:
    """An inversion's settings. `InvertConfig()` is the app's default, read by `invert` and the UI alike."""
    steps: int = 100                 # W+ projection steps.
    pti_steps: int = 30              # Pivotal-tuning steps (0: the result's generator is G itself).
    fast: bool = True                # Early projection steps at a low block (False: all at full resolution).
    loss: str = "auto"               # "auto", "lpips" or "pixel" (see image_distance.py).
    seed: int = 0                    # Seed of the w-noise.

    def __post_init__(self):
        if self.steps < 1 or self.pti_steps < 0:
            raise ValueError(f"steps must be >= 1 and pti_steps >= 0, got steps={self.steps}, "
                             f"pti_steps={self.pti_steps}")


PREVIOUS_DEFAULT = InvertConfig(steps=100, pti_steps=30)  # The app's default before issue 21 (benchmarks).


@dataclass
class InversionProgress:
    """What `progress` receives after every step."""
    stage: str           # "projection" or "pti".
    step: int            # 1-based, counted over both stages.
    total: int           # steps + pti_steps.
    psnr: float          # dB, this step's image against the target, at `resolution`.
    resolution: int      # Size the step compared at.
    eta_s: float         # Estimated seconds left, from the measured time of each kind of step.


@dataclass
class Inversion:
    """The result: edit `ws` with `generator` (e.g. `DragSession(result.generator, ws=result.ws)`)."""
    ws: torch.Tensor                 # W+ latent [1, num_ws, w_dim].
    generator: Generator             # G itself without PTI, else the tuned copy.
    image: np.ndarray                # generator's image of ws, H x W x 3 uint8.
    target: np.ndarray               # The target as compared: resized to the generator's resolution.
    loss: str                        # Name of the distance that ran.
    psnr: float                      # dB of `image` against `target`.
    projection_psnr: float           # dB after stage 1, before PTI.
    psnr_history: list[float] = field(default_factory=list)  # Per step, at that step's resolution.
    resolutions: list[int] = field(default_factory=list)     # Per step.
    message: str = ""                # Why it ended early (stop request, non-finite loss), else "".


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [-1, 1] (peak-to-peak 2), as measured on 8-bit pixels."""
    mse = float((a.detach().clamp(-1, 1) - b).square().mean())
    return 10 * math.log10(4 / mse) if mse > 0 else float("inf")


def prepare_target(target_uint8: np.ndarray, resolution: int) -> np.ndarray:
    """Check an H x W x 3 uint8 square image and resize it (Lanczos) to resolution x resolution."""
    arr = target_uint8
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"target must be a numpy array (H x W x 3 uint8), got {type(arr).__name__}")
    if arr.dtype != np.uint8:
        raise ValueError(f"target must be uint8 (0-255), got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise ValueError(f"target must be an H x W x 3 RGB image, got shape {arr.shape}")
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"target must be square (an aligned face crop), got {arr.shape[1]} x {arr.shape[0]}; "
                         "crop it first, e.g. with landmarks.align_face")
    if arr.shape[0] == resolution:
        return arr.copy()
    return np.array(Image.fromarray(arr).resize((resolution, resolution), Image.LANCZOS))


def learning_rate(t: float, initial: float = INITIAL_LR) -> float:
    """projector.py's schedule at progress t in [0, 1): linear ramp-up, cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return initial * ramp * min(1.0, t / LR_RAMPUP)


def fast_schedule(steps: int, img_resolution: int, fast: bool = True) -> list[int]:
    """Resolution each projection step compares at: low first, the last FULL_RESOLUTION_SHARE (>= 1 step) full."""
    low = min(img_resolution, max(FAST_RESOLUTION, img_resolution // 4))
    if not fast or low == img_resolution:
        return [img_resolution] * steps
    full = max(1, math.ceil(steps * FULL_RESOLUTION_SHARE))
    return [low] * (steps - full) + [img_resolution] * full


@torch.no_grad()
def w_statistics(G: Generator, samples: int = W_AVG_SAMPLES, seed: int = 123) -> tuple[torch.Tensor, float]:
    """w_avg [1, 1, w_dim] and the spread of W (RMS distance to w_avg), from mapped z samples (projector.py)."""
    device = G.mapping.w_avg.device
    z = torch.from_numpy(np.random.RandomState(seed).randn(samples, G.z_dim).astype(np.float32)).to(device)
    w = torch.cat([G.mapping(chunk)[:, :1] for chunk in z.split(500)])  # [N, 1, w_dim]
    w_avg = w.mean(dim=0, keepdim=True)
    return w_avg, float((w - w_avg).square().sum(dim=2).mean().sqrt())


def _block_index(G: Generator, resolution: int) -> int | None:
    """`last_block` that renders at `resolution` (None: the whole synthesis)."""
    return None if resolution == G.img_resolution else G.synthesis.block_resolutions.index(resolution)


class _Run:
    """Steps, stop requests, per-step PSNR and the ETA over both stages."""

    def __init__(self, plan: list[tuple[str, int]], progress: Callable | None, stop: threading.Event | None):
        self.plan, self.progress, self.stop_event = plan, progress, stop
        self.seconds: dict[tuple[str, int], list[float]] = {}
        self.psnr_history: list[float] = []
        self.resolutions: list[int] = []
        self.message = ""
        self._t0 = time.perf_counter()

    def stopped(self) -> bool:
        if self.stop_event is not None and self.stop_event.is_set():
            self.message = f"stopped on request after {len(self.psnr_history)} of {len(self.plan)} steps"
        return bool(self.message)

    def fail(self, what: str) -> None:
        self.message = f"{what} at step {len(self.psnr_history) + 1}"

    def done(self, value: float) -> None:
        """Record the step that just ended and report it."""
        kind = self.plan[len(self.psnr_history)]
        now = time.perf_counter()
        self.seconds.setdefault(kind, []).append(now - self._t0)
        self._t0 = now
        self.psnr_history.append(value)
        self.resolutions.append(kind[1])
        if self.progress is not None:
            step = len(self.psnr_history)
            self.progress(InversionProgress(kind[0], step, len(self.plan), value, kind[1], self._eta(step)))

    def _eta(self, step: int) -> float:
        """Remaining steps times the mean time of their kind (a kind not run yet: the current step's kind)."""
        current = self.seconds[self.plan[step - 1]]
        fallback = sum(current) / len(current)
        left = Counter(self.plan[step:])
        return sum(n * (sum(self.seconds[k]) / len(self.seconds[k]) if k in self.seconds else fallback)
                   for k, n in left.items())


def _project(G: Generator, targets: dict[int, torch.Tensor], schedule: list[int], distance: ImageDistance,
             run: _Run, seed: int) -> torch.Tensor:
    """Stage 1: the W+ latent after the last step, or the last one whose loss was finite."""
    w_avg, w_spread = w_statistics(G)
    w_opt = w_avg.repeat(1, G.num_ws, 1).requires_grad_(True)
    good = w_opt.detach().clone()
    optimizer = torch.optim.Adam([w_opt], betas=(0.9, 0.999), lr=INITIAL_LR)
    noise = torch.Generator(device=w_opt.device).manual_seed(seed)
    for i, res in enumerate(schedule):
        if run.stopped():
            break
        t = i / len(schedule)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(t)
        noise_scale = w_spread * INITIAL_NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
        ws = w_opt + torch.randn(w_opt.shape, generator=noise, device=w_opt.device) * noise_scale
        img = G.synthesis(ws, last_block=_block_index(G, res), fused_modconv=False)
        loss = distance(img, targets[res])
        if not bool(torch.isfinite(loss)):
            run.fail("the projection loss became non-finite; kept the last good latent")
            return good
        good = w_opt.detach().clone()
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=[w_opt])  # gradients for w only: G's parameters get none
        optimizer.step()
        run.done(psnr(img, targets[res]))
    return w_opt.detach().clone()


def _pivotal_tuning(G: Generator, ws: torch.Tensor, target: torch.Tensor, steps: int, distance: ImageDistance,
                    run: _Run) -> Generator | None:
    """Stage 2: a tuned deep copy of G, or None when the loss became non-finite (the copy is dropped)."""
    tuned = copy.deepcopy(G).eval().requires_grad_(False)
    params = list(tuned.synthesis.parameters())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=PTI_LR)
    for _ in range(steps):
        if run.stopped():
            break
        img = tuned.synthesis(ws, fused_modconv=False)
        loss = F.mse_loss(img, target) + distance(img, target)  # PTI: L2 + the perceptual (here: stage-1) term
        if not bool(torch.isfinite(loss)):
            run.fail("the PTI loss became non-finite; kept the projection without tuning")
            return None
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.done(psnr(img, target))
    optimizer.zero_grad(set_to_none=True)  # free the gradients: the copy lives on in a session
    return tuned.requires_grad_(False)


def invert(G: Generator, target_uint8: np.ndarray, config: InvertConfig | None = None, *,
           progress: Callable[[InversionProgress], None] | None = None, stop: threading.Event | None = None,
           **overrides) -> Inversion:
    """Find a W+ latent (and, with `pti_steps`, a tuned copy of G) that reproduces `target_uint8`.

    `target_uint8` is a square H x W x 3 uint8 image of any size (an aligned face crop), resized to G's
    resolution. `config` defaults to `InvertConfig()`, the app's default; keyword `overrides` replace its
    fields (`invert(G, image, steps=50)`). `progress(InversionProgress)` is called after every step;
    setting `stop` ends the run after the current step and returns what it has (no PTI once stopped).
    G itself is never modified.
    """
    config = replace(config or InvertConfig(), **overrides)
    res = G.img_resolution
    target = prepare_target(target_uint8, res)
    device = G.mapping.w_avg.device
    full = torch.from_numpy(target).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
    schedule = fast_schedule(config.steps, res, config.fast)
    targets = {r: F.interpolate(full, size=(r, r), mode="area") for r in set(schedule)}
    distance = image_distance(device, config.loss)
    run = _Run([("projection", r) for r in schedule] + [("pti", res)] * config.pti_steps, progress, stop)
    ws = _project(G, targets, schedule, distance, run, config.seed)
    with torch.no_grad():
        img = G.synthesis(ws)
    projection_psnr = psnr(img, full)
    generator = G
    if config.pti_steps and not run.message:
        generator = _pivotal_tuning(G, ws, full, config.pti_steps, distance, run) or G
    if generator is not G:
        with torch.no_grad():
            img = generator.synthesis(ws)
    return Inversion(ws=ws, generator=generator, image=to_uint8(img), target=target, loss=distance.name,
                     psnr=psnr(img, full), projection_psnr=projection_psnr, psnr_history=run.psnr_history,
                     resolutions=run.resolutions, message=run.message)
