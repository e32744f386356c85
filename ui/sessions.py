"""How long a visitor's session lives, where its files go, and what is cleaned at shutdown.

Why: gradio (6.31, `state_holder.py`) expires a `gr.State` only `time_to_live` seconds after it was last
*written*, and keeps a closed page's state for an hour. Our handlers change their state in place, and raw API
clients never close a page, so their sessions were never freed (20 sessions with a 4096 px photo: +770 MB,
still held). Gradio does record when each session was last *used* (`StateHolder.time_last_used`, set on
every event); the reaper here frees every session idle longer than the TTL, running jobs excepted, with its
gr.State values (their `delete_callback` runs) and its folder (editor/files.py).

Each session's files live in its folder (editor/files.py), all of which go at exit; gradio's own cache goes
at shutdown too (`install_shutdown`).
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import threading
import time
from pathlib import Path

import gradio as gr

from editor.files import SESSIONS_ROOT, remove_session

LOG = logging.getLogger(__name__)

SESSION_TTL_S = 30 * 60   # Sessions idle longer than this are freed with their files (--session-ttl).
MAX_CACHE_BYTES = 4 * 2**30  # gradio's cached uploads and outputs beyond this go, oldest first (--max-cache-gb).
MIN_CACHE_AGE_S = 60      # A younger file may still be on its way to a client (ui/outputs.py): never trimmed.


def is_running(value) -> bool:
    """A gr.State value whose job (a drag, an inversion) is still running: its session is not idle."""
    return bool(getattr(value, "running", False))


def cached_file_sets(demo: gr.Blocks) -> list[set]:
    """gradio's sets of files it cached for `demo`: its own, and those of the copies of its components that
    sessions hold (gradio copies a component per session; the files written through a copy are in no set of
    `demo`, so 4 image.webp outputs survived a SIGTERM)."""
    sets = list(demo.temp_file_sets)
    holder = getattr(demo, "state_holder", None)
    for data in list(getattr(holder, "session_data", {}).values()):
        for block in list(data.blocks_config.blocks.values()):
            files = getattr(block, "temp_files", None)
            if isinstance(files, set) and not any(files is known for known in sets):
                sets.append(files)
    return sets


def session_files() -> list[Path]:
    """Every file in the sessions' folders. os.walk, not glob: a session that ends mid-walk removes its folder, and
    glob raises on a folder that vanished under it (that once killed the reaper's thread)."""
    return [Path(root, name) for root, _, names in os.walk(SESSIONS_ROOT) if Path(root) != SESSIONS_ROOT
            for name in names]


def trim_cache(demo: gr.Blocks, max_bytes: int, now: float | None = None) -> int:
    """Delete gradio's oldest cached files for `demo` and the sessions' exports (examples kept, none younger than
    MIN_CACHE_AGE_S) until they and the sessions' other files (a spilled generator: counted, never deleted) take
    at most `max_bytes`; the bytes freed. Why: the schedule deletes by age only, and one client that uploads
    200 MB files (or segments, or exports) as fast as it can would fill the disk before the next sweep. An export
    folder is only the source of gradio's copy, which the page downloads."""
    now = time.time() if now is None else now
    kept = {f for block in demo.blocks.values() for f in getattr(block, "keep_in_cache", set())}
    files, held = [], 0
    for fileset in cached_file_sets(demo):
        for file in set(fileset) - kept:
            with contextlib.suppress(OSError):
                stat = Path(file).stat()
                files.append((stat.st_ctime, stat.st_size, file, fileset))
    for file in session_files():
        with contextlib.suppress(OSError):
            stat = file.stat()
            if file.parent.name == "export":
                files.append((stat.st_ctime, stat.st_size, str(file), set()))
            else:
                held += stat.st_size
    excess = sum(size for _, size, _, _ in files) + held - max_bytes
    freed = 0
    for created, size, file, fileset in sorted(files, key=lambda f: f[:2]):
        if freed >= excess or now - created < MIN_CACHE_AGE_S:
            break
        Path(file).unlink(missing_ok=True)
        fileset.discard(file)
        freed += size
    return freed


def release_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim). Why: after a flood of large images,
    freed buffers stay in the process's heap (glibc raises its mmap threshold after large frees), so RSS stayed
    1.1 GB higher 40 s after a paint flood."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class SessionReaper:
    """Frees the sessions of `demo` idle longer than `ttl` seconds and trims gradio's cache to `max_cache_bytes`,
    every `every` seconds, in a daemon thread."""

    def __init__(self, demo: gr.Blocks, ttl: float = SESSION_TTL_S, every: float = 5.0,
                 max_cache_bytes: int = MAX_CACHE_BYTES):
        self.demo, self.ttl, self.every, self.max_cache_bytes = demo, float(ttl), every, max_cache_bytes
        self._stop = threading.Event()

    def sweep(self, now: float | None = None) -> list[str]:
        """Free every idle session now; returns their session hashes."""
        holder = getattr(self.demo, "state_holder", None)
        if holder is None:  # not launched yet
            return []
        now = time.time() if now is None else now
        freed = []
        for session, last_used in list(holder.time_last_used.items()):
            data = holder.session_data.get(session)
            if now - last_used.timestamp() <= self.ttl:
                continue
            if data is not None and any(is_running(v) for v in data.state_data.values()):
                continue
            holder.delete_state(session)  # runs each gr.State's delete_callback
            with holder.lock:
                holder.session_data.pop(session, None)
                holder.time_last_used.pop(session, None)
            remove_session(session)
            freed.append(session)
        return freed

    def start(self) -> SessionReaper:
        def loop():
            while not self._stop.wait(self.every):
                try:
                    self.sweep()
                    trim_cache(self.demo, self.max_cache_bytes)
                    release_memory()
                except Exception:  # one bad sweep must not end the sweeping: log it, try again next time
                    LOG.exception("session reaper: this sweep failed; the next one runs in %.0f s", self.every)
        threading.Thread(target=loop, name="session-reaper", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


def remove_cached_files(demo: gr.Blocks, settle_s: float = 1.0) -> None:
    """Delete the files gradio cached for `demo` (uploads, outputs). Its own shutdown means to, but it runs in
    the server thread, which `Server.close` waits for only 5 s: after a SIGTERM all of them were left.

    The files are deleted twice, `settle_s` apart: a drag still streaming at exit wrote its last frames
    (image.webp) after the first pass."""
    for sweep in range(2):
        if sweep:
            time.sleep(settle_s)
        for files in cached_file_sets(demo):
            for file in list(files):
                Path(file).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    Path(file).parent.rmdir()  # gradio puts each file in a folder of its own
                files.discard(file)


def stop_jobs(demo: gr.Blocks) -> None:
    """Ask every running drag or inversion of `demo` to stop after its current step. Why at SIGTERM: a drag still
    running at exit was killed mid-step (the process aborted) before gradio's files were deleted."""
    holder = getattr(demo, "state_holder", None)
    for data in list(getattr(holder, "session_data", {}).values()):
        for value in list(data.state_data.values()):
            if is_running(value) and callable(getattr(value, "stop", None)):
                with contextlib.suppress(OSError):
                    value.stop()


def install_shutdown(demo: gr.Blocks) -> None:
    """SIGTERM (how a Space or `docker stop` ends the app) stops the running jobs and the server as Ctrl-C does;
    at exit, gradio's cached files for `demo` are deleted (and the session folders: editor/files.py)."""
    def interrupt(signum, frame):
        if getattr(demo, "reaper", None) is not None:
            demo.reaper.stop()  # it would trim the cache while gradio's own shutdown walks the same sets
        stop_jobs(demo)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
    atexit.register(remove_cached_files, demo)
