"""Side-by-side paired image folders (the pix2pix layout) and the facades split.

Each file holds two equal halves: A on the left, B on the right. For facades,
A is the photo and B the colour label map: direction A -> B (the default) is
photo -> labels (segment), B -> A is labels -> photo (paint), as in pix2pix.
Any folder in this layout works (e.g. Cityscapes prepared the pix2pix way).

Validation split: the files are sorted by name (numerically where names are
numbers), shuffled with ``numpy.random.default_rng(seed)`` and the first
``round(val_fraction * n)`` become validation. The defaults (seed 0, 10 %)
hold out 40 of the 400 facades pairs.

Training augmentation follows pix2pix: resize to ``load_size``, random crop to
``crop_size``, random horizontal flip. Label maps are resized with
nearest-neighbour so they keep clean class colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .palette import colours_to_classes

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def _sort_key(path: Path) -> tuple:
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def list_pairs(folder: str | Path) -> list[Path]:
    """All image files in ``folder``, numerically sorted; error if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"paired data folder not found: {folder}")
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_sort_key
    )
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in paired data folder {folder}")
    return files


def read_pair(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Split one side-by-side file into its (left, right) RGB uint8 halves."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from err
    h, w, _ = rgb.shape
    if w != 2 * h:
        raise ValueError(
            f"{path}: a side-by-side pair must be twice as wide as tall, got {w}x{h} (W x H)"
        )
    return rgb[:, :h], rgb[:, h:]


def split_files(files: list[Path], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """Seeded train / validation split (see module docstring)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(len(files))
    n_val = int(round(val_fraction * len(files)))
    val = sorted((files[i] for i in order[:n_val]), key=_sort_key)
    train = sorted((files[i] for i in order[n_val:]), key=_sort_key)
    return train, val


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def resize(rgb: np.ndarray, size: int | tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize an (H, W, 3) photo or (H, W) class map to ``size`` (square int, or (W, H)); bicubic for
    photos, nearest for labels."""
    wh = (size, size) if isinstance(size, int) else size
    method = Image.NEAREST if nearest else Image.BICUBIC
    return np.asarray(Image.fromarray(rgb).resize(wh, method))


@dataclass
class PairedConfig:
    direction: str = "AtoB"   # "AtoB": left -> right; "BtoA": right -> left.
    load_size: int = 286      # Resize both halves to this before cropping (training only).
    crop_size: int = 256      # Random crop size in training; validation resizes to it.
    flip: bool = True         # Random horizontal flip in training.
    load_size_max: int = 0    # > load_size: each item's resize side is drawn from [load_size, load_size_max].
    color_jitter: float = 0.0 # Photo brightness, contrast and saturation each scaled by U(1 - j, 1 + j).

    @property
    def zoom(self) -> bool:
        return self.load_size_max > self.load_size


class PairedFolder(torch.utils.data.Dataset):
    """Pairs from ``files``, held in memory: (input, target).

    Without a palette both are colour tensors in [-1, 1] (A and B, swapped for BtoA).
    With a ``palette`` B is the label half, read as the (H, W) int64 class map: each pixel
    snapped to its nearest class colour once at load (JPEG blending removed), resized with
    nearest-neighbour. AtoB gives (photo, class map), BtoA (class map, photo).
    """

    def __init__(
        self,
        files: list[Path],
        config: PairedConfig = PairedConfig(),
        train: bool = True,
        palette: np.ndarray | None = None,
        seed: int = 0,
    ):
        if config.direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {config.direction!r}")
        if config.crop_size > config.load_size:
            raise ValueError(f"crop_size {config.crop_size} exceeds load_size {config.load_size}")
        if not 0.0 <= config.color_jitter < 1.0:
            raise ValueError(f"color_jitter must be in [0, 1), got {config.color_jitter}")
        self.config, self.train, self.palette = config, train, palette
        self.files = list(files)
        self.rng = np.random.default_rng(seed)
        self.pairs = []
        size = None
        for f in self.files:
            a, b = read_pair(f)
            if size is not None and a.shape != size:
                raise ValueError(f"{f}: pair half is {a.shape[1]}x{a.shape[0]}, others are {size[1]}x{size[0]}")
            # x is the photo-like half (bicubic, jitter), y the other; with a palette y is B's class map.
            x, y = (b, a) if config.direction == "BtoA" and palette is None else (a, b)
            if palette is not None:
                y = colours_to_classes(y, palette).astype(np.uint8)
            # Without zoom jitter resizing is deterministic, so it happens once here.
            if train and config.zoom:
                self.pairs.append((x, y))
            else:
                self.pairs.append(self._resize_pair(x, y, config.load_size if train else config.crop_size))
            size = a.shape

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.pairs[i]
        c = self.config
        if self.train:
            side = c.load_size
            if c.zoom:
                side = int(self.rng.integers(c.load_size, c.load_size_max + 1))
                x, y = self._resize_pair(x, y, side)
            top, left = self.rng.integers(0, side - c.crop_size + 1, size=2)
            x = x[top:top + c.crop_size, left:left + c.crop_size]
            y = y[top:top + c.crop_size, left:left + c.crop_size]
            if c.flip and self.rng.random() < 0.5:
                x, y = x[:, ::-1], y[:, ::-1]
        photo = to_tensor(x)
        if self.train and c.color_jitter > 0:
            photo = self._jitter(photo)
        if self.palette is None:
            return photo, to_tensor(y)
        classes = torch.from_numpy(np.array(y, dtype=np.int64))
        return (photo, classes) if c.direction == "AtoB" else (classes, photo)

    def _resize_pair(self, x: np.ndarray, y: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
        """Photo bicubic; labels nearest when they are class indices, so no blended classes appear."""
        return resize(x, side), resize(y, side, nearest=self.palette is not None)

    def _jitter(self, photo: torch.Tensor) -> torch.Tensor:
        """Brightness, contrast and saturation jitter (facade photos differ in light and camera)."""
        b, k, s = self.rng.uniform(1 - self.config.color_jitter, 1 + self.config.color_jitter, size=3)
        img = (photo + 1) * 0.5 * float(b)
        img = (img - img.mean()) * float(k) + img.mean()
        grey = img.mean(0, keepdim=True)
        img = (img - grey) * float(s) + grey
        return img.clamp(0, 1) * 2 - 1
