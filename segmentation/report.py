"""README figures and table from finished runs: val scores, overlaid loss curves, a result grid.

    python -m segmentation.report --data ../shared/datasets/facades/train \\
        --runs runs/l1 runs/gan20 runs/gan100 --out assets/segmentation

Each run's ``best.safetensors`` is scored on the held-out validation split
(same seeded split as training); the table is printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .data import list_pairs, read_pair, split_files
from .evaluate import evaluate
from .model import load_model
from .plots import plot_losses, sample_grid


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--runs", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--grid-rows", type=int, default=5, help="validation pairs shown in the result grid")
    p.add_argument("--scale", choices=("fixed", "native"), default="fixed", help="predict scale (see model.py)")
    p.add_argument("--flip-tta", action="store_true", help="average each prediction with its mirror image")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    val = split_files(list_pairs(args.data), args.val_fraction, args.split_seed)[1]
    models = {run.name: load_model(run / "best.safetensors", device="cpu", scale=args.scale,
                                   flip_tta=args.flip_tta) for run in args.runs}
    print("| run | best iter | pixel acc | mean class acc | mIoU |")
    print("|---|---|---|---|---|")
    results = {}
    for name, model in models.items():
        s = evaluate(model, val)
        info = json.loads((args.runs[list(models).index(name)] / "best.json").read_text())
        results[name] = {"iter": info["meta"]["iter"], **s.__dict__}
        print(f"| {name} | {info['meta']['iter']} | {s.pixel_accuracy:.3f} | "
              f"{s.mean_class_accuracy:.3f} | {s.mean_iou:.3f} |")
    names = next(iter(models.values())).class_names
    print("\n| class | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for c, cname in enumerate(names):
        print(f"| {cname} | " + " | ".join(f"{results[n]['class_iou'][c]:.3f}" for n in models) + " |")
    (args.out / "scores.json").write_text(json.dumps(results, indent=1))

    trained = [run for run in args.runs if (run / "history.json").is_file()]  # A soup has no curves of its own.
    histories = [json.loads((run / "history.json").read_text()) for run in trained]
    if trained:
        plot_losses([(run.name, h["train"], h["val"]) for run, h in zip(trained, histories)],
                    args.out / "loss_curves.png")
    rows = []
    for f in val[:args.grid_rows]:
        photo, labels = read_pair(f)
        rows.append((photo, labels, *(m.predict(photo) for m in models.values())))
    sample_grid(rows, args.out / "result_grid.png", tile=128)
    print(f"\ngrid columns: photo | ground truth | {' | '.join(models)}")


if __name__ == "__main__":
    main()
