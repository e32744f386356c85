"""Memory of photo sessions: the app's own handlers, N visitors each uploading, inverting and dragging.

Each configuration runs in a fresh process (so peak RSS is its own): the real 512 px architecture
(z/w 512, channel_base 32768, channel_max 512, 8 mapping layers) with random weights, saved as a
.safetensors checkpoint and loaded through the app's ModelCache, as a visitor's model would be. Then
N visitors (one Editor each, all kept alive as concurrent visitors are) each upload the same face
photo, invert it (projection, PTI if asked, then the ToRGB fit) and run a short "smile" drag. It prints
RSS after loading the model, after each visitor, and the peak, with how many PTI tunings the cap let
stay, and what each held photo adds: (RSS after the last visitor - RSS after the first) / (N - 1), the
first visitor also paying for the process's warm-up (allocator arenas, the inversion's peak). RSS is
read after `malloc_trim`, so that it counts what is held, not what the allocator keeps for later.

`copy` runs the same visitors the way the app held a photo before issue 29: the session on a deep copy of
the generator with the tuning written into it, instead of the overlay on the shared generator.

    python -m benchmarks.bench_photo_memory --runs 8:4:overlay 8:4:copy             # sessions:--max-tuned:hold
    python -m benchmarks.bench_photo_memory --runs 1:4:overlay 4:4:overlay 4:2:overlay --pti-steps 2
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.bench_drag import build_generator
from draggan.inversion import InvertConfig
from draggan.loading import save_generator
from editor import DragSettings, Editor, InvertSettings, Shared
from editor.models import ModelCache
from editor.tuned import TunedCopies

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces" / "obama.jpg"


def rss_mb() -> float:
    """Resident set size now (VmRSS), MB, after garbage collection and giving free heap pages back."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def visitor(shared: Shared, model: str, steps: int, pti_steps: int, drag_steps: int, hold: str) -> Editor:
    """One visitor's photo session through the editor the page drives: upload, invert, preset, drag."""
    editor = Editor(shared)
    status = editor.upload(str(PHOTO), PHOTO.name, model, 1)
    assert "aligned to" in status, status
    status = editor.invert(InvertSettings(steps=steps, pti_steps=pti_steps))
    assert "Inverted" in status, status
    if hold == "copy":  # before issue 29: a deep copy of G with the tuning written into it, per photo
        tuned = copy.deepcopy(shared.models.get(model))
        with torch.no_grad():
            state = tuned.state_dict()
            for name, tensor in editor.overlay.tensors.items():
                state[name].copy_(tensor)
        editor.session.swap_generator(tuned)
    editor.apply_preset("smile", 0.5)
    *_, last = editor.drag(DragSettings(model=model, seed=0, truncation_psi=0.7, max_steps=drag_steps))
    assert " — " in last.status, last.status
    return editor


def child(sessions: int, max_tuned: int, hold: str, res: int, steps: int, pti_steps: int, drag_steps: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        model = str(save_generator(build_generator(res, "cpu"), Path(folder) / f"random-{res}.safetensors"))
        shared = Shared(ModelCache(torch.device("cpu")), TunedCopies(max_tuned))
        shared.models.get(model)
        loaded = rss_mb()
        visitors, after, started = [], [], time.perf_counter()
        for _ in range(sessions):
            visitors.append(visitor(shared, model, steps, pti_steps, drag_steps, hold))
            after.append(rss_mb())
        return {"loaded_mb": loaded, "after_mb": after, "peak_mb": peak_mb(), "held": len(shared.tuned.holders()),
                "dropped": sum(v.session is None for v in visitors), "seconds": time.perf_counter() - started,
                "overlay_mb": sum(v.overlay.nbytes for v in visitors if v.overlay) / 2**20 / sessions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["8:4:overlay", "8:4:copy"],
                        help="sessions:max-tuned:hold (overlay or copy) per process")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4, help="projection steps per visitor")
    parser.add_argument("--pti-steps", type=int, default=InvertConfig().pti_steps, help="PTI steps per visitor")
    parser.add_argument("--drag-steps", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sessions, max_tuned, hold = args.child.split(":")
        print(json.dumps(child(int(sessions), int(max_tuned), hold, args.resolution, args.steps, args.pti_steps,
                               args.drag_steps)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.resolution} px random weights, "
          f"{args.steps} projection + {args.pti_steps} PTI steps + {InvertConfig().torgb_steps} fit iterations, "
          f"{args.drag_steps}-step drag per visitor")
    print("| visitors | --max-tuned | photo held as | PTI tunings kept | visitors told to invert again "
          "| RSS after loading the model MB | RSS after each visitor MB | peak RSS MB | each held photo adds MB "
          "| its overlay MB | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        cmd = [sys.executable, "-m", "benchmarks.bench_photo_memory", "--child", run, "--resolution",
               str(args.resolution), "--steps", str(args.steps), "--pti-steps", str(args.pti_steps),
               "--drag-steps", str(args.drag_steps)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"{run} failed:\n{out.stderr}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        sessions, max_tuned, hold = run.split(":")
        after = r["after_mb"]
        each = (after[-1] - after[0]) / (len(after) - 1) if len(after) > 1 else float("nan")
        print(f"| {sessions} | {max_tuned} | {hold} | {r['held']} | {r['dropped']} | {r['loaded_mb']:.0f} "
              f"| {' / '.join(f'{v:.0f}' for v in after)} | {r['peak_mb']:.0f} | **{each:.1f}** "
              f"| {r['overlay_mb']:.3f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
