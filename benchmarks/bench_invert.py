"""The app's default inversion against the previous one, side by side: wall time, final PSNR, peak RSS, ETA error.

"new" is `InvertConfig()`, what `invert(G, target)` and the app run (20 projection steps at b128, then
40 iterations of the ToRGB fit); "old" is the default before issue 21 (100 projection steps, the last
25 on the whole generator, then 30 PTI steps on the whole image, no fit). Generators are
randomly initialised with the real 256/512/1024 architectures (benchmarks/bench_drag.py's
`build_generator`); the target is an image the generator made (seed 1, psi 0.7). The offline pixel
loss runs.

Each inversion runs in a fresh process of its own, so its max RSS is its own peak (after loading the
model and before are reported too). The two processes of a size take steps in turn, handing over
after every step through a pipe, so both see the same machine load; a run's time is the sum of its
turns. `--quick RES` runs the old configuration at RES with a twentieth of the steps and extrapolates
its wall time from each kind of step's mean (its PSNR is then not the full run's; the new one runs in full). `--faces` adds a row on a real face (../shared/fixtures/faces/obama.jpg,
aligned) inverted by the tiny256 golden generator (the random 512 px one cannot draw a face either).
The ETA column is the largest error of the progress bar's ETA, relative to the time actually left,
over the steps from 10 % to 90 % of the run.

    python benchmarks/bench_invert.py --faces --sizes 512 256 1024     # 1024 quick
    python benchmarks/bench_invert.py --sizes 256 --quick 256           # a smoke run
    python benchmarks/bench_invert.py --eta --sizes 512 256             # the default alone: its ETA error
    python benchmarks/bench_invert.py --eta old --sizes 512             # the old default alone
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_drag import build_generator  # noqa: E402
from draggan import load_generator  # noqa: E402
from draggan.export import to_uint8  # noqa: E402
import draggan.inversion as inversion_module  # noqa: E402
from draggan.inversion import InvertConfig, fast_schedule, invert  # noqa: E402

TARGET_SEED, TARGET_PSI = 1, 0.7
FACE = REPO.parent / "shared" / "fixtures" / "faces" / "obama.jpg"
# The default before issue 21: 100 projection steps (the last 25 on the whole generator) and 30 PTI steps, no fit.
# 10x slower at 512 px, and less faithful (docs/performance.md).
OLD_DEFAULT = InvertConfig(steps=100, pti_steps=30, full_share=0.25, torgb_steps=0)
CONFIGS = {"old": OLD_DEFAULT, "new": InvertConfig()}
QUICK_DIVISOR = 20
GOLDEN = REPO.parent / "shared" / "fixtures" / "stylegan2" / "tiny256.safetensors"


def generator_target(G) -> np.ndarray:
    """An image G can produce exactly: seed 1, psi 0.7, constant noise."""
    device = G.mapping.w_avg.device
    z = torch.from_numpy(np.random.RandomState(TARGET_SEED).randn(1, G.z_dim).astype(np.float32)).to(device)
    with torch.no_grad():
        return to_uint8(G.synthesis(G.mapping(z, truncation_psi=TARGET_PSI)))


def face_target(res: int) -> np.ndarray:
    from landmarks import align_face, detect_landmarks
    photo = np.asarray(Image.open(FACE).convert("RGB"))
    (lm68,) = detect_landmarks(photo, backend="dlib")
    return align_face(photo, lm68, res).image


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def extrapolated(seconds: float, steps: list[tuple[str, int, float]], full: InvertConfig, res: int) -> float:
    """Wall time of `full` from a short run: its non-step time plus each kind's mean step time x full count."""
    kinds = Counter((stage, r) for stage, r, _ in steps)
    mean = {k: sum(s for stage, r, s in steps if (stage, r) == k) / n for k, n in kinds.items()}
    counts = Counter(("projection", r) for r in fast_schedule(full.steps, res, full))
    for stage, n in (("pti", full.pti_steps), ("fit", full.torgb_steps)):
        if n:
            counts[(stage, res)] += n
    return seconds - sum(s for *_, s in steps) + sum(mean[k] * n for k, n in counts.items())


def worker(res: int, name: str, target_kind: str, quick: bool, pipe: bool = True) -> dict:
    """One inversion, stepping only when the parent says so (a line on stdin, unless not `pipe`); its figures."""
    G = load_generator(GOLDEN) if target_kind == "face on tiny256" else build_generator(res, "cpu")
    target = generator_target(G) if target_kind == "generated" else face_target(G.img_resolution)
    model_mb = rss_mb()
    full = CONFIGS[name]
    config = replace(full, **{k: max(1, getattr(full, k) // QUICK_DIVISOR) if getattr(full, k) else 0
                              for k in ("steps", "pti_steps", "torgb_steps")}) if quick else full
    clock = {"turns": 0.0, "since": 0.0, "counted": 0.0}
    steps, etas = [], []
    # The inversion's own clock (its ETA) runs only during this process's turns, like its measured time.
    inversion_module.time = SimpleNamespace(perf_counter=lambda: clock["turns"] + time.perf_counter() - clock["since"])

    def go() -> None:
        if pipe:
            sys.stdin.readline()
        clock["since"] = time.perf_counter()

    def progress(p) -> None:
        now = time.perf_counter()
        clock["turns"] += now - clock["since"]
        steps.append((p.stage, p.resolution, clock["turns"] - clock["counted"]))
        clock["counted"] = clock["turns"]
        etas.append((p.step, p.total, clock["turns"], p.eta_s))
        if pipe:
            print(json.dumps({"step": p.step}), flush=True)
        go()

    go()
    result = invert(G, target, config, loss="pixel", progress=progress)
    seconds = clock["turns"] + time.perf_counter() - clock["since"]
    eta_error = max((abs(eta - (seconds - t)) / (seconds - t) for step, total, t, eta in etas
                     if 0.1 <= step / total <= 0.9), default=float("nan"))
    return {"seconds": extrapolated(seconds, steps, full, res) if quick else seconds, "psnr": result.psnr,
            "projection_psnr": result.projection_psnr, "model_mb": model_mb, "peak_mb": rss_mb(),
            "eta_error": eta_error, "quick": quick}


def side_by_side(res: int, target_kind: str, quick: set[str]) -> dict[str, dict]:
    """Old and new in two processes that take steps in turn; each one's figures."""
    procs = {name: subprocess.Popen([sys.executable, __file__, "--worker", name, "--sizes", str(res), "--target",
                                     target_kind] + ["--short"] * (name in quick),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for name in CONFIGS}
    results: dict[str, dict] = {}
    while len(results) < len(procs):
        for name, proc in procs.items():
            if name in results:
                continue
            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = json.loads(proc.stdout.readline() or '{"failed": true}')
            if "step" not in line:
                results[name] = line
    for name, proc in procs.items():
        if proc.wait() != 0 or "failed" in results[name]:
            raise RuntimeError(f"the {name} inversion at {res} px ({target_kind}) failed")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--faces", action="store_true", help="also invert a real face with the tiny256 golden G")
    parser.add_argument("--quick", type=int, nargs="*", default=[1024], help="sizes whose runs are extrapolated")
    parser.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--target", default="generated", help=argparse.SUPPRESS)
    parser.add_argument("--short", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--eta", nargs="?", const="new", choices=list(CONFIGS),
                        help="only this configuration (default: new), alone: its time and ETA error")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.worker:
        print(json.dumps(worker(args.sizes[0], args.worker, args.target, args.short)), flush=True)
        return
    if args.eta:
        print(f"| res | {args.eta} s | {args.eta} PSNR dB | ETA max error (10-90 % of steps) |\n|---|---|---|---|")
        for res in args.sizes:
            r = worker(res, args.eta, "generated", False, pipe=False)
            print(f"| {res} | {r['seconds']:.0f} | {r['psnr']:.2f} | {r['eta_error'] * 100:.0f} % |", flush=True)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; old = {OLD_DEFAULT}; "
          f"new = {InvertConfig()}")
    print("| res | target | old s | new s | speed-up | old PSNR dB | new PSNR dB | new projection dB "
          "| old peak RSS MB | new peak RSS MB | RSS after loading MB | new ETA max error |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [(256, "face on tiny256")] * args.faces + [(res, "generated") for res in args.sizes]
    for res, target_kind in rows:
        r = side_by_side(res, target_kind, {"old"} if res in args.quick else set())
        old, new = r["old"], r["new"]
        mark = " (extrapolated)" if old["quick"] else ""
        old_psnr = "n/a (short run)" if old["quick"] else f"{old['psnr']:.2f}"
        print(f"| {res} | {target_kind} | {old['seconds']:.0f}{mark} | {new['seconds']:.0f} "
              f"| **{old['seconds'] / new['seconds']:.1f}x** | {old_psnr} | {new['psnr']:.2f} "
              f"| {new['projection_psnr']:.2f} | {old['peak_mb']:.0f} | {new['peak_mb']:.0f} "
              f"| {new['model_mb']:.0f} | {new['eta_error'] * 100:.0f} % |", flush=True)


if __name__ == "__main__":
    main()
