"""Ship a painter run (``--direction BtoA``) as the app's painter: fp16 ``segmentation/weights/painter.safetensors``
+ json, with its FCN-score on the validation split in the json's meta.

    python -m segmentation.ship_painter runs/painter --data ../shared/datasets/facades/train
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .data import list_pairs, split_files
from .fcn_score import fcn_score, read_pairs
from .model import load_model
from .painter import PAINTER_WEIGHTS, Painter, painter_checkpoint
from .ship import save_shipped


def ship_painter(run: Path, val: list[Path], path: Path = PAINTER_WEIGHTS) -> dict:
    """Score the run's best painter (seed 0) with the default segmenter and write it as fp16 to ``path``."""
    generator, config, info = painter_checkpoint(run / "best.safetensors")
    painter = Painter(generator, config.image_size, device="cpu")
    score = fcn_score(lambda classes, _: painter.paint(classes), load_model(), read_pairs(val))
    meta = {**info["meta"], "run": run.name, "fcn_score_seed0": score.summary()}
    save_shipped(path, generator, config, meta)
    return meta["fcn_score_seed0"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="the painter's run folder (its best.safetensors is shipped)")
    p.add_argument("--data", type=Path, required=True, help="the paired folder the run trained on")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    args = p.parse_args(argv)
    val = split_files(list_pairs(args.data), args.val_fraction, args.split_seed)[1]
    score = ship_painter(args.run, val)
    print(f"shipped {args.run} as {PAINTER_WEIGHTS}: FCN mIoU {score['mean_iou']:.4f} "
          f"(pixel acc {score['pixel_accuracy']:.4f})")


if __name__ == "__main__":
    main()
