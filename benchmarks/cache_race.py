"""Reproduce the identical-output race: N gradio_client sessions ask a tiny local Blocks app for the same image.

    python -m benchmarks.cache_race [--sessions 8] [--calls 10] [--variant as-is|atomic|unique]

The cause, in gradio 6 (`processing_utils.save_pil_to_cache`): an output image is encoded, its bytes hashed,
and written to `<cache>/<sha256 of the bytes>/image.png` with `Path.write_bytes`, every time, even when
the file is already there. Identical outputs share that one path. `write_bytes` first truncates the
file, so a response that is streaming it (starlette's FileResponse sends the Content-Length of an
earlier `stat`, then reads to the end of the file) sees an empty or half-written file: the client gets
an empty file, `peer closed connection` (fewer bytes than declared) or the server logs h11's
`Too much data for declared Content-Length` (the file was stat'ed short, then grew).

Variants: `as-is` is gradio as installed; `atomic` patches `save_pil_to_cache` in this process to write a
temporary file and `os.replace` it (an open stream keeps reading the complete old file), which confirms
the cause; `unique` is the app's workaround (`ui.outputs.unique_image`): every response carries a
random tag in its metadata, so no two responses ever share a cache file. Loopback only; stops by itself.
"""
from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from gradio import processing_utils  # noqa: E402
from gradio_client import Client  # noqa: E402
from PIL import Image  # noqa: E402

SIZE = 512  # Noise does not compress: a 768 KB PNG, so a write takes long enough to be caught mid-way.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def atomic_save_pil_to_cache(img, cache_dir, name="image", format="webp"):
    """gradio's save_pil_to_cache, but written under a temporary name and renamed into place."""
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    fd, tmp = tempfile.mkstemp(dir=folder)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, folder / f"{name}.{format}")
    return str((folder / f"{name}.{format}").resolve())


def tagged(image: np.ndarray) -> Image.Image:
    """The `unique` variant: the same pixels with a random PNG text chunk, so the bytes (and path) differ."""
    pil = Image.fromarray(image)
    pil.info["response"] = uuid.uuid4().hex
    return pil


def serve(image: np.ndarray, variant: str) -> tuple[gr.Blocks, str]:
    if variant == "atomic":
        processing_utils.save_pil_to_cache = atomic_save_pil_to_cache
    with gr.Blocks() as demo:
        button = gr.Button()
        out = gr.Image(format="png")
        button.click(lambda: tagged(image) if variant == "unique" else image, None, out, api_name="same")
    demo.queue(default_concurrency_limit=16)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


def hammer(url: str, expected: np.ndarray, sessions: int, calls: int) -> Counter:
    """Every session calls /same `calls` times; each downloaded file must decode to `expected`."""
    outcomes: Counter = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(sessions)

    def session():
        client = Client(url, verbose=False)
        barrier.wait()
        for _ in range(calls):
            try:
                path = client.predict(api_name="/same")
                ok = np.array_equal(np.asarray(Image.open(path).convert("RGB")), expected)
                outcome = "ok" if ok else "wrong pixels"
            except Exception as err:  # noqa: BLE001 - what the race produces is what we count
                outcome = f"{type(err).__name__}: {str(err)[:60]}"
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=session) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--calls", type=int, default=10, help="calls per session")
    parser.add_argument("--variant", choices=["as-is", "atomic", "unique"], default="as-is")
    args = parser.parse_args()
    expected = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    demo, url = serve(expected, args.variant)
    start = time.perf_counter()
    try:
        outcomes = hammer(url, expected, args.sessions, args.calls)
    finally:
        demo.close()
    total = sum(outcomes.values())
    failed = total - outcomes["ok"]
    print(f"gradio {gr.__version__}, variant {args.variant}: {args.sessions} sessions x {args.calls} calls, "
          f"{failed}/{total} failed ({100 * failed / max(total, 1):.0f} %) in {time.perf_counter() - start:.0f} s")
    for outcome, count in outcomes.most_common():
        print(f"  {count:4d}  {outcome}")


if __name__ == "__main__":
    main()
