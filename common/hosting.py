"""Start-up where the app is hosted: how many threads the cores allow, and which device, ZeroGPU included.

A container (a Space's CPU basic hardware: 2 vCPU) often reports the host's cores through os.cpu_count(),
and PyTorch would start that many threads on 2 CPUs; the cgroup's CPU quota says what is really there.
"""

from __future__ import annotations

import importlib
import math
import os
from pathlib import Path

import torch

from .device import pick_device
from .zerogpu import on_zero_gpu

CGROUP = Path("/sys/fs/cgroup")


def cgroup_cpus(root: Path = CGROUP) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (v2 `cpu.max`, else v1 CFS files), None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or float(period) <= 0:
        return None
    return float(quota) / float(period)


def available_cores(root: Path = CGROUP) -> int:
    """The cores this process may use: those it is pinned to, capped by the cgroup's quota."""
    pinned = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpus(root)
    return max(1, min(pinned, math.ceil(quota)) if quota else pinned)


def size_threads() -> int:
    """PyTorch's intra-op threads set to the available cores; returns how many."""
    cores = available_cores()
    torch.set_num_threads(cores)
    return cores


def startup_device(requested: str = "auto") -> torch.device:
    """The device models load on at start-up: on ZeroGPU always `cuda`, as its rules ask, else `pick_device`.

    On ZeroGPU `spaces` is imported first: it must patch torch before anything starts CUDA, and then it moves
    what start-up put on `cuda` to the GPU lent to each `gpu()` call. A ValueError names a missing device."""
    if on_zero_gpu() and requested in ("auto", "cuda"):
        importlib.import_module("spaces")
        return torch.device("cuda")
    return pick_device(None if requested == "auto" else requested)
