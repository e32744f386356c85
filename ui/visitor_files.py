"""Which files a visitor may name: their own uploads (and what this app sent them), or the app's examples.

Why: gradio (6.31) checks that a file record lies in its upload folder only when the record carries
`"meta": {"_type": "gradio.FileData"}`; `{"path": "/any/image.png"}` reached our handlers (preprocess=False
events read the record themselves) and they opened it, so any image on the server's disk came back as an
overlay. Every file record a client sends passes `visitor_file` before anything opens it.

"This visitor's" is as close as gradio allows: an upload carries no session, but gradio stores it as
`<upload folder>/<SHA-256 of its bytes>/<name>`, so only someone who holds the bytes can name it, and the
images this app sends out carry a random tag (ui/outputs.py), so their paths cannot be guessed either. A
refusal is the same sentence whether the path exists or not.
"""
from __future__ import annotations

import os
from pathlib import Path

from gradio.utils import get_upload_folder

from common.images import image_file

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_FOLDERS = (REPO / "assets" / "examples", REPO / "assets" / "painter" / "examples")


def example_files() -> set[Path]:
    """The app's own example images (segmentation photos, painter label maps), resolved."""
    return {p.resolve() for folder in EXAMPLE_FOLDERS if folder.is_dir() for p in folder.iterdir() if p.is_file()}


def visitor_file(value, name: str = "the image", expected: str = "an uploaded image file") -> tuple[str, str]:
    """(path, the file's name for messages) of a file record a client sent, if it names a regular file in gradio's
    upload folder or one of the app's examples; else a ValueError that says so and nothing about the path.

    Arrays and PIL images (what gradio decoded itself) are not files: they go straight to `common.images`."""
    path, shown = image_file(value, name, expected)
    refused = ValueError(f"{name} must be {expected} sent to this app (gradio_client: handle_file(path)) or one of "
                         "its examples; other paths on the server are not opened")
    if not isinstance(path, (str, os.PathLike)):
        raise refused
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):
        raise refused from None
    inside = real.is_relative_to(Path(get_upload_folder()).resolve())
    if not real.is_file() or not (inside or real in example_files()):
        raise refused
    return str(real), shown
