"""Segmentation scores from a confusion matrix: pixel accuracy, mean class accuracy, IoU, mIoU.

Classes absent from both the ground truth and the prediction are left out of the
means (their IoU is undefined), as in the usual mIoU definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = ground-truth class, columns = predicted class."""
    if truth.shape != pred.shape:
        raise ValueError(f"truth and prediction shapes differ: {truth.shape} vs {pred.shape}")
    idx = truth.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=num_classes ** 2).reshape(num_classes, num_classes)


@dataclass
class Scores:
    pixel_accuracy: float
    mean_class_accuracy: float
    mean_iou: float
    class_iou: list[float]       # NaN for classes absent from truth and prediction.
    class_accuracy: list[float]  # NaN for classes absent from the truth.

    def summary(self) -> dict[str, float]:
        """The three headline scores, as a run's history and best.json record them."""
        return {"pixel_accuracy": self.pixel_accuracy, "mean_class_accuracy": self.mean_class_accuracy,
                "mean_iou": self.mean_iou}


def scores(conf: np.ndarray) -> Scores:
    """Scores of an accumulated confusion matrix."""
    conf = conf.astype(np.float64)
    tp = np.diag(conf)
    truth, pred = conf.sum(1), conf.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(truth > 0, tp / truth, np.nan)
        union = truth + pred - tp
        iou = np.where(union > 0, tp / union, np.nan)
    total = conf.sum()
    return Scores(
        pixel_accuracy=float(tp.sum() / total) if total else float("nan"),
        mean_class_accuracy=float(np.nanmean(acc)) if np.any(truth > 0) else float("nan"),
        mean_iou=float(np.nanmean(iou)) if np.any(union > 0) else float("nan"),
        class_iou=[float(v) for v in iou],
        class_accuracy=[float(v) for v in acc],
    )
