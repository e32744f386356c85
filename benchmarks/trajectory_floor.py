"""How far apart can two correct drags drift? The windowed drag against the full map, beside the full map against
itself on another CPU instruction set.

Issue 30 asks that a windowed drag follow the full-map drag within 0.5 px over 40 steps at 512. Tracking moves
handles in whole pixels, so that asks for the same argmin at every step, while the two paths' latent gradients
differ in float rounding (about 1e-6 relative: oneDNN picks its conv kernels by map size). This script measures
the floor: the same full-map drag with oneDNN held to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`, as on a CPU without
AVX-512) rounds differently too. Each drag runs in a process of its own; random weights with the real
architecture (as benchmarks/bench_drag.py), lr 2e-3, one handle 60 px from its target at 512.

    python benchmarks/trajectory_floor.py --res 512 --seeds 0 1 2 --steps 40
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_drag import LR, build_generator, drag_points  # noqa: E402
from draggan.session import DragSession  # noqa: E402

DRAGS = {  # name: (windows, environment)
    "windowed": (None, {}),
    "full map": (False, {}),
    "full map, AVX2": (False, {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
}


def trajectory(res: int, seed: int, steps: int, cropped: bool | None) -> list[list[float]]:
    G = build_generator(res, "cpu")
    handles, targets = drag_points(res)
    s = DragSession(G, seed=seed, lr=LR, cropped=cropped)
    s.start_drag(handles, targets)
    path = []
    for _ in range(steps):
        r = s.step()
        path.append(list(r.handles[0]))
        if r.done:
            break
    return path + [path[-1]] * (steps - len(path))


def run(name: str, res: int, seed: int, steps: int, threads: int) -> np.ndarray:
    cropped, env = DRAGS[name]
    cmd = [sys.executable, __file__, "--worker", name, "--res", str(res), "--seeds", str(seed),
           "--steps", str(steps), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{name} drag failed:\n{out.stderr}")
    return np.array(json.loads(out.stdout.strip().splitlines()[-1]))


def departure(a: np.ndarray, b: np.ndarray) -> str:
    """Largest difference (px, either axis) and the first step where the two tracked paths differ."""
    diff = np.abs(a - b).max(axis=1)
    first = np.flatnonzero(diff > 0)
    return f"{diff.max():.0f} px" + (f", from step {first[0] + 1}" if len(first) else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=512)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=list(DRAGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(trajectory(args.res, args.seeds[0], args.steps, DRAGS[args.worker][0])))
        return
    print(f"{args.res} px, {args.steps} steps, lr {LR}, {args.threads} threads, torch {torch.__version__}")
    print("| seed | windowed vs full map | full map, AVX2 vs full map | final distance px: windowed / full map / AVX2 |"
          "\n|---|---|---|---|")
    target = np.array(drag_points(args.res)[1][0])
    for seed in args.seeds:
        paths = {name: run(name, args.res, seed, args.steps, args.threads) for name in DRAGS}
        final = " / ".join(f"{np.linalg.norm(p[-1] - target):.1f}" for p in paths.values())
        print(f"| {seed} | {departure(paths['windowed'], paths['full map'])} "
              f"| {departure(paths['full map, AVX2'], paths['full map'])} | {final} |", flush=True)


if __name__ == "__main__":
    main()
