"""Run a function on a Hugging Face ZeroGPU Space's GPU, and unchanged everywhere else.

A ZeroGPU Space has no GPU until a function decorated with the `spaces` package's `@spaces.GPU`
is called; the platform marks such Spaces with SPACES_ZERO_GPU=true (the same variable `spaces`
reads). `spaces` is installed on every Space, GPU or not, so its import alone proves nothing.

A GPU function runs in a forked worker, and `spaces` pickles its arguments and results on the way (spaces
0.51.3, zero/wrappers.py). So it may take and give back only what pickles, and what it changes in its
arguments stays in the worker: editor/worker.py is what the editor sends across and how it replays it.
"""

from __future__ import annotations

import importlib
import os
from typing import Callable, TypeVar, Union

F = TypeVar("F", bound=Callable)

ZERO_GPU_VARIABLE = "SPACES_ZERO_GPU"  # Set to "true" by Hugging Face on ZeroGPU hardware.


def on_zero_gpu() -> bool:
    """This process runs on a ZeroGPU Space."""
    return os.environ.get(ZERO_GPU_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def gpu(fn: F, duration: Union[float, Callable[..., float]] = 60) -> F:
    """`spaces.GPU(duration=...)(fn)` on a ZeroGPU Space with `spaces` installed, else `fn` itself.

    `duration` is the longest call in seconds the Space asks a GPU for (ZeroGPU's default is 60), or
    a function of `fn`'s arguments that says so per call (e.g. from the step count). Shorter requests
    are scheduled first, so ask for what a drag or an inversion needs.
    """
    if not callable(fn):
        raise TypeError(f"gpu() wraps a function, got {type(fn).__name__}")
    number = isinstance(duration, (int, float)) and not isinstance(duration, bool)
    if not (callable(duration) or (number and duration > 0)):
        raise ValueError(f"duration must be a positive number of seconds or a function, got {duration!r}")
    if not on_zero_gpu():
        return fn
    try:
        spaces = importlib.import_module("spaces")
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)

