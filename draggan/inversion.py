"""Photo -> latent (and what tunes the generator to it): W+ projection, optional PTI, then a ToRGB fit.

Stage 1 optimises a W+ latent, starting from w_avg on every layer, with Adam and projector.py's
schedule: the learning rate ramps up over the first 5 % of steps and down (cosine) over the last
25 %, and Gaussian noise added to w decays to zero over the first 75 %, so that early steps explore.
Steps other than the last `full_share` compare the skip architecture's running RGB at a low-resolution
block (b128, or b256 for 1024 px generators) with the target area-downsampled to that size. The
per-layer noise buffers are NOT optimised: a drag moves content while `noise_const` stays fixed to the
pixel grid, so detail fitted into the noise would stay behind as a ghost of the old image.

Stage 2, optional (PTI, Roich et al. 2022), fine-tunes a deep copy of the synthesis network on the
fixed pivot latent with Adam and PTI's loss: L2 plus the stage-1 distance. Its overlay holds every layer.

Stage 3 fits only the ToRGB layers to the target, as linear least squares (`torgb_fit.py`): one
forward pass and conjugate-gradient iterations that cost a tenth of one. It is what makes the default
fast (issue 21, docs/performance.md): 20 low-resolution projection steps and 40 fit iterations reach a
higher PSNR than 100 projection and 30 PTI steps, 10x sooner at 512 px.

G itself is never modified: the result holds the latent and an `Overlay` of what the tuning changed (the
fit alone: the ToRGB weights and biases, 36 KB at 512 px), which `overlay.on(G)` applies on top of G.
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
from .overlay import Overlay
from .torgb_fit import fit_torgb, normal_apply, torgb_inputs, torgb_parameters

INITIAL_LR = 0.1                 # projector.py's initial_learning_rate.
LR_RAMPUP = 0.05                 # Share of steps over which the learning rate ramps up.
LR_RAMPDOWN = 0.25               # Share of steps over which it ramps down (cosine).
INITIAL_NOISE_FACTOR = 0.05      # w-noise at step 0, in units of the spread of W.
NOISE_RAMP = 0.75                # Share of steps after which the w-noise is zero.
W_AVG_SAMPLES = 2000             # z samples for w_avg and the spread of W (projector.py takes 10000).
PTI_LR = 3e-4                    # PTI's pti_learning_rate.
TORGB_RIDGE = 3e-3               # The ToRGB fit's ridge, relative to the normal matrix's mean diagonal.
LOW_RESOLUTION_FLOOR = 128       # `low_resolution=None`: a quarter of the image side, but at least this.


@dataclass(frozen=True)
class InvertConfig:
    """An inversion's settings. `InvertConfig()` is the app's default, read by `invert` and the UI alike."""
    steps: int = 20                      # W+ projection steps.
    pti_steps: int = 0                   # Pivotal-tuning steps of the whole synthesis network (0: none).
    torgb_steps: int = 40                # Conjugate-gradient iterations of the ToRGB fit (0: none).
    low_resolution: int | None = None    # Block the projection compares at (None: a quarter of the image, >= 128).
    full_share: float = 0.0              # Share of projection steps (the last ones) that run the whole generator.
    torgb_ridge: float = TORGB_RIDGE     # The fit's pull towards G's own ToRGB weights.
    pti_lr: float = PTI_LR               # Adam's learning rate for PTI.
    bf16: bool = False                   # PTI's forward pass under bf16 autocast.
    loss: str = "auto"                   # "auto", "lpips" or "pixel" (see image_distance.py).
    seed: int = 0                        # Seed of the w-noise.
    # Last, steps fitting (L2) an offset on the output of the block the drags move (`invert(..., feature_res=)`,
    # the model's `DragConfig.feature_res`): spatial detail a small generator's W+ and weights cannot hold.
    feature_steps: int = 0
    feature_lr: float = 3e-2             # Adam's learning rate for that offset.

    def __post_init__(self):
        if self.steps < 1 or self.pti_steps < 0 or self.torgb_steps < 0 or self.feature_steps < 0:
            raise ValueError(f"steps must be >= 1, pti_steps, torgb_steps and feature_steps >= 0, got steps="
                             f"{self.steps}, pti_steps={self.pti_steps}, torgb_steps={self.torgb_steps}, "
                             f"feature_steps={self.feature_steps}")
        if not 0 <= self.full_share <= 1:
            raise ValueError(f"full_share must be in [0, 1], got {self.full_share}")



@dataclass
class InversionProgress:
    """What `progress` receives after every step."""
    stage: str           # "projection", "pti" or "fit".
    step: int            # 1-based, counted over all stages.
    total: int           # steps + pti_steps + torgb_steps.
    psnr: float          # dB, this step's image against the target, at `resolution`.
    resolution: int      # Size the step compared at.
    eta_s: float         # Estimated seconds left, from the measured time of each kind of step.


@dataclass
class Inversion:
    """The result: edit `ws` with the overlay on G (e.g. `DragSession(result.overlay.on(G), ws=result.ws)`, and
    `features=result.features` where the drags move a block's output)."""
    ws: torch.Tensor                 # W+ latent [1, num_ws, w_dim].
    overlay: Overlay                 # What PTI and the fit changed in G (empty: neither ran, or both failed).
    image: np.ndarray                # overlay.on(G)'s image of ws, H x W x 3 uint8.
    target: np.ndarray               # The target as compared: resized to the generator's resolution.
    loss: str                        # Name of the distance that ran.
    psnr: float                      # dB of `image` against `target`.
    projection_psnr: float           # dB after stage 1, before PTI and the fit.
    psnr_history: list[float] = field(default_factory=list)  # Per step, at that step's resolution.
    resolutions: list[int] = field(default_factory=list)     # Per step.
    stages: list[str] = field(default_factory=list)          # Per step: "projection", "pti" or "fit".
    message: str = ""                # Why it ended early (stop request, non-finite loss), else "".
    features: torch.Tensor | None = None  # The fitted feature offset (`DragSession(..., features=)`), if one ran.


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


def fast_schedule(steps: int, img_resolution: int, config: InvertConfig = InvertConfig()) -> list[int]:
    """Resolution each projection step compares at: `low_resolution` first, the last `full_share` full."""
    low = config.low_resolution or max(LOW_RESOLUTION_FLOOR, img_resolution // 4)
    low = min(img_resolution, low)
    full = math.ceil(steps * config.full_share)
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


@dataclass(frozen=True)
class _Kind:
    """A kind of step, for the ETA: steps of one kind take about the same time."""
    stage: str            # "projection", "pti", "fit" or "render" (a no-grad image, not reported as a step).
    resolution: int       # Side of the image it renders (the block it stops at).


# A step's cost in forward passes of its resolution: the backward pass costs about two forwards with the
# weight gradients (PTI) and a little less without (projection). Measured on 2 CPU cores, random 256 and 512 px
# generators: projection 2.7-3.0, PTI 3.8-4.0 forward renders. A ToRGB fit iteration is timed itself.
FORWARDS_PER_STEP = {"projection": 3.0, "pti": 4.0, "features": 3.0, "render": 1.0}
BF16_PTI = 0.6  # A PTI step under bf16 autocast, as a share of the fp32 one (same machine, 512 px).


def forward_seconds(G: Generator, ws: torch.Tensor, resolutions: set[int], fit: bool) -> dict[int | str, float]:
    """Seconds of one no-grad forward pass to each resolution, and with `fit` of one ToRGB fit iteration ("fit"):
    what the ETA prices steps not yet timed by."""
    seconds, inputs = {}, None
    with torch.no_grad():
        G.synthesis(ws, last_block=_block_index(G, min(resolutions)), fused_modconv=False)  # warm-up, not timed
        for res in sorted(resolutions):
            start = time.perf_counter()
            if fit and res == G.img_resolution:  # the pass that a fit reads, as it runs after the projection
                _, inputs = torgb_inputs(G.synthesis, ws)
            else:
                G.synthesis(ws, last_block=_block_index(G, res), fused_modconv=False)
            seconds[res] = time.perf_counter() - start
    if fit:
        for _ in range(2):  # the first, a warm-up, is not timed
            start = time.perf_counter()
            normal_apply(G.synthesis, inputs, torgb_parameters(G.synthesis), lambda out: out)
        seconds["fit"] = time.perf_counter() - start
    return seconds


class _Run:
    """Steps, stop requests, per-step PSNR and the ETA over both stages and the final renders."""

    def __init__(self, plan: list[_Kind], prices: dict[_Kind, float], progress: Callable | None,
                 stop: threading.Event | None):
        self.plan, self.progress, self.stop_event = plan, progress, stop
        self.prices = prices  # Seconds each kind should take, before it is timed.
        self.total = sum(kind.stage != "render" for kind in plan)
        self.seconds: dict[_Kind, list[float]] = {}
        self.psnr_history: list[float] = []
        self.resolutions: list[int] = []
        self.stages: list[str] = []
        self.message = ""
        self.index = 0
        self._t0 = time.perf_counter()

    def stopped(self) -> bool:
        if self.stop_event is not None and self.stop_event.is_set():
            self.message = f"stopped on request after {len(self.psnr_history)} of {self.total} steps"
        return bool(self.message)

    def fail(self, what: str) -> None:
        self.message = f"{what} at step {len(self.psnr_history) + 1}"

    def _record(self) -> _Kind:
        """Time the step or render at `index` and move past it."""
        kind = self.plan[self.index]
        self.index += 1
        now = time.perf_counter()
        self.seconds.setdefault(kind, []).append(now - self._t0)
        self._t0 = now
        return kind

    def done(self, value: float) -> None:
        """Record the step that just ended and report it."""
        kind = self._record()
        self.psnr_history.append(value)
        self.resolutions.append(kind.resolution)
        self.stages.append(kind.stage)
        if self.progress is not None:
            step = len(self.psnr_history)
            self.progress(InversionProgress(kind.stage, step, self.total, value, kind.resolution, self.eta()))

    def rendered(self) -> None:
        """Record the next final render (the steps a stop skipped are skipped in the plan too)."""
        self.index = next(i for i in range(self.index, len(self.plan)) if self.plan[i].stage == "render")
        self._record()

    def eta(self) -> float:
        """Remaining steps and renders, each at the typical time of its kind; kinds with fewer than two steps run (a
        first step also pays for warm-up) at their price, scaled by how the timed kinds compared with theirs (how
        far a step's forward-pass count is off, and the load now). A fit iteration's price was timed: not scaled."""
        typical = {k: _typical(t) for k, t in self.seconds.items() if len(t) > 1 or k.stage == "render"}
        scale = sum(typical.values()) / sum(self.prices[k] for k in typical) if typical else 1.0
        left = Counter(self.plan[self.index:])
        return sum(n * typical.get(k, self.prices[k] * (1.0 if k.stage == "fit" else scale)) for k, n in left.items())


def _typical(seconds: list[float]) -> float:
    """A kind's step time: the mean after its first step, which also pays for warm-up (allocations, PTI's copy)."""
    return sum(seconds[1:]) / (len(seconds) - 1) if len(seconds) > 1 else seconds[0]


def _prices(plan: list[_Kind], forward: dict[int | str, float], bf16: bool) -> dict[_Kind, float]:
    """Each kind's seconds before it is timed: its forward passes at its resolution (a fit iteration: as timed)."""
    return {kind: forward["fit"] if kind.stage == "fit" else forward[kind.resolution] * FORWARDS_PER_STEP[kind.stage]
            * (BF16_PTI if bf16 and kind.stage == "pti" else 1.0) for kind in set(plan)}


def _project(G: Generator, targets: dict[int, torch.Tensor], schedule: list[int], distance: ImageDistance,
             run: _Run, seed: int, w_stats: tuple[torch.Tensor, float]) -> torch.Tensor:
    """Stage 1: the W+ latent after the last step, or the last one whose loss was finite."""
    w_avg, w_spread = w_stats
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


def _pivotal_tuning(G: Generator, ws: torch.Tensor, target: torch.Tensor, distance: ImageDistance, run: _Run,
                    config: InvertConfig) -> Overlay | None:
    """Stage 2: every synthesis parameter of a tuned deep copy of G, or None when the loss became non-finite."""
    tuned = copy.deepcopy(G).eval().requires_grad_(False)
    params = list(tuned.synthesis.parameters())
    for p in params:
        p.requires_grad_(True)

    def loss_of_step() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(ws.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            img = tuned.synthesis(ws, fused_modconv=False).float()
        return F.mse_loss(img, target) + distance(img, target), img  # PTI: L2 + the perceptual (stage-1) term

    if not _adam_steps(params, config.pti_lr, config.pti_steps, loss_of_step, target, run,
                       "the PTI loss became non-finite; kept the projection without tuning"):
        return None
    for p in params:
        p.grad = None  # free the gradients: the copy's tensors live on in a session
    return Overlay.of(tuned, [f"synthesis.{name}" for name, _ in tuned.synthesis.named_parameters()])


def _adam_steps(params: list[torch.Tensor], lr: float, steps: int, loss_of_step: Callable, target: torch.Tensor,
                run: _Run, failure: str) -> bool:
    """Up to `steps` Adam steps on `params` of `loss_of_step() -> (loss, image)`, each reported with the image's PSNR
    (a stop ends them early); False, after `run.fail(failure)`, when the loss became non-finite."""
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        if run.stopped():
            break
        loss, img = loss_of_step()
        if not bool(torch.isfinite(loss)):
            run.fail(failure)
            return False
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.done(psnr(img, target))
    return True


def _fit_features(generator: Generator, ws: torch.Tensor, target: torch.Tensor, block: int, run: _Run,
                  config: InvertConfig) -> torch.Tensor | None:
    """Stage 4: an offset on block `block`'s output fitted to the target by L2 (what a stop leaves is kept), or
    None when the loss became non-finite."""
    offset = torch.zeros(generator.synthesis.offset_shape(block), device=ws.device, requires_grad=True)

    def loss_of_step() -> tuple[torch.Tensor, torch.Tensor]:
        img = generator.synthesis(ws, fused_modconv=False, feature_offset=(block, offset))
        return F.mse_loss(img, target), img

    if not _adam_steps([offset], config.feature_lr, config.feature_steps, loss_of_step, target, run,
                       "the feature offset's loss became non-finite; kept the image without it"):
        return None
    return offset.detach()


def _plan(G: Generator, schedule: list[int], config: InvertConfig, feature_steps: int) -> list[_Kind]:
    """Every step and render of an inversion, in order, for the ETA."""
    res = G.img_resolution
    plan = [_Kind("projection", r) for r in schedule] + [_Kind("render", res)]
    for stage, steps in (("pti", config.pti_steps), ("fit", config.torgb_steps), ("features", feature_steps)):
        plan += [_Kind(stage, res)] * steps + [_Kind("render", res)] * bool(steps)
    return plan


def _render(generator: Generator, ws: torch.Tensor, fit_inputs: bool) -> tuple[torch.Tensor, list | None]:
    """The image of `ws`, and (when a ToRGB fit follows) what the fit reads, from the same forward pass."""
    if fit_inputs:
        return torgb_inputs(generator.synthesis, ws)
    with torch.no_grad():
        return generator.synthesis(ws), None


def _fit_torgb(generator: Generator, inputs: list[torch.Tensor], target: torch.Tensor, run: _Run,
               config: InvertConfig) -> Overlay | None:
    """Stage 3: the fitted ToRGB weights and biases of `generator`, or None when the fit failed."""
    def on_step(image: torch.Tensor) -> bool:
        run.done(psnr(image, target))
        return not run.stopped()

    fit = fit_torgb(generator.synthesis, inputs, target, config.torgb_steps, config.torgb_ridge, on_step)
    if not all(bool(torch.isfinite(t).all()) for t in fit.weights + fit.biases + [fit.image]):
        run.fail("the ToRGB fit became non-finite; kept the generator without it")
        return None
    names = [f"synthesis.b{block.resolution}.torgb" for block in generator.synthesis.blocks]
    return Overlay({**{f"{name}.weight": w for name, w in zip(names, fit.weights)},
                    **{f"{name}.bias": b for name, b in zip(names, fit.biases)}})


def invert(G: Generator, target_uint8: np.ndarray, config: InvertConfig | None = None, *,
           progress: Callable[[InversionProgress], None] | None = None, stop: threading.Event | None = None,
           feature_res: int | None = None, **overrides) -> Inversion:
    """Find a W+ latent and an overlay on G (PTI and/or the ToRGB fit) that reproduce `target_uint8`.

    `target_uint8` is a square H x W x 3 uint8 image of any size (an aligned face crop), resized to G's
    resolution. `config` defaults to `InvertConfig()`, the app's default; keyword `overrides` replace its
    fields (`invert(G, image, steps=50)`). `progress(InversionProgress)` is called after every step;
    setting `stop` ends the run after the current step and returns what it has (no later stage once stopped;
    a fit or PTI stopped midway is kept). `feature_res` is the block whose output the model's drags move
    (`DragConfig.feature_res`): with `config.feature_steps`, a last stage fits an offset there (`result.features`).
    G itself is never modified.
    """
    config = replace(config or InvertConfig(), **overrides)
    res = G.img_resolution
    target = prepare_target(target_uint8, res)
    full = torch.from_numpy(target).to(G.mapping.w_avg.device).permute(2, 0, 1)[None].float() / 127.5 - 1
    schedule = fast_schedule(config.steps, res, config)
    targets = {r: F.interpolate(full, size=(r, r), mode="area") for r in set(schedule)}
    distance = image_distance(full.device, config.loss)
    w_stats = w_statistics(G)  # before the clock starts: the first step's time is then a step's
    feature_steps = config.feature_steps if feature_res else 0
    plan = _plan(G, schedule, config, feature_steps)
    forward = forward_seconds(G, w_stats[0].repeat(1, G.num_ws, 1), {kind.resolution for kind in plan},
                              config.torgb_steps > 0)
    run = _Run(plan, _prices(plan, forward, config.bf16), progress, stop)
    ws = _project(G, targets, schedule, distance, run, config.seed, w_stats)
    img, inputs = _render(G, ws, config.torgb_steps > 0)
    run.rendered()
    projection_psnr, overlay = psnr(img, full), Overlay()
    if config.pti_steps and not run.message:
        overlay = _pivotal_tuning(G, ws, full, distance, run, config) or overlay
        if overlay.tensors:
            img, inputs = _render(overlay.on(G), ws, config.torgb_steps > 0)
            run.rendered()
    if config.torgb_steps and not run.message:
        fitted = _fit_torgb(overlay.on(G), inputs, full, run, config)
        if fitted is not None:
            overlay = overlay | fitted
            img, _ = _render(overlay.on(G), ws, False)
            run.rendered()
    features = None
    if feature_steps and not run.message:
        tuned, block = overlay.on(G), _block_index(G, feature_res)
        features = _fit_features(tuned, ws, full, block, run, config)
        if features is not None:
            with torch.no_grad():
                img = tuned.synthesis(ws, feature_offset=(block, features))
            run.rendered()
    return Inversion(ws=ws, overlay=overlay, image=to_uint8(img), target=target, loss=distance.name,
                     psnr=psnr(img, full), projection_psnr=projection_psnr, psnr_history=run.psnr_history,
                     resolutions=run.resolutions, stages=run.stages, message=run.message, features=features)
