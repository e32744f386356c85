"""How real a generator's facades look, judged offline by our own segmenter (nothing from the Hub).

FID needs an Inception network we cannot download. The shipped default segmenter (`ce`) knows facades instead:
each image becomes its 13 class probabilities average-pooled to 4x4 (208 numbers: which parts sit where), and

- `frechet` is the Frechet distance between the Gaussians of those vectors for two image sets (FID's formula);
- `class_share` is the total-variation distance between the two sets' mean class shares (0: same mix of wall,
  window, door, ...; 1: disjoint);
- `spread` is how varied the first set is beside the second: the square root of the ratio of their covariance
  traces (1: as varied as the photos; near 0: one image over and over). The Frechet figure alone forgave a
  generator that drew one facade for every z.

    python -m draggan.realism --model draggan/weights/facades-128.safetensors   # beside the baselines

prints the model beside the baselines that give the numbers a scale: real training photos (the floor), the
validation photos split in halves, pixel-shuffled photos and the untrained demo generator.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from segmentation import load_model
from segmentation.data import list_pairs, read_pair, split_files

from .networks import Generator, GeneratorConfig

JUDGE = "ce"          # The shipped default segmenter; the projected discriminator reads the other one.
JUDGE_SIZE = 256      # The judge's input size (its training resolution).
POOL = 4              # Class probabilities are pooled to POOL x POOL cells per image.
FACADES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "facades" / "train"
UNTRAINED_SEED = 2023  # Fixed init of the untrained generator: the same "model" on every machine.


@dataclass(frozen=True)
class Realism:
    frechet: float        # Frechet distance of the pooled class probabilities.
    class_share: float    # Total-variation distance of the mean class shares, in [0, 1].
    spread: float         # sqrt(tr Cov(set) / tr Cov(reference)): 1 = as varied as the reference.


class Judge:
    """The frozen default segmenter as a feature extractor: images in [-1, 1] -> pooled class probabilities."""

    def __init__(self, name: str = JUDGE):
        self.net = load_model(name, device="cpu").segmenter.eval().requires_grad_(False)

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
        """(N, 13, POOL, POOL) pooled class probabilities of (N, 3, H, W) images in [-1, 1]."""
        out = []
        for chunk in images.split(batch):
            x = F.interpolate(chunk.float(), size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear", align_corners=False)
            out.append(F.adaptive_avg_pool2d(self.net(x).softmax(1), POOL))
        return torch.cat(out)


def compare(probs: torch.Tensor, reference: torch.Tensor) -> Realism:
    """Frechet and class-share distances between two sets of pooled class probabilities, and the first's spread."""
    a, b = probs.flatten(1).double().numpy(), reference.flatten(1).double().numpy()
    shares_a, shares_b = probs.mean((0, 2, 3)).double().numpy(), reference.mean((0, 2, 3)).double().numpy()
    spread = np.sqrt(a.var(0, ddof=1).sum() / b.var(0, ddof=1).sum())
    return Realism(frechet_distance(a, b), float(0.5 * np.abs(shares_a - shares_b).sum()), float(spread))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|² + tr(Ca + Cb - 2 sqrt(Ca Cb)) of two (N, D) samples (N may be below D)."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a Frechet distance needs at least 2 vectors per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def read_photos(files: list[Path], size: int) -> torch.Tensor:
    """The photo halves of side-by-side pairs, resized to `size`, as (N, 3, size, size) in [-1, 1]."""
    photos = [torch.from_numpy(np.ascontiguousarray(read_pair(f)[0])).permute(2, 0, 1) for f in files]
    x = torch.stack(photos).float().div(127.5).sub(1)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def validation_photos(folder: str | Path = FACADES, size: int = 128) -> torch.Tensor:
    """The held-out photos (the split the segmenters validate on) and their mirror images, at `size`."""
    _, val = split_files(list_pairs(folder))
    x = read_photos(val, size)
    return torch.cat([x, x.flip(3)])


@torch.no_grad()
def generator_samples(G, n: int, seed: int = 0, truncation_psi: float = 1.0, batch: int = 16) -> torch.Tensor:
    """`n` images of G from seeded z, (N, 3, R, R) clamped to [-1, 1]."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    device = next(G.parameters()).device
    return torch.cat([G(chunk.to(device), truncation_psi).clamp(-1, 1).cpu() for chunk in z.split(batch)])


def shuffled_pixels(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Each image's pixels in a random order: the right colours, no structure."""
    g = torch.Generator().manual_seed(seed)
    flat = images.flatten(2)
    return torch.stack([f[:, torch.randperm(f.shape[1], generator=g)] for f in flat]).view_as(images)


def untrained_generator() -> Generator:
    """The app's former offline demo: a 128 px StyleGAN2 with seeded random weights, drawing colour blobs. The
    floor every realism and inversion figure of a trained model is read against (and a cheap test model)."""
    config = GeneratorConfig(z_dim=64, w_dim=64, img_resolution=128, mapping_kwargs={"num_layers": 2},
                             synthesis_kwargs={"channel_base": 2048, "channel_max": 32, "conv_clamp": 256})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_SEED)
        return Generator(config).eval().requires_grad_(False)


def baselines(judge: Judge, ref: torch.Tensor, size: int, folder: str | Path = FACADES, n: int = 200,
              seed: int = 0) -> dict[str, Realism]:
    """The scale for a model's figure against `ref`, the reference photos' probabilities (`validation_photos`):
    real photos at `size`, pixel-shuffled photos, the untrained generator."""
    train, _ = split_files(list_pairs(folder))
    picked = [train[i] for i in np.random.default_rng(seed).permutation(len(train))[:n]]
    real = read_photos(picked, size)
    half = len(ref) // 4  # The validation photos are followed by their mirror images: split by photo.
    halves = compare(torch.cat([ref[:half], ref[2 * half:3 * half]]), torch.cat([ref[half:2 * half], ref[3 * half:]]))
    return {"real training photos": compare(judge.probabilities(real), ref),
            "validation photos, half vs half": halves,
            "pixel-shuffled photos": compare(judge.probabilities(shuffled_pixels(real, seed)), ref),
            "untrained demo generator": compare(judge.probabilities(
                generator_samples(untrained_generator(), n, seed)), ref)}


def main(argv: list[str] | None = None) -> None:
    from .loading import load_generator

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", default=[], help="generator file or registry name (repeatable)")
    p.add_argument("--data", default=str(FACADES), help="side-by-side facades folder (default: %(default)s)")
    p.add_argument("--samples", type=int, default=200, help="images per generator (default: %(default)s)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi of the samples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples' latents (default: %(default)s)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    judge = Judge()
    reference = validation_photos(args.data)
    ref = judge.probabilities(reference)
    rows = {}
    for name in args.model:
        G = load_generator(name, device="cpu").eval()
        samples = F.interpolate(generator_samples(G, args.samples, seed=args.seed, truncation_psi=args.psi),
                                size=reference.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
        rows[name] = compare(judge.probabilities(samples), ref)
    rows.update(baselines(judge, ref, reference.shape[-1], args.data, args.samples))
    print(f"Against {len(reference)} validation photos (the {len(reference) // 2} held out, and mirrored), "
          f"judged by the '{JUDGE}' segmenter:")
    print(f"| images | Frechet (pooled class probabilities) | class-share distance | spread |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r.frechet:.3f} | {r.class_share:.3f} | {r.spread:.2f} |")


if __name__ == "__main__":
    main()
