"""Load a StyleGAN2 generator from any supported source: `load_generator(source, device=None)`.

Sources (files are told apart by their first bytes, not their extension):
- NVlabs PyTorch pickle (`.pkl`, stylegan2-ada-pytorch / stylegan3 / DragGAN): the `G_ema` entry, read
  by `pickle_reader` without running any code from the file.
- rosinality checkpoint (`.pt`, `{'g_ema': state_dict, ...}`): `torch.load(weights_only=True)`, re-keyed
  by `rosinality`.
- this project's `.safetensors`: NVlabs key names, with the config as JSON in the header metadata
  (key `draggan_config`, written by `save_generator`) or in a sidecar `<stem>.json` holding
  `{"init_kwargs": {...}}`.
- a registry name (see `registry.list_models()`), resolved to a local file by `registry.resolve_source`.

Nothing from a file is trusted: the weights must be finite floating-point tensors of sane total size, the
config's types and ranges (and the memory its generator would take) are checked before any module is
built, and every missing key, unexpected key and shape mismatch is listed in one `CheckpointFormatError`.
Whatever else a malformed file makes a reader raise also becomes a `CheckpointFormatError` naming the file.

Public: `load_generator`, `read_checkpoint`, `build_generator`, `save_generator`,
`checked_weights`, `detect_format`, `normalize_init_kwargs`.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from common import pick_device, state_dict_problems, tensor_problems

from .errors import CheckpointError, CheckpointFormatError, UnsafeCheckpointError
from .networks import MAX_PARAMETER_BYTES, Generator, GeneratorConfig
from .pickle_reader import read_nvlabs_pickle
from .registry import resolve_source
from .rosinality import is_rosinality, rosinality_to_nvlabs

CONFIG_METADATA_KEY = "draggan_config"
# Legacy (pre-zip) torch.save files open with a pickled 10-byte magic number.
_LEGACY_TORCH_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def detect_format(path: Path) -> str:
    """'pickle', 'torch' or 'safetensors', from the file's first bytes."""
    with open(path, "rb") as f:
        head = f.read(16)
    size = path.stat().st_size
    if not head:
        raise CheckpointFormatError(f"{path}: the file is empty")
    if head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[2:14] == _LEGACY_TORCH_MAGIC):
        return "torch"
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    raise CheckpointFormatError(f"{path}: not a checkpoint we can read (it starts with {head[:8]!r}); expected an "
                                "NVlabs .pkl, a rosinality .pt or a .safetensors file")


def normalize_init_kwargs(init_kwargs: dict) -> dict:
    """Init kwargs as plain JSON values (numpy scalars and EasyDicts from pickles become int/float/dict)."""
    return json.loads(json.dumps(init_kwargs, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _read_safetensors(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for bad headers and short files
        raise CheckpointFormatError(f"{path}: corrupt or truncated safetensors file ({e})") from e
    sidecar = path.with_suffix(".json")
    try:
        if CONFIG_METADATA_KEY in metadata:
            config = json.loads(metadata[CONFIG_METADATA_KEY])
        elif sidecar.is_file():
            config = json.loads(sidecar.read_text())
        else:
            raise CheckpointFormatError(f"{path}: no generator config: neither '{CONFIG_METADATA_KEY}' in the "
                                        f"safetensors metadata nor a sidecar {sidecar.name}")
    except json.JSONDecodeError as e:
        raise CheckpointFormatError(f"{path}: its generator config is not valid JSON ({e})") from e
    if not isinstance(config, dict):
        raise CheckpointFormatError(f"{path}: its generator config is not a JSON object")
    return config.get("init_kwargs", config), state


def _read_torch(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):  # rosinality's train.py saves its args
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(f"{path}: refused by torch's weights_only loader: {str(e).splitlines()[0]}") from e
    except Exception as e:  # truncated zip, bad records, ...
        raise CheckpointFormatError(f"{path}: corrupt or truncated torch file ({type(e).__name__}: {e})") from e
    if not isinstance(ckpt, dict) or not is_rosinality(ckpt.get("g_ema")):
        keys = sorted(map(str, ckpt))[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointFormatError(f"{path}: a torch file without a rosinality 'g_ema' generator (found {keys})")
    latent_avg = ckpt.get("latent_avg")
    g_ema = checked_weights(ckpt["g_ema"], str(path))  # before the conversion computes anything from it
    return rosinality_to_nvlabs(g_ema, latent_avg if isinstance(latent_avg, torch.Tensor) else None, str(path))


def checked_weights(state, origin: str) -> dict[str, torch.Tensor]:
    """`state` as contiguous fp32 tensors, once it is known to be a sane, finite, not oversized set of weights."""
    problems = tensor_problems(state, MAX_PARAMETER_BYTES // 4)
    if problems:
        raise CheckpointFormatError(f"{origin}: unusable weights: " + "; ".join(problems))
    return {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}


def _read(path: Path) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    fmt = detect_format(path)
    if fmt == "torch":
        init_kwargs, state = _read_torch(path)  # checked before its conversion
    else:
        init_kwargs, state = (read_nvlabs_pickle if fmt == "pickle" else _read_safetensors)(path)
        state = checked_weights(state, str(path))
    try:
        config = GeneratorConfig.from_init_kwargs(normalize_init_kwargs(init_kwargs))
    except ValueError as e:
        raise CheckpointFormatError(f"{path}: unsupported generator config: {e}") from e
    return config, state


def read_checkpoint(path: str | os.PathLike) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    """The checked generator config and NVlabs-named fp32 state dict stored in a checkpoint file (its weights
    checked once, by `checked_weights`).

    Anything a malformed file makes the readers raise becomes a `CheckpointFormatError` naming the file."""
    path = Path(path)
    try:
        return _read(path)
    except CheckpointError:
        raise
    except Exception as e:  # the last line of defence against files built to break a reader
        raise CheckpointFormatError(f"{path}: not a usable generator checkpoint ({type(e).__name__}: "
                                    f"{str(e)[:200]})") from e


def build_generator(config: GeneratorConfig, state: dict[str, torch.Tensor], origin: str = "") -> Generator:
    """A Generator holding `state`, after explicit memory, key, shape and finiteness checks.

    The module is laid out on the meta device and takes the checked tensors as its own (`assign=True`), so
    no memory is spent on a network whose weights turn out not to fit, and none on a throw-away random init."""
    return _build(config, checked_weights(state, origin), origin)


def _build(config: GeneratorConfig, state: dict[str, torch.Tensor], origin: str) -> Generator:
    """`build_generator` for a state that `checked_weights` has already passed."""
    try:
        config.validate()
        projected = config.parameter_bytes()
    except ValueError as e:
        raise CheckpointFormatError(f"{origin}: unsupported generator config: {e}") from e
    if projected > MAX_PARAMETER_BYTES:
        raise CheckpointFormatError(f"{origin}: the config asks for a {config.img_resolution}px generator with "
                                    f"{projected / 1e9:.1f} GB of parameters; at most "
                                    f"{MAX_PARAMETER_BYTES / 1e9:.1f} GB are allowed")
    with torch.device("meta"):
        G = Generator(config)
    problems = state_dict_problems(G.state_dict(), state)
    if problems:
        raise CheckpointFormatError(f"{origin}: the weights do not fit a {config.img_resolution}px generator "
                                    f"with {config.synthesis_kwargs}: " + "; ".join(problems))
    G.load_state_dict(state, strict=True, assign=True)
    return G


def load_generator(source: str | os.PathLike, device: str | torch.device | None = None) -> Generator:
    """An eval-mode, gradient-free Generator on `device` (default: `pick_device()`).

    `source` is a file path (NVlabs .pkl, rosinality .pt, .safetensors) or a registry name.
    Raises a `CheckpointError` subclass, naming the file, for anything that cannot be loaded.
    """
    path = resolve_source(source)
    config, state = read_checkpoint(path)
    G = _build(config, state, str(path))  # read_checkpoint has checked the weights
    return G.eval().requires_grad_(False).to(pick_device(device))


def save_generator(G: Generator, path: str | os.PathLike, source: str = "") -> Path:
    """Write `G` as a self-contained .safetensors (config in the metadata); written to a temp file, then renamed."""
    path = Path(path)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in G.state_dict().items()}
    metadata = {CONFIG_METADATA_KEY: json.dumps({"init_kwargs": asdict(G.config)}), "source": str(source)}
    tmp = path.with_name(path.name + ".partial")
    try:
        save_file(state, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

