"""Cold start as a Space: seconds from `python app.py` to the first page, and to the first segmentation answer.

    python -m benchmarks.space_cold_start [--runs 3] [--preloaded stylegan2-ffhq-512x512.pkl]

The app runs with the environment a Space gives it (SYSTEM=spaces, SPACE_ID, GRADIO_SERVER_NAME=0.0.0.0,
GRADIO_SERVER_PORT) and the Hub offline. With `--preloaded FILE` the file sits in the Hub cache where
`preload_from_hub` puts the default drag model, and the start loads it; without, the drag tab falls back
to the demo generator.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from draggan.registry import REGISTRY
from editor.models import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "assets" / "examples" / "facade_020.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def preload(hub: Path, file: Path, repo_id: str = REGISTRY[DEFAULT_MODEL].repo_id,
            filename: str = REGISTRY[DEFAULT_MODEL].filename) -> Path:
    """`file` in a Hub cache laid out as huggingface_hub writes it (refs/main, blobs, a snapshot link), as
    `preload_from_hub` leaves it; returns the snapshot path. The blob links to `file` (no copy)."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    for folder in (repo / "refs", repo / "blobs", snapshot):
        folder.mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    blob = repo / "blobs" / "preloaded"
    blob.symlink_to(Path(file).resolve())
    (snapshot / filename).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot / filename


def space_env(port: int, home: Path) -> dict[str, str]:
    """What a Space sets, with the Hub offline and its cache in home/hf/hub (empty unless `preload` filled it)."""
    return {**os.environ, "SYSTEM": "spaces", "SPACE_ID": "someone/gan-editor", "GRADIO_SERVER_NAME": "0.0.0.0",
            "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1", "HF_HOME": str(home / "hf"),
            "DRAGGAN_CHECKPOINTS": str(home / "checkpoints"), "GRADIO_ANALYTICS_ENABLED": "False"}


def start_as_space(port: int, home: Path) -> subprocess.Popen:
    """`python app.py` as a Space starts it; its output goes to home/app.log."""
    log = open(home / "app.log", "w")
    return subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=space_env(port, home), stdout=log,
                            stderr=subprocess.STDOUT)


def wait_for_page(port: int, process: subprocess.Popen, timeout: float = 180.0) -> str:
    """The page's HTML once it is served; a RuntimeError if the app exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode} before serving its page")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no page on port {port} after {timeout:.0f} s")


def one_cold_start(preloaded: Path | None = None) -> tuple[float, float]:
    """(seconds to the first page, seconds to the first /segment answer) of one fresh process."""
    from gradio_client import Client, handle_file

    with tempfile.TemporaryDirectory() as home:
        if preloaded:
            preload(Path(home) / "hf" / "hub", preloaded)
        port, started = free_port(), time.monotonic()
        process = start_as_space(port, Path(home))
        try:
            wait_for_page(port, process)
            page = time.monotonic() - started
            Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
                handle_file(str(EXAMPLE)), 0.5, None, api_name="/segment")
            return page, time.monotonic() - started
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preloaded", type=Path, default=None, help="the default drag model's checkpoint file")
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        page, segmented = one_cold_start(args.preloaded)
        print(f"run {run}: first page {page:.1f} s, first segmentation answer {segmented:.1f} s", flush=True)


if __name__ == "__main__":
    main()
