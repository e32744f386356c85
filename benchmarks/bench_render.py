"""Seconds per full render: the inference path (`rendered_modulated_conv2d`) against the layers' autograd order.

Every frame a visitor sees is a full render: the image before a drag, the frames during it, the closing frame,
an inversion's result. Without autograd the layers fold the activation gain into the kernels, the bias and the
noise, and run the rest in place (`draggan/networks.py`); with autograd on they keep NVlabs' order of
operations, five passes over each map. Both run here on the same generator (random weights, the real 256, 512
and 1024 architectures), interleaved, median of `--reps`; the image difference is their largest pixel
difference in [-1, 1] units.

    python benchmarks/bench_render.py                       # 512 and 1024, the machine's threads
    python benchmarks/bench_render.py --sizes 256 512 1024 --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_drag import build_generator  # noqa: E402


def render(G, ws: torch.Tensor, inference: bool) -> torch.Tensor:
    """A fused full render, on the inference path or (autograd on, nothing to trace) on the autograd path."""
    with torch.inference_mode() if inference else torch.enable_grad():
        return G.synthesis(ws, fused_modconv=True)


def measure(res: int, reps: int) -> dict:
    G = build_generator(res, "cpu")
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), truncation_psi=0.7)
    images = {inference: render(G, ws, inference) for inference in (False, True)}  # also the warm-up
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(reps):
        for inference in times:
            t0 = time.perf_counter()
            render(G, ws, inference)
            times[inference].append(time.perf_counter() - t0)
    before, after = statistics.median(times[False]), statistics.median(times[True])
    return {"res": res, "autograd path s": before, "render path s": after, "speed-up": before / after,
            "max diff": (images[True] - images[False]).abs().max().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"| res | autograd path s | render path s | speed-up | max pixel diff |  ({torch.get_num_threads()} threads)")
    print("|---|---|---|---|---|")
    for res in args.sizes:
        r = measure(res, args.reps)
        print(f"| {res} | {r['autograd path s']:.2f} | {r['render path s']:.2f} | **{r['speed-up']:.2f}x** | "
              f"{r['max diff']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
