"""Checkpoints without code execution.

- Shipped / best segmenters: ``name.safetensors`` (weights, fp32 or fp16) + ``name.json``
  (the ``SegmenterConfig``, palette, class names and training metadata).
- Resume states: a ``.pt`` dict of tensors and plain values, read with
  ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from common import state_dict_problems

from .networks import SegmenterConfig, build_segmenter
from .palette import CLASS_NAMES, PALETTE


def config_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def save_segmenter(path: str | Path, segmenter: torch.nn.Module, config: SegmenterConfig,
                   meta: dict | None = None, palette: np.ndarray = PALETTE,
                   class_names: tuple[str, ...] = CLASS_NAMES, half: bool = False,
                   predict: dict | None = None) -> None:
    """Write the segmenter's weights (safetensors; ``half`` stores fp16 to halve the file) and its json config.

    ``predict`` holds the prediction settings ``load_model`` should default to (scale, flip_tta).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    state = {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in segmenter.state_dict().items()}
    save_file(state, str(path))
    info = {"segmenter": config.to_dict(), "palette": np.asarray(palette).tolist(),
            "class_names": list(class_names), "meta": meta or {}, "predict": predict or {}}
    config_path(path).write_text(json.dumps(info, indent=2) + "\n")


def load_segmenter(path: str | Path, device: str | torch.device = "cpu"):
    """(segmenter in eval mode, SegmenterConfig, info dict) from a safetensors + json pair."""
    path = Path(path)
    cfg_file = config_path(path)
    for f in (path, cfg_file):
        if not f.is_file():
            raise FileNotFoundError(f"segmentation checkpoint file missing: {f}")
    try:
        info = json.loads(cfg_file.read_text())
        config = SegmenterConfig(**info["segmenter"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{cfg_file}: not a segmentation model config ({err})") from err
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path}: not a readable safetensors file ({err})") from err
    segmenter = build_segmenter(config)
    problems = state_dict_problems(segmenter.state_dict(), state)
    if problems:
        raise ValueError(f"{path}: the weights do not fit the {config.arch} config: " + "; ".join(problems))
    segmenter.load_state_dict(state)  # copies into the fp32 parameters, so fp16 files load as fp32
    return segmenter.to(device).eval(), config, info


def save_state(path: str | Path, state: dict) -> None:
    """Write a resume state atomically (a crash mid-write leaves the old file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_state(path: str | Path) -> dict:
    """Read a resume state; weights_only, so a checkpoint can never run code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"resume checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise ValueError(f"{path}: not a readable training checkpoint ({err})") from err
    if not isinstance(state, dict) or "generator" not in state or "config" not in state:
        raise ValueError(f"{path}: not a segmentation training checkpoint (no generator/config)")
    return state
