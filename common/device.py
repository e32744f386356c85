"""Where to run: `pick_device()` picks CUDA, then Apple MPS, then CPU, and refuses a device the machine lacks."""
from __future__ import annotations

import torch


def device_available(kind: str) -> bool:
    """Whether this machine can run on a device type ('cuda', 'mps'; any other type is taken as usable)."""
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return True


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """`preferred` if given (a clear error if this machine lacks it), else CUDA, else Apple MPS, else CPU."""
    if preferred is not None:
        device = torch.device(preferred)
        if not device_available(device.type):
            raise ValueError(f"device {str(preferred)!r} is not available on this machine; "
                             "use 'cpu', or leave the device unset to pick one automatically")
        return device
    for kind in ("cuda", "mps"):
        if device_available(kind):
            return torch.device(kind)
    return torch.device("cpu")
