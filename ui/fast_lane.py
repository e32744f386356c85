"""Fast requests (segment, paint, new image, ...) share the server per client, and every event answers in sentences.

Why: gradio (6.31) has one queue of `max_size` events for everyone. 80 /call/paint posts with a 40 Mpx label
map from one client filled it, and every other visitor got HTTP 503 "Queue is full" for seconds. So, as the
slow jobs do (ui/lanes.py), every queued event runs in gradio with no concurrency limit of its own (it leaves
gradio's queue at once) and waits here instead: at most `running` at once over all clients, at most
`per_client` of one client's at once and `waiting` more of theirs in line. Beyond that a request is refused at
once with a sentence, so a flood costs its sender a refusal each, and a slot is always left for the others.
A client is the one `SlowLane` sees: the IP the platform's proxy appended on a Space, else the browser session.

And an error that no handler turned into a message (a bug, or an input nobody thought of) reaches the client
as one sentence; its text and traceback go to the server's log, not to the client.
"""
from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections import Counter
from contextlib import contextmanager

import gradio as gr
from gradio.context import LocalContext

from editor import Refused
from ui.lanes import client_of

TOO_MANY = ("You have {count} requests running or waiting on this server; wait for them to finish, then try "
            "again.")
BUSY = "The server is busy ({count} requests running or waiting). Try again in a few seconds."
UNEXPECTED = ("The server could not handle this request (a fault on our side); nothing was changed. Please try "
              "again.")
LOG = logging.getLogger(__name__)


class FastLane:
    """At most `running` fast requests at once, at most `per_client` of one client's, `waiting` more of theirs in
    line and `total` over all (each waiting request holds one of gradio's worker threads); more are refused."""

    def __init__(self, running: int = 4, per_client: int = 2, waiting: int = 8, total: int = 32,
                 by_ip: bool = False):
        self.running, self.per_client, self.waiting, self.total, self.by_ip = (running, per_client, waiting, total,
                                                                               by_ip)
        self._cond = threading.Condition()
        self._held: Counter[str] = Counter()     # client -> their requests running or waiting
        self._busy: Counter[str] = Counter()     # client -> their requests running

    def client(self, request: gr.Request | None) -> str:
        return client_of(request, self.by_ip)

    @contextmanager
    def admitted(self, client: str):
        """Hold a slot for one request of `client` while the block runs; gr.Error (a sentence) when they already
        have their share running and waiting, or when the server holds `total` requests."""
        with self._cond:
            held = sum(self._held.values())
            if self._held[client] >= self.per_client + self.waiting:
                raise gr.Error(TOO_MANY.format(count=self._held[client]), print_exception=False)
            if held >= self.total:
                raise gr.Error(BUSY.format(count=held), print_exception=False)
            self._held[client] += 1
            while sum(self._busy.values()) >= self.running or self._busy[client] >= self.per_client:
                self._cond.wait()
            self._busy[client] += 1
        try:
            yield
        finally:
            with self._cond:
                for count in (self._busy, self._held):
                    count[client] -= 1
                    if not count[client]:
                        del count[client]  # every address ever seen would stay otherwise
                self._cond.notify_all()


@contextmanager
def sentences_only(name: str):
    """Let gr.Error through; a `Refused` as its sentence; anything else as UNEXPECTED, its text in the log."""
    try:
        yield
    except gr.Error:
        raise
    except Refused as err:
        raise gr.Error(str(err), print_exception=False) from None
    except Exception:
        LOG.exception("event %s failed", name)
        raise gr.Error(UNEXPECTED, print_exception=False) from None


def guarded(fn, lane: FastLane | None):
    """`fn` (a handler, or a streaming one) answering in sentences, and passing `lane` first when given."""
    name = getattr(fn, "__name__", "event")

    @contextmanager
    def turn():
        with sentences_only(name):
            if lane is None:
                yield
            else:
                with lane.admitted(lane.client(LocalContext.request.get(None))):
                    yield

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            with turn():
                yield from fn(*args, **kwargs)
        return stream

    @functools.wraps(fn)
    def respond(*args, **kwargs):
        with turn():
            return fn(*args, **kwargs)
    return respond


def guard_events(demo: gr.Blocks, lane: FastLane) -> None:
    """Every event of `demo` answers in sentences; every queued one with gradio's default concurrency (the fast
    ones: slow jobs have their own lane, Stop runs outside the queue) waits in `lane` instead of gradio's queue.
    Call after every event is wired."""
    for block_fn in demo.fns.values():
        if block_fn.fn is None or inspect.iscoroutinefunction(block_fn.fn) or inspect.isasyncgenfunction(block_fn.fn):
            continue
        fast = block_fn.queue and block_fn.concurrency_limit == "default"
        block_fn.fn = guarded(block_fn.fn, lane if fast else None)
        if fast:
            block_fn.concurrency_limit = None
