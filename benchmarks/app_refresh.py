"""How often the drag tab's picture refreshes during a drag, and how fast Stop ends one, on this machine.

A visitor's `Editor` (the app's per-tab state) drags a 512 px generator (the real architecture, random weights,
saved to a temporary .safetensors file and loaded by path as the app would) one handle 60 px; each update is
drawn as the page draws it (`ui.editor_view.view`: the last full frame with the tracked handles and arrows) and
encoded as WebP, the image format the page receives. Reported: the longest and the mean gap between two
pictures, how many pictures were fresh full frames, then a second drag stopped after its 5th update.

    python benchmarks/app_refresh.py --steps 40
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_drag import build_generator  # noqa: E402
from draggan.loading import save_generator  # noqa: E402
from editor import DragSettings, Editor, Shared  # noqa: E402
from editor.models import ModelCache  # noqa: E402
from editor.tuned import TunedCopies  # noqa: E402
from ui.editor_view import view  # noqa: E402


def shown(ed: Editor, frame) -> None:
    """The picture the page gets for one update: drawn, then encoded."""
    Image.fromarray(view(ed, frame)).save(io.BytesIO(), format="webp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=512)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.safetensors"
        save_generator(build_generator(args.res, "cpu"), path, source="random weights")
        ed = Editor(Shared(ModelCache(torch.device("cpu")), TunedCopies()))
        settings = DragSettings(model=str(path), seed=0, truncation_psi=0.7, max_steps=args.steps)
        ed.new_image(settings)
        s = args.res / 512
        points = [(round(226 * s), round(260 * s)), (round(286 * s), round(260 * s))]
        gaps, fresh, previous, last = [], 0, None, time.perf_counter()
        for update in ed.drag(settings, points):
            shown(ed, update.frame)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            fresh += update.frame is not None and update.frame is not previous
            previous = update.frame
        print(f"{args.res} px, {torch.get_num_threads()} threads, {len(gaps) - 1} steps: picture every "
              f"{sum(gaps) / len(gaps):.2f} s on average, longest gap {max(gaps):.2f} s (the first includes the "
              f"drag's start, the last the closing frame); {fresh} of the updates carried a fresh full frame; "
              f"{update.status}")
        updates = 0
        t0 = time.perf_counter()
        for update in ed.drag(settings, points):
            updates += 1
            if updates == 5:
                ed.stop()
                t0 = time.perf_counter()
        print(f"Stop after update 5: the drag ended after {updates} updates ({updates - 5} more, the closing "
              f"frame included), {time.perf_counter() - t0:.2f} s after the request; {update.status}")


if __name__ == "__main__":
    main()
