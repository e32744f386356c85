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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .data import list_pairs, read_pair, split_files  # noqa: E402
from .evaluate import evaluate  # noqa: E402
from .model import load_model  # noqa: E402
from .plots import LOSS_KEYS, sample_grid  # noqa: E402


def loss_figure(runs: list[Path], path: Path) -> None:
    """The four losses and val mIoU of every run, one panel each, runs overlaid."""
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.4))
    for i, run in enumerate(runs):
        hist = json.loads((run / "history.json").read_text())
        its = [h["iter"] for h in hist["train"]]
        for ax, (key, label) in zip(axes, LOSS_KEYS):
            ys = [h.get(key) for h in hist["train"]]
            if any(y for y in ys):  # an L1-only run has no adversarial losses
                ax.plot(its, [float("nan") if y is None else y for y in ys], lw=1, color=f"C{i}", label=run.name)
            ax.set_title(label)
        axes[-1].plot([v["iter"] for v in hist["val"]], [v["mean_iou"] for v in hist["val"]],
                      marker=".", color=f"C{i}", label=run.name)
    axes[-1].set_title("val mIoU")
    for ax in axes:
        ax.set_xlabel("iteration")
    axes[0].legend()
    axes[-1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--runs", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--grid-rows", type=int, default=5)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    val = split_files(list_pairs(args.data), args.val_fraction, args.split_seed)[1]
    models = {run.name: load_model(run / "best.safetensors", device="cpu") for run in args.runs}
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

    loss_figure(args.runs, args.out / "loss_curves.png")
    rows = []
    for f in val[:args.grid_rows]:
        photo, labels = read_pair(f)
        rows.append((photo, labels, *(m.predict(photo) for m in models.values())))
    sample_grid(rows, args.out / "result_grid.png", tile=128)
    print(f"\ngrid columns: photo | ground truth | {' | '.join(models)}")


if __name__ == "__main__":
    main()
