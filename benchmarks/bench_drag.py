"""Milliseconds per DragGAN step: our low-resolution path against the full-resolution reference path.

"ours" is DragSession as the app runs it: without a mask, its backward pass goes through the two
highest blocks only on windows around the handles (draggan/cropped.py). "ours, full backward" is the
same session with that cropping off, the path a masked drag takes. All three run the same drag
(seed 0, lr 2e-3, one handle 30 px at 512 from its target, scaled with the image) on randomly
initialised generators with the real 512 and 1024 architectures. The drags advance in turn, one step
each, in one process, so that all see the same load on a shared machine. Peak memory (max RSS, or
CUDA max allocated) comes from a separate process per path that runs only that path. Reported:
median ms per step, the speed-up of ours over the full-resolution path, peak memory, and the largest
difference between each of our trajectories and the full-resolution one (px, either axis).

    python benchmarks/bench_drag.py                       # 512 with 20 steps, 1024 with 5
    python benchmarks/bench_drag.py --sizes 512 --steps 20 --ablations
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
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from draggan.cropped import Window, window_features  # noqa: E402  (ablations, reworked below)
from draggan.features import feature_block_index  # noqa: E402
from draggan.full_resolution import full_resolution_drag  # noqa: E402
from draggan.networks import Generator, GeneratorConfig  # noqa: E402
from draggan.motion import motion_radius  # noqa: E402
from draggan.session import DragSession  # noqa: E402

LR = 2e-3
SEED = 0


def build_generator(res: int, device: str) -> Generator:
    """The NVlabs 512/1024 architecture (z, w 512, channel_base 32768, max 512, 8 mapping layers), random weights."""
    torch.manual_seed(0)
    config = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=res, mapping_kwargs={"num_layers": 8},
                             synthesis_kwargs={"channel_base": 32768, "channel_max": 512, "conv_clamp": 256})
    return Generator(config).to(device).eval().requires_grad_(False)


def drag_points(res: int) -> tuple[list, list]:
    """One handle right of the centre, its target 30 px (at 512) further right and a little up."""
    s = res / 512
    return [(round(236 * s), round(260 * s))], [(round(264 * s), round(249 * s))]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def fast_drag(session: DragSession, handles: list, targets: list, steps: int):
    """Our path: DragSession steps with the live preview, as the app runs them."""
    session.start_drag(handles, targets)
    for _ in range(steps):
        r = session.step(preview=True)
        yield r.handles
        if r.done:
            return


def uncropped_drag(session: DragSession, handles: list, targets: list, steps: int):
    """The same session with the cropped backward off (`cropped=False`): every step back-propagates the whole map."""
    return fast_drag(DragSession(session.G, seed=SEED, lr=LR, cropped=False), handles, targets, steps)


def full_drag(session: DragSession, handles: list, targets: list, steps: int):
    device = session.device
    for p, _ in full_resolution_drag(session.G, session.w0, torch.tensor(handles, dtype=torch.float32, device=device),
                                     torch.tensor(targets, dtype=torch.float32, device=device), steps, lr=LR):
        yield p.tolist()


IMPLEMENTATIONS = {"fast": fast_drag, "uncropped": uncropped_drag, "full": full_drag}


def timed(runs: dict, device: str) -> dict:
    """Advance the drags in turn, one step each, so both see the same machine load; ms and handles per step."""
    out = {name: {"ms": [], "trajectory": []} for name in runs}
    live = dict(runs)
    while live:
        for name, run in list(live.items()):
            sync(device)
            t0 = time.perf_counter()
            handles = next(run, None)
            sync(device)
            if handles is None:
                del live[name]
                continue
            out[name]["ms"].append((time.perf_counter() - t0) * 1000)
            out[name]["trajectory"].append(handles)
    return out


def worker(impl: str, res: int, steps: int, device: str) -> dict:
    """`both`: interleaved timing and trajectories; one implementation alone: that path's peak memory."""
    G = build_generator(res, device)
    handles, targets = drag_points(res)
    model_mb = peak_memory_mb(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    names = list(IMPLEMENTATIONS) if impl == "both" else [impl]
    runs = {name: IMPLEMENTATIONS[name](DragSession(G, seed=SEED, lr=LR), handles, targets, steps) for name in names}
    out = timed(runs, device)
    out.update(peak_mb=peak_memory_mb(device), model_mb=model_mb, threads=torch.get_num_threads())
    if impl == "both":  # full renders: fused vs unfused modconv (RENDER_FUSED_MODCONV)
        ws = DragSession(G, seed=SEED).w0
        for fused in (True, False, True, False):
            with torch.inference_mode():
                sync(device)
                t0 = time.perf_counter()
                G.synthesis(ws, fused_modconv=fused)
                sync(device)
            out.setdefault(f"render_ms_{'fused' if fused else 'unfused'}", []).append((time.perf_counter() - t0) * 1000)
    return out


def ablations(res: int, device: str, reps: int) -> list[tuple[str, float]]:
    """Forward + backward of one step's network part, variant by variant, interleaved; median ms."""
    G = build_generator(res, device)
    ws0 = DragSession(G, seed=SEED).w0
    idx = feature_block_index(res)

    def cropped_step(fused_high):
        w = ws0[:, :6].clone().requires_grad_(True)
        ws = torch.cat([w, ws0[:, 6:]], dim=1)
        split = split_synthesis(G.synthesis, ws, idx, rgb=True, fused_high=fused_high)
        handle = torch.full((1, 2), res / 2, device=ws.device)  # a central handle, as `step` reads the centre
        windows = loss_windows(handle, handle + 30, motion_radius(res), (res, res), tuple(split.feat.shape[-2:]))
        feat = features_for_loss(G.synthesis, ws, split, idx, windows)
        (w,) = windows
        feat[:, :, w.y0:w.y1, w.x0:w.x1].abs().mean().backward()

    def step(last_block, fused, rgb, upsample=False):
        w = ws0[:, :6].clone().requires_grad_(True)
        ws = torch.cat([w, ws0[:, 6:]], dim=1)
        _, feats = G.synthesis(ws, return_features=True, last_block=last_block, fused_modconv=fused, rgb=rgb)
        feat = feats[idx]
        if upsample:
            feat = F.interpolate(feat, size=(res, res), mode="bilinear", align_corners=False)
        c = feat.shape[-1] // 2
        feat[:, :, c - 3:c + 4, c - 3:c + 4].abs().mean().backward()

    variants = {
        "full synthesis, fused, + up-sampled features (reference)": lambda: step(None, True, True, upsample=True),
        "full synthesis, fused": lambda: step(None, True, True),
        "up to the feature block, fused, with ToRGB": lambda: step(idx, True, True),
        "up to the feature block, unfused, with ToRGB (ours with a mask: full backward)": lambda: step(idx, False, True),
        "cropped backward, high blocks' no-grad pass unfused": lambda: cropped_step(False),
        "cropped backward, high blocks' no-grad pass fused (ours without a mask)": lambda: cropped_step(True),
        "up to the feature block, unfused, no ToRGB": lambda: step(idx, False, False),
    }
    if device == "cpu":
        def with_channels_last():
            G.to(memory_format=torch.channels_last)
            try:
                step(idx, False, True)
            finally:
                G.to(memory_format=torch.contiguous_format)
        variants["up to the feature block, unfused, with ToRGB, channels_last"] = with_channels_last
    times = {name: [] for name in variants}
    for name, fn in variants.items():
        fn()  # warm-up
    for _ in range(reps):
        for name, fn in variants.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[name].append((time.perf_counter() - t0) * 1000)
    return [(name, statistics.median(ts)) for name, ts in times.items()]


def run_worker(impl: str, res: int, steps: int, device: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, "--sizes", str(res), "--steps", str(steps), "--device", device]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {impl} {res} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 5], help="steps per size (last repeats)")
    parser.add_argument("--device", nargs="+", default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--ablations", action="store_true", help="also time the network variants at the first size")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per ablation variant")
    parser.add_argument("--memory-steps", type=int, default=3, help="steps of each path alone, for peak memory")
    parser.add_argument("--worker", choices=["both", *IMPLEMENTATIONS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if args.worker:
        print(json.dumps(worker(args.worker, args.sizes[0], args.steps[0], devices[0])))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, lr {LR}, seed {SEED}")
    print("| device | res | steps | ours ms/step | ours, full backward ms/step | full-res ms/step | speed-up "
          "| ours / full backward / full-res peak MB | max trajectory diff px (ours, full backward) "
          "| render fused / unfused ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for device in devices:
        for i, res in enumerate(args.sizes):
            steps = args.steps[min(i, len(args.steps) - 1)]
            both = run_worker("both", res, steps, device)
            runs = {name: both[name] for name in IMPLEMENTATIONS}
            memory = {name: run_worker(name, res, args.memory_steps, device)["peak_mb"] for name in IMPLEMENTATIONS}
            n = min(len(run["trajectory"]) for run in runs.values())
            full = np.array(runs["full"]["trajectory"][:n])
            diff = {name: np.abs(np.array(runs[name]["trajectory"][:n]) - full).max() for name in ("fast", "uncropped")}
            ms = {name: statistics.median(run["ms"]) for name, run in runs.items()}
            render = (f"{statistics.median(both['render_ms_fused']):.0f} / "
                      f"{statistics.median(both['render_ms_unfused']):.0f}")
            print(f"| {device} | {res} | {n} | {ms['fast']:.0f} | {ms['uncropped']:.0f} | {ms['full']:.0f} "
                  f"| {ms['full'] / ms['fast']:.1f}x | {memory['fast']:.0f} / {memory['uncropped']:.0f} / "
                  f"{memory['full']:.0f} | {diff['fast']:.0f}, {diff['uncropped']:.0f} | {render} |", flush=True)
            print(f"<!-- {device} {res}: handle {runs['fast']['trajectory'][0]} -> {runs['fast']['trajectory'][n - 1]} "
                  f"(ours), {runs['full']['trajectory'][n - 1]} (full-res); generator alone {both['model_mb']:.0f} MB "
                  f"-->", flush=True)
    if args.ablations:
        for device in devices:
            print(f"\nAblation at {args.sizes[0]} px on {device}: forward + backward of the network part, "
                  f"median of {args.reps}")
            print("| variant | ms |\n|---|---|")
            for name, ms in ablations(args.sizes[0], device, args.reps):
                print(f"| {name} | {ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
