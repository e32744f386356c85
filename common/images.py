"""Every uploaded image goes through here: size read from the header and checked before decoding, decoded
already reduced to the working size (JPEG draft mode, integer reduce, then Lanczos), EXIF rotation applied,
16-bit and float images scaled to uint8 rather than clipped white.

Why: a 116 KB PNG can hold 6300 x 6300 px; decoding it at full size in float, then returning label maps
and overlays at full size, cost gigabytes. Here a refused image is never decoded, and an accepted one
costs at most one full-size decode (JPEG: not even that). Limits are by shape as well as by pixel count:
a 5,000,000 x 8 strip (117 KB) is under 40 Mpx, but no reduction can keep its short side, so it was
processed at full size (+2.4 GB for one /segment call). The longest side and the aspect ratio are capped,
so every accepted image can be reduced to its caller's working size.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # Larger images are refused before they are decoded.
MAX_SIDE_PX = 16_384     # Longest side accepted (a 40 Mpx 10:1 panorama is 20,000 px long: refused).
MAX_ASPECT = 10          # Longest over shortest side accepted: strips cannot be reduced and keep a side.
MAX_UPLOAD_BYTES = 200 * 2**20  # Largest upload the server takes: a 40 Mpx 8-bit RGBA PNG stored raw is 160 MB.
EIGHT_BIT_MODES = ("L", "RGB", "RGBA")  # Decoded and resized as they are; anything else is converted first.
# What malformed image files make PIL raise.
DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error,
                 Image.DecompressionBombError)


def read_rgb(source: str | os.PathLike | BinaryIO, max_side: int | None = None, min_side: int = 1,
             name: str | None = None) -> np.ndarray:
    """An image file as (H, W, 3) uint8, at most `max_side` px on its long side (None: full size).

    `name` is how errors call the file (default: the path). A ValueError names the file when it is not a
    readable image, is over MAX_PIXELS or has a side under `min_side` (checked on the header)."""
    return _read(source, max_side, min_side, name, "RGB")


def read_rgba(source: str | os.PathLike | BinaryIO, max_side: int | None = None, name: str | None = None) -> np.ndarray:
    """An image file as (H, W, 4) uint8 with its alpha (opaque where it has none), as `read_rgb` reads it."""
    return _read(source, max_side, 1, name, "RGBA")


def to_rgb(im: Image.Image, max_side: int | None = None, min_side: int = 1, name: str = "image",
           owned: bool = False) -> np.ndarray:
    """A PIL image (any mode, possibly not yet decoded) as (H, W, 3) uint8; see `read_rgb`.

    `owned=True` lets JPEG decoding switch to a reduced draft in place (only for images opened here)."""
    return _to_array(im, max_side, min_side, name, owned, "RGB")


def entering_image(value, max_side: int | None, min_side: int = 1, name: str = "image",
                   mode: str = "RGB") -> np.ndarray:
    """Any image entering the app as uint8 `mode` ("RGB" or "RGBA"), shape-checked, at most `max_side` px long.

    `value` is an array, a PIL image, or an image file as `image_file` takes it (a path, a file object, gradio's
    file record): the one gate for uploads, mask layers and painted canvases, so that none of them skips the
    shape limits."""
    if isinstance(value, np.ndarray):
        return _from_array(value, max_side, min_side, name, mode)
    if isinstance(value, Image.Image):
        return _to_array(value, max_side, min_side, name, False, mode)
    source, _ = image_file(value, name, "an image file or array")
    return _read(source, max_side, min_side, name, mode)


def image_file(value, name: str = "image", expected: str = "an image file") -> tuple[str | os.PathLike | BinaryIO, str]:
    """(what to open, the file's name for messages) of an image file as the app receives it: gradio's file record
    ({"path": ..., "orig_name": ...}, what an unprocessed event or an API client sends), a path or a file object.

    The one parser of upload records. The name is the upload's own (orig_name), else the path's last part. A
    ValueError says "`name` is not `expected` (got <type>)" for anything else, or a record without a path."""
    path, shown = (value.get("path"), value.get("orig_name")) if isinstance(value, dict) else (value, None)
    if isinstance(path, (str, os.PathLike)) and str(path):
        return path, str(shown or Path(path).name)
    if hasattr(path, "read"):
        return path, str(shown or Path(str(getattr(path, "name", name))).name)
    raise ValueError(f"{name} is not {expected} (got {type(value).__name__})")


def rgb_uint8(image: np.ndarray, name: str = "image", min_side: int = 1) -> np.ndarray:
    """A grayscale, RGB or RGBA uint8 array as (H, W, 3) uint8, a view where it already is one; alpha is dropped,
    not composited (it carries no colour). A ValueError names `name` when the array is not uint8, has no image's
    shape, has a side under `min_side` or more than MAX_PIXELS pixels."""
    image = np.asarray(image)
    check_array(image, name)
    check_size(image.shape[1], image.shape[0], min_side, name)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def check_array(array: np.ndarray, name: str = "image") -> None:
    """A ValueError naming `name` unless `array` is a uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image."""
    if array.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (0-255), got dtype {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)):
        raise ValueError(f"{name} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")


def _from_array(array: np.ndarray, max_side: int | None, min_side: int, name: str, mode: str) -> np.ndarray:
    check_array(array, name)
    height, width = array.shape[:2]
    check_shape(width, height, min_side, name)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if working_size(width, height, max_side, min_side) == (width, height) and array.shape[2:] == (len(mode),):
        return array
    return _to_array(Image.fromarray(array), max_side, min_side, name, False, mode)


def _read(source, max_side: int | None, min_side: int, name: str | None, mode: str) -> np.ndarray:
    name = name or str(getattr(source, "name", source))
    try:
        im = Image.open(source)
    except DECODE_ERRORS as err:
        raise _unreadable(err, source, name) from None
    with im:
        check_shape(*im.size, min_side, name)  # on the header, before anything is decoded
        try:
            return _to_array(im, max_side, min_side, name, True, mode)
        except DECODE_ERRORS as err:
            raise _unreadable(err, source, name) from None


def _unreadable(err: Exception, source, name: str) -> ValueError:
    detail = str(err).replace(str(source), name)[:120]  # PIL's message may hold the server's path
    return ValueError(f"{name}: not a readable image ({type(err).__name__}: {detail}). "
                      "Upload a JPEG, PNG or WebP photo.")


def _to_array(im: Image.Image, max_side: int | None, min_side: int, name: str, owned: bool, mode: str) -> np.ndarray:
    width, height = im.size
    check_shape(width, height, min_side, name)
    orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    target = working_size(width, height, max_side, min_side)
    if owned and target != (width, height):
        im.draft(None, target)  # JPEG: the decoder itself scales by 1/2, 1/4 or 1/8; other formats ignore it.
    if im.mode in ("1", "P", "PA"):  # resized only by nearest neighbour: take their colours first
        im = to_8bit(im)
    if im.size != target:  # 16-bit and float images too, before they are scaled: one full-size buffer only
        gap = None if im.mode.startswith("I;16") else 3.0  # PIL's integer reduce has no 16-bit modes
        im = im.resize(target, Image.Resampling.LANCZOS, reducing_gap=gap)  # integer reduce, then Lanczos
    im = to_8bit(im)
    out = im.convert(mode) if im.mode != mode else im
    if orientation != 1:
        out.info["exif"] = _orientation_only(orientation)
        out = ImageOps.exif_transpose(out)
    return np.asarray(out)


def upright_size(source: str | os.PathLike | BinaryIO) -> tuple[int, int]:
    """(width, height) of an image file as `read_rgb` turns it (EXIF rotation applied), from its header alone."""
    with Image.open(source) as im:
        width, height = im.size
        turned = im.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def check_size(width: int, height: int, min_side: int = 1, name: str = "image") -> None:
    """A ValueError that states the limit when an image has too many pixels or too short a side."""
    if width * height > MAX_PIXELS:
        raise ValueError(f"{name} is {width}×{height} = {width * height / 1e6:.1f} Mpx; at most "
                         f"{MAX_PIXELS / 1e6:.0f} Mpx are accepted. Make it smaller and upload it again.")
    if min(width, height) < min_side:
        raise ValueError(f"{name} is {width}×{height}; each side must be at least {min_side} px")


def check_shape(width: int, height: int, min_side: int = 1, name: str = "image") -> None:
    """`check_size`, and the longest side and aspect ratio of an image entering the app (the header is enough):
    within them every image can be reduced to its caller's working size."""
    check_size(width, height, min_side, name)
    if max(width, height) > MAX_SIDE_PX:
        raise ValueError(f"{name} is {width}×{height}; its longest side may be at most {MAX_SIDE_PX} px. "
                         "Make it smaller and upload it again.")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ValueError(f"{name} is {width}×{height}; its long side may be at most {MAX_ASPECT} times its "
                         "short side. Crop it and upload it again.")


def working_size(width: int, height: int, max_side: int | None, min_side: int = 1) -> tuple[int, int]:
    """The size to decode to: the long side at most `max_side`, the short side kept at `min_side` or more."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max(max_side / max(width, height), min_side / min(width, height))
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_8bit(im: Image.Image) -> Image.Image:
    """L, RGB or RGBA. 16-bit images keep their high byte (65535 -> 255, not clipped to white); float images
    are taken as [0, 1]; palette, CMYK, 1-bit, LA, ... go through PIL's own conversion."""
    if im.mode in EIGHT_BIT_MODES:
        return im
    if im.mode.startswith("I"):  # I;16, I;16B, ... and I (16-bit PNGs in older Pillow)
        values = np.asarray(im)
        out = Image.fromarray((np.clip(values, 0, 65535).astype(np.uint16) >> 8).astype(np.uint8), "L")
    elif im.mode == "F":
        values = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0)
        out = Image.fromarray((np.clip(values, 0, 1) * 255 + 0.5).astype(np.uint8), "L")
    else:
        return im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    out.info = dict(im.info)
    return out


def _orientation_only(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif.tobytes()

