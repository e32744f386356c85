"""Landmark detection time per image, for every backend available here, side by side.

    python -m benchmarks.bench_landmarks [--repeats 10]

Rows: each available backend at its defaults on scikit-image's astronaut (512 px) and on the same
photo upscaled to 1024 and 2048 px; dlib with its upsampling forced off and on; and dlib on the
2048 px photo without the downscale-for-detection step. Together they show what each default costs
or saves. Times are the median over repeats after one warm-up run (which loads the models);
ratios are against the dlib default on the same image.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
from PIL import Image
from skimage import data

from landmarks import DlibBackend, detect_faces, dlib_backend, fan_backend


def median_ms(run, repeats: int) -> float:
    run()  # Warm-up: loads the models.
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per row")
    args = parser.parse_args()

    photo = data.astronaut()
    images = {side: np.asarray(Image.fromarray(photo).resize((side, side), Image.Resampling.LANCZOS)) for side in (512, 1024, 2048)}
    backends = [name for name, ok in (("dlib", dlib_backend.is_available()), ("face_alignment", fan_backend.is_available())) if ok]

    rows = []  # (image side, setting, ms, faces)
    for side, image in images.items():
        for name in backends:
            result = detect_faces(image, backend=name)
            rows.append((side, f"{name} (default)", median_ms(lambda: detect_faces(image, backend=name), args.repeats), len(result.faces)))
        if "dlib" in backends:
            for upsample in (0, 1):
                forced = DlibBackend(upsample=upsample)
                faces = len(detect_faces(image, backend=forced).faces)
                rows.append((side, f"dlib, upsample={upsample}", median_ms(lambda: detect_faces(image, backend=forced), args.repeats), faces))
    if "dlib" in backends:
        big = images[2048]
        faces = len(detect_faces(big, backend="dlib", max_side=4096).faces)
        rows.append((2048, "dlib, no downscale (max_side=4096)", median_ms(lambda: detect_faces(big, backend="dlib", max_side=4096), args.repeats), faces))

    baseline = {side: ms for side, setting, ms, _ in rows if setting == "dlib (default)"}
    print(f"# {platform.processor() or platform.machine()}, {args.repeats} repeats, median ms per image")
    print(f"# backends available: {', '.join(backends) or 'none'}")
    print("| image | backend / setting | ms per image | faces | × dlib default |")
    print("|---|---|---|---|---|")
    for side, setting, ms, faces in rows:
        ratio = f"{ms / baseline[side]:.2f}" if side in baseline else "–"
        print(f"| {side}×{side} | {setting} | {ms:.0f} | {faces} | {ratio} |")


if __name__ == "__main__":
    main()
