"""The ToRGB fit's ridge: PSNR against how much more an edit moves the fitted image than G's, per ridge.

A drag changes the latent; with the fitted ToRGB layers the image should change about as much as G's own
image does, not be amplified by large fitted weights. "Edit ratio" is |G_fit(w + d) - G_fit(w)| / |G(w + d) -
G(w)| for a random latent step d of 0.1 per coordinate (mean of 3 steps), images clamped to 8-bit range.
Targets: two real aligned faces on the tiny256 golden generator, and (`--generated 512`) the 512 px random
generator's own image (bench_invert.py's target). The default inversion otherwise.

    python benchmarks/bench_torgb_ridge.py --generated 512
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_drag import build_generator  # noqa: E402
from benchmarks.bench_invert import GOLDEN, generator_target  # noqa: E402
from draggan import invert, load_generator  # noqa: E402
from draggan.inversion import TORGB_RIDGE  # noqa: E402
from landmarks import align_photo  # noqa: E402
from common.images import read_rgb  # noqa: E402

FACES = REPO.parent / "shared" / "fixtures" / "faces"
RIDGES = (3e-4, 1e-3, 3e-3, 1e-2)


def edit_ratio(G, result, seeds=range(3), scale: float = 0.1) -> float:
    ratios = []
    for seed in seeds:
        step = scale * torch.randn(result.ws.shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            moved = [(g.synthesis(result.ws + step).clamp(-1, 1) - g.synthesis(result.ws).clamp(-1, 1)).norm()
                     for g in (result.overlay.on(G), G)]
        ratios.append(float(moved[0] / moved[1]))
    return sum(ratios) / len(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generated", type=int, nargs="*", default=[], help="random generators of these sizes")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    tiny = load_generator(GOLDEN)
    rows = [(f"{name} on tiny256", tiny, align_photo(read_rgb(FACES / name), 256).image)
            for name in ("obama.jpg", "biden.jpg")]
    for res in args.generated:
        G = build_generator(res, "cpu")
        rows.append((f"generated, {res} px random G", G, generator_target(G)))
    print(f"default ridge {TORGB_RIDGE:g}\n| target | ridge | projection dB | fitted dB | edit ratio |\n|---|---|---|---|---|")
    for name, G, target in rows:
        for ridge in RIDGES:
            result = invert(G, target, loss="pixel", torgb_ridge=ridge)
            print(f"| {name} | {ridge:g} | {result.projection_psnr:.2f} | {result.psnr:.2f} | "
                  f"{edit_ratio(G, result):.2f} |", flush=True)


if __name__ == "__main__":
    main()
