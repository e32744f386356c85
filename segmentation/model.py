"""The inference wrapper the app uses: any RGB photo in, facade label colour map out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from common import pick_device
from common.images import check_size, read_rgb, to_rgb

from .checkpoint import load_generator
from .data import resize, to_tensor
from .palette import CLASS_NAMES, PALETTE, classes_to_colours

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "facades.safetensors"
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
    """A trained generator plus its palette: photo -> class map -> colour map."""

    def __init__(self, generator: torch.nn.Module, image_size: int,
                 palette: np.ndarray = PALETTE, class_names=CLASS_NAMES, device=None):
        self.device = pick_device(device)
        self.generator = generator.to(self.device).eval()
        self.image_size = image_size
        self.palette = np.asarray(palette, dtype=np.uint8)
        self.class_names = tuple(class_names)
        self._palette_t = torch.from_numpy(self.palette).float().div(127.5).sub(1).to(self.device)

    @torch.no_grad()
    def predict_classes(self, image) -> np.ndarray:
        """(H, W) class indices for an image of any size (resized to the model's size and back)."""
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        x = to_tensor(resize(rgb, self.image_size))[None].to(self.device)
        out = self.generator(x)[0]                                   # (3, S, S) in [-1, 1]
        dist = ((out[None] - self._palette_t[:, :, None, None]) ** 2).sum(1)
        classes = dist.argmin(0)[None, None].float()
        classes = F.interpolate(classes, size=(h, w), mode="nearest")[0, 0]
        return classes.long().cpu().numpy()

    def predict(self, image) -> np.ndarray:
        """(H, W, 3) uint8 label colour map, snapped to the palette, same size as the input."""
        return classes_to_colours(self.predict_classes(image), self.palette)

    def class_shares(self, classes: np.ndarray) -> dict[str, float]:
        """Fraction of pixels per class name (all classes, summing to 1), for a legend."""
        counts = np.bincount(np.asarray(classes).ravel(), minlength=len(self.class_names))
        if counts.size != len(self.class_names):
            raise ValueError(f"class map holds indices beyond the {len(self.class_names)} classes")
        return {n: float(c) / max(int(counts.sum()), 1) for n, c in zip(self.class_names, counts)}


def load_model(path: str | Path = DEFAULT_WEIGHTS, device=None) -> SegmentationModel:
    """Load the shipped facades model (or another safetensors + json checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"segmentation weights not found: {path}. Train them with python -m segmentation.train "
            "(the README's segmentation section lists the commands that produced the shipped file)."
        )
    generator, config, info = load_generator(path)
    return SegmentationModel(generator, config.image_size, np.asarray(info["palette"], np.uint8),
                             info["class_names"], device)
