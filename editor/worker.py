"""What the editor runs in a GPU worker, and how it replays the results on the visitor's session.

On a ZeroGPU Space a drag or an inversion runs in a forked worker that gets pickled copies of its arguments,
and what it changes never comes back (common/zerogpu.py). So the worker is sent the shared generator, the
visitor's `Overlay` (their tuning, small) and the latent, and sends back plain values: `drag_copy` runs the drag
on a fresh session there, and `follow` replays its steps on the visitor's session (undo record, latent,
trajectory, frames); `inversion_stream` sends the inversion's progress reports, then its result. A `StopFlag`
is the Stop button's request, as a file that the worker sees. Elsewhere the same functions run in-process.
"""

from __future__ import annotations

import queue
import threading
import uuid
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from common import gpu
from draggan.inversion import Inversion, InversionProgress, InvertConfig, invert
from draggan.networks import Generator
from draggan.overlay import Overlay
from draggan.session import DragConfig, DragSession, StepResult

# result, latent and feature offset after it, handles it tracked
DragStep = tuple[StepResult, torch.Tensor, "torch.Tensor | None", "np.ndarray | None"]


class StopFlag:
    """A stop request that reaches a GPU worker: `threading.Event`'s `set` / `is_set` / `clear` on a file in
    `folder`, so that it pickles, and the worker (a fork on the same machine) sees the caller's `set()`."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / f"stop-{uuid.uuid4().hex}"

    def set(self) -> None:
        self.path.touch()

    def is_set(self) -> bool:
        return self.path.exists()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def progress_stream(fn: Callable, *args, stop: StopFlag, **kwargs) -> Iterator:
    """`fn(*args, progress=..., stop=stop, **kwargs)` as a stream: each progress report, then fn's result.

    A generator's items cross the GPU boundary one by one, as a callback cannot. fn runs on a thread of the
    process that iterates; if the stream is closed early, `stop` is set so that fn ends after its current step."""
    reports: queue.SimpleQueue = queue.SimpleQueue()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["result"] = fn(*args, progress=reports.put, stop=stop, **kwargs)
        except BaseException as err:  # re-raised on the iterating side
            outcome["error"] = err
        finally:
            reports.put(outcome)

    threading.Thread(target=work, daemon=True, name=f"{getattr(fn, '__name__', 'gpu')}-stream").start()
    try:
        while (report := reports.get()) is not outcome:
            yield report
    except GeneratorExit:
        stop.set()
        raise
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["result"]


def drag_copy(G: Generator, overlay: Overlay, ws: torch.Tensor, features: torch.Tensor | None, config: DragConfig,
              handles: Sequence, targets: Sequence, **settings) -> Iterator[DragStep]:
    """`DragSession.drag(handles, targets, **settings)` on a fresh session of (the overlay on G, ws, features,
    config), as values that pickle: each result, the latent and feature offset after it (on the CPU) and the
    handles its step tracked (None for the closing render, which tracks again but is no step)."""
    session = DragSession(overlay.on(G), ws=ws, features=features, config=config)
    tracked = 0
    for result in session.drag(handles, targets, **settings):
        trajectory = session.history[-1].trajectory
        features = session.features
        yield (result, session.ws.cpu(), None if features is None else features.cpu(),
               trajectory[-1] if len(trajectory) > tracked else None)
        tracked = len(trajectory)


run_drag = gpu(drag_copy, duration=lambda *args, max_steps, **settings: min(300.0, 20.0 + 0.25 * max_steps))


def follow(session: DragSession, handles: Sequence, targets: Sequence,
           steps: Iterator[DragStep]) -> Iterator[StepResult]:
    """Replay a `drag_copy` of `session` on it, step by step: the drag's undo record (once its first step arrives,
    so that a drag refused in the worker leaves none), then each step's latent, feature offset, tracked handles and
    frame."""
    started = False
    for result, ws, features, tracked in steps:
        if not started:
            session.start_replay(handles, targets)
            started = True
        session.replay_step(ws, tracked, result.frame, features)
        yield result


def inversion_seconds(G, target, stop, **settings) -> float:
    """GPU time to ask a ZeroGPU Space for: generous per-step figures for a 512-1024 px model (a feature-offset
    step, where the model's recipe fits one, counted like a PTI step)."""
    config = settings.get("config") or InvertConfig()
    offset_steps = config.feature_steps if settings.get("feature_res") else 0
    return min(600.0, 20.0 + 0.15 * settings["steps"] + 0.3 * (settings["pti_steps"] + offset_steps))


def inversion_stream(G: Generator, target: np.ndarray, stop: StopFlag,
                     **settings) -> Iterator[InversionProgress | Inversion]:
    """`invert(G, target, **settings)` as what crosses the GPU boundary: its progress reports, then its result
    (the latent and the overlay: G stays where it is)."""
    yield from progress_stream(invert, G, target, stop=stop, **settings)


run_inversion = gpu(inversion_stream, duration=inversion_seconds)


def follow_inversion(stream: Iterator[InversionProgress | Inversion],
                     progress: Callable[[InversionProgress], None] | None) -> Inversion:
    """The result of an `inversion_stream`, with each report passed to `progress` on the way."""
    for item in stream:
        if isinstance(item, Inversion):
            return item
        if progress is not None:
            progress(item)
    raise RuntimeError("the inversion ended without a result")
