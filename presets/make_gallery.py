"""Draw every preset's handles → targets on the astronaut's face, for the README.

    python -m presets.make_gallery            # writes assets/presets/<preset>.png and grid.png

Landmarks are found on the photo, mapped into a 256 px square crop of the face (as they would be
into a generator image), and each preset runs on the mapped points at full strength.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

from landmarks import CropResize, crop_resize, detect_faces, draw_arrows, photo_to_gen
from landmarks.draw import ARROW_COLOR, HANDLE_COLOR, TARGET_COLOR, default_font
from presets import PRESETS

TILE = 256  # Side of each picture, px.
GRID_COLUMNS = 4


def preset_pictures(photo: np.ndarray) -> dict[str, np.ndarray]:
    """One TILE × TILE picture per preset: the face crop with that preset's arrows."""
    result = detect_faces(photo, backend="dlib")
    if not result.faces:
        raise ValueError("no face found in the gallery photo")
    face = result.faces[0]
    extent = (*face.points.min(axis=0), *face.points.max(axis=0))  # Brows to chin, unlike the detector's box.
    crop = CropResize.square_around(extent, (photo.shape[1], photo.shape[0]), TILE, margin=0.5)
    face_image = crop_resize(photo, crop)
    points = photo_to_gen(face.points, crop)
    return {name: draw_arrows(face_image, *preset(points)) for name, preset in PRESETS.items()}


def grid(pictures: dict[str, np.ndarray]) -> np.ndarray:
    """The pictures side by side, GRID_COLUMNS to a row, each captioned with its preset's name."""
    rows = -(-len(pictures) // GRID_COLUMNS)
    canvas = Image.new("RGB", (GRID_COLUMNS * TILE, rows * TILE), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = default_font(18)
    for slot, (name, picture) in enumerate(pictures.items()):
        x, y = (slot % GRID_COLUMNS) * TILE, (slot // GRID_COLUMNS) * TILE
        canvas.paste(Image.fromarray(picture), (x, y))
        draw.text((x + 6, y + 4), name, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(canvas)


def save_png(image: np.ndarray, path: Path, colors: int = 128) -> None:
    """A small PNG with a palette: the photo's main colours plus the exact colours of the marks."""
    marks = [HANDLE_COLOR, TARGET_COLOR, ARROW_COLOR, (0, 0, 0)]
    picture = Image.fromarray(image)
    photo_palette = picture.quantize(colors - len(marks), method=Image.Quantize.MEDIANCUT).getpalette()
    palette = Image.new("P", (1, 1))
    palette.putpalette(photo_palette[: 3 * (colors - len(marks))] + [c for color in marks for c in color])
    picture.quantize(palette=palette, dither=Image.Dither.NONE).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/presets"), help="folder for the PNGs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pictures = preset_pictures(data.astronaut())
    for name, picture in pictures.items():
        save_png(picture, args.out / f"{name.replace(' ', '_')}.png")
    save_png(grid(pictures), args.out / "grid.png")
    print(f"wrote {len(pictures) + 1} pictures to {args.out}")


if __name__ == "__main__":
    main()
