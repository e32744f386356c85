"""Per-visitor tuned generators (PTI), at most `limit` in memory at once.

Pivotal tuning gives each photo its own copy of the synthesis network (about 124 MB at 512 px in
fp32), so a busy Space would run out of memory without a cap. The copy lives only in the visitor's
DragSession; this registry keeps weak references and decides which sessions may keep one. When a
new copy would exceed the cap, the least recently used idle visitor's session is dropped (freeing
its copy) and that visitor is told to invert again. A copy is also freed when its visitor makes a
new image (the session is replaced), closes the page (demo.unload) or their state is deleted.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Protocol

from draggan.session import DragSession

DEFAULT_MAX_TUNED = 4


class Holder(Protocol):
    """What the registry needs of a visitor's editor (editor.Editor)."""
    visitor: str                    # The visitor's id (gradio session hash).
    session: DragSession | None     # Their drag session, on a tuned copy while they hold one.
    running: bool                   # A drag or inversion runs: never dropped mid-run.

    def drop_session(self, reason: str) -> None: ...

DROPPED = ("**Your tuned generator was freed** to make room for other visitors (this server keeps {limit} at "
           "once). Your photo and its aligned face are kept: press **Invert** to tune again.")


class TunedCopies:
    """Which visitors hold a tuned generator, least recently used first."""

    def __init__(self, limit: int = DEFAULT_MAX_TUNED):
        if limit < 1:
            raise ValueError(f"the number of tuned generators kept must be at least 1, got {limit}")
        self.limit = limit
        self._holders: OrderedDict[str, tuple[weakref.ref, weakref.ref]] = OrderedDict()  # visitor: (state, G)
        self._lock = threading.Lock()

    def holders(self) -> list[str]:
        """Visitors whose session still edits with their tuned copy, least recently used first."""
        with self._lock:
            self._forget_stale()
            return list(self._holders)

    def admit(self, state: Holder) -> list[str]:
        """`state.session` now runs on a tuned copy: record it, and drop the oldest idle holders beyond the cap.

        Returns the visitors whose copies were dropped. A holder that is running a drag or an inversion
        is never dropped mid-run: the cap is then exceeded until someone is admitted after it finishes.
        """
        if not state.visitor or state.session is None:
            raise ValueError("a tuned generator needs a session and the visitor's id (the editor's visitor)")
        with self._lock:
            self._holders[state.visitor] = (weakref.ref(state), weakref.ref(state.session.G))
            self._holders.move_to_end(state.visitor)
            self._forget_stale()
            dropped = []
            for visitor, (holder_ref, _) in list(self._holders.items()):
                if len(self._holders) <= self.limit:
                    break
                holder = holder_ref()
                if holder is state or holder.running:
                    continue
                del self._holders[visitor]
                holder.drop_session(DROPPED.format(limit=self.limit))
                dropped.append(visitor)
            return dropped

    def touch(self, state: Holder) -> None:
        """The visitor used their tuned copy: they become the most recently used."""
        with self._lock:
            if state.visitor in self._holders:
                self._holders.move_to_end(state.visitor)

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
