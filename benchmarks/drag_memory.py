"""Peak RSS of one drag as the app runs it (`DragSession.drag()`, its frames and closing frame included).

Uses only the API that every version of DragSession has, so that the same file measures an older checkout:

    python benchmarks/drag_memory.py --res 512 1024
    git archive 404177a | tar -x -C /tmp/before && cp benchmarks/drag_memory.py /tmp/before/benchmarks/ \\
        && (cd /tmp/before && python benchmarks/drag_memory.py --res 512 1024)      # the "before"
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def drag_peak_mb(res: int, steps: int) -> tuple[float, float]:
    """(RSS with the generator loaded, peak RSS after the drag), MB."""
    from benchmarks.bench_drag import build_generator, drag_points
    from draggan.session import DragSession
    G = build_generator(res, "cpu")
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    handles, targets = drag_points(res)
    session = DragSession(G, seed=0, lr=2e-3)
    session.render()  # the image a visitor sees before dragging
    for _ in session.drag(handles, targets, max_steps=steps):
        pass
    return loaded, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(drag_peak_mb(args.res[0], args.steps)))
        return
    for res in args.res:  # a fresh process per size: max RSS only grows
        out = subprocess.run([sys.executable, __file__, "--worker", "--res", str(res), "--steps", str(args.steps)],
                             capture_output=True, text=True, check=True)
        loaded, peak = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{res} px, {args.steps}-step drag: peak RSS {peak:.0f} MB (generator loaded: {loaded:.0f} MB)")


if __name__ == "__main__":
    main()
