"""The inference wrapper the app uses: any RGB photo in, facade label colour map out.

    from segmentation import load_model
    model = load_model("cgan")            # or load_model() for the default
    labels = model.predict(rgb_uint8)

Photos are read by `photos.py`, the shipped models are listed in `manifest.py` (``weights/models.json``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common import pick_device

from .checkpoint import load_segmenter
from .data import resize, to_tensor
from .manifest import list_models, model_path
from .palette import CLASS_NAMES, PALETTE, classes_to_colours
from .photos import MIN_SIDE, as_rgb, read_image

NATIVE_MAX_SIDE = 1024    # "native" prediction scales larger photos down to this long side.
__all__ = ["MIN_SIDE", "NATIVE_MAX_SIDE", "SegmentationModel", "as_rgb", "list_models", "load_model", "read_image"]


class SegmentationModel:
    """A trained segmenter plus its palette: photo -> class scores -> class map -> colour map.

    ``scale="fixed"`` resizes the photo to the training size (``image_size`` square);
    ``scale="native"`` keeps the photo's own size (capped at ``NATIVE_MAX_SIDE``) and pads it
    to a multiple of 2**depth, since the U-Net is fully convolutional. Either way the class
    scores are up-sampled bilinearly to the photo's size before the argmax, so boundaries are
    smooth at any size. ``flip_tta`` averages the prediction of the photo and its mirror image.
    """

    def __init__(self, segmenter: torch.nn.Module, image_size: int, palette: np.ndarray = PALETTE,
                 class_names=CLASS_NAMES, device=None, head: str = "class", scale: str = "fixed",
                 flip_tta: bool = False):
        if scale not in ("fixed", "native"):
            raise ValueError(f"scale must be 'fixed' or 'native', got {scale!r}")
        self.device = pick_device(device)
        self.segmenter = segmenter.to(self.device).eval()
        self.image_size, self.head, self.scale, self.flip_tta = image_size, head, scale, flip_tta
        self.palette = np.asarray(palette, dtype=np.uint8)
        self.class_names = tuple(class_names)
        self._palette_t = torch.from_numpy(self.palette).float().div(127.5).sub(1).to(self.device)
        self._multiple = 2 ** getattr(segmenter, "depth", 0)

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        """(1, C, H, W) class scores of a padded photo batch: softmax, or minus the palette distance."""
        out = self.segmenter(x)
        if self.head == "class":
            return out.softmax(1)
        return -((out[:, None] - self._palette_t[None, :, :, None, None]) ** 2).sum(2)

    @torch.no_grad()
    def class_scores(self, image) -> torch.Tensor:
        """(C, H, W) per-class scores at the photo's own size."""
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        if self.scale == "fixed":
            size = (self.image_size, self.image_size)
        else:
            f = min(1.0, NATIVE_MAX_SIDE / max(h, w))
            size = (max(1, round(w * f)), max(1, round(h * f)))
        x = to_tensor(resize(rgb, size) if size != (w, h) else rgb)[None].to(self.device)
        sh, sw = x.shape[2:]
        m = self._multiple
        x = F.pad(x, (0, -sw % m, 0, -sh % m), mode="replicate")
        scores = self._scores(x)
        if self.flip_tta:
            scores = 0.5 * (scores + self._scores(x.flip(3)).flip(3))
        scores = scores[:, :, :sh, :sw]
        return F.interpolate(scores, size=(h, w), mode="bilinear", align_corners=False)[0]

    def predict_classes(self, image) -> np.ndarray:
        """(H, W) class indices for an image of any size."""
        return self.class_scores(image).argmax(0).cpu().numpy()

    def predict(self, image) -> np.ndarray:
        """(H, W, 3) uint8 label colour map, snapped to the palette, same size as the input."""
        return classes_to_colours(self.predict_classes(image), self.palette)

    def class_shares(self, classes: np.ndarray) -> dict[str, float]:
        """Fraction of pixels per class name (all classes, summing to 1), for a legend."""
        counts = np.bincount(np.asarray(classes).ravel(), minlength=len(self.class_names))
        if counts.size != len(self.class_names):
            raise ValueError(f"class map holds indices beyond the {len(self.class_names)} classes")
        return {n: float(c) / max(int(counts.sum()), 1) for n, c in zip(self.class_names, counts)}


def load_model(name: str | Path | None = None, device=None, scale: str | None = None,
               flip_tta: bool | None = None) -> SegmentationModel:
    """Load a shipped model by name (None = the default) or any safetensors + json checkpoint by path.

    ``scale`` and ``flip_tta`` default to what the checkpoint's json recommends (its ``predict`` entry).
    """
    path = model_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"segmentation weights not found: {path}. Train them with python -m segmentation.train "
            "(the README's segmentation section lists the commands that produced the shipped files)."
        )
    segmenter, config, info = load_segmenter(path)
    advice = info.get("predict", {})
    return SegmentationModel(segmenter, config.image_size, np.asarray(info["palette"], np.uint8),
                             info["class_names"], device, config.head,
                             scale or advice.get("scale", "fixed"),
                             advice.get("flip_tta", False) if flip_tta is None else flip_tta)
