"""Painter speed: `paint` (labels -> photo) at 256², ours beside pix2pix's own generator size, side by side.

Both are `segmentation.Painter`s on the same label maps, so snapping, one-hot, dropout noise and the
uint8 conversion are timed too: ours is the shipped painter (U-Net, ngf 32, 7 down-samplings, 10 M
parameters); pix2pix's facades generator is `unet_256` (ngf 64, 8 down-samplings, 54 M), here with random
weights (speed does not depend on them). Rounds alternate between the two so background load hits both
alike; the median is reported, with the ratio. G+D training throughput is in `runs/<painter>/history.json`.

    python -m benchmarks.bench_paint --threads 2 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from segmentation import PALETTE, Painter, load_painter
from segmentation.networks import SegmenterConfig, build_segmenter
from segmentation.painter import PAINTER_WEIGHTS

PIX2PIX = SegmenterConfig("unet", ngf=64, depth=8, dropout=0.5, image_size=256, head="rgb", direction="BtoA")


def label_maps(n: int, size: int) -> list[np.ndarray]:
    """Facade-like colour maps: a facade with rows of windows, one per seed."""
    maps = []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        classes = np.full((size, size), 2)
        for y in range(16, size - 40, 48):
            for x in range(int(rng.integers(8, 24)), size - 30, 40):
                classes[y:y + 30, x:x + 20] = 3
        maps.append(PALETTE[classes])
    return maps


def milliseconds(painter: Painter, maps: list[np.ndarray]) -> float:
    t = time.perf_counter()
    for i, labels in enumerate(maps):
        painter.paint(labels, seed=i)
    return 1000 * (time.perf_counter() - t) / len(maps)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--maps", type=int, default=8, help="label maps painted per round")
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    painters = {"ours (shipped)": load_painter(PAINTER_WEIGHTS, device="cpu"),
                "pix2pix unet_256": Painter(build_segmenter(PIX2PIX), 256, device="cpu")}
    maps = label_maps(args.maps, args.size)
    for painter in painters.values():
        milliseconds(painter, maps[:2])  # warm-up
    times = {name: [] for name in painters}
    for _ in range(args.rounds):
        for name, painter in painters.items():
            times[name].append(milliseconds(painter, maps))
    base = statistics.median(times["pix2pix unet_256"])
    print(f"paint at {args.size}², {args.threads} threads, median of {args.rounds} rounds of {args.maps} maps")
    print("| painter | parameters | ms per paint | speed-up |\n|---|---|---|---|")
    for name, painter in painters.items():
        ms = statistics.median(times[name])
        params = sum(t.numel() for t in painter.generator.parameters()) / 1e6
        print(f"| {name} | {params:.1f} M | {ms:.1f} | {base / ms:.2f}× |")


if __name__ == "__main__":
    main()
