"""Where a visitor's files go: one folder per session (exports, a spilled tuned generator), deleted with it.

One folder per process holds them all, so that one app never deletes another's files (tests start several),
and the whole of it goes when the process exits, as each session's folder goes when the session ends.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

SESSIONS_ROOT = Path(tempfile.gettempdir()) / f"gan-editor-sessions-{os.getpid()}"


def session_path(visitor: str) -> Path:
    """The folder of one visitor's files (a session hash comes from the client: only safe characters are kept)."""
    return SESSIONS_ROOT / re.sub(r"[^A-Za-z0-9_-]", "_", visitor or "anonymous")[:64]


def session_dir(visitor: str) -> Path:
    """`session_path`, created on first use (the first one also has every folder deleted when the process exits)."""
    if not SESSIONS_ROOT.exists():
        atexit.register(remove_all_sessions)
    folder = session_path(visitor)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_session(visitor: str) -> None:
    shutil.rmtree(session_path(visitor), ignore_errors=True)


def remove_all_sessions() -> None:
    """Delete this process's session folders (at shutdown)."""
    shutil.rmtree(SESSIONS_ROOT, ignore_errors=True)
