"""Per-visitor tuned generators (PTI), at most `limit` in memory at once; the others wait on disk.

Pivotal tuning gives each photo its own copy of the synthesis network (about 124 MB at 512 px in
fp32), so a busy Space would run out of memory without a cap. The copy lives only in the visitor's
DragSession; this registry keeps weak references and decides which sessions may keep one in memory.
When a new copy would exceed the cap, the least recently used visitor who is idle (no job running, no
edit for SPILL_AFTER_IDLE_S) has theirs spilled: written to their session folder as fp16 safetensors
(~62 MB at 512 px) and loaded again by their next edit. Nothing of theirs is lost: four throwaway
inversions used to wipe a visitor's edit ("Your tuned generator was freed"). A copy is freed for good
when its visitor makes a new image (the session is replaced), closes the page or their session expires.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import torch
from safetensors.torch import load_file, save_file

from draggan.session import DragSession

DEFAULT_MAX_TUNED = 4
SPILL_AFTER_IDLE_S = 10.0   # A copy used more recently than this is never spilled (an edit may be using it).
NOT_SPILLED = ("**Your tuned generator was freed** to make room for other visitors, and could not be kept on disk "
               "({error}). Your photo and its aligned face are kept: press **Invert** to tune again.")


class Holder(Protocol):
    """What the registry needs of a visitor's editor (editor.Editor)."""
    visitor: str                    # The visitor's id (gradio session hash).
    session: DragSession | None     # Their drag session, on a tuned copy while they hold one.
    running: bool                   # A drag or inversion runs: never dropped mid-run.

    def drop_session(self, reason: str) -> None: ...

    def spill(self) -> None: ...    # Write the tuned copy to disk and let it go (restored on the next edit).


def save_tuned(generator: torch.nn.Module, path: Path) -> None:
    """A tuned generator's weights as fp16 safetensors (half the bytes; the edit looks the same)."""
    tensors = {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous().clone()
               for k, v in generator.state_dict().items()}
    save_file(tensors, str(path))


def load_tuned(base: torch.nn.Module, path: Path) -> torch.nn.Module:
    """A copy of `base` with the tuned weights of `save_tuned` (back in base's dtypes), ready to edit with."""
    tuned = copy.deepcopy(base)
    saved = load_file(str(path), device=str(next(base.parameters()).device))
    own = tuned.state_dict()
    tuned.load_state_dict({k: v.to(own[k].dtype) for k, v in saved.items()})
    return tuned.eval().requires_grad_(False)


class TunedCopies:
    """Which visitors hold a tuned generator, least recently used first."""

    def __init__(self, limit: int = DEFAULT_MAX_TUNED):
        if limit < 1:
            raise ValueError(f"the number of tuned generators kept must be at least 1, got {limit}")
        self.limit = limit
        self._holders: OrderedDict[str, tuple[weakref.ref, weakref.ref]] = OrderedDict()  # visitor: (state, G)
        self._used: dict[str, float] = {}  # visitor: when they last used their copy (time.monotonic)
        self._lock = threading.Lock()

    def holders(self) -> list[str]:
        """Visitors whose session still edits with their tuned copy, least recently used first."""
        with self._lock:
            self._forget_stale()
            return list(self._holders)

    def admit(self, state: Holder) -> list[str]:
        """`state.session` now runs on a tuned copy in memory: record it, and spill the least recently used idle
        holders beyond the cap. Returns the visitors whose copies went to disk. A holder that runs a job or
        edited in the last SPILL_AFTER_IDLE_S is never spilled: the cap is then exceeded for a while."""
        if not state.visitor or state.session is None:
            raise ValueError("a tuned generator needs a session and the visitor's id (the editor's visitor)")
        with self._lock:
            self._holders[state.visitor] = (weakref.ref(state), weakref.ref(state.session.G))
            self._holders.move_to_end(state.visitor)
            self._used[state.visitor] = time.monotonic()
            self._forget_stale()
            spilled = []
            for visitor, (holder_ref, _) in list(self._holders.items()):
                if len(self._holders) <= self.limit:
                    break
                holder = holder_ref()
                if holder is state or holder.running or self._recent(visitor):
                    continue
                del self._holders[visitor]
                try:
                    holder.spill()
                except OSError as err:  # no room on disk either: the copy goes, the photo stays
                    holder.drop_session(NOT_SPILLED.format(error=err))
                spilled.append(visitor)
            return spilled

    def touch(self, state: Holder) -> None:
        """The visitor is using their tuned copy: they become the most recently used (and are not spilled)."""
        with self._lock:
            if state.visitor in self._holders:
                self._holders.move_to_end(state.visitor)
                self._used[state.visitor] = time.monotonic()

    def _recent(self, visitor: str) -> bool:
        return time.monotonic() - self._used.get(visitor, 0.0) < SPILL_AFTER_IDLE_S

    def release(self, visitor: str) -> Holder | None:
        """Forget `visitor`; their state if it still edits with its tuned copy (the caller may then drop it)."""
        with self._lock:
            self._forget_stale()
            refs = self._holders.pop(visitor, None)
        return None if refs is None else refs[0]()

    def _forget_stale(self) -> None:
        """Entries whose state is gone or whose session no longer runs on the tuned copy hold nothing."""
        for visitor, (state_ref, generator_ref) in list(self._holders.items()):
            state, generator = state_ref(), generator_ref()
            if state is None or generator is None or state.session is None or state.session.G is not generator:
                del self._holders[visitor]
                self._used.pop(visitor, None)
