"""Training throughput (images/s) and predict latency: U-Net vs the earlier encoder-decoder, side by side.

Each configuration runs the real training step (G and, with --lambda-adv > 0, the PatchGAN D)
on random 128 px batches. Rounds alternate between the implementations so that
background load hits both alike; the median round is reported, with the ratio.

    python -m benchmarks.bench_segmentation --threads 1 --steps 20 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from segmentation.losses import discriminator_loss, gan_loss
from common import pick_device
from segmentation.model import SegmentationModel
from segmentation.networks import GeneratorConfig, PatchDiscriminator, build_generator


class Step:
    """One pix2pix optimisation step, as in segmentation.train."""

    def __init__(self, gcfg: GeneratorConfig, ndf: int, lambda_adv: float, batch: int, device):
        self.G = build_generator(gcfg).to(device)
        self.D = PatchDiscriminator(ndf).to(device) if lambda_adv > 0 else None
        self.opt_g = torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), 2e-4, betas=(0.5, 0.999)) if self.D else None
        self.lambda_adv = lambda_adv
        s = gcfg.image_size
        self.x = torch.randn(batch, 3, s, s, device=device)
        self.y = torch.randn(batch, 3, s, s, device=device).clamp(-1, 1)
        self.batch = batch

    def __call__(self) -> None:
        fake = self.G(self.x)
        g_adv = 0.0
        if self.D is not None:
            logits = self.D(torch.cat([self.x, self.x]), torch.cat([self.y, fake.detach()]))
            loss_d, _, _ = discriminator_loss(*logits.chunk(2))
            self.opt_d.zero_grad()
            loss_d.backward()
            self.opt_d.step()
            self.D.requires_grad_(False)
            g_adv = gan_loss(self.D(self.x, fake), True)
            self.D.requires_grad_(True)
        loss = 20.0 * (fake - self.y).abs().mean() + self.lambda_adv * g_adv
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20, help="training steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ndf", type=int, default=32)
    p.add_argument("--lambda-adv", type=float, default=1.0)
    p.add_argument("--device", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else pick_device()
    torch.manual_seed(0)
    impls = {
        "fcn": GeneratorConfig(arch="fcn", image_size=args.size),
        "unet16": GeneratorConfig(arch="unet", ngf=16, depth=7, image_size=args.size),
    }
    steps = {k: Step(c, args.ndf, args.lambda_adv, args.batch, device) for k, c in impls.items()}
    for step in steps.values():
        step()  # warm-up
    rates = {k: [] for k in impls}
    for _ in range(args.rounds):
        for name, step in steps.items():
            _sync(device)
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            _sync(device)
            rates[name].append(args.steps * args.batch / (time.perf_counter() - t))
    photo = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    latency = {}
    for name, step in steps.items():
        model = SegmentationModel(step.G, args.size, device=device)
        model.predict(photo)
        times = []
        for _ in range(args.rounds * 5):
            t = time.perf_counter()
            model.predict(photo)
            times.append(time.perf_counter() - t)
        latency[name] = 1000 * statistics.median(times)
    print(f"device {device}, threads {args.threads}, {args.size} px, batch {args.batch}, "
          f"ndf {args.ndf}, lambda_adv {args.lambda_adv}")
    for name in impls:
        params = sum(p.numel() for p in steps[name].G.parameters())
        print(f"{name:8s} G params {params / 1e6:6.2f} M  train {statistics.median(rates[name]):7.2f} img/s"
              f"  predict 256 px {latency[name]:7.1f} ms")
    ratio = statistics.median(rates["fcn"]) / statistics.median(rates["unet16"])
    print(f"training throughput ratio fcn / unet16: {ratio:.2f}x;"
          f" predict latency ratio unet16 / fcn: {latency['unet16'] / latency['fcn']:.2f}x")


if __name__ == "__main__":
    main()
