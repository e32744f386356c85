"""A fair queue: slow jobs (drag, inversion) pass a `SlowLane`; fast requests never wait behind them.

Why: gradio (6.31) has one queue (`max_size`) for every event. Two 5000 + 2000 step inversions and 70 raw
/call/start posts under made-up session hashes filled it, and every visitor's /segment, /new_image and even
the hogs' /stop got "Queue is full!". So slow events run in gradio with no concurrency limit of their own
(they start at once, and a refusal costs nothing) and wait here instead: at most `running` at once, at most
`waiting` more, at most one per client (the IP; on a Space the address the proxy appends to x-forwarded-for). A
refused job gets a sentence saying why and, when the server is full, about how long to wait. Stop runs outside
every queue and ends only its own session's job. Fast requests have a lane of their own (ui/fast_lane.py).

Step counts are limited too (`StepLimits`), so that a job's wall time is bounded; the limits are shown on the
page and set by flags (ui/config.py) for a private machine.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

import gradio as gr

from editor import Refused

ONE_JOB = ("**You already have a job running or waiting** (a drag or an inversion): wait for it to finish, or "
           "press **Stop**, then start this one.")
BUSY = "**The server is busy** ({running} jobs running, {waiting} waiting). Try again in about {seconds} s."
STOPPED_WAITING = "Stopped: the job had not started yet."
MAX_RUNNING = 2   # Slow jobs running at once, over all visitors (--max-drags).
MAX_WAITING = 8   # Slow jobs waiting for a turn (--max-waiting).
# Seconds per step before one has been timed (512 px, 2 CPU cores): a drag step; an inversion's default 20
# projection steps and 40 ToRGB fit iterations take about 29 s in all (docs/performance.md).
FIRST_GUESS_S = {"drag": 0.6, "invert": 0.5}


def client_ip(request: gr.Request | None) -> str:
    """The IP a request came from: on a Space the address the platform's proxy appended to x-forwarded-for.

    Proxies append the address they were connected from to the end of x-forwarded-for (uvicorn's own proxy
    middleware reads it from the right too); every entry before it is whatever the client wrote, so a client that
    rotates the first entry is still one client. Off a Space the header could be anyone's: the socket's address."""
    if request is None:
        return "local"
    forwarded = request.headers.get("x-forwarded-for", "") if os.environ.get("SPACE_ID") else ""
    appended = forwarded.split(",")[-1].strip()
    return appended or getattr(request.client, "host", None) or "unknown"


def session_of(request: gr.Request | None) -> str:
    """The gradio session a request belongs to ("local" for a direct call)."""
    return getattr(request, "session_hash", None) or "local"


def client_of(request: gr.Request | None, by_ip: bool) -> str:
    """Whose request it is: their IP with `by_ip` (a public Space: its visitors are strangers), else their gradio
    session (a private machine, or tests, whose visitors all come from one address)."""
    return client_ip(request) if by_ip else session_of(request)


@dataclass(frozen=True)
class StepLimits:
    """The most steps one job may ask for on this server (flags raise them on a private machine)."""
    drag: int = 500        # Drag steps: ~5 min at 565 ms/step (512 px, 2 CPU cores).
    invert: int = 200      # W+ projection steps.
    pti: int = 60          # Pivotal-tuning steps.

    def check(self, what: str, steps: int, limit: int, flag: str) -> None:
        if steps > limit:
            raise Refused(f"This server runs at most **{limit} {what} steps** per job (asked: {steps}), so that "
                          f"every visitor gets a turn; `python app.py {flag} N` on your own machine.")


class SlowLane:
    """At most `running` slow jobs at once and `waiting` more, one per client (`client_of`); estimates waits from
    timed steps."""

    def __init__(self, running: int = MAX_RUNNING, waiting: int = MAX_WAITING, by_ip: bool = False):
        self.running, self.waiting, self.by_ip = running, waiting, by_ip
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()              # clients waiting, first in first out
        self._ends: dict[str, float] = {}              # client -> expected end of their running job
        self._cancelled: set[str] = set()
        self._sessions: dict[str, str] = {}            # waiting client -> the gradio session that asked (for Stop)
        self._per_step = dict(FIRST_GUESS_S)           # kind -> seconds per step, as last measured

    def client(self, request: gr.Request | None) -> str:
        return client_of(request, self.by_ip)

    def busy_for(self) -> int:
        """Seconds until a job could start here: the soonest end of a running job, plus the waiting ones."""
        now = time.monotonic()
        soonest = min((end - now for end in self._ends.values()), default=0.0)
        queued = len(self._queue) * max((end - now for end in self._ends.values()), default=0.0) / self.running
        return max(5, round(soonest + queued))

    @contextmanager
    def admitted(self, client: str, kind: str, steps: int, session: str | None = None):
        """Hold a slot for `client`'s job of `steps` steps while the block runs; Refused when they already have a
        job here, when every slot and waiting place is taken, or when `session` (default: `client`) presses Stop
        while it waits."""
        with self._cond:
            if client in self._ends or client in self._queue:
                raise Refused(ONE_JOB, warn=True)
            if len(self._ends) >= self.running and len(self._queue) >= self.waiting:
                raise Refused(BUSY.format(running=len(self._ends), waiting=len(self._queue),
                                          seconds=self.busy_for()), warn=True)
            self._queue.append(client)
            self._sessions[client] = client if session is None else session
            while (len(self._ends) >= self.running or self._queue[0] != client) and client not in self._cancelled:
                self._cond.wait(timeout=1.0)
            self._queue.remove(client)
            del self._sessions[client]
            if client in self._cancelled:
                self._cancelled.discard(client)
                self._cond.notify_all()
                raise Refused(STOPPED_WAITING)
            started = time.monotonic()
            self._ends[client] = started + steps * self._per_step[kind]
        try:
            yield
        finally:
            with self._cond:
                del self._ends[client]
                self._per_step[kind] = max(1e-3, (time.monotonic() - started) / max(1, steps))
                self._cond.notify_all()

    def cancel(self, session: str) -> bool:
        """Take the job `session` asked for out of the waiting line (Stop before it started); whether there was one.
        By session, not client: a stranger behind the same address cannot cancel it."""
        with self._cond:
            client = next((c for c, s in self._sessions.items() if s == session), None)
            if client is None or client in self._cancelled:
                return False
            self._cancelled.add(client)
            self._cond.notify_all()
            return True
