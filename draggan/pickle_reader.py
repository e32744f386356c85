"""Read NVlabs StyleGAN2 `.pkl` files without executing anything from them.

NVlabs pickles carry Python source (`torch_utils.persistence`): every network is pickled as the call
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta` holds `class_name`,
`module_src` (the source of the defining module) and `state` (the object's `__dict__`: `_init_kwargs`,
`_parameters`, `_buffers`, `_modules`, ...). A plain `pickle.load` would `exec` that source.

`SafeUnpickler` resolves only an allow-list of globals: torch's tensor/storage rebuilders (storage
bytes go through `torch.load(weights_only=True)`), `OrderedDict`, `set`, `EasyDict` (read as a plain
dict), numpy's scalar/array/dtype reconstructors, and the persistence hook, which is replaced by
`PersistentObject`: a record of `meta` that never looks at `module_src`. Any other global raises
`UnsafeCheckpointError` naming the file and the global, before anything is called.

Public: `read_nvlabs_pickle(path, key="G_ema") -> (init_kwargs, state_dict)`, `read_pickle(path)`,
`SafeUnpickler`, `PersistentObject`.
"""
from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from .errors import CheckpointError, CheckpointFormatError, UnsafeCheckpointError

try:  # numpy >= 2 names its core `numpy._core`; pickles written by numpy 1 say `numpy.core`.
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core import multiarray as _multiarray


class PersistentObject:
    """An NVlabs persistent module as data: its class name and pickled `__dict__`, no code run."""

    def __init__(self, meta: dict, origin: str):
        if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
            raise CheckpointFormatError(f"{origin}: malformed persistent-object record in the pickle")
        self.class_name = str(meta.get("class_name"))
        self.state = meta["state"]

    @property
    def init_kwargs(self) -> dict:
        """The constructor's keyword arguments (`_init_kwargs` in the pickled `__dict__`), as stored: the
        config check refuses anything that is not a mapping."""
        kwargs = self.state.get("_init_kwargs", self.state.get("init_kwargs"))
        return {} if kwargs is None else kwargs

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name})"


def _load_storage(data: bytes):
    """Replacement for `torch.storage._load_from_bytes`, which calls `torch.load` without weights_only."""
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    """Parameters come back as plain tensors: we only want their values."""
    return data


_TORCH_GLOBALS = {
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
}
_PLAIN_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set, ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): lambda text, encoding="latin1": text.encode(encoding),  # bytes in protocol 2
    ("dnnlib", "EasyDict"): dict, ("dnnlib.util", "EasyDict"): dict,
}
_NUMPY_GLOBALS = {
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{(module, name): getattr(_multiarray, name)
       for module in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("scalar", "_reconstruct")},
}
PERSISTENCE_HOOK = ("torch_utils.persistence", "_reconstruct_persistent_obj")


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that can only rebuild tensors, containers, numpy values and persistent-object records."""

    def __init__(self, file, origin: str):
        super().__init__(file)
        self.origin = origin

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key == PERSISTENCE_HOOK:
            return lambda meta: PersistentObject(meta, self.origin)
        for table in (_TORCH_GLOBALS, _PLAIN_GLOBALS, _NUMPY_GLOBALS):
            if key in table:
                return table[key]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module.startswith("dnnlib.tflib"):
            raise CheckpointFormatError(
                f"{self.origin}: this is a TensorFlow StyleGAN pickle ({module}.{name}); convert it to a PyTorch "
                "pickle with NVlabs stylegan2-ada-pytorch's legacy.py first, then run `python -m draggan.convert`")
        raise UnsafeCheckpointError(f"{self.origin}: refusing to load global {module}.{name} "
                                    "(only tensors, NVlabs persistent objects, numpy values and containers are allowed)")

    def persistent_load(self, pid):
        raise CheckpointFormatError(f"{self.origin}: unexpected persistent id {pid!r}; is this a torch.save file?")


def read_pickle(path: str | Path):
    """The whole pickle, rebuilt through `SafeUnpickler`; any failure becomes a `CheckpointError` naming the file."""
    with open(path, "rb") as f:
        try:
            return SafeUnpickler(f, str(path)).load()
        except CheckpointError:
            raise
        except pickle.UnpicklingError as e:
            if "weights only" in str(e).lower():
                raise UnsafeCheckpointError(f"{path}: a tensor storage in the pickle was refused by torch's "
                                            f"weights_only loader: {e}") from e
            raise CheckpointFormatError(f"{path}: corrupt pickle ({e}); the file may be truncated") from e
        except EOFError as e:
            raise CheckpointFormatError(f"{path}: the pickle ends early; the file is truncated") from e
        except Exception as e:  # any other failure of the pickle machinery on bad bytes
            raise CheckpointFormatError(f"{path}: corrupt pickle ({type(e).__name__}: {e})") from e


def module_state_dict(obj: PersistentObject, origin: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten `_parameters`, persistent `_buffers` and `_modules` into dotted `state_dict()` names."""
    state = obj.state

    def entries(key: str) -> list:
        value = state.get(key) or {}
        if not isinstance(value, dict):
            raise CheckpointFormatError(f"{origin}: {prefix}{key} is a {type(value).__name__}, not a dict")
        return list(value.items())

    skip = set(state.get("_non_persistent_buffers_set") or ())
    tensors = entries("_parameters") + [(k, v) for k, v in entries("_buffers") if k not in skip]
    out = {}
    for name, value in tensors:
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise CheckpointFormatError(f"{origin}: {prefix}{name} is a {type(value).__name__}, not a tensor")
        out[prefix + name] = value
    for name, child in entries("_modules"):
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise CheckpointFormatError(f"{origin}: submodule {prefix}{name} is not an NVlabs persistent module")
        out.update(module_state_dict(child, origin, f"{prefix}{name}."))
    return out


def read_nvlabs_pickle(path: str | Path, key: str = "G_ema") -> tuple[dict, dict[str, torch.Tensor]]:
    """The init kwargs and NVlabs-named state dict of the `key` network in an NVlabs training pickle."""
    data = read_pickle(path)
    if not isinstance(data, dict):
        raise CheckpointFormatError(f"{path}: the pickle holds a {type(data).__name__}, not an NVlabs snapshot dict")
    if key not in data:
        raise CheckpointFormatError(f"{path}: the pickle has no '{key}' entry (it has {sorted(map(str, data))})")
    net = data[key]
    if not isinstance(net, PersistentObject):
        raise CheckpointFormatError(f"{path}: '{key}' is a {type(net).__name__}, not an NVlabs persistent network")
    if net.state.get("_init_args"):
        raise CheckpointFormatError(f"{path}: '{key}' was built with positional arguments; only keyword "
                                    "init kwargs are supported")
    return net.init_kwargs, module_state_dict(net, str(path))
