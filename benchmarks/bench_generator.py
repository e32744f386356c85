"""Generator speed: fused vs unfused modulated convolution, side by side in one run.

For each architecture (the public DragGAN configs: channel_base 32768, channel_max 512, 8-layer
mapping, z/w 512) with random weights, batch 1, it times
- `forward`: `G.synthesis(ws)` under no_grad (what the app does to show a frame);
- `grad` (with --grad): forward to the 128 px features + image and backward to ws (one DragGAN step's
  generator work), where the unfused path avoids per-sample weight gradients.
Each measurement is the median of --repeats runs after --warmup runs; the two implementations
alternate run by run so that load on a shared machine hits both alike. Prints a Markdown table,
plus parameter count and fp32 checkpoint size per architecture.

    python -m benchmarks.bench_generator --device cpu --resolutions 256 512 1024 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from common import pick_device
from draggan.networks import Generator, GeneratorConfig


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def make_step(G: Generator, ws: torch.Tensor, fused: bool, grad: bool):
    if not grad:
        def step():
            with torch.no_grad():
                G.synthesis(ws, fused_modconv=fused)
        return step

    def step():
        w = ws.detach().requires_grad_(True)
        img, feats = G.synthesis(w, return_features=True, fused_modconv=fused)
        (img.square().mean() + feats[5].square().mean()).backward()
    return step


def time_pair(steps: dict, device: torch.device, warmup: int, repeats: int) -> dict[str, float]:
    """Median milliseconds per step, the steps interleaved run by run."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    synchronize(device)
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            synchronize(device)
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--grad", action="store_true", help="also time forward+backward to ws")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    torch.manual_seed(0)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch 1, median of {args.repeats} after {args.warmup} warm-up")
    print("| resolution | parameters | fp32 size | mode | fused ms | unfused ms | unfused / fused |")
    print("|---|---|---|---|---|---|---|")
    for res in args.resolutions:
        G = Generator(GeneratorConfig(img_resolution=res)).eval().requires_grad_(False).to(device)
        numel = sum(t.numel() for t in G.state_dict().values())
        ws = G.mapping(torch.randn(1, G.z_dim, device=device), truncation_psi=0.7)
        modes = ["forward"] + (["grad"] if args.grad else [])
        for mode in modes:
            steps = {fused: make_step(G, ws, fused, mode == "grad") for fused in (True, False)}
            ms = time_pair(steps, device, args.warmup, args.repeats)
            print(f"| {res} | {numel / 1e6:.2f} M | {numel * 4 / 1e6:.1f} MB | {mode} | {ms[True]:.1f} | "
                  f"{ms[False]:.1f} | {ms[False] / ms[True]:.2f} |", flush=True)
        del G


if __name__ == "__main__":
    main()
