"""Downloads of a drag: the image, the recorded frames as video, and the latent, in the visitor's session folder.

Why there: each export of a 4096 px photo wrote a new 7.65 MB folder under the temp dir, deleted only an hour
later and only when someone exported. Now a session keeps its last export only (gradio serves its own copies
of the files) and the folder goes with the session (editor/files.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from draggan.export import export_video, save_png
from draggan.session import DragSession
from landmarks import AlignedFace


def export_drag(session: DragSession, image: np.ndarray, aligned: AlignedFace | None,
                folder: Path) -> tuple[list[str], str]:
    """The current image as PNG, the recorded drag as MP4 and GIF, and the latent as .npy (.npz with a feature
    offset), in `folder` (what an earlier export left there goes first); (files, message).

    For a session inverted from a photo (`aligned`), also the full photo with the edited crop pasted back."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    frames = session.drag_frames() or [image]
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
