"""ToRGB fit: tune only the generator's ToRGB layers to the photo, solved as least squares in seconds.

Why it works: in StyleGAN2's skip architecture the image is the sum over blocks of each ToRGB output,
up-sampled to full size. A ToRGB layer is a 1x1 convolution of its block's features, so for a fixed
latent the image is *linear* in every ToRGB weight and bias, while the features themselves do not
depend on them. Fitting those ~3000 weights per colour to the target is a linear least-squares
problem: one forward pass to read the features, then conjugate-gradient iterations that each cost a
fraction of a forward pass (no convolution of the synthesis runs again). Full PTI instead back-
propagates through every block on every step (issue 21: 4 s a step at 512 px on 2 cores).

Why it keeps edits honest: the features, which DragGAN's motion supervision and point tracking read,
are the untuned generator's own, so a drag follows exactly the path it would on G; and a 1x1 readout
cannot paint pixels at fixed places (as optimised noise maps would), so appearance moves with the
features that carry it. A ridge term keeps the weights near G's, so that a feature change is not
amplified into the image much more than G amplifies it (benchmarks/bench_torgb_ridge.py).

Pixels where the target is saturated (0 or 255) and the generator overshoots it are left out of the
fit: clipped to 8 bits they are already right. Halfway through, the fit restarts from its own image,
refreshing that set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .networks import SynthesisNetwork, upsample2d

SATURATED = 1 - 1e-3   # |target| above this counts as clipped to 0 or 255.


@dataclass
class ToRGBFit:
    """Fitted ToRGB parameters, in block order, and the image they make."""
    weights: list[torch.Tensor]   # Each [3, C, 1, 1], as `SynthesisBlock.torgb.weight`.
    biases: list[torch.Tensor]    # Each [3].
    image: torch.Tensor           # [1, 3, H, W], the skip image with these parameters (not clamped).


@torch.no_grad()
def torgb_inputs(synthesis: SynthesisNetwork, ws: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The image of `ws`, and each block's ToRGB input times its style [1, C, r, r] (the image is linear in the
    ToRGB weights applied to these)."""
    img, feats = synthesis(ws, return_features=True)
    inputs, idx = [], 0
    for block, x in zip(synthesis.blocks, feats):
        styles = block.torgb.affine(ws[:, idx + block.num_conv]) * block.torgb.weight_gain
        inputs.append(x * styles.reshape(1, -1, 1, 1))
        idx += block.num_conv
    return img, inputs


def torgb_parameters(synthesis: SynthesisNetwork) -> list[torch.Tensor]:
    """Every block's ToRGB weight, then every block's bias: the order `skip_image`'s callers split at len(blocks)."""
    return [b.torgb.weight for b in synthesis.blocks] + [b.torgb.bias for b in synthesis.blocks]


def skip_image(synthesis: SynthesisNetwork, inputs: list[torch.Tensor], weights: list[torch.Tensor],
               biases: list[torch.Tensor]) -> torch.Tensor:
    """The skip architecture's image for these ToRGB parameters: linear in them."""
    img = None
    for block, x, weight, bias in zip(synthesis.blocks, inputs, weights, biases):
        y = torch.nn.functional.conv2d(x, weight, bias)
        img = y if img is None else upsample2d(img, block.resample_filter) + y
    return img


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return sum(float((x * y).sum()) for x, y in zip(a, b))


def _jacobi(synthesis: SynthesisNetwork, inputs: list[torch.Tensor], pixels: int) -> list[torch.Tensor]:
    """Diagonal of the normal matrix, approximately: a channel's energy grows 4x per 2x up-sampling."""
    levels = len(inputs) - 1
    diag = [(4.0 ** (levels - i)) * x.square().sum(dim=(0, 2, 3)).reshape(1, -1, 1, 1).expand_as(b.torgb.weight)
            for i, (x, b) in enumerate(zip(inputs, synthesis.blocks))]
    return diag + [torch.full_like(b.torgb.bias, float(pixels)) for b in synthesis.blocks]


def fit_torgb(synthesis: SynthesisNetwork, inputs: list[torch.Tensor], target: torch.Tensor, steps: int,
              ridge: float, on_step: Callable[[torch.Tensor], bool]) -> ToRGBFit:
    """`steps` preconditioned conjugate-gradient iterations on the ToRGB parameters of `synthesis`.

    `inputs` come from `torgb_inputs` at the latent being fitted. Each of two rounds minimises
    |mask * (image - target)|^2 + ridge * mean(diagonal) * |the round's change|^2, the first from G's own
    weights. `on_step(image)` is called after every iteration; it returns False to stop there (the fit so
    far is kept).
    """
    n = len(inputs)
    theta = [t.detach().clone() for t in torgb_parameters(synthesis)]
    diag = _jacobi(synthesis, inputs, target.shape[-1] * target.shape[-2])
    damping = ridge * sum(float(d.sum()) for d in diag) / sum(d.numel() for d in diag)
    precondition = [1 / (d + damping) for d in diag]
    with torch.no_grad():
        image = skip_image(synthesis, inputs, theta[:n], theta[n:])
    for length in filter(None, (steps - steps // 2, steps // 2)):
        image, go_on = _cg_round(synthesis, inputs, theta, image, target, length, damping, precondition, on_step)
        if not go_on:
            break
    return ToRGBFit(theta[:n], theta[n:], image)


def normal_apply(synthesis: SynthesisNetwork, inputs: list[torch.Tensor], p: list[torch.Tensor],
                 v_of: Callable[[torch.Tensor], torch.Tensor], damping: float = 0.0):
    """(A p, A^T v_of(A p) + damping p), A the linear map from ToRGB parameters to the image: one iteration's work."""
    n = len(inputs)
    leaves = [t.detach().requires_grad_(True) for t in p]
    out = skip_image(synthesis, inputs, leaves[:n], leaves[n:])
    grads = torch.autograd.grad(out, leaves, v_of(out.detach()))
    return out.detach(), [g + damping * t for g, t in zip(grads, p)]


def _cg_round(synthesis, inputs, theta, image, target, length, damping, precondition, on_step):
    """One restart of CG from `theta` (updated in place): the image it ends on, and whether to go on."""
    def apply(p, v_of):
        return normal_apply(synthesis, inputs, p, v_of, damping)

    keep = ~(((target >= SATURATED) & (image > target)) | ((target <= -SATURATED) & (image < target)))
    mask = keep.to(image.dtype)
    residual = mask * (target - image)
    zero = [torch.zeros_like(t) for t in theta]
    _, r = apply(zero, lambda _: residual)     # A^T residual (damping * 0 adds nothing)
    z = [ri * pi for ri, pi in zip(r, precondition)]
    p = [zi.clone() for zi in z]
    rz = _dot(r, z)
    for _ in range(length):
        if rz <= 0:
            break
        ap, q = apply(p, lambda out: mask * out)
        alpha = rz / _dot(p, q)
        for t, pi in zip(theta, p):
            t.add_(pi, alpha=alpha)
        image = image + alpha * ap
        r = [ri - alpha * qi for ri, qi in zip(r, q)]
        z = [ri * pi for ri, pi in zip(r, precondition)]
        rz_new = _dot(r, z)
        p = [zi + (rz_new / rz) * pi for zi, pi in zip(z, p)]
        rz = rz_new
        if not on_step(image):
            return image, False
    return image, True
