"""Seconds per projection step: the fast schedule against full-resolution projection, at the same step count.

"fast" is `draggan.invert` as the app runs it: the early steps compare the running skip RGB of a
low-resolution block (b128 at 512, b256 at 1024) with the area-downsampled target, and only the last
quarter of the steps runs the whole generator. "full" is the same projection with `fast=False`: every
step renders and compares at full resolution (projector.py's way). Both invert the same target, an
image the generator made (seed 1, psi 0.7), on randomly initialised generators with the real 512 and
1024 architectures (benchmarks/bench_drag.py's `build_generator`), with the offline pixel loss and
no PTI. The two runs live in two threads and take steps in turn, handing over after every step
through the progress callback, so both see the same machine load; a step is timed from the moment
its run got the turn. Reported: mean seconds per step over the whole run (the first step includes
the w_avg estimate, for both), the speed-up, and each run's final PSNR at full resolution.

`--memory` instead runs one whole inversion with PTI per size in a fresh process and reports its
peak memory (max RSS, or CUDA max allocated), the memory after loading the generator, and the size
of the tuned copy that a photo session keeps.

    python benchmarks/bench_invert.py                                   # 512 with 20 steps, 1024 with 12
    python benchmarks/bench_invert.py --memory --sizes 512 --steps 4 --pti-steps 3
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_drag import build_generator, peak_memory_mb  # noqa: E402
from draggan.export import to_uint8  # noqa: E402
from draggan.inversion import invert  # noqa: E402

TARGET_SEED, TARGET_PSI = 1, 0.7


def generator_target(G) -> np.ndarray:
    """An image G can produce exactly: seed 1, psi 0.7, constant noise."""
    device = G.mapping.w_avg.device
    z = torch.from_numpy(np.random.RandomState(TARGET_SEED).randn(1, G.z_dim).astype(np.float32)).to(device)
    with torch.no_grad():
        return to_uint8(G.synthesis(G.mapping(z, truncation_psi=TARGET_PSI)))


class Turns:
    """Runs in threads take one step each in turn; each step is timed from the moment its run got the turn."""

    def __init__(self, names: list[str]):
        self.order = list(names)
        self.current: str | None = self.order[0]
        self.cond = threading.Condition()
        self.seconds: dict[str, list[float]] = {name: [] for name in names}
        self.since = 0.0

    def wait(self, name: str) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.current == name)
            self.since = time.perf_counter()

    def step_done(self, name: str, last: bool) -> None:
        """Record the step; unless it was the run's last, hand over and wait for the next turn."""
        self.seconds[name].append(time.perf_counter() - self.since)
        if not last:
            self.hand_over(name)
            self.wait(name)

    def hand_over(self, name: str, leaving: bool = False) -> None:
        with self.cond:
            following = self.order[(self.order.index(name) + 1) % len(self.order)]
            if leaving:
                self.order.remove(name)
            self.current = following if self.order else None
            self.cond.notify_all()


def interleaved(G, target: np.ndarray, steps: int, device: str) -> dict:
    """Fast and full projection of `target`, step by step in turn; seconds per step and final PSNR of each."""
    runs = {"fast": True, "full": False}
    turns, results, errors = Turns(list(runs)), {}, []

    def run(name: str, fast: bool) -> None:
        def progress(p) -> None:
            if device == "cuda":
                torch.cuda.synchronize()
            turns.step_done(name, last=p.step == p.total)

        try:
            turns.wait(name)
            results[name] = invert(G, target, steps=steps, pti_steps=0, fast=fast, loss="pixel", progress=progress)
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)
        finally:
            turns.hand_over(name, leaving=True)

    threads = [threading.Thread(target=run, args=item) for item in runs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return {name: {"s_per_step": float(np.mean(turns.seconds[name])), "psnr": results[name].psnr,
                   "resolutions": sorted(set(results[name].resolutions))} for name in runs}


def memory_worker(res: int, steps: int, pti_steps: int, device: str) -> dict:
    """One inversion with PTI in this fresh process: peak memory, and the size of the tuned copy."""
    G = build_generator(res, device)
    target = generator_target(G)
    model_mb = peak_memory_mb(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = invert(G, target, steps=steps, pti_steps=pti_steps)
    tuned = result.generator
    copy_mb = sum(t.numel() * t.element_size() for t in [*tuned.parameters(), *tuned.buffers()]) / 2 ** 20
    return {"model_mb": model_mb, "peak_mb": peak_memory_mb(device), "copy_mb": copy_mb,
            "seconds": time.perf_counter() - t0, "tuned": tuned is not G}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 12], help="steps per size (last repeats)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--memory", action="store_true", help="peak memory of one inversion with PTI instead")
    parser.add_argument("--pti-steps", type=int, default=3, help="PTI steps of the --memory run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(memory_worker(args.sizes[0], args.steps[0], args.pti_steps, args.device)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    if args.memory:
        print("| res | projection + PTI steps | after loading G MB | peak MB | tuned copy MB | seconds |")
        print("|---|---|---|---|---|---|")
    else:
        print("| res | steps | fast s/step | full s/step | speed-up | fast PSNR dB | full PSNR dB |")
        print("|---|---|---|---|---|---|---|")
    for i, res in enumerate(args.sizes):
        steps = args.steps[min(i, len(args.steps) - 1)]
        if args.memory:
            cmd = [sys.executable, __file__, "--worker", "--sizes", str(res), "--steps", str(steps),
                   "--pti-steps", str(args.pti_steps), "--device", args.device]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"memory worker at {res} failed:\n{out.stderr}")
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {res} | {steps} + {args.pti_steps} | {m['model_mb']:.0f} | {m['peak_mb']:.0f} "
                  f"| {m['copy_mb']:.0f} | {m['seconds']:.0f} |", flush=True)
            continue
        G = build_generator(res, args.device)
        r = interleaved(G, generator_target(G), steps, args.device)
        fast, full = r["fast"], r["full"]
        print(f"| {res} | {steps} | {fast['s_per_step']:.2f} | {full['s_per_step']:.2f} "
              f"| {full['s_per_step'] / fast['s_per_step']:.2f}x | {fast['psnr']:.2f} | {full['psnr']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
