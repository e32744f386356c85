"""The cap on PTI-tuned generators held in memory at once, over all visitors; the others wait on disk.

A photo's tuning is an `Overlay` on the one shared generator. The ToRGB fit's is 36 KB at 512 px and is
never counted. PTI's changes every synthesis layer, so its overlay costs a copy of the network (~124 MB at
512 px in fp32), and a busy Space would run out of memory without a cap. The overlay lives with the visitor's
editor; this registry keeps weak references and decides who may keep theirs in memory. When a new one would
exceed the cap, the least recently used visitor who is idle (no job running, no edit for SPILL_AFTER_IDLE_S)
has theirs spilled: written to their session folder (`Overlay.save`, bit for bit) and loaded again by their
next edit, so nothing of theirs is lost. An overlay is freed for good when its visitor makes a new image,
closes the page or their session expires.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from typing import Protocol

from draggan.overlay import Overlay

DEFAULT_MAX_TUNED = 4
SPILL_AFTER_IDLE_S = 10.0   # An overlay used more recently than this is never spilled (an edit may be using it).
NOT_SPILLED = ("**Your tuned generator was freed** to make room for other visitors, and could not be kept on disk "
               "({error}). Your photo and its aligned face are kept: press **Invert** to tune again.")


class Holder(Protocol):
    """What the registry needs of a visitor's editor (editor.Editor)."""
    visitor: str                    # The visitor's id (gradio session hash).
    overlay: Overlay | None         # Their tuning, None while it waits on disk.
    running: bool                   # A drag or inversion runs: never dropped mid-run.

    def drop_session(self, reason: str) -> None: ...

    def spill(self) -> None: ...    # Write the overlay to disk and let it go (restored on the next edit).


class TunedCopies:
    """Which visitors hold a PTI overlay in memory, least recently used first."""

    def __init__(self, limit: int = DEFAULT_MAX_TUNED):
        if limit < 1:
            raise ValueError(f"the number of tuned generators kept must be at least 1, got {limit}")
        self.limit = limit
        self._holders: OrderedDict[str, tuple[weakref.ref, weakref.ref]] = OrderedDict()  # visitor: (state, overlay)
        self._used: dict[str, float] = {}  # visitor: when they last used their copy (time.monotonic)
        self._lock = threading.Lock()

    def holders(self) -> list[str]:
        """Visitors who still edit with their PTI overlay in memory, least recently used first."""
        with self._lock:
            self._forget_stale()
            return list(self._holders)

    def admit(self, state: Holder) -> list[str]:
        """`state.overlay` (PTI's) is now in memory: record it, and spill the least recently used idle holders
        beyond the cap. Returns the visitors whose overlays went to disk. A holder that runs a job or edited in
        the last SPILL_AFTER_IDLE_S is never spilled: the cap is then exceeded for a while."""
        if not state.visitor or state.overlay is None:
            raise ValueError("a tuned generator needs its overlay and the visitor's id (the editor's visitor)")
        with self._lock:
            self._holders[state.visitor] = (weakref.ref(state), weakref.ref(state.overlay))
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
                except OSError as err:  # no room on disk either: the tuning goes, the photo stays
                    holder.drop_session(NOT_SPILLED.format(error=err))
                spilled.append(visitor)
            return spilled

    def touch(self, state: Holder) -> None:
        """The visitor is using their overlay: they become the most recently used (and are not spilled)."""
        with self._lock:
            if state.visitor in self._holders:
                self._holders.move_to_end(state.visitor)
                self._used[state.visitor] = time.monotonic()

    def _recent(self, visitor: str) -> bool:
        return time.monotonic() - self._used.get(visitor, 0.0) < SPILL_AFTER_IDLE_S

    def release(self, visitor: str) -> Holder | None:
        """Forget `visitor`; their state if it still edits with its PTI overlay (the caller may then drop it)."""
        with self._lock:
            self._forget_stale()
            refs = self._holders.pop(visitor, None)
        return None if refs is None else refs[0]()

    def _forget_stale(self) -> None:
        """Entries whose state is gone or that no longer edits with the overlay recorded hold nothing."""
        for visitor, (state_ref, overlay_ref) in list(self._holders.items()):
            state, overlay = state_ref(), overlay_ref()
            if state is None or overlay is None or state.overlay is not overlay:
                del self._holders[visitor]
                self._used.pop(visitor, None)
