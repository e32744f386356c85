"""Labels -> facade photo: pix2pix in its own direction (BtoA), with its dropout as the variation seed.

    from segmentation import load_painter
    photo = load_painter().paint(labels, seed=0)   # labels: (H, W, 3) colour map or (H, W) class map

pix2pix keeps dropout on at test time: it is the generator's only noise. Here that noise is drawn from
``seed``, so one seed always gives one photo and another seed a variation of it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from common import pick_device
from common.images import check_size

from .checkpoint import load_segmenter
from .palette import CLASS_NAMES, PALETTE, colours_to_classes

PAINTER_WEIGHTS = Path(__file__).parent / "weights" / "painter.safetensors"
MIN_SIDE = 8  # As for segmentation: smaller maps hold no facade.


def as_classes(labels, num_classes: int = len(PALETTE), palette: np.ndarray = PALETTE) -> np.ndarray:
    """(H, W) int64 class map of a colour map (any colour snapped to the nearest class) or of a class map."""
    if labels is None:
        raise ValueError("no label map: paint one, or start from a blank facade or an example")
    arr = np.asarray(labels)
    if arr.dtype == object or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError("labels must be an (H, W, 3) uint8 colour map or an (H, W) integer class map, "
                         f"got an array of shape {arr.shape}")
    check_size(arr.shape[1], arr.shape[0], MIN_SIDE, "label map")
    if arr.ndim == 3:
        if arr.dtype != np.uint8:
            raise ValueError(f"a colour label map must be uint8, got dtype {arr.dtype}")
        return colours_to_classes(arr[..., :3], palette).astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"a class map must hold integers (class indices), got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"class indices must be in 0..{num_classes - 1}, got values from {lo} to {hi}")
    return arr.astype(np.int64)


def one_hot(classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, H, W) int64 -> (N, C, H, W) float one-hot: what the painter reads."""
    return F.one_hot(classes, num_classes).permute(0, 3, 1, 2).float()


class Painter:
    """A trained labels -> photo generator: class map -> one-hot at ``image_size`` -> photo at the map's size."""

    def __init__(self, generator: torch.nn.Module, image_size: int, palette: np.ndarray = PALETTE,
                 class_names=CLASS_NAMES, device=None):
        self.device = pick_device(device)
        self.generator = generator.to(self.device).eval()
        for m in self.generator.modules():  # pix2pix's test-time noise
            if isinstance(m, torch.nn.Dropout):
                m.train()
        self.image_size = image_size
        self.palette = np.asarray(palette, dtype=np.uint8)
        self.class_names = tuple(class_names)
        self._lock = threading.Lock()  # the seed sets torch's global RNG: one painting at a time

    @torch.no_grad()
    def paint(self, labels, seed: int = 0) -> np.ndarray:
        """(H, W, 3) uint8 photo for a label map of any size; the same seed gives the same photo."""
        classes = as_classes(labels, len(self.palette), self.palette)
        h, w = classes.shape
        small = np.asarray(Image.fromarray(classes.astype(np.uint8)).resize(
            (self.image_size, self.image_size), Image.NEAREST))
        x = one_hot(torch.from_numpy(small.astype(np.int64))[None], len(self.palette)).to(self.device)
        with self._lock, torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            out = self.generator(x)[0]
        photo = ((out.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        if (w, h) != photo.shape[1::-1]:
            photo = np.asarray(Image.fromarray(photo).resize((w, h), Image.BICUBIC))
        return photo


def check_painter(config, source: Path) -> None:
    """Refuse a segmenter's (photo -> labels) weights where a painter's are wanted."""
    if config.direction != "BtoA":
        raise ValueError(f"{source} is a segmenter (direction {config.direction}), not a painter (BtoA)")


def painter_checkpoint(path: Path):
    """(generator, config, info) of a painter's safetensors + json; a clear error for a missing file or a segmenter."""
    if not path.is_file():
        raise FileNotFoundError(f"painter weights not found: {path}. Train them with "
                                "python -m segmentation.train --direction BtoA (docs/painter.md has the command).")
    generator, config, info = load_segmenter(path)
    check_painter(config, path)
    return generator, config, info


def load_painter(path: str | Path | None = None, device=None) -> Painter:
    """The shipped painter (no download), or any BtoA safetensors + json checkpoint by path."""
    generator, config, info = painter_checkpoint(Path(path) if path is not None else PAINTER_WEIGHTS)
    return Painter(generator, config.image_size, np.asarray(info["palette"], np.uint8), info["class_names"], device)
