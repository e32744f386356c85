"""Server memory while big photos are uploaded to /segment at once.

    python app.py --demo --port 7861 &
    python -m benchmarks.bench_upload_memory http://127.0.0.1:7861/ --server-pid $! [--uploads 2] [--side 6300]

Makes a `side`×`side` PNG that compresses to little (an example facade, 63 px, blown up with nearest
neighbour: blocks of flat colour), then sends it to /segment from `uploads` sessions at the same moment and
samples the server's VmRSS every 20 ms. Reports the RSS before, the peak, the added peak, each call's time
and status, and the size of the label map that came back. Loopback only.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from gradio_client import Client, handle_file  # noqa: E402

from benchmarks.soak import EXAMPLES, LOOPBACK, RssMonitor  # noqa: E402


def big_png(side: int, folder: Path) -> Path:
    with Image.open(EXAMPLES[0]) as im:
        small = im.convert("RGB").resize((side // 100, side // 100))
    path = folder / f"facade_{side}.png"
    small.resize((side, side), Image.Resampling.NEAREST).save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--uploads", type=int, default=2, help="sessions uploading at the same moment")
    parser.add_argument("--side", type=int, default=6300, help="the PNG's width and height")
    args = parser.parse_args()
    if urlparse(args.url).hostname not in LOOPBACK:
        raise SystemExit(f"refusing {args.url}: loopback addresses only")
    with tempfile.TemporaryDirectory() as tmp:
        photo = big_png(args.side, Path(tmp))
        clients = [Client(args.url, verbose=False) for _ in range(args.uploads)]
        monitor = RssMonitor(args.server_pid, interval=0.02)
        time.sleep(1)
        before = monitor.rss_mb()
        monitor.start()
        results = [None] * args.uploads
        barrier = threading.Barrier(args.uploads)

        def upload(i):
            barrier.wait()
            start = time.perf_counter()
            labels, _, _, status = clients[i].predict(handle_file(str(photo)), 0.5, api_name="/segment")
            shape = None if labels is None else Image.open(labels).size
            results[i] = (time.perf_counter() - start, status, shape)
        threads = [threading.Thread(target=upload, args=(i,)) for i in range(args.uploads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        time.sleep(1)
        monitor.running = False
        size_kb = photo.stat().st_size / 1e3
    peak = max(monitor.samples, default=before)
    print(f"{args.uploads} uploads at once of a {args.side}×{args.side} PNG ({size_kb:.0f} KB) to /segment")
    for i, (seconds, status, shape) in enumerate(results):
        print(f"  upload {i}: {seconds:.1f} s, label map {shape}, status {status[:100]!r}")
    print(f"server RSS: before {before:.0f} MB, peak {peak:.0f} MB, added {peak - before:.0f} MB")


if __name__ == "__main__":
    main()
