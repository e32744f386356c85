"""The first inversion and drag measurements on a trained generator: the facades model (docs/drag.md).

    python benchmarks/facades_edit.py invert            # the validation photos, each recipe, a table
    python benchmarks/facades_edit.py drag              # drag a window in 5 samples and in inverted photos

`invert` inverts each held-out photo (the split the segmenters validate on) at the model's resolution with
each recipe, the model's own among them (its registry entry's `invert`), and reports PSNR, a perceptual distance
(LPIPS-style, on the `ce` segmenter's encoder features: unit-normalised channels, squared difference, mean over
layers), the layout kept (mIoU between the `ce` segmenter's class maps of the inverted image and of the photo) and
seconds per photo. The untrained demo generator under the default recipe is the floor.

`drag` picks, in each image, the middle of a window the segmenter sees (the window pixel farthest from any other
class, nearest the centre among equals: where a user would grab it), drags it `--offset` px sideways (towards the
image centre) with the model's own drag settings (its registry entry's `drag`), and reports whether the handle
reached its target (the session's own stop distance), whether the segmenter reads a window at the target
afterwards (the majority of a 3x3 patch), and how local the edit was (the share of pixels whose class it kept).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from draggan import DragSession, load_generator  # noqa: E402
from draggan.export import save_png  # noqa: E402
from draggan.inversion import InvertConfig, invert  # noqa: E402
from draggan.realism import FACADES, Judge, read_photos, untrained_generator  # noqa: E402
from draggan.registry import BUNDLED_MODEL, drag_config, invert_config  # noqa: E402
from draggan.session import stop_distance  # noqa: E402
from segmentation import CLASS_NAMES  # noqa: E402
from segmentation.data import list_pairs, split_files  # noqa: E402
from segmentation.metrics import confusion, scores  # noqa: E402

WINDOW = CLASS_NAMES.index("window")
RECIPES = {"projection, 20 steps": InvertConfig(torgb_steps=0),
           "projection, 100 steps": InvertConfig(steps=100, torgb_steps=0),
           "default: 20 steps + ToRGB fit": InvertConfig(),
           "default + 30 PTI steps": InvertConfig(pti_steps=30)}
OFFSET_STEPS = 100  # The inversion's feature-offset stage, measured beside the model's own recipe.


def classes(judge: Judge, images: torch.Tensor) -> np.ndarray:
    """(N, H, W) class indices of (N, 3, H, W) images in [-1, 1], by the judge, at the images' size."""
    with torch.no_grad():
        x = F.interpolate(images.float(), size=(256, 256), mode="bilinear", align_corners=False)
        logits = F.interpolate(judge.net(x), size=images.shape[-2:], mode="bilinear", align_corners=False)
    return logits.argmax(1).numpy()


def perceptual_distance(judge: Judge, a: torch.Tensor, b: torch.Tensor) -> float:
    """LPIPS's recipe on the judge's encoder: per-layer unit-normalised features, squared difference, mean."""
    def features(x):
        x = F.interpolate(x.float(), size=(256, 256), mode="bilinear", align_corners=False)
        out = []
        for down in judge.net.downs[:5]:
            x = down(x)
            out.append(x / (x.norm(dim=1, keepdim=True) + 1e-10))
        return out
    with torch.no_grad():
        return float(np.mean([(fa - fb).pow(2).sum(1).mean().item() for fa, fb in zip(features(a), features(b))]))


def to_tensor(uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1


def validation_uint8(size: int, count: int) -> list[np.ndarray]:
    _, val = split_files(list_pairs(FACADES))
    photos = read_photos(val[:count], size)
    return [p.add(1).mul(127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy() for p in photos]


def recipe_name(config: InvertConfig) -> str:
    """"100 steps + 60 PTI steps (lr 0.003) + ToRGB fit" for a table row."""
    pti = f" + {config.pti_steps} PTI steps (lr {config.pti_lr:g})" if config.pti_steps else ""
    offset = (f" + {config.feature_steps} feature-offset steps (lr {config.feature_lr:g})" if config.feature_steps
              else "")
    return f"{config.steps} steps{pti}" + (" + ToRGB fit" if config.torgb_steps else "") + offset


def invert_table(G, demo, judge: Judge, photos: list[np.ndarray], own: InvertConfig,
                 feature_res: int | None) -> list[tuple[str, dict]]:
    """One row per recipe: RECIPES, the model's own (`own`, when it has one; and, when its drags move the output of
    the block at `feature_res`, the same with OFFSET_STEPS fitting an offset there, or without the one it fits), the
    untrained demo's floor."""
    rows = []
    mine = {f"**the model's own: {recipe_name(own)}**": (G, own)} if own != InvertConfig() else {}
    if feature_res:
        other = replace(own, feature_steps=0 if own.feature_steps else OFFSET_STEPS)
        mine[f"the model's own {'without' if own.feature_steps else 'with'} the feature offset: "
             f"{recipe_name(other)}"] = (G, other)
    for name, (generator, config) in {**{k: (G, c) for k, c in RECIPES.items()}, **mine,
                                      "untrained demo, default": (demo, InvertConfig())}.items():
        psnrs, lpips, mious, seconds = [], [], [], []
        for photo in photos:
            t = time.perf_counter()
            result = invert(generator, photo, config, feature_res=feature_res if generator is G else None)
            seconds.append(time.perf_counter() - t)
            a, b = to_tensor(result.image), to_tensor(result.target)
            psnrs.append(result.psnr)
            lpips.append(perceptual_distance(judge, a, b))
            conf = confusion(classes(judge, b)[0], classes(judge, a)[0], len(CLASS_NAMES))
            mious.append(scores(conf).mean_iou)
        row = {"psnr": np.mean(psnrs), "perceptual": np.mean(lpips), "miou": np.mean(mious), "s": np.mean(seconds)}
        print(f"| {name} | {row['psnr']:.2f} | {row['perceptual']:.3f} | {row['miou']:.3f} | {row['s']:.1f} |",
              flush=True)
        rows.append((name, row))
    return rows


def window_handle(labels: np.ndarray, offset: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(handle, target) as (x, y): the middle of a window, where a user would grab it (the window pixel farthest
    from any other class; of equals, the nearest to the image centre), moved `offset` px sideways towards the
    centre; None if the segmenter sees no window whose target stays inside the image."""
    h, w = labels.shape
    depth = ndimage.distance_transform_cdt(labels == WINDOW, metric="chessboard")
    ys, xs = np.nonzero(depth)
    keep = (xs - offset >= 0) & (xs + offset < w)
    if not keep.any():
        return None
    ys, xs = ys[keep], xs[keep]
    central = (ys - h / 2) ** 2 + (xs - w / 2) ** 2
    i = np.lexsort((central, -depth[ys, xs]))[0]
    x, y = int(xs[i]), int(ys[i])
    dx = offset if x < w / 2 else -offset
    return (x, y), (x + dx, y)


def drag_window(session: DragSession, judge: Judge, offset: int, max_steps: int) -> dict | None:
    image = session.render()
    before = classes(judge, to_tensor(image))[0]
    picked = window_handle(before, offset)
    if picked is None:
        return None
    handle, target = picked
    last, start = None, time.perf_counter()
    for last in session.drag([handle], [target], max_steps=max_steps):
        pass
    seconds = time.perf_counter() - start
    dragged = session.render()
    after = classes(judge, to_tensor(dragged))[0]
    x, y = target
    patch = after[max(0, y - 1):y + 2, max(0, x - 1):x + 2]
    return {"handle": handle, "target": target, "distance": last.distances[0], "steps": last.step,
            "reached": last.distances[0] <= stop_distance(session.image_size[0], 1),
            "window": bool((patch == WINDOW).mean() > 0.5), "kept": float((after == before).mean()),
            "s": seconds, "images": (image, dragged)}


def drag_figure(results: list[dict | None], path: Path, scale: int = 4, columns: int = 2) -> None:
    """Before | after of each drag, cut around its path and enlarged: the handle red, the target blue (the app's
    colours), a green frame where the segmenter read a window at the target."""
    tiles = []
    for r in (r for r in results if r is not None):
        (hx, hy), (tx, ty) = r["handle"], r["target"]
        h, w = r["images"][0].shape[:2]
        y0, x0 = min(max(hy - 16, 0), h - 32), min(max((hx + tx) // 2 - 24, 0), w - 48)
        pair = []
        for image, (px, py), colour in zip(r["images"], ((hx, hy), (tx, ty)), ((255, 0, 0), (0, 0, 255))):
            crop = image.copy()
            crop[py, px] = colour
            pair.append(crop[y0:y0 + 32, x0:x0 + 48].repeat(scale, 0).repeat(scale, 1))
        tile = np.concatenate([pair[0], np.full((32 * scale, 2, 3), 255, np.uint8), pair[1]], 1)
        framed = np.empty((tile.shape[0] + 6, tile.shape[1] + 6, 3), np.uint8)
        framed[:] = (0, 200, 0) if r["window"] else (40, 40, 40)
        framed[3:-3, 3:-3] = tile
        tiles.append(framed)
    if not tiles:
        return
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], 1) for i in range(0, len(tiles), columns)]
    save_png(np.concatenate(rows, 0), path)


def drag_report(label: str, results: list[dict | None]) -> None:
    done = [r for r in results if r is not None]
    print(f"\n{label}: {len(done)} of {len(results)} images had a window to drag")
    for r in done:
        print(f"  {r['handle']} -> {r['target']}: {r['steps']} steps, {r['distance']:.1f} px left, "
              f"reached {r['reached']}, window at the target {r['window']}")
    print(f"  reached {sum(r['reached'] for r in done)}/{len(done)}; "
          f"window at the target {sum(r['window'] for r in done)}/{len(done)}; "
          f"pixels of an unchanged class {np.mean([r['kept'] for r in done]):.0%}; "
          f"{np.mean([r['s'] for r in done]):.1f} s per drag")
    fives = [[r['window'] for r in results[i:i + 5] if r is not None] for i in range(0, len(results) - 4, 5)]
    if fives:  # the goal's unit: a user's five drags, of which at least 4 should carry the window
        print(f"  blocks of five images with at least 4 windows at the target: {sum(sum(f) >= 4 for f in fives)}"
              f"/{len(fives)}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["invert", "drag"])
    p.add_argument("--model", default=BUNDLED_MODEL, help="generator (default: %(default)s)")
    p.add_argument("--photos", type=int, default=40, help="validation photos to use (default: all 40; 0: none)")
    p.add_argument("--drags", type=int, default=5, help="samples to drag a window in (default: %(default)s)")
    p.add_argument("--offset", type=int, default=12, help="drag distance in px (default: %(default)s)")
    p.add_argument("--max-steps", type=int, default=200, help="steps per drag (default: %(default)s)")
    p.add_argument("--lr", type=float, default=None, help="the drags' learning rate (default: the model's own)")
    p.add_argument("--layers", type=int, default=None, help="leading W+ layers a drag moves (default: the model's own)")
    p.add_argument("--feature-res", type=int, default=None,
                   help="block whose output the drags also move (default: the model's own; 0: none, W+ alone)")
    p.add_argument("--feature-steps", type=int, default=None,
                   help="the photos' inversion fits the drags' offset in this many steps (default: the model's own)")
    p.add_argument("--seed", type=int, default=0, help="first sample's seed (default: %(default)s)")
    p.add_argument("--figure", type=Path, default=None, help="save the samples' drags, before | after, as this PNG")
    args = p.parse_args(argv)
    drag = drag_config(args.model)
    drag = replace(drag, lr=args.lr or drag.lr, num_optimized_ws=args.layers or drag.num_optimized_ws,
                   feature_res=drag.feature_res if args.feature_res is None else args.feature_res or None)
    torch.set_num_threads(2)
    G = load_generator(args.model, device="cpu").eval()
    judge = Judge()
    photos = validation_uint8(G.img_resolution, args.photos) if args.photos > 0 else []
    if args.what == "invert":
        print(f"{len(photos)} validation photos at {G.img_resolution} px, model {args.model}:\n"
              "| recipe | PSNR dB | perceptual | layout mIoU | s / photo |\n|---|---|---|---|---|")
        invert_table(G, untrained_generator(), judge, photos, invert_config(args.model), drag.feature_res)
        return
    print(f"sliding the {drag.feature_res} px block's output (radius {drag.warp_radius:g} of the height)"
          if drag.feature_res else f"lr {drag.lr:g}, {drag.num_optimized_ws} W+ layers free")
    seeds = range(args.seed, args.seed + args.drags)
    samples = [drag_window(DragSession(G, seed=s, config=drag), judge, args.offset, args.max_steps) for s in seeds]
    if samples:
        drag_report(f"Samples (seeds {seeds[0]}-{seeds[-1]}, psi 0.7)", samples)
    if args.figure:
        drag_figure(samples, args.figure)
    inverted, recipe = [], invert_config(args.model)
    recipe = recipe if args.feature_steps is None else replace(recipe, feature_steps=args.feature_steps)
    for photo in photos:
        result = invert(G, photo, recipe, feature_res=drag.feature_res)
        session = DragSession(result.overlay.on(G), ws=result.ws, features=result.features, config=drag)
        inverted.append(drag_window(session, judge, args.offset, args.max_steps))
    if photos:
        drag_report(f"Inverted validation photos ({recipe_name(recipe)})", inverted)


if __name__ == "__main__":
    main()
