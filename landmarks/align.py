"""FFHQ alignment: cut a face out of a photo the way the generator's training faces were cut, and put it back.

StyleGAN's FFHQ models only reproduce faces framed like their training set, so a user's photo is
aligned with the recipe of NVlabs' ffhq-dataset script (`recreate_aligned_images`): an oriented
square from the eye centres and the mouth corners, a shrink step for large faces, a crop, and
reflect padding with a blurred fade where the square leaves the photo. One affine map (photo
pixel ↔ crop pixel) describes the whole result, so points and the edited crop go back exactly.

Convention: points are pixel indices, (0, 0) being the centre of the top-left pixel, as in
landmark arrays, UI clicks and cv2's warps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from common.images import rgb_uint8

from .detect import detect_faces, select_face
from .face import LEFT_EYE, MOUTH_CORNERS, RIGHT_EYE, check_landmarks
from .image import as_points

FEATHER = 0.1  # Width of paste-back's fade, as a fraction of the crop side; the face fills the middle half.


@dataclass(frozen=True)
class AlignedFace:
    """An FFHQ-aligned crop of one face and the affine map between it and the photo."""

    image: np.ndarray  # (size, size, 3) uint8, the aligned crop.
    photo: np.ndarray  # The photo as given (grayscale, RGB or RGBA uint8), kept for paste-back.
    # (4, 2) float64: the photo points on the crop's outer corners (top-left, bottom-left, bottom-right, top-right).
    quad: np.ndarray
    landmarks: np.ndarray  # (68, 2) float32 photo landmarks mapped into the crop; (0, 2) for a `centre_square`.

    @property
    def size(self) -> int:
        return self.image.shape[0]

    @property
    def crop_to_photo_matrix(self) -> np.ndarray:
        """2×3 affine matrix: crop pixel (x, y, 1) → photo pixel."""
        return _square_to_quad(self.quad, self.size)

    @property
    def photo_to_crop_matrix(self) -> np.ndarray:
        """2×3 affine matrix: photo pixel (x, y, 1) → crop pixel."""
        return _invert(self.crop_to_photo_matrix)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo points (N, 2) (x, y) → crop points, float32."""
        return _apply(self.photo_to_crop_matrix, as_points(points))

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Crop points (N, 2) (x, y) → photo points, float32."""
        return _apply(self.crop_to_photo_matrix, as_points(points))

    def paste(self, edited: np.ndarray, mask: np.ndarray | None = None, feather: float = FEATHER) -> np.ndarray:
        """The full photo with `edited` (a crop of any size) warped back in place of this crop.

        `mask` (square, any size, values in [0, 1] or 0-255 for uint8) limits what is pasted; by default the
        whole square is pasted with a fade `feather` × its side wide at its edges, so the seam between
        the generator's background and the photo's does not show. Pixels outside the square are
        returned bit-identical; an RGBA photo keeps its alpha, a grayscale one comes back as RGB.
        """
        edited = rgb_uint8(edited, "edited")
        if edited.shape[0] != edited.shape[1]:
            raise ValueError(f"edited must be a square crop, got {edited.shape[1]}x{edited.shape[0]}")
        edited = _resize(edited, self.size)
        weight = square_fade(self.size, feather) if mask is None else _mask(mask, self.size)
        photo = np.asarray(self.photo)
        result = rgb_uint8(photo, "photo").copy()
        window = _window(self.quad, result.shape[1], result.shape[0])
        if window is not None:
            left, top, right, bottom = window
            to_crop = self.photo_to_crop_matrix.copy()
            to_crop[:, 2] += to_crop[:, :2] @ [left, top]  # Warp only the window the square covers.
            flags, shape = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, (right - left, bottom - top)
            warped = cv2.warpAffine(edited, to_crop, shape, flags=flags, borderMode=cv2.BORDER_REPLICATE)
            alpha = cv2.warpAffine(weight, to_crop, shape, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            region = result[top:bottom, left:right].astype(np.float32)
            blended = region + alpha[:, :, None] * (warped.astype(np.float32) - region)
            result[top:bottom, left:right] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        if photo.ndim == 3 and photo.shape[2] == 4:
            result = np.concatenate([result, photo[:, :, 3:]], axis=2)
        return result


def ffhq_quad(lm68: np.ndarray) -> np.ndarray:
    """The FFHQ recipe's oriented square, (4, 2) float64: top-left, bottom-left, bottom-right, top-right.

    Its centre is 10 % of the way from the eyes' midpoint to the mouth's; its side is the larger of
    4 × the eye distance and 3.6 × the eye-to-mouth distance; its "right" direction averages the eye
    line with the perpendicular of the eye-to-mouth line, so a tilted head comes out level.
    """
    points = check_landmarks(lm68)
    eye_right, eye_left = points[list(RIGHT_EYE)].mean(axis=0), points[list(LEFT_EYE)].mean(axis=0)
    eye_avg, eye_to_eye = (eye_right + eye_left) / 2, eye_left - eye_right
    eye_to_mouth = points[list(MOUTH_CORNERS)].mean(axis=0) - eye_avg
    x = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])  # Eye line + eye-to-mouth turned to the right.
    half_side = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    if np.hypot(*x) < 1e-6 or half_side < 1e-6:
        raise ValueError("landmarks put the eyes and the mouth at one place; the face's orientation is undefined")
    x *= half_side / np.hypot(*x)
    y = np.array([-x[1], x[0]])  # x turned a quarter toward the image's bottom.
    centre = eye_avg + eye_to_mouth * 0.1
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def align_face(photo: np.ndarray, lm68: np.ndarray, size: int = 1024) -> AlignedFace:
    """Align the face with landmarks `lm68` (68, 2 (x, y), dlib/iBUG order) to a size × size FFHQ crop.

    `photo` is grayscale, RGB or RGBA uint8, as for detection.
    """
    rgb, size = rgb_uint8(photo, "photo"), _checked_size(size)
    quad = ffhq_quad(lm68)
    if _window(quad, rgb.shape[1], rgb.shape[0]) is None:
        raise ValueError(f"the face's square {quad.min(0).round(1).tolist()}–{quad.max(0).round(1).tolist()} lies "
                         f"outside the {rgb.shape[1]}x{rgb.shape[0]} photo; are the landmarks from this photo?")
    image, shown = _render(rgb, quad, size)
    landmarks = _apply(_invert(_square_to_quad(shown, size)), as_points(lm68))
    return AlignedFace(image=image, photo=np.asarray(photo), quad=shown, landmarks=landmarks)


def centre_square(photo: np.ndarray, size: int) -> AlignedFace:
    """The photo's largest centred square at size × size, for a model that draws no faces (a facade, a cat): the
    same point maps and paste-back as a face's crop, and no landmarks."""
    rgb, size = rgb_uint8(photo, "photo"), _checked_size(size)
    height, width = rgb.shape[:2]
    side = min(height, width)
    left, top = (width - side) // 2, (height - side) // 2
    corners = [[left, top], [left, top + side], [left + side, top + side], [left + side, top]]
    quad = np.array(corners, np.float64) - 0.5  # pixel edges on the corners, as ffhq_quad's
    return AlignedFace(image=_resize(rgb[top:top + side, left:left + side], size), photo=np.asarray(photo),
                       quad=quad, landmarks=np.zeros((0, 2), np.float32))


def _checked_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer number of pixels, got {size!r}")
    return int(size)


def align_photo(photo: np.ndarray, size: int = 1024, number: int = 1, backend: str = "auto") -> AlignedFace:
    """Detect the faces in `photo` and align face `number` (1 = the largest), or raise naming what is missing."""
    return align_face(photo, select_face(detect_faces(photo, backend).faces, number).points, size)


def square_fade(size: int, feather: float = FEATHER) -> np.ndarray:
    """(size, size) float32 weights: 1 inside, ramping smoothly to 0 over `feather` × size at the edges."""
    if not 0 <= feather <= 0.5:
        raise ValueError(f"feather must be a fraction of the crop side in [0, 0.5], got {feather}")
    edge = np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5  # Distance of each pixel centre to the edge.
    ramp = np.clip(edge / max(feather * size, 1e-6), 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # Smoothstep: no visible kink where the fade starts.
    return np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)


def _render(rgb: np.ndarray, quad: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The recipe's shrink, crop, pad and transform steps: the aligned crop and the photo quad it shows."""
    image, shown = rgb, quad
    qsize = float(np.hypot(*(quad[3] - quad[0])))
    shrink = math.floor(qsize / size * 0.5)
    if shrink > 1:  # Large face: downscale first so the warp does not alias.
        height, width = image.shape[:2]
        small = (max(1, round(width / shrink)), max(1, round(height / shrink)))
        image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        # The recipe divides pixel-centre coordinates by the factor, which moves its square by about
        # (shrink - 1) / 2 photo pixels (under 1/4 of a crop pixel). Kept, so crops match FFHQ's; the
        # quad it really shows is mapped back exactly, so the point maps and paste-back stay exact.
        quad = quad / shrink
        shown = (quad + 0.5) * [width / small[0], height / small[1]] - 0.5
        qsize /= shrink
    border = max(round(qsize * 0.1), 3)
    left, top, right, bottom = _bounds(quad)
    left, top = max(left - border, 0), max(top - border, 0)
    right, bottom = min(right + border, image.shape[1]), min(bottom + border, image.shape[0])
    image, quad = image[top:bottom, left:right], quad - [left, top]
    image, quad = _pad_reflect(image, quad, qsize, border)
    return _warp(image, quad, size, supersample=max(1, math.ceil(qsize / size))), shown


def _pad_reflect(image: np.ndarray, quad: np.ndarray, qsize: float, border: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the square (plus `border`) leaves the image: mirror the photo, blur it and fade it to its median colour.

    As in the recipe, padding starts once the square comes within 4 px of an edge and is then at
    least 0.3 × the square's side on every side.
    """
    height, width = image.shape[:2]
    left, top, right, bottom = _bounds(quad)
    pad = np.array([-left + border, -top + border, right - width + border, bottom - height + border]).clip(0)
    if pad.max() <= border - 4:
        return image, quad
    pad_l, pad_t, pad_r, pad_b = (int(v) for v in np.maximum(pad, max(round(qsize * 0.3), 1)))
    padded = cv2.copyMakeBorder(image, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REFLECT_101).astype(np.float32)
    rows, cols = padded.shape[:2]
    x, y = np.arange(cols, dtype=np.float32)[None, :], np.arange(rows, dtype=np.float32)[:, None]
    # Depth into the padding: 1 at the outer edge, 0 at the photo's edge, negative inside the photo.
    depth = np.maximum(
        1 - np.minimum(x / pad_l, (cols - 1 - x) / pad_r), 1 - np.minimum(y / pad_t, (rows - 1 - y) / pad_b)
    )
    blur = qsize * 0.02
    blurred = cv2.GaussianBlur(padded, (0, 0), blur, borderType=cv2.BORDER_REFLECT)
    padded += (blurred - padded) * np.clip(depth * 3 + 1, 0, 1)[:, :, None]
    padded += (np.median(padded, axis=(0, 1)) - padded) * np.clip(depth, 0, 1)[:, :, None]
    return np.clip(np.rint(padded), 0, 255).astype(np.uint8), quad + [pad_l, pad_t]


def _warp(image: np.ndarray, quad: np.ndarray, size: int, supersample: int) -> np.ndarray:
    """Map the quad onto a size × size square: bilinear at `supersample` × size, then area-averaged down.

    The recipe renders at 4096 px and downsizes for the same reason: bilinear sampling alone aliases
    when the quad is larger than the output.
    """
    side = size * supersample
    out_to_in = _square_to_quad(quad, side)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    big = cv2.warpAffine(image, out_to_in, (side, side), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return big if supersample == 1 else cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def _bounds(quad: np.ndarray) -> tuple[int, int, int, int]:
    """Integer (left, top, right, bottom) enclosing the quad, rounded outward as the recipe does."""
    (left, top), (right, bottom) = np.floor(quad.min(axis=0)), np.ceil(quad.max(axis=0))
    return int(left), int(top), int(right), int(bottom)


def _window(quad: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The part of a width × height photo the quad covers (one pixel of slack for bilinear taps), or None."""
    left, top, right, bottom = _bounds(quad)
    left, top = max(left - 1, 0), max(top - 1, 0)
    right, bottom = min(right + 2, width), min(bottom + 2, height)
    return (left, top, right, bottom) if left < right and top < bottom else None


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[:2] == (size, size):
        return image
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interpolation)


def _mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A paste mask as (size, size) float32 in [0, 1], or a ValueError naming the problem."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"mask must be a square (S, S) array, got shape {mask.shape}")
    mask = mask.astype(np.float32) / (255.0 if mask.dtype == np.uint8 else 1.0)
    if not (np.isfinite(mask).all() and mask.min() >= 0 and mask.max() <= 1):
        raise ValueError("mask values must lie in [0, 1] (or 0-255 for uint8)")
    return mask if mask.shape[0] == size else cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)


def _square_to_quad(quad: np.ndarray, side: int) -> np.ndarray:
    """2×3 affine matrix from the pixels of a side × side square onto the quad (pixel edges on its corners)."""
    across, down = (quad[3] - quad[0]) / side, (quad[1] - quad[0]) / side  # One square pixel right / down.
    linear = np.stack([across, down], axis=1)
    return np.concatenate([linear, (quad[0] + linear @ [0.5, 0.5])[:, None]], axis=1)


def _invert(matrix: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear, -(linear @ matrix[:, 2])[:, None]], axis=1)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return (points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
