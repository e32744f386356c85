"""Figures for a training run: loss curves and input | ground truth | prediction grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

LOSS_KEYS = (("g_rec", "G rec (L1)"), ("g_adv", "G adv"), ("d_real", "D real"), ("d_fake", "D fake"))


def plot_losses(history: list[dict], val: list[dict], path: str | Path, title: str = "") -> None:
    """Four loss panels (G rec, G adv, D real, D fake) and the validation mIoU, to one PNG."""
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.2))
    its = [h["iter"] for h in history]
    for ax, (key, label) in zip(axes, LOSS_KEYS):
        ys = [h.get(key, float("nan")) for h in history]
        ax.plot(its, ys, lw=1)
        ax.set_title(label)
        ax.set_xlabel("iteration")
    axes[-1].plot([v["iter"] for v in val], [v["mean_iou"] for v in val], marker=".")
    axes[-1].set_title("val mIoU")
    axes[-1].set_xlabel("iteration")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
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
