"""A uniform model soup: the weight average of several fine-tunes of one parent run (Wortsman et al., ICML 2022).

Fine-tunes that start from the same weights stay in one basin of the loss, so the average of
their weights is a network too, and often a better one than each: the gain of an ensemble at
the size and predict time of one model. Networks trained from different starts do not average;
the soup's validation score shows it.

    python -m segmentation.soup --data ../shared/datasets/facades/train \\
        --runs runs/i_lovasz_aug_drop runs/m_seed1 runs/n_seed2 --out runs/soup

Writes ``OUT/best.safetensors`` + ``best.json`` (the ingredients and the scores in its meta), so
``ship`` and ``report`` take the soup like any run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .checkpoint import load_segmenter, save_segmenter
from .data import list_pairs, split_files
from .evaluate import evaluate
from .model import SegmentationModel
from .networks import build_segmenter

SHAPE_KEYS = ("arch", "ngf", "depth", "norm", "head", "num_classes", "image_size")  # Dropout may differ: no weights.


def average_weights(paths: list[Path]):
    """(soup, config, ingredients): the segmenter whose weights are the mean of the checkpoints at ``paths``,
    and each checkpoint as loaded, a (segmenter, info) pair."""
    if len(paths) < 2:
        raise ValueError(f"a soup needs at least two checkpoints, got {len(paths)}")
    loaded = [load_segmenter(p) for p in paths]
    first = loaded[0][1].to_dict()
    for path, (_, config, _) in zip(paths[1:], loaded[1:]):
        other = config.to_dict()
        differ = [f"{k} {first[k]} vs {other[k]}" for k in SHAPE_KEYS if first[k] != other[k]]
        if differ:
            raise ValueError(f"{path} is not the same network as {paths[0]}: {', '.join(differ)}")
    states = [s.state_dict() for s, _, _ in loaded]
    mean = {k: torch.stack([s[k].float() for s in states]).mean(0) if v.is_floating_point() else v
            for k, v in states[0].items()}
    soup = build_segmenter(loaded[0][1])
    soup.load_state_dict(mean)
    return soup.eval(), loaded[0][1], [(s, info) for s, _, info in loaded]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the paired folder the runs trained on")
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="run folders (their best.safetensors)")
    p.add_argument("--out", type=Path, required=True, help="the soup's folder")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--flip-tta", action="store_true", help="score with flip test-time averaging")
    args = p.parse_args(argv)

    val = split_files(list_pairs(args.data), args.val_fraction, args.split_seed)[1]
    paths = [run / "best.safetensors" for run in args.runs]
    soup, config, ingredients = average_weights(paths)

    def score(net):
        return evaluate(SegmentationModel(net, config.image_size, device="cpu", head=config.head,
                                          flip_tta=args.flip_tta), val)

    names = [run.name for run in args.runs]
    ingredient_miou = {n: score(net).mean_iou for n, (net, _) in zip(names, ingredients)}
    scores = score(soup)
    iters = {n: int(info["meta"].get("iter", 0)) for n, (_, info) in zip(names, ingredients)}
    meta = {"iter": max(iters.values()), "val": scores.summary(), "class_iou": scores.class_iou,
            "flip_tta": args.flip_tta, "soup_of": iters, "ingredient_val_miou": ingredient_miou}
    save_segmenter(args.out / "best.safetensors", soup, config, meta)
    for name, m in ingredient_miou.items():
        print(f"{name:<24} val mIoU {m:.4f}")
    print(f"{'soup':<24} val mIoU {scores.mean_iou:.4f}  -> {args.out / 'best.safetensors'}")


if __name__ == "__main__":
    main()
