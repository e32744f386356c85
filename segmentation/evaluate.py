"""Score a generator on a paired folder: pixel accuracy, mean class accuracy, per-class IoU, mIoU.

Predictions and ground truth are both snapped to the nearest palette colour, at
the ground truth's own resolution (the model resizes inside ``predict``).

    python -m segmentation.evaluate --data ../shared/datasets/facades/train --split val --model cgan
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .data import list_pairs, read_pair, split_files
from .metrics import Scores, confusion, scores
from .model import SegmentationModel, load_model
from .palette import colours_to_classes


def evaluate(model: SegmentationModel, files: list[Path], direction: str = "AtoB") -> Scores:
    """Scores of ``model`` over ``files`` (side-by-side pairs)."""
    if not files:
        raise ValueError("evaluate needs at least one file")
    n = len(model.palette)
    conf = np.zeros((n, n), dtype=np.int64)
    for f in files:
        a, b = read_pair(f)
        photo, labels = (a, b) if direction == "AtoB" else (b, a)
        truth = colours_to_classes(labels, model.palette)
        conf += confusion(truth, model.predict_classes(photo), n)
    return scores(conf)


def format_scores(s: Scores, class_names) -> str:
    lines = [f"pixel accuracy      {s.pixel_accuracy:.4f}",
             f"mean class accuracy {s.mean_class_accuracy:.4f}",
             f"mIoU                {s.mean_iou:.4f}",
             "class         IoU     acc"]
    for name, iou, acc in zip(class_names, s.class_iou, s.class_accuracy):
        lines.append(f"{name:<12} {iou:6.3f}  {acc:6.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Scores:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="a shipped model name (segmentation.list_models() lists them; default: the default "
                        "model) or a .safetensors path (json beside it)")
    p.add_argument("--data", type=Path, required=True, help="side-by-side paired folder")
    p.add_argument("--split", choices=("val", "train", "all"), default="val")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB")
    p.add_argument("--device", default=None, help="cpu / cuda / mps; default: the best available")
    p.add_argument("--scale", choices=("fixed", "native"), default=None,
                   help="predict scale; default: the checkpoint's recommendation")
    p.add_argument("--flip-tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average each prediction with its mirror image; default: the checkpoint's recommendation")
    p.add_argument("--json", type=Path, default=None, help="also write the scores here")
    args = p.parse_args(argv)

    files = list_pairs(args.data)
    train, val = split_files(files, args.val_fraction, args.split_seed)
    chosen = {"val": val, "train": train, "all": files}[args.split]
    model = load_model(args.model, device=args.device, scale=args.scale, flip_tta=args.flip_tta)
    s = evaluate(model, chosen, args.direction)
    print(f"{args.model or 'default model'} (scale {model.scale}, flip TTA {model.flip_tta}) "
          f"on {len(chosen)} {args.split} pairs of {args.data}")
    print(format_scores(s, model.class_names))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"split": args.split, "n": len(chosen), **s.__dict__}, indent=2))
    return s


if __name__ == "__main__":
    main()
