"""Figures for a training run: loss curves and input | ground truth | prediction grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

LOSS_KEYS = (("g_rec", "G rec"), ("g_adv", "G adv"), ("d_real", "D real"), ("d_fake", "D fake"))


def plot_losses(runs: list[tuple[str, list[dict], list[dict]]], path: str | Path) -> None:
    """Loss panels (G rec, G adv, D real, D fake) and the validation mIoU, runs overlaid, to one PNG.

    ``runs`` holds (name, logged losses, validation scores) per run; runs without a
    discriminator leave the adversarial panels empty.
    """
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.4))
    for i, (name, history, val) in enumerate(runs):
        its = [h["iter"] for h in history]
        for ax, (key, label) in zip(axes, LOSS_KEYS):
            if any(key in h for h in history):
                ax.plot(its, [h.get(key, float("nan")) for h in history], lw=1, color=f"C{i}", label=name)
            ax.set_title(label)
        axes[-1].plot([v["iter"] for v in val], [v["mean_iou"] for v in val], marker=".", color=f"C{i}",
                      label=name)
    axes[-1].set_title("val mIoU")
    for ax in axes:
        ax.set_xlabel("iteration")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def sample_grid(rows: list[tuple[np.ndarray, ...]], path: str | Path, tile: int = 128) -> None:
    """One row per example, columns e.g. input | ground truth | prediction, each resized to ``tile``.

    Saved as a 256-colour PNG: label maps lose nothing, photos a little, and the file stays small.
    """
    cols = len(rows[0])
    grid = np.full((len(rows) * tile, cols * tile, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            grid[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = np.asarray(
                Image.fromarray(img).resize((tile, tile), Image.BILINEAR))
    Image.fromarray(grid).quantize(colors=256).save(path, optimize=True)  # small enough for a README
