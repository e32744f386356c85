"""Browser end to end: `python app.py --demo` on localhost, driven by tests/e2e/drag.mjs (drag and segmentation
tabs) and tests/e2e/paint.mjs (paint tab).

playwright-core (pinned in tests/e2e/package-lock.json) drives Debian's /usr/bin/chromium; no
browser is downloaded. Without chromium, node or `npm ci --prefix tests/e2e` the test is skipped,
except under CI (env CI set), where missing tools are a failure. The screenshots land in
test-artifacts/e2e_*.png (git-ignored), and the app's log must hold no traceback. With ../shared beside the
checkout, the script also uploads a face photo and inverts it with a few steps.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port
from draggan.inversion import InvertConfig
from draggan.registry import invert_config
from editor.models import DEMO_MODEL

REPO = Path(__file__).resolve().parents[1]
E2E = REPO / "tests" / "e2e"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
FACE_PHOTO = REPO.parent / "shared" / "fixtures" / "faces" / "obama-240p.jpg"  # the photo step needs ../shared
ARTIFACTS = REPO / "test-artifacts"
START_TIMEOUT_S = 180


def missing_tools() -> list[str]:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if shutil.which("node") is None:
        missing.append("node (apt-get install nodejs)")
    if not (E2E / "node_modules" / "playwright-core").is_dir():
        missing.append("tests/e2e/node_modules (npm ci --prefix tests/e2e)")
    return missing


@pytest.fixture
def browser():
    missing = missing_tools()
    if missing:
        message = "browser test needs " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this is a failure, not a skip)")
        pytest.skip(message)


@pytest.fixture
def app_server(tmp_path):
    """The app as users start it, with the demo generator on CPU; yields (url, log path)."""
    port = free_port()
    log_path = tmp_path / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--demo", "--device", "cpu", "--port", str(port)],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"app.py did not open port {port} in {START_TIMEOUT_S} s:\n{log_path.read_text()}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/", log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_click_preset_drag_and_bad_input_in_the_browser(browser, app_server):
    url, log_path = app_server
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "e2e_drag.png"
    screenshot.unlink(missing_ok=True)
    photo = str(FACE_PHOTO) if FACE_PHOTO.is_file() else ""
    run = subprocess.run(["node", "drag.mjs", url, str(screenshot), str(CHROMIUM), photo], cwd=E2E, check=False,
                         capture_output=True, text=True, timeout=300)
    log = log_path.read_text()
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n--- app log ---\n{log}"
    assert run.stdout.startswith("ok: step "), run.stdout
    if photo:
        steps = 6 + InvertConfig().torgb_steps + invert_config(DEMO_MODEL).feature_steps  # its recipe fits an offset
        assert f"\nphoto: Inverted face 1 of obama-240p.jpg in {steps} steps" in run.stdout, run.stdout
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    assert "Traceback" not in log, log


def test_paint_a_window_render_and_edit_a_segmentation_in_the_browser(browser, app_server):
    url, log_path = app_server
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "e2e_paint.png"
    screenshot.unlink(missing_ok=True)
    run = subprocess.run(["node", "paint.mjs", url, str(screenshot), str(CHROMIUM)], cwd=E2E, check=False,
                         capture_output=True, text=True, timeout=300)
    log = log_path.read_text()
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n--- app log ---\n{log}"
    assert run.stdout.strip() == "paint e2e: ok", run.stdout
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    assert "Traceback" not in log, log
