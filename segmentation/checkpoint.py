"""Checkpoints without code execution.

- Shipped / best generators: ``name.safetensors`` (weights) + ``name.json`` (the
  ``GeneratorConfig``, palette, class names and training metadata).
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

from .networks import GeneratorConfig, build_generator
from .palette import CLASS_NAMES, PALETTE


def config_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def save_generator(path: str | Path, generator: torch.nn.Module, config: GeneratorConfig,
                   meta: dict | None = None, palette: np.ndarray = PALETTE,
                   class_names: tuple[str, ...] = CLASS_NAMES) -> None:
    """Write the generator's weights (fp32 safetensors) and its json config beside them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    save_file(state, str(path))
    info = {"generator": config.to_dict(), "palette": np.asarray(palette).tolist(),
            "class_names": list(class_names), "meta": meta or {}}
    config_path(path).write_text(json.dumps(info, indent=2) + "\n")


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """(generator in eval mode, GeneratorConfig, info dict) from a safetensors + json pair."""
    path = Path(path)
    cfg_file = config_path(path)
    for f in (path, cfg_file):
        if not f.is_file():
            raise FileNotFoundError(f"segmentation checkpoint file missing: {f}")
    try:
        info = json.loads(cfg_file.read_text())
        config = GeneratorConfig(**info["generator"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{cfg_file}: not a segmentation generator config ({err})") from err
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path}: not a readable safetensors file ({err})") from err
    generator = build_generator(config)
    problems = state_dict_problems(generator.state_dict(), state)
    if problems:
        raise ValueError(f"{path}: the weights do not fit the {config.arch} config: " + "; ".join(problems))
    generator.load_state_dict(state)
    return generator.to(device).eval(), config, info


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
