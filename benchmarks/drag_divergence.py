"""Does our drag stall where the reference keeps going? Four drags of one handle per seed, side by side.

"reference" is the full-resolution step (benchmarks/full_resolution.py, fused modconv); "reference, unfused" is
the same step with the unfused modulated conv: the same maths, other float rounding. "ours" is DragSession's
windowed step, "ours, full map" the same without windows. If ours and the reference part ways no more than the
reference and its own re-rounded twin, the gap is divergence that random features amplify, not a defect.
Random weights with the real architecture (as benchmarks/bench_drag.py), lr 2e-3, a 60 px drag (at 512).

    python benchmarks/drag_divergence.py --res 512 --seeds 0 1 2 --steps 30
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_drag import LR, build_generator  # noqa: E402
from benchmarks.full_resolution import full_resolution_drag  # noqa: E402
from draggan.session import DragSession  # noqa: E402


def trajectories(G, seed: int, handle: list, target: list, steps: int) -> dict[str, np.ndarray]:
    """[steps, 2] tracked positions of each drag (padded with the last one when a drag ends early)."""
    out = {}
    w0 = DragSession(G, seed=seed).w0
    for name, fused in (("reference", True), ("reference, unfused", False)):
        out[name] = [p[0].tolist() for p, _ in full_resolution_drag(G, w0, torch.tensor([handle], dtype=torch.float32),
                                                                   torch.tensor([target], dtype=torch.float32), steps,
                                                                   lr=LR, fused_modconv=fused)]
    for name, cropped in (("ours", None), ("ours, full map", False)):
        s = DragSession(G, seed=seed, lr=LR, cropped=cropped)
        s.start_drag([handle], [target])
        out[name] = []
        for _ in range(steps):
            r = s.step()
            out[name].append(list(r.handles[0]))
            if r.done:
                break
    return {name: np.array(t + [t[-1]] * (steps - len(t))) for name, t in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=512)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    G = build_generator(args.res, "cpu")
    s = args.res / 512
    handle, target = [round(226 * s), round(260 * s)], [round(286 * s), round(260 * s)]
    print(f"{args.res} px, one handle {handle} -> {target}, {args.steps} steps, lr {LR}")
    print("| seed | drag | distance to target px at steps 5 / 10 / 15 / 20 / ... | last step it moved "
          "| max diff to the reference px |\n|---|---|---|---|---|")
    for seed in args.seeds:
        runs = trajectories(G, seed, handle, target, args.steps)
        for name, path in runs.items():
            dist = np.linalg.norm(path - np.array(target), axis=1)
            moved = np.flatnonzero(np.abs(np.diff(path, axis=0)).max(axis=1) > 0)
            last_move = int(moved[-1]) + 2 if len(moved) else 1
            marks = " / ".join(f"{dist[i - 1]:.1f}" for i in range(5, args.steps + 1, 5))
            diff = np.abs(path - runs["reference"]).max()
            print(f"| {seed} | {name} | {marks} | {last_move} | {diff:.0f} |", flush=True)


if __name__ == "__main__":
    main()
