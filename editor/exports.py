"""Downloads of a drag: the image, the recorded frames as video, and the latent, in a folder that expires."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from draggan.export import export_video, save_png
from draggan.session import DragSession
from landmarks import AlignedFace

EXPORT_DIR = Path(tempfile.gettempdir()) / "gan-editor-exports"
EXPORT_TTL_S = 3600       # Export folders older than this are deleted (gradio serves its own copies).


def remove_old_exports() -> None:
    """Delete export folders older than EXPORT_TTL_S, so a long-running Space does not fill its disk."""
    if not EXPORT_DIR.is_dir():
        return
    cutoff = time.time() - EXPORT_TTL_S
    for folder in EXPORT_DIR.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def export_drag(session: DragSession, image: np.ndarray,
                aligned: AlignedFace | None = None) -> tuple[list[str], str]:
    """The current image as PNG, the recorded drag as MP4 and GIF, and the latent as .npy; (files, message).

    For a session inverted from a photo (`aligned`), also the full photo with the edited crop pasted back."""
    remove_old_exports()
    folder = EXPORT_DIR / uuid.uuid4().hex
    folder.mkdir(parents=True)
    frames = session.frames or [image]
    files = [save_png(image, folder / "drag_final.png"), session.save_latent(folder / "drag_latent.npy"),
             export_video(frames, folder / "drag.mp4"), export_video(frames, folder / "drag.gif")]
    what = "the final image"
    if aligned is not None:
        files.insert(0, save_png(aligned.paste(image), folder / "photo_edited.png"))
        height, width = aligned.photo.shape[:2]
        what = f"the edited photo ({width}×{height}, the crop pasted back), the edited crop"
    message = (f"Exported {what}, {len(frames)} frame{'s' * (len(frames) != 1)} of the last drag "
               "as MP4 and GIF, and the latent.")
    return [str(f) for f in files], message
