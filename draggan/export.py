"""Frames and latents out of a drag session: MP4 or GIF of the frames, the final PNG, the latent as .npy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

VIDEO_EXTENSIONS = (".mp4", ".gif")


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """Generator output [1, 3, H, W] in [-1, 1] -> H x W x 3 uint8."""
    if img.ndim != 4 or img.shape[0] != 1 or img.shape[1] != 3:
        raise ValueError(f"image must have shape [1, 3, H, W], got {list(img.shape)}")
    out = ((img[0].detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return out.permute(1, 2, 0).cpu().numpy()


def _check_frame(frame: np.ndarray, index: int | None = None) -> np.ndarray:
    frame = np.asarray(frame)
    name = "frame" if index is None else f"frame {index}"
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"{name} must be an H x W x 3 uint8 array, got {frame.dtype} {frame.shape}")
    return frame


def save_png(frame: np.ndarray, path: str | Path) -> Path:
    """Write one H x W x 3 uint8 frame as a PNG."""
    path = Path(path)
    Image.fromarray(_check_frame(frame)).save(path, format="PNG")
    return path


def export_video(frames: list[np.ndarray], path: str | Path, fps: float = 10.0) -> Path:
    """Write frames as MP4 (H.264, yuv420p, via imageio-ffmpeg) or GIF, chosen by the file extension.

    H.264 in yuv420p needs even sizes, so odd frames get one black row or column.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise ValueError(f"video path {path} must end in one of {VIDEO_EXTENSIONS}")
    if not frames:
        raise ValueError("no frames to export: run a drag first")
    frames = [_check_frame(f, i) for i, f in enumerate(frames)]
    if len({f.shape for f in frames}) != 1:
        raise ValueError(f"frames differ in size: {sorted({f.shape for f in frames})}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if ext == ".gif":
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(20, round(1000 / fps)), loop=0)
        return path
    import imageio.v2 as imageio  # imported here: only MP4 export needs ffmpeg

    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    with imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                            pixelformat="yuv420p", macro_block_size=1) as writer:
        for f in frames:
            writer.append_data(np.pad(f, pad))
    return path


def _array(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def save_latent(ws: torch.Tensor | np.ndarray, path: str | Path,
                features: torch.Tensor | np.ndarray | None = None) -> Path:
    """Save a W+ latent [1, num_ws, w_dim] as float32 .npy (np.save, no pickle); with a drag's feature offset
    (`DragConfig.feature_res`), both as .npz (`ws`, `features`): the suffix is changed to match. Returns the path."""
    ws = _array(ws)
    if ws.ndim != 3 or ws.shape[0] != 1:
        raise ValueError(f"latent must have shape [1, num_ws, w_dim], got {list(ws.shape)}")
    path = Path(path)
    if features is None:
        path = path.with_suffix(".npy")
        np.save(path, ws.astype(np.float32), allow_pickle=False)
    else:
        path = path.with_suffix(".npz")
        np.savez(path, ws=ws.astype(np.float32), features=_array(features).astype(np.float32))
    return path


def load_latent(path: str | Path, num_ws: int, w_dim: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Load what `save_latent` wrote: (ws, features or None), checking ws fits a generator with num_ws x w_dim
    (the session checks the features' shape)."""
    path = Path(path)
    features = None
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                ws, features = data["ws"], data["features"] if "features" in data.files else None
        else:
            ws = data
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} is not a readable .npy or .npz latent: {exc}") from exc
    if ws.ndim == 2:
        ws = ws[None]
    if ws.shape != (1, num_ws, w_dim):
        raise ValueError(f"latent in {path} has shape {list(ws.shape)}, expected [1, {num_ws}, {w_dim}]")
    for name, x in (("latent", ws), ("feature offset", features)):
        if x is not None and (not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all()):
            raise ValueError(f"{name} in {path} must hold finite floats, got dtype {x.dtype}")
    return ws.astype(np.float32), None if features is None else features.astype(np.float32)
