"""How well FFHQ alignment's point map agrees with the crop it makes, on the shared face photos.

    python -m benchmarks.align_accuracy [--faces ../shared/fixtures/faces] [--sizes 256 512] [--backend dlib]

For each photo: detect the largest face, align it, map its 68 points into the crop, detect the
points again on the crop itself, and print the distance between the two (eye centres and all 68,
in crop pixels). The detector's own jitter is part of the figure; a face cut by the photo's edge
is expected to do worse, as its crop holds a mirrored half-face.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from landmarks import align_face, detect_faces, detect_landmarks


def eye_centres(points: np.ndarray) -> np.ndarray:
    return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared/fixtures/faces")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--backend", default="dlib")
    args = parser.parse_args()

    print("| photo | crop px | eye centres: mean error px | 68 points: mean error px | 68 points: max px |")
    print("|---|---|---|---|---|")
    for path in sorted(args.faces.glob("*.jpg")):
        photo = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        faces = detect_faces(photo, args.backend).faces
        for size in args.sizes:
            aligned = align_face(photo, faces[0].points, size)
            found = detect_landmarks(aligned.image, args.backend)
            if not found:
                print(f"| {path.name} | {size} | no face found on the crop | | |")
                continue
            error = np.hypot(*(found[0] - aligned.landmarks).T)
            eyes = np.hypot(*(eye_centres(found[0]) - eye_centres(aligned.landmarks)).T)
            print(f"| {path.name} | {size} | {eyes.mean():.2f} | {error.mean():.2f} | {error.max():.2f} |")


if __name__ == "__main__":
    main()
