"""Ship trained runs as the app's models: fp16 weights + json in ``segmentation/weights/``, listed in
``models.json`` with a label each (added or replaced: models not named stay listed); the one with the best
validation mIoU becomes the default.

    python -m segmentation.ship --data ../shared/datasets/facades/train \\
        --model ce runs/ce_soup "Best quality" --model cgan runs/k0_gan_soft "Conditional GAN (pix2pix)"

Each run's ``best.safetensors`` is scored on the validation split with and without flip
test-time averaging; the json records both and recommends flip TTA only if it scored better.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .checkpoint import load_segmenter, save_segmenter
from .data import list_pairs, split_files
from .evaluate import evaluate
from .manifest import WEIGHTS_DIR, merge_models
from .model import SegmentationModel

MAX_BYTES = 20 * 2**20  # 20 MiB: each shipped file must stay below this (the repository carries it).


def save_shipped(path: Path, generator, config, meta: dict, predict: dict | None = None) -> None:
    """Write a generator as shipped weights (fp16 + json); refused (and removed) over MAX_BYTES."""
    save_segmenter(path, generator, config, meta, half=True, predict=predict)
    size = path.stat().st_size
    if size > MAX_BYTES:
        path.unlink()
        raise ValueError(f"{path} is {size / 2**20:.2f} MiB, over the 20 MiB limit")


def ship(name: str, run: Path, label: str, val: list[Path], out_dir: Path = WEIGHTS_DIR) -> dict:
    """Score one run's best generator, write it as fp16 ``out_dir/name.safetensors``; its manifest entry."""
    segmenter, config, info = load_segmenter(run / "best.safetensors")
    results = {}
    for tta in (False, True):
        model = SegmentationModel(segmenter, config.image_size, device="cpu", head=config.head, flip_tta=tta)
        results[tta] = evaluate(model, val)
    tta = results[True].mean_iou > results[False].mean_iou
    path = out_dir / f"{name}.safetensors"
    meta = {**info["meta"], "run": run.name, "val_without_tta": results[False].__dict__,
            "val_with_flip_tta": results[True].__dict__}
    save_shipped(path, segmenter, config, meta, predict={"scale": "fixed", "flip_tta": tta})
    return {"file": path.name, "label": label, "val_miou": results[tta].mean_iou}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the paired folder the runs trained on")
    p.add_argument("--model", nargs=3, action="append", required=True, metavar=("NAME", "RUN", "LABEL"),
                   help="a model name, its run folder and the label the app shows")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    args = p.parse_args(argv)
    val = split_files(list_pairs(args.data), args.val_fraction, args.split_seed)[1]
    models = {name: ship(name, Path(run), label, val) for name, run, label in args.model}
    manifest = merge_models(models)  # the models not shipped now stay listed
    for name, m in manifest["models"].items():
        shipped = "" if name in models else "  (kept)"
        default = "  (default)" if name == manifest["default"] else ""
        print(f"{name}: val mIoU {m['val_miou']:.4f}{default}{shipped}  {m['label']}")


if __name__ == "__main__":
    main()
