"""Every image a handler returns gets a cache file of its own, so identical outputs requested at once arrive whole.

Why: gradio (6.31, `processing_utils.save_pil_to_cache`) encodes an output image, names the file after the
SHA-256 of its bytes and writes it with `Path.write_bytes` on every response, also when the file is
already there. Identical outputs (seed 0, which every page load draws; the same example photo) share that
path, and `write_bytes` truncates the file before it writes. A response that is still sending the file
(starlette's FileResponse declares the size it saw in an earlier `stat`, then reads to the end) then sends
an empty or cut-off file, or more bytes than it declared: the client sees an empty file or "peer closed
connection", the server logs h11's "Too much data for declared Content-Length". `benchmarks/cache_race.py`
reproduces it: 33 of 80 calls failed with 8 sessions; none with writes made atomic, and none with this tag.

The tag is a random id in the PNG text chunks and in the EXIF block (WebP, JPEG): the pixels are the same,
the bytes, and so the file, belong to this response alone. Handlers keep returning arrays (testable);
`unique_outputs` wraps them where the events are wired.
"""
from __future__ import annotations

import functools
import inspect
import uuid

import numpy as np
from PIL import ExifTags, Image


def unique_image(image: np.ndarray) -> Image.Image:
    """`image` as a PIL image whose encoded bytes are unique (a random id in its PNG text and EXIF)."""
    tagged = Image.fromarray(image)
    tag = uuid.uuid4().hex
    tagged.info["response"] = tag                       # written as a PNG tEXt chunk
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = tag
    tagged.info["exif"] = exif.tobytes()                # written into WebP and JPEG
    return tagged


def _tagged(value):
    """An image output (an (H, W, C) uint8 array, or an ImageEditor value with one as background) made unique."""
    if isinstance(value, np.ndarray) and value.ndim == 3 and value.dtype == np.uint8:
        return unique_image(value)
    if isinstance(value, dict) and isinstance(value.get("background"), np.ndarray):
        return {**value, "background": unique_image(value["background"])}
    return value


def _all_tagged(outputs):
    return tuple(_tagged(v) for v in outputs) if isinstance(outputs, tuple) else _tagged(outputs)


def unique_outputs(handler):
    """`handler` with every image it returns, or yields, made unique by `unique_image`."""
    if inspect.isgeneratorfunction(handler):  # a streaming handler must stay a generator for gradio
        @functools.wraps(handler)
        def stream(*args, **kwargs):
            for outputs in handler(*args, **kwargs):
                yield _all_tagged(outputs)
        return stream

    @functools.wraps(handler)
    def respond(*args, **kwargs):
        return _all_tagged(handler(*args, **kwargs))
    return respond
