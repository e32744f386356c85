"""The inference wrapper the app uses: any RGB photo in, facade label colour map out.

The shipped models live in ``weights/``; ``weights/models.json`` names each with a
human label and says which is the default (the better validation mIoU):

    from segmentation import list_models, load_model
    for m in list_models(): print(m.name, m.label, m.default)
    model = load_model("cgan")            # or load_model() for the default
"""

from __future__ import annotations

from pathlib import Path

import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from common import pick_device
from common.images import check_size, read_rgb, to_rgb

from .checkpoint import load_segmenter
from .data import resize, to_tensor
from .palette import CLASS_NAMES, PALETTE, classes_to_colours

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = WEIGHTS_DIR / "models.json"
NATIVE_MAX_SIDE = 1024    # "native" prediction scales larger photos down to this long side.
MIN_SIDE = 8              # Smaller images carry no facade structure; refuse them.


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Read any image file as RGB uint8 (at most `max_side` px on its long side); a clear error for non-images.

    Size is checked on the header and the file decoded already reduced (`common.images`)."""
    return read_rgb(path, max_side=max_side, min_side=MIN_SIDE)


def as_rgb(image) -> np.ndarray:
    """Grayscale, RGBA (alpha dropped) or RGB, as a PIL image (any mode or bit depth) or uint8 array -> (H, W, 3) uint8."""
    if isinstance(image, Image.Image):
        return to_rgb(image, min_side=MIN_SIDE)
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4)):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")
    h, w = image.shape[:2]
    check_size(w, h, MIN_SIDE)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    image = image[..., :3]
    return np.ascontiguousarray(image)


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


@dataclass(frozen=True)
class ShippedModel:
    name: str        # What load_model and /segment take.
    label: str       # What a user reads in the model menu.
    default: bool    # The one with the better validation mIoU.
    path: Path       # Its .safetensors file (json beside it).


def list_models() -> list[ShippedModel]:
    """The shipped models, as listed in ``weights/models.json``, the default first."""
    try:
        manifest = json.loads(MANIFEST.read_text())
        models = [ShippedModel(n, m["label"], n == manifest["default"], WEIGHTS_DIR / m["file"])
                  for n, m in manifest["models"].items()]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{MANIFEST}: not a readable model list ({err})") from err
    return sorted(models, key=lambda m: not m.default)


def model_path(name: str | Path | None = None) -> Path:
    """The weights file of a shipped model name (None = the default), or ``name`` itself if it is a path."""
    if name is not None and (str(name).endswith(".safetensors") or Path(name).is_file()):
        return Path(name)
    models = list_models()
    if name is None:
        return models[0].path
    for m in models:
        if m.name == str(name):
            return m.path
    raise ValueError(f"unknown segmentation model {str(name)!r}; shipped: {', '.join(m.name for m in models)}")


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
