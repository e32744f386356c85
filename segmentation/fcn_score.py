"""pix2pix's FCN-score for a painter: segment each painted photo and score it against the map it came from.

A photo that the segmenter reads back as its own label map is a plausible facade for those labels. The
same score for the real photos is the ceiling a perfect painter would share; a flat painter (each class
filled with its mean training colour) is the floor. The texture figure is the mean gradient magnitude,
as a ratio to the real photos': a flat or blurry painting scores far below 1.

    python -m segmentation.fcn_score --data ../shared/datasets/facades/train --seeds 0 1 2 \\
        --json assets/painter/fcn_score.json --grid assets/painter/grid.png

A painter trained with a segmenter in its loss (``--lambda-sem``) could learn pixel patterns that segmenters
read rather than facades; ``--jpeg Q`` compresses every photo, real and painted, before it is segmented, and
``--fcn`` picks another judge, to see whether the score survives both.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .data import list_pairs, read_pair, split_files
from .metrics import Scores, confusion, scores
from .model import SegmentationModel, load_model
from .painter import load_painter
from .palette import PALETTE, colours_to_classes
from .plots import sample_grid

Render = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (class map, real photo) -> photo


@dataclass
class PaintScore:
    scores: Scores
    gradient: float  # Mean gradient magnitude of the rendered photos (grey levels per pixel).

    def summary(self) -> dict[str, float]:
        return {**self.scores.summary(), "gradient": self.gradient}


def read_pairs(files: list[Path], palette: np.ndarray = PALETTE) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, class map) of each side-by-side facades file."""
    return [(a, colours_to_classes(b, palette)) for a, b in map(read_pair, files)]


def mean_gradient(photo: np.ndarray) -> float:
    grey = np.asarray(photo, np.float32).mean(-1)
    gy, gx = np.diff(grey, axis=0)[:, :-1], np.diff(grey, axis=1)[:-1]
    return float(np.sqrt(gx ** 2 + gy ** 2).mean())


def fcn_score(render: Render, fcn: SegmentationModel, pairs) -> PaintScore:
    """FCN-score of ``render`` over (photo, class map) pairs."""
    n = len(fcn.palette)
    conf = np.zeros((n, n), dtype=np.int64)
    grads = []
    for photo, classes in pairs:
        out = render(classes, photo)
        conf += confusion(classes, fcn.predict_classes(out), n)
        grads.append(mean_gradient(out))
    return PaintScore(scores(conf), float(np.mean(grads)))


def real_photos(classes: np.ndarray, photo: np.ndarray) -> np.ndarray:
    return photo


def jpeg(render: Render, quality: int) -> Render:
    """``render``, then a JPEG round trip at ``quality``: what survives it is content, not pixel-level noise."""
    def compressed(classes: np.ndarray, photo: np.ndarray) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(render(classes, photo)).save(buffer, format="JPEG", quality=quality)
        return np.asarray(Image.open(buffer).convert("RGB"))
    return compressed


def flat_painter(train_pairs, num_classes: int = len(PALETTE)) -> Render:
    """The floor: every pixel of a class gets that class's mean colour over the training photos."""
    sums = np.zeros((num_classes, 3))
    counts = np.zeros(num_classes)
    for photo, classes in train_pairs:
        flat = classes.ravel()
        sums += np.stack([np.bincount(flat, photo[..., c].ravel(), num_classes) for c in range(3)], 1)
        counts += np.bincount(flat, minlength=num_classes)
    colours = (sums / np.maximum(counts, 1)[:, None]).round().astype(np.uint8)
    return lambda classes, photo: colours[classes]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="side-by-side facades folder")
    p.add_argument("--painter", default=None, help="painter .safetensors (default: the shipped one)")
    p.add_argument("--fcn", default=None, help="segmentation model that scores (default: the shipped default)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="variation seeds to paint with")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--jpeg", type=int, default=0, help="JPEG quality every photo is compressed at first (0 = none)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--grid", type=Path, default=None, help="labels | real | painted (each seed) for 6 photos")
    args = p.parse_args(argv)

    train_files, val_files = split_files(list_pairs(args.data), args.val_fraction, args.split_seed)
    val = read_pairs(val_files)
    fcn, painter = load_model(args.fcn), load_painter(args.painter)
    renders = {"real photos": real_photos, "flat painter": flat_painter(read_pairs(train_files)),
               **{f"painter, seed {s}": lambda c, _, s=s: painter.paint(c, s) for s in args.seeds}}
    rows = {name: fcn_score(jpeg(r, args.jpeg) if args.jpeg else r, fcn, val) for name, r in renders.items()}
    real = rows["real photos"]
    result = {}
    print(f"FCN-score on {len(val)} validation pairs of {args.data}")
    print(f"{'':<18} {'pixel acc':>9} {'class acc':>9} {'mIoU':>6} {'× real':>6} {'gradient × real':>15}")
    for name, r in rows.items():
        ratio, texture = r.scores.mean_iou / real.scores.mean_iou, r.gradient / real.gradient
        result[name] = {**r.summary(), "miou_vs_real": ratio, "gradient_vs_real": texture}
        print(f"{name:<18} {r.scores.pixel_accuracy:9.3f} {r.scores.mean_class_accuracy:9.3f} "
              f"{r.scores.mean_iou:6.3f} {ratio:6.2f} {texture:15.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"n": len(val), "seeds": args.seeds, "fcn": args.fcn or "default",
                                         "jpeg": args.jpeg, "rows": result}, indent=2) + "\n")
    if args.grid:
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        sample_grid([(fcn.palette[c], photo, *(painter.paint(c, s) for s in args.seeds)) for photo, c in val[:6]],
                    args.grid)
    return result


if __name__ == "__main__":
    main()
