"""Milliseconds per DragGAN step: our drag against the full-resolution reference step, side by side.

"ours" is `DragSession.drag()` as the app runs it: without a mask the high blocks run forward and backward
only on windows around the handles (draggan/cropped.py), and full frames take their share of the drag's time
(`DragConfig.frame_share`), the last one at the end; as in the app, the image was rendered before the drag.
"ours, full map" is the same drag with windows off (`cropped=False`), the path a masked drag takes. "full-res"
is the reference step (full synthesis, fused modconv, the feature map up-sampled to the image: every step is a
full frame). All run the same drag (lr 2e-3, one handle `--distance` px at 512 from its target, scaled with the
image, 60 by default so that a 20-step drag runs all its steps; the seed picks the latent) on
randomly initialised generators with the real 512 and 1024 architectures. The drags advance in turn, one
step each, in one process, so that all see the same load on a shared machine. Reported: the MEAN ms per
step (our closing frame counted in: total drag time / steps), the speed-up of ours over the reference,
peak memory (max RSS, or CUDA max allocated, of a separate process per path that runs only that path),
each path's final distance to the target, and the largest difference between our trajectories and the
full-map one (px, either axis).

    python benchmarks/bench_drag.py                        # 512 and 1024, 20 steps, seed 0
    python benchmarks/bench_drag.py --sizes 512 --seeds 0 1 2
    python benchmarks/bench_drag.py --sizes 512 --window-share   # windows against the full map, 1-24 handles
    python benchmarks/bench_drag.py --components --threads 1      # CPU time per part, for a loaded machine
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.full_resolution import full_resolution_drag  # noqa: E402
from draggan.cropped import step_windows, windows_share  # noqa: E402
from draggan.networks import Generator, GeneratorConfig  # noqa: E402
from draggan.session import LOSS_READ_MARGIN, DragSession  # noqa: E402

LR = 2e-3


def build_generator(res: int, device: str) -> Generator:
    """The NVlabs 512/1024 architecture (z, w 512, channel_base 32768, max 512, 8 mapping layers), random weights."""
    torch.manual_seed(0)
    config = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=res, mapping_kwargs={"num_layers": 8},
                             synthesis_kwargs={"channel_base": 32768, "channel_max": 512, "conv_clamp": 256})
    return Generator(config).to(device).eval().requires_grad_(False)


DISTANCE = 60  # px at 512: a 20-step drag at lr 2e-3 does not reach it, so every drag runs all its steps


def drag_points(res: int, distance: float = DISTANCE) -> tuple[list, list]:
    """One handle right of the centre, its target `distance` px (at 512, scaled with the image) further right and
    a little up (the direction of (28, -11))."""
    s = res / 512
    dx, dy = 28 / 30.08 * distance, -11 / 30.08 * distance
    return [(round(236 * s), round(260 * s))], [(round((236 + dx) * s), round((260 + dy) * s))]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def our_drag(session: DragSession, handles: list, targets: list, steps: int):
    """Our path, as the app runs it: `drag()`, its frames on the cadence; the closing frame ends the last step."""
    for i, r in enumerate(session.drag(handles, targets, max_steps=steps)):
        if i == steps:  # the closing render of a drag that used all its steps
            return
        yield r.handles


def full_map_drag(session: DragSession, handles: list, targets: list, steps: int):
    """The same drag with windows off (`cropped=False`): every step runs the high blocks on the whole map."""
    session.config.cropped = False
    return our_drag(session, handles, targets, steps)


def full_drag(session: DragSession, handles: list, targets: list, steps: int):
    device = session.device
    for p, _ in full_resolution_drag(session.G, session.w0, torch.tensor(handles, dtype=torch.float32, device=device),
                                     torch.tensor(targets, dtype=torch.float32, device=device), steps, lr=LR):
        yield p.tolist()


IMPLEMENTATIONS = {"ours": our_drag, "full map": full_map_drag, "full-res": full_drag}


def timed(runs: dict, device: str) -> dict:
    """Advance the drags in turn, one step each, so all see the same load; ms and handles per step. The time a
    drag spends after its last step (our closing frame) is added to that step."""
    out = {name: {"ms": [], "trajectory": []} for name in runs}
    live = dict(runs)
    while live:
        for name, run in list(live.items()):
            sync(device)
            t0 = time.perf_counter()
            handles = next(run, None)
            sync(device)
            ms = (time.perf_counter() - t0) * 1000
            if handles is None:
                out[name]["ms"][-1] += ms
                del live[name]
                continue
            out[name]["ms"].append(ms)
            out[name]["trajectory"].append(handles)
    return out


def worker(impl: str, res: int, steps: int, seed: int, device: str, distance: float) -> dict:
    """`all`: interleaved timing and trajectories; one implementation alone: that path's peak memory."""
    G = build_generator(res, device)
    handles, targets = drag_points(res, distance)
    model_mb = peak_memory_mb(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    names = list(IMPLEMENTATIONS) if impl == "all" else [impl]
    visitor = DragSession(G, seed=seed)
    visitor.render()  # a running app has rendered this architecture before (kernel set-up, not timed)
    visitor.render()  # the image a visitor sees before dragging; it times G's render
    runs = {name: IMPLEMENTATIONS[name](DragSession(G, seed=seed, lr=LR), handles, targets, steps) for name in names}
    out = timed(runs, device)
    out.update(peak_mb=peak_memory_mb(device), model_mb=model_mb, threads=torch.get_num_threads(), targets=targets)
    return out


def window_share(res: int, device: str, reps: int) -> list[tuple[int, float, float, float]]:
    """(handles, share of the feature map in windows, windowed ms, full-map ms) per handle count: one step each,
    the two interleaved, median of `reps`. Handles are random in the face-sized middle of the image, targets 20 px
    (at 512) away, so that windows overlap as a preset's do."""
    G = build_generator(res, device)
    gen = np.random.RandomState(0)
    rows = []
    for count in (1, 2, 4, 8, 12, 16, 24):
        handles = gen.uniform(0.3 * res, 0.7 * res, size=(count, 2)).round()
        targets = handles + res / 512 * 20 * np.stack([np.cos(a := gen.uniform(0, 6.3, count)), np.sin(a)], 1)
        sessions = {c: DragSession(G, seed=0, lr=LR, cropped=c) for c in (True, False)}
        times = {c: [] for c in sessions}
        for s in sessions.values():
            s.start_drag(handles.tolist(), np.clip(targets, 0, res - 1).tolist())
            s.step()  # records F0: warm-up
        for _ in range(reps):
            for c, s in sessions.items():
                sync(device)
                t0 = time.perf_counter()
                s.step()
                sync(device)
                times[c].append((time.perf_counter() - t0) * 1000)
        feature_size = (G.synthesis.blocks[sessions[True].feature_index].resolution,) * 2
        reach = sessions[True].r2 + sessions[True].r1 + LOSS_READ_MARGIN
        windows = step_windows(torch.from_numpy(handles), reach, (res, res), feature_size)
        rows.append((count, windows_share(windows, feature_size), statistics.median(times[True]),
                     statistics.median(times[False])))
    return rows


def components(res: int, steps: int, reps: int = 4) -> dict[str, float]:
    """Process CPU seconds (median of `reps`, interleaved) of our windowed step, the reference step and one full
    render, and the speed-up of a `steps`-step drag with one closing frame: CPU time, unlike wall time, holds on a
    machine that other jobs load (with 1 thread: no thread waits on a descheduled partner)."""
    G = build_generator(res, "cpu")
    handles, targets = drag_points(res)
    ours = DragSession(G, seed=0, lr=LR)
    ours.start_drag(handles, targets)
    reference = full_drag(DragSession(G, seed=0, lr=LR), handles, targets, reps + 1)
    ours.step(), next(reference)  # the first steps record F0
    parts = {"ours step": lambda: ours.step(), "reference step": lambda: next(reference), "render": ours.render}
    times = {name: [] for name in parts}
    for _ in range(reps):
        for name, fn in parts.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    out = {name: statistics.median(ts) for name, ts in times.items()}
    out["drag speed-up"] = out["reference step"] / (out["ours step"] + out["render"] / steps)
    return out


def run_worker(impl: str, res: int, steps: int, seed: int, device: str, distance: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, "--sizes", str(res), "--steps", str(steps),
           "--seeds", str(seed), "--device", device, "--distance", str(distance),
           "--threads", str(torch.get_num_threads())]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {impl} {res} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def distance(trajectory: list, targets: list) -> float:
    """Largest distance of the last tracked handles to their targets, px."""
    return float(np.linalg.norm(np.array(trajectory[-1]) - np.array(targets), axis=1).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--steps", type=int, default=20, help="steps per drag")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="latent seeds, one row each")
    parser.add_argument("--device", nargs="+", default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--memory-steps", type=int, default=5, help="steps of each path alone, for peak memory (0: skip)")
    parser.add_argument("--window-share", action="store_true", help="only time windowed against full-map steps")
    parser.add_argument("--reps", type=int, default=3, help="steps timed per handle count with --window-share")
    parser.add_argument("--components", action="store_true", help="only CPU time per part (see `components`)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--distance", type=float, default=DISTANCE, help="handle to target, px at 512")
    parser.add_argument("--worker", choices=["all", *IMPLEMENTATIONS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args.worker, args.sizes[0], args.steps, args.seeds[0], devices[0], args.distance)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, lr {LR}")
    if args.components:
        print("| res | ours step CPU s | reference step CPU s | full render CPU s | step speed-up "
              f"| {args.steps}-step drag speed-up (one closing frame) |\n|---|---|---|---|---|---|")
        for res in args.sizes:
            c = components(res, args.steps)
            print(f"| {res} | {c['ours step']:.3f} | {c['reference step']:.2f} | {c['render']:.2f} "
                  f"| {c['reference step'] / c['ours step']:.1f}x | **{c['drag speed-up']:.1f}x** |", flush=True)
        return
    if args.window_share:
        for device in devices:
            for res in args.sizes:
                print(f"\n{device}, {res} px: one step, median of {args.reps}\n"
                      "| handles | windows' share of the map | windowed ms | full map ms | windowed / full map |\n"
                      "|---|---|---|---|---|")
                for count, share, windowed, full in window_share(res, device, args.reps):
                    print(f"| {count} | {share:.2f} | {windowed:.0f} | {full:.0f} | {windowed / full:.2f} |", flush=True)
        return
    print("| device | res | seed | steps | ours mean ms/step | ours, full map | full-res | speed-up "
          "| peak MB ours / full map / full-res | final distance px ours / full-res "
          "| max trajectory diff px ours vs full map |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for device in devices:
        for res in args.sizes:
            memory = {name: run_worker(name, res, args.memory_steps, args.seeds[0], device, args.distance)["peak_mb"]
                      if args.memory_steps else float("nan") for name in IMPLEMENTATIONS}
            for seed in args.seeds:
                runs = run_worker("all", res, args.steps, seed, device, args.distance)
                n = min(len(runs[name]["trajectory"]) for name in IMPLEMENTATIONS)
                diff = np.abs(np.array(runs["ours"]["trajectory"][:n]) - np.array(runs["full map"]["trajectory"][:n]))
                ms = {name: statistics.mean(runs[name]["ms"]) for name in IMPLEMENTATIONS}
                final = {name: distance(runs[name]["trajectory"], runs["targets"]) for name in IMPLEMENTATIONS}
                print(f"| {device} | {res} | {seed} | {len(runs['ours']['ms'])} | {ms['ours']:.0f} | {ms['full map']:.0f} "
                      f"| {ms['full-res']:.0f} | **{ms['full-res'] / ms['ours']:.1f}x** "
                      f"| {memory['ours']:.0f} / {memory['full map']:.0f} / {memory['full-res']:.0f} "
                      f"| {final['ours']:.1f} / {final['full-res']:.1f} | {diff.max():.0f} |", flush=True)
                print(f"<!-- ms per step, ours: {[round(m) for m in runs['ours']['ms']]}; full-res: "
                      f"{[round(m) for m in runs['full-res']['ms']]}; generator alone {runs['model_mb']:.0f} MB -->",
                      flush=True)


if __name__ == "__main__":
    main()
