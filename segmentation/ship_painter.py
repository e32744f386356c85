"""Ship a painter run (``--direction BtoA``) as the app's painter: fp16 ``segmentation/weights/painter.safetensors``
+ json, with its FCN-score on the validation split in the json's meta.

    python -m segmentation.ship_painter runs/painter --data ../shared/datasets/facades/train
    python -m segmentation.ship_painter runs/painter_sem --checkpoint last --data ../shared/datasets/facades/train

``--checkpoint best`` ships the run's best validation checkpoint; ``last`` its final state (``last.pt``), which
was not chosen on the validation pairs the FCN-score is reported on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .checkpoint import load_state
from .data import list_pairs, split_files
from .fcn_score import fcn_score, read_pairs
from .model import load_model
from .networks import build_segmenter
from .painter import PAINTER_WEIGHTS, Painter, check_painter, painter_checkpoint
from .ship import save_shipped
from .train import TrainConfig


def run_painter(run: Path, checkpoint: str = "best"):
    """(generator, config, meta) of a painter run's best checkpoint or of its last resume state."""
    if checkpoint == "best":
        generator, config, info = painter_checkpoint(run / "best.safetensors")
        return generator, config, info["meta"]
    state = load_state(run / "last.pt")
    train_config = json.loads(state["config"])
    config = TrainConfig(**train_config).segmenter()
    check_painter(config, run / "last.pt")
    generator = build_segmenter(config)
    generator.load_state_dict(state["generator"])
    val = json.loads(state["val"])
    return generator.eval(), config, {"iter": int(state["iter"]), "val": val[-1] if val else None,
                                      "train_config": train_config}


def ship_painter(run: Path, val: list[Path], path: Path = PAINTER_WEIGHTS, checkpoint: str = "best") -> dict:
    """Score the run's painter (seed 0) with the default segmenter and write it as fp16 to ``path``."""
    generator, config, meta = run_painter(run, checkpoint)
    painter = Painter(generator, config.image_size, device="cpu")
    score = fcn_score(lambda classes, _: painter.paint(classes), load_model(), read_pairs(val))
    meta = {**meta, "run": run.name, "checkpoint": checkpoint, "fcn_score_seed0": score.summary()}
    save_shipped(path, generator, config, meta)
    return meta["fcn_score_seed0"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="the painter's run folder")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="best.safetensors (best validation FCN-score) or last.pt (the run's end)")
    p.add_argument("--data", type=Path, required=True, help="the paired folder the run trained on")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    args = p.parse_args(argv)
    val = split_files(list_pairs(args.data), args.val_fraction, args.split_seed)[1]
    score = ship_painter(args.run, val, checkpoint=args.checkpoint)
    print(f"shipped {args.run} as {PAINTER_WEIGHTS}: FCN mIoU {score['mean_iou']:.4f} "
          f"(pixel acc {score['pixel_accuracy']:.4f})")


if __name__ == "__main__":
    main()
