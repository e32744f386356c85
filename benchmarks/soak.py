"""Load and soak test of a running app: N gradio_client sessions for T seconds, every response checked.

    python app.py --demo --port 7861 &                       # the app under test, offline
    python -m benchmarks.soak http://127.0.0.1:7861/ --sessions 4 --duration 300 --server-pid $!

Each session loops: new image (seed 0, which every page load draws, then a seed of its own), clear
points, a short drag (start), a long drag ended by stop, and segment (a photo every session sends, then
one of its own). Before the sessions start, one client records every expected answer alone: the
single-client baseline. A response counts as a failure when the call raises (e.g. a connection closed
mid-file), a file is empty or not an image, or its pixels, legend or status differ from the baseline (a
drag result may differ by at most 2 grey levels on average: thread scheduling may change float sums).
Seeds and photos differ per session, so a response that belongs to another session is caught.

Reports requests, failures (with reasons), p50/p95 latency per endpoint, how many Stops ended a drag
mid-run, and the server's resident memory (VmRSS of --server-pid) at start, peak and end.
Only loopback URLs are accepted; every loop is bounded by --duration and every call by a timeout.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from gradio_client import Client, handle_file  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "assets" / "examples").glob("*.jpg"))
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CALL_TIMEOUT_S = 300
SHORT_DRAG = ((40, 64, 70, 64), 5)      # (handle x, y, target x, y), max steps: reaches its end quickly
LONG_DRAG = ((20, 20, 110, 110), 400)   # far target, many steps: Stop ends it
DRAG_TOLERANCE = 2.0                    # mean absolute difference in grey levels allowed for a drag result


class Mismatch(Exception):
    """A response that differs from the single-client baseline."""


def read_image(path) -> np.ndarray:
    if not path or not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise Mismatch(f"empty or missing file {path!r}")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def points(pair) -> dict:
    return {"headers": ["handle x", "handle y", "target x", "target y"], "data": [list(pair)]}


class App:
    """The endpoints the soak calls, for one session (one gradio_client.Client = one browser tab)."""

    def __init__(self, url: str, model: str):
        self.client = Client(url, verbose=False)
        self.model = model

    def settings(self, seed: int, max_steps: int = 50) -> tuple:
        return self.model, seed, 0.7, 2e-3, max_steps, "W+"

    def new_image(self, seed: int) -> np.ndarray:
        image, status, *_ = self.client.predict(*self.settings(seed), api_name="/new_image")
        if f"seed {seed}" not in status:
            raise Mismatch(f"new_image status {status!r:.80}")
        return read_image(image)

    def clear_points(self) -> np.ndarray:
        image, status, _ = self.client.predict(api_name="/clear_points")
        if "cleared" not in status:
            raise Mismatch(f"clear_points status {status!r:.80}")
        return read_image(image)

    def drag(self, seed: int, pair, max_steps: int, stop_after_first_step: bool = False):
        """(final image, final status, seconds the /stop call took or None when none was sent)."""
        job = self.client.submit(*self.settings(seed, max_steps), points(pair), None, api_name="/start")
        stop_s = None
        if stop_after_first_step:
            deadline = time.time() + CALL_TIMEOUT_S
            while not job.done() and not any("step" in (o[1] or "") for o in job.outputs()):
                if time.time() > deadline:
                    raise Mismatch("the drag reported no step")
                time.sleep(0.05)
            start = time.perf_counter()
            if "Stopping" in self.client.predict(api_name="/stop"):
                stop_s = time.perf_counter() - start
        image, status, _ = job.result(timeout=CALL_TIMEOUT_S)
        return read_image(image), status, stop_s

    def segment(self, photo: Path):
        labels, overlay, legend, status = self.client.predict(handle_file(str(photo)), 0.5, api_name="/segment")
        if "Segmented" not in status:
            raise Mismatch(f"segment status {status!r:.80}")
        return read_image(labels), read_image(overlay), legend


def session_photos(count: int, folder: Path) -> list[Path]:
    """One distinct photo per session: an example facade cropped at a session-specific offset."""
    photos = []
    for index in range(count):
        with Image.open(EXAMPLES[index % len(EXAMPLES)]) as im:
            offset = 8 * (index // len(EXAMPLES) + 1)
            photo = im.convert("RGB").crop((offset, offset, im.width - offset, im.height))
        photos.append(folder / f"session{index}.png")
        photo.save(photos[-1])
    return photos


def record_baseline(url: str, model: str, sessions: int, photos: list[Path]) -> dict:
    """Every expected answer, from one client calling alone."""
    app = App(url, model)
    expected = {"seed": {}, "drag": {}, "photo": {}}
    for seed in [0] + [100 + i for i in range(sessions)]:
        expected["seed"][seed] = app.new_image(seed)
        expected["drag"][seed] = app.drag(seed, *SHORT_DRAG)[:2]
    for photo in [EXAMPLES[0]] + photos:
        expected["photo"][photo] = app.segment(photo)
    return expected


class Stats:
    """Thread-safe tally of latencies, failures and stops."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency = defaultdict(list)
        self.failures = Counter()
        self.stops = Counter()

    def call(self, endpoint: str, fn, *args):
        start = time.perf_counter()
        try:
            result = fn(*args)
            error = None
        except Exception as err:  # noqa: BLE001 - every way a call can fail is counted
            result, error = None, f"{type(err).__name__}: {str(err)[:90]}"
        with self.lock:
            self.latency[endpoint].append(time.perf_counter() - start)
            if error:
                self.failures[f"{endpoint}: {error}"] += 1
        return result

    def fail(self, endpoint: str, reason: str) -> None:
        with self.lock:
            self.failures[f"{endpoint}: {reason}"] += 1


def same(a: np.ndarray | None, b: np.ndarray, tolerance: float = 0.0) -> bool:
    return a is not None and a.shape == b.shape and np.abs(a.astype(np.float32) - b).mean() <= tolerance


def run_session(index: int, url: str, model: str, photo: Path, expected: dict, stats: Stats, deadline: float):
    app = App(url, model)
    seed = 100 + index
    while time.time() < deadline:
        for s in (0, seed):
            image = stats.call("new_image", app.new_image, s)
            if image is not None and not same(image, expected["seed"][s]):
                stats.fail("new_image", f"seed {s}: pixels differ from the baseline")
        image = stats.call("points", app.clear_points)
        if image is not None and not same(image, expected["seed"][seed]):
            stats.fail("points", "pixels differ from the baseline")
        result = stats.call("start", app.drag, seed, *SHORT_DRAG)
        if result is not None:
            want_image, want_status = expected["drag"][seed]
            got_steps = re.search(r"step (\d+)/", result[1])
            if not same(result[0], want_image, DRAG_TOLERANCE):
                stats.fail("start", "final image differs from the baseline")
            elif not got_steps or got_steps.group(1) != re.search(r"step (\d+)/", want_status).group(1):
                stats.fail("start", f"status {result[1]!r:.60} vs {want_status!r:.60}")
        result = stats.call("start, then stop", app.drag, seed, *LONG_DRAG, True)
        if result is not None:
            _, status, stop_s = result
            steps = re.search(r"step (\d+)/", status)
            mid_run = "stopped" in status and steps is not None and int(steps.group(1)) < LONG_DRAG[1]
            with stats.lock:
                if stop_s is not None:
                    stats.latency["stop"].append(stop_s)
                stats.stops["not sent (drag already over)" if stop_s is None else
                            "ended the drag mid-run" if mid_run else "sent, drag ran on"] += 1
            if stop_s is not None and not mid_run:
                stats.fail("stop", f"the drag did not stop: {status!r:.60}")
        for p in (EXAMPLES[0], photo):
            result = stats.call("segment", app.segment, p)
            if result is not None:
                labels, overlay, legend = result
                want = expected["photo"][p]
                if not (same(labels, want[0]) and same(overlay, want[1]) and legend == want[2]):
                    stats.fail("segment", f"{p.name}: result differs from the baseline")


class RssMonitor(threading.Thread):
    """VmRSS of a process, sampled every `interval` seconds."""

    def __init__(self, pid: int | None, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples, self.running = pid, interval, [], True

    def rss_mb(self) -> float | None:
        if self.pid is None:
            return None
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024

    def run(self):
        while self.running:
            value = self.rss_mb()
            if value is not None:
                self.samples.append(value)
            time.sleep(self.interval)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(stats: Stats, sessions: int, duration: float, rss: tuple) -> dict:
    total = sum(len(v) for v in stats.latency.values())
    failed = sum(stats.failures.values())
    print(f"\n{sessions} sessions, {duration:.0f} s: {total} requests, {failed} failures")
    print("| endpoint | requests | p50 s | p95 s |\n|---|---|---|---|")
    rows = {}
    for endpoint, values in sorted(stats.latency.items()):
        rows[endpoint] = {"requests": len(values), "p50_s": percentile(values, 50), "p95_s": percentile(values, 95)}
        print(f"| {endpoint} | {len(values)} | {rows[endpoint]['p50_s']:.2f} | {rows[endpoint]['p95_s']:.2f} |")
    for reason, count in stats.failures.most_common():
        print(f"  failure x{count}: {reason}")
    print(f"stops: {dict(stats.stops)}")
    print("server RSS MB (start / peak / end): " + " / ".join("n/a" if v is None else f"{v:.0f}" for v in rss))
    return {"sessions": sessions, "duration_s": duration, "requests": total, "failures": failed,
            "failure_reasons": dict(stats.failures), "endpoints": rows, "stops": dict(stats.stops),
            "rss_mb": {"start": rss[0], "peak": rss[1], "end": rss[2]}}


def dropdown_value(client: Client, label: str) -> str:
    """The app's current value of a dropdown (the model the page would use)."""
    for component in client.config["components"]:
        if component.get("type") == "dropdown" and component.get("props", {}).get("label") == label:
            return component["props"]["value"]
    raise SystemExit(f"the app has no dropdown labelled {label!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the running app, e.g. http://127.0.0.1:7861/ (loopback only)")
    parser.add_argument("--sessions", type=int, default=4, help="concurrent gradio_client sessions (1-64)")
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (at most 3600)")
    parser.add_argument("--server-pid", type=int, help="the app's process id, for its memory")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    if urlparse(args.url).hostname not in LOOPBACK:
        raise SystemExit(f"refusing {args.url}: the soak only runs against a loopback address {sorted(LOOPBACK)}")
    if not 1 <= args.sessions <= 64 or not 0 < args.duration <= 3600:
        raise SystemExit("--sessions must be in [1, 64] and --duration in (0, 3600]")
    monitor = RssMonitor(args.server_pid)
    rss_start = monitor.rss_mb()
    monitor.start()
    model = dropdown_value(Client(args.url, verbose=False), "Model")
    with tempfile.TemporaryDirectory() as tmp:
        photos = session_photos(args.sessions, Path(tmp))
        print(f"recording the single-client baseline (model {model!r})…", flush=True)
        expected = record_baseline(args.url, model, args.sessions, photos)
        stats = Stats()
        deadline = time.time() + args.duration
        print(f"{args.sessions} sessions for {args.duration:.0f} s…", flush=True)
        threads = [threading.Thread(target=run_session, daemon=True,
                                    args=(i, args.url, model, photos[i], expected, stats, deadline))
                   for i in range(args.sessions)]
        for t in threads:
            t.start()
        for t in threads:  # a session finishes its current iteration after the deadline
            t.join(timeout=args.duration + 4 * CALL_TIMEOUT_S)
    time.sleep(2)
    monitor.running = False
    rss_end = monitor.rss_mb()
    rss = (rss_start, max(monitor.samples, default=None), rss_end)
    result = report(stats, args.sessions, args.duration, rss)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
