"""What does a trained PatchGAN look at? Its verdict on three label maps of each validation photo.

    python -m segmentation.probe_discriminator --data ../shared/datasets/facades/train --run runs/d_l1_adv20

For a GAN run's ``last.pt`` (G and D), on the validation pairs, it prints the discriminator's mean
probability "real" for: the true one-hot map; G's softmax map (what D is trained to call fake); and G's
own prediction made one-hot (argmax), which has G's layout but the real maps' hardness. If the last one
scores as real as the truth, D separates soft from hard maps, not right from wrong layouts, and its
gradient to G says "be more confident", not "put the window there".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from common import state_dict_problems

from .checkpoint import load_state
from .data import list_pairs, read_pair, resize, split_files, to_tensor
from .networks import PatchDiscriminator, build_segmenter
from .palette import colours_to_classes
from .train import TrainConfig


def load_gan(path: Path) -> tuple[torch.nn.Module, PatchDiscriminator, TrainConfig, int]:
    """(G, D, the run's TrainConfig, its iteration) of a GAN run's resume state, both nets in eval mode.

    Read by `checkpoint.load_state` (weights only, no code runs); each net's keys and shapes are checked."""
    state = load_state(path)
    if "discriminator" not in state:
        raise ValueError(f"{path}: not a GAN run (it holds no discriminator)")
    cfg = TrainConfig(**{**json.loads(state["config"]), "data": "", "out": ""})
    scfg = cfg.segmenter()
    G = build_segmenter(scfg)
    D = PatchDiscriminator(cfg.ndf, 3, cfg.norm, in_channels=scfg.in_channels + scfg.out_channels)
    for name, net, weights in (("generator", G, state["generator"]), ("discriminator", D, state["discriminator"])):
        problems = state_dict_problems(net.state_dict(), weights)
        if problems:
            raise ValueError(f"{path}: the {name} does not fit the run's config: " + "; ".join(problems))
        net.load_state_dict(weights)
    return G.eval(), D.eval(), cfg, int(state["iter"])


@torch.no_grad()
def probe(run: Path, val: list[Path]) -> dict[str, float]:
    """The run's iteration, mean P(real) per patch for truth, softmax and argmax maps, and G's mean
    top-class probability."""
    G, D, cfg, it = load_gan(run / "last.pt")
    sums = {"iter": float(it), "truth": 0.0, "softmax": 0.0, "argmax": 0.0, "top_probability": 0.0}
    for f in val:
        photo, labels = read_pair(f)
        x = to_tensor(resize(photo, cfg.image_size))[None]
        truth = torch.from_numpy(colours_to_classes(resize(labels, cfg.image_size, nearest=True))).long()[None]
        p = G(x).float().softmax(1)
        maps = {"truth": F.one_hot(truth, p.shape[1]).permute(0, 3, 1, 2).float(), "softmax": p,
                "argmax": F.one_hot(p.argmax(1), p.shape[1]).permute(0, 3, 1, 2).float()}
        for name, y in maps.items():
            sums[name] += D(x, y).sigmoid().mean().item() / len(val)
        sums["top_probability"] += p.max(1).values.mean().item() / len(val)
    return sums


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the paired folder the run trained on")
    p.add_argument("--run", type=Path, nargs="+", required=True, help="GAN run folders (with last.pt)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    args = p.parse_args(argv)
    val = split_files(list_pairs(args.data), args.val_fraction, args.split_seed)[1]
    print("| run | iter | D(real one-hot) | D(G softmax) | D(G argmax, one-hot) | G's mean top probability |")
    print("|---|---|---|---|---|---|")
    for run in args.run:
        s = probe(run, val)
        print(f"| {run.name} | {s['iter']:.0f} | {s['truth']:.3f} | {s['softmax']:.3f} | {s['argmax']:.3f} | "
              f"{s['top_probability']:.3f} |")


if __name__ == "__main__":
    main()
