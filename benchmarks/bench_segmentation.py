"""Training throughput (G+D images/s) under CPU settings, side by side, and predict latency.

Every variant runs the real ``segmentation.train.train_step`` (class head, class L1 + PatchGAN)
on random photos and label maps. Rounds alternate between the variants so that background
load hits all alike; the median round is reported, with the ratio to the first (baseline)
variant. Variants: fp32 vs bf16 autocast, channels-last, batch size, threads. Data loading
is timed separately (one augmented pair, pix2pix 286 -> crop), to compare with a step's time.

    python -m benchmarks.bench_segmentation --ngf 16 --ndf 16 --crop 128 --steps 8 --rounds 3
    python -m benchmarks.bench_segmentation --direction BtoA --ngf 32 --ndf 64 --crop 256 \
        --variants "bf16 b4" "bf16 b4 2 threads"      # the painter (labels -> photo, L1 + GAN)
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from segmentation.data import PairedConfig, PairedFolder, resize
from segmentation.model import SegmentationModel
from segmentation.palette import PALETTE
from segmentation.train import TrainConfig, _build_nets, train_step

VARIANTS = {  # name: (TrainConfig changes, threads)
    "fp32 b1": ({}, 1),
    "bf16 b1": ({"bf16": True}, 1),
    "fp32 b1 channels-last": ({"channels_last": True}, 1),
    "fp32 b4": ({"batch_size": 4}, 1),
    "bf16 b4": ({"bf16": True, "batch_size": 4}, 1),
    "bf16 b8": ({"bf16": True, "batch_size": 8}, 1),
    "bf16 b4 2 threads": ({"bf16": True, "batch_size": 4}, 2),
}


class Variant:
    def __init__(self, cfg: TrainConfig, threads: int):
        torch.manual_seed(0)
        self.cfg, self.threads = cfg, threads
        self.scfg = cfg.segmenter()
        self.nets = _build_nets(cfg, self.scfg, torch.device("cpu"), distributed=False)
        b, s = cfg.batch_size, cfg.crop_size
        photo, classes = torch.rand(b, 3, s, s) * 2 - 1, torch.randint(0, len(PALETTE), (b, s, s))
        self.x, self.target = (photo, classes) if cfg.direction == "AtoB" else (classes, photo)

    def images_per_s(self, steps: int) -> float:
        torch.set_num_threads(self.threads)
        t = time.perf_counter()
        for _ in range(steps):
            train_step(self.cfg, self.nets, self.x, self.target)
        return steps * self.cfg.batch_size / (time.perf_counter() - t)


def data_loading_ms(crop: int, n: int = 20) -> tuple[float, float]:
    """Median ms to produce one augmented training pair: (resizing 256 -> 286 per item, as before;
    resized once at load, as now: crop, flip and tensors only)."""
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(4)]
    labels = [rng.integers(0, len(PALETTE), (256, 256), dtype=np.uint8) for _ in range(4)]
    ds = PairedFolder.__new__(PairedFolder)
    ds.config, ds.train, ds.palette, ds.rng = PairedConfig(load_size=286, crop_size=crop), True, PALETTE, rng
    ds.pairs = [(resize(x, 286), resize(y, 286, nearest=True)) for x, y in zip(photos, labels)]
    before, after = [], []
    for i in range(n):
        t = time.perf_counter()
        resize(photos[i % 4], 286), resize(labels[i % 4], 286, nearest=True)
        ds[i % 4]
        t1 = time.perf_counter()
        ds[i % 4]
        after.append(time.perf_counter() - t1)
        before.append(t1 - t)
    return 1000 * statistics.median(before), 1000 * statistics.median(after)


def predict_ms(model: SegmentationModel, rounds: int) -> float:
    photo = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    model.predict(photo)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        model.predict(photo)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ngf", type=int, default=16, help="U-Net width")
    p.add_argument("--ndf", type=int, default=16, help="PatchGAN width")
    p.add_argument("--crop", type=int, default=128, help="training crop size")
    p.add_argument("--steps", type=int, default=8, help="training steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), help=f"subset of {list(VARIANTS)}")
    p.add_argument("--predict-threads", type=int, default=1)
    p.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB",
                   help="AtoB: the segmenter (class head); BtoA: the painter (rgb head, L1 + GAN)")
    args = p.parse_args()
    head = "class" if args.direction == "AtoB" else "rgb"
    base = TrainConfig(data="", out="", ngf=args.ngf, ndf=args.ndf, crop_size=args.crop,
                       direction=args.direction, head=head)
    variants = {name: Variant(replace(base, **VARIANTS[name][0]), VARIANTS[name][1]) for name in args.variants}
    for v in variants.values():
        v.images_per_s(1)  # warm-up
    rates = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, v in variants.items():
            rates[name].append(v.images_per_s(max(1, args.steps // v.cfg.batch_size)))
    first = statistics.median(rates[args.variants[0]])
    print(f"G ngf {args.ngf} + D ndf {args.ndf}, {args.crop} px crops, {args.direction} ({head} head), L1 + GAN; "
          f"median of {args.rounds} rounds")
    for name in variants:
        r = statistics.median(rates[name])
        print(f"{name:24s} {r:7.2f} img/s  ({r / first:5.2f}x {args.variants[0]})")
    before, after = data_loading_ms(args.crop)
    print(f"data loading per augmented pair: {before:.1f} ms resizing per item (before), "
          f"{after:.2f} ms resized once at load (now): {before / after:.0f}x")
    if args.direction == "BtoA":
        return  # painting speed: benchmarks/bench_paint.py
    torch.set_num_threads(args.predict_threads)
    g = variants[args.variants[0]].nets.G
    for tta in (False, True):
        model = SegmentationModel(g, 256, device="cpu", flip_tta=tta)
        print(f"predict 256x256 photo, {args.predict_threads} threads, flip TTA {tta}: "
              f"{predict_ms(model, args.rounds * 5):.1f} ms")


if __name__ == "__main__":
    main()
