"""FFHQ alignment of real photos: the recipe's geometry, paste-back, point maps, padding, face choice, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from landmarks import (
    NoFaceFound,
    align_face,
    align_photo,
    detect_faces,
    detect_landmarks,
    draw_faces,
    select_face,
)
from landmarks.align import ffhq_quad
from landmarks.draw import CHOSEN_COLOR, FACE_COLOR
from presets import PRESETS

SIZE = 256
EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
SINGLE_FACES = ["obama.jpg", "obama2.jpg", "obama-240p.jpg", "obama_partial_face.jpg", "biden.jpg"]


@pytest.fixture(scope="module")
def faces_dir(shared_dir):
    return shared_dir / "fixtures" / "faces"


@pytest.fixture(scope="module")
def photos(faces_dir):
    """Each fixture photo as RGB uint8 with its dlib faces, largest first (detected once per module)."""
    cache = {}

    def load(name):
        if name not in cache:
            photo = np.asarray(Image.open(faces_dir / name).convert("RGB"))
            cache[name] = photo, detect_faces(photo, backend="dlib").faces
        return cache[name]

    return load


def eye_centres(points):
    """(2, 2): the subject's right then left eye centre, the points the recipe is built on."""
    return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0)])


def rotated(photo, points, degrees):
    """The photo turned by `degrees` on a canvas that holds all of it, and the points turned with it."""
    height, width = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], float) @ matrix.T
    size = np.ceil(corners.max(axis=0) - corners.min(axis=0)).astype(int)
    matrix[:, 2] -= corners.min(axis=0)
    turned = cv2.warpAffine(photo, matrix, tuple(size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    return turned, (points.astype(float) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@pytest.mark.parametrize("name", SINGLE_FACES + ["two_people.jpg"])
def test_crop_follows_the_ffhq_recipe(photos, name):
    """In the crop, the recipe's own definitions hold: its centre, its side and its level axis."""
    photo, faces = photos(name)
    aligned = align_face(photo, faces[0].points, SIZE)
    assert aligned.image.shape == (SIZE, SIZE, 3) and aligned.image.dtype == np.uint8

    points = aligned.landmarks.astype(float)
    eyes = eye_centres(points)
    eye_avg, eye_to_eye = eyes.mean(axis=0), eyes[1] - eyes[0]
    eye_to_mouth = (points[48] + points[54]) / 2 - eye_avg
    centre = (SIZE - 1) / 2
    # The square's centre is 10 % of the way from the eyes to the mouth.
    np.testing.assert_allclose(eye_avg + 0.1 * eye_to_mouth, [centre, centre], atol=1e-3)
    # Its half side is the larger of 2 × the eye distance and 1.8 × the eye-to-mouth distance.
    half_side = max(2 * np.hypot(*eye_to_eye), 1.8 * np.hypot(*eye_to_mouth))
    assert half_side == pytest.approx(SIZE / 2, abs=1e-3)
    # Its x axis (eye line plus the eye-to-mouth line turned a quarter) is the image's horizontal.
    axis = eye_to_eye + [eye_to_mouth[1], -eye_to_mouth[0]]
    assert abs(axis[1]) < 1e-4 * np.hypot(*axis) and axis[0] > 0


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg"])
def test_the_crop_shows_the_eyes_where_the_map_puts_them(photos, name):
    """dlib run on the crop itself finds the eye centres within 1.5 px of the mapped ones (256 px crop)."""
    photo, faces = photos(name)
    aligned = align_face(photo, faces[0].points, SIZE)
    (found,) = detect_landmarks(aligned.image, backend="dlib")
    error = np.hypot(*(eye_centres(found) - eye_centres(aligned.landmarks)).T)
    assert error.max() < 1.5, f"eye centres on the crop are {error.round(2)} px from where the map puts them"
    assert np.hypot(*(found - aligned.landmarks).T).mean() < 0.01 * SIZE


@pytest.mark.parametrize("preset", ["smile", "close eyes", "open mouth"])
def test_presets_on_the_crop_are_the_photo_presets_mapped_into_it(photos, preset):
    """Alignment is a similarity, and presets measure in fractions of the face: the two commute."""
    photo, faces = photos("two_people.jpg")
    aligned = align_face(photo, faces[0].points, SIZE)
    on_crop = PRESETS[preset](aligned.landmarks, 0.8)
    on_photo = PRESETS[preset](faces[0].points, 0.8)
    handles = on_crop[0]
    assert ((handles >= 0) & (handles <= SIZE - 1)).all()  # (Open mouth's chin targets may pass the crop's bottom.)
    for crop_points, photo_points in zip(on_crop, on_photo):
        np.testing.assert_allclose(crop_points, aligned.to_crop(photo_points), atol=1e-2)


@pytest.mark.parametrize("scale", [1, 3])
def test_the_crop_is_the_photo_seen_through_the_map(photos, scale):
    """Each crop pixel shows the photo at `to_photo` of that pixel, to well under 1/4 of a crop pixel.

    On a photo without fine detail (so the resampling filter does not matter) the crop matches the photo
    sampled at the mapped points to > 50 dB, where a quarter-pixel error costs about 10 dB. At 3× the
    face is large enough for the shrink step to run.
    """
    photo, faces = photos("obama.jpg")
    big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    smooth = cv2.GaussianBlur(big, (0, 0), 3 * scale)
    aligned = align_face(smooth, (faces[0].points + 0.5) * scale - 0.5, SIZE)
    grid = np.stack(np.meshgrid(np.arange(SIZE), np.arange(SIZE)), axis=-1).astype(np.float32)

    def sample(crop_points):
        where = aligned.to_photo(crop_points.reshape(-1, 2)).reshape(SIZE, SIZE, 2)
        return cv2.remap(smooth, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

    assert psnr(aligned.image, sample(grid)) > 50
    assert psnr(aligned.image, sample(grid + [0.25, 0])) < 50, "the check must be able to see a quarter pixel"


@pytest.mark.parametrize("degrees", [30, -20])
def test_a_rotated_photo_gives_the_same_crop(photos, degrees):
    """The recipe is rotation-equivariant: turning the photo (and its points) turns nothing in the crop."""
    photo, faces = photos("obama.jpg")
    upright = align_face(photo, faces[0].points, SIZE)
    turned_photo, turned_points = rotated(photo, faces[0].points, degrees)
    turned = align_face(turned_photo, turned_points, SIZE)
    np.testing.assert_allclose(eye_centres(turned.landmarks), eye_centres(upright.landmarks), atol=1e-2)
    face = slice(SIZE // 4, 3 * SIZE // 4)
    assert psnr(turned.image[face, face], upright.image[face, face]) > 30


def test_a_rotated_photo_comes_out_level(photos):
    """Detected afresh on a photo turned 30°, the face is levelled: its eyes lie within 3° of horizontal."""
    photo, faces = photos("obama.jpg")
    turned_photo, _ = rotated(photo, faces[0].points, 30)
    (points,) = detect_landmarks(turned_photo, backend="dlib")
    eyes = eye_centres(align_face(turned_photo, points, SIZE).landmarks)
    tilt = np.degrees(np.arctan2(*(eyes[1] - eyes[0])[::-1]))
    assert abs(tilt) < 3


def test_large_faces_are_shrunk_without_moving_the_geometry(photos):
    """A face 6× larger than the crop goes through the shrink step and still lands where the map says."""
    photo, faces = photos("obama2.jpg")
    big = cv2.resize(photo, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    points = (faces[0].points + 0.5) * 3 - 0.5
    side = np.hypot(*(ffhq_quad(points)[3] - ffhq_quad(points)[0]))
    assert side / SIZE * 0.5 >= 2, "the test photo must be large enough to trigger the shrink"
    small, large = align_face(photo, faces[0].points, SIZE), align_face(big, points, SIZE)
    np.testing.assert_allclose(large.landmarks, small.landmarks, atol=0.3)  # The recipe's shift: < 1/4 crop px.
    face = slice(SIZE // 4, 3 * SIZE // 4)
    assert psnr(large.image[face, face], small.image[face, face]) > 30


def test_point_maps_are_exact_inverses(photos):
    photo, faces = photos("obama_partial_face.jpg")
    aligned = align_face(photo, faces[0].points, SIZE)
    points = np.random.default_rng(0).uniform(-50, 600, size=(100, 2)).astype(np.float32)
    np.testing.assert_allclose(aligned.to_photo(aligned.to_crop(points)), points, atol=1e-3)
    np.testing.assert_allclose(aligned.to_crop(aligned.to_photo(points)), points, atol=1e-3)
    np.testing.assert_allclose(aligned.to_crop(faces[0].points), aligned.landmarks)
    # The crop's outer pixel edges are the quad's corners.
    edges = np.array([[-0.5, -0.5], [-0.5, SIZE - 0.5], [SIZE - 0.5, SIZE - 0.5], [SIZE - 0.5, -0.5]])
    np.testing.assert_allclose(aligned.to_photo(edges), aligned.quad, atol=1e-3)


def test_paste_back_keeps_far_pixels_and_changes_the_face(photos):
    photo, faces = photos("obama.jpg")
    aligned = align_face(photo, faces[0].points, SIZE)
    edited = 255 - aligned.image  # An edit nobody could miss.
    result = aligned.paste(edited)
    assert result.shape == photo.shape and result.dtype == np.uint8

    square = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillConvexPoly(square, np.round(aligned.quad).astype(np.int32), 1)
    near = cv2.dilate(square, np.ones((5, 5), np.uint8)).astype(bool)
    assert (~near).sum() > 0.3 * near.size, "the test needs pixels away from the face"
    np.testing.assert_array_equal(result[~near], photo[~near])

    nose = np.round(faces[0].points[30]).astype(int)  # Point 30: the tip of the nose, deep inside the square.
    nose_in_crop = np.round(aligned.landmarks[30]).astype(int)
    assert np.abs(result[nose[1], nose[0]].astype(int) - edited[nose_in_crop[1], nose_in_crop[0]]).max() <= 12


def test_paste_fades_in_from_the_square_edge(photos):
    """A flat white edit shows fully in the middle and fades out toward the square's edge: no hard seam."""
    photo, faces = photos("obama.jpg")
    aligned = align_face(photo, faces[0].points, SIZE)
    result = aligned.paste(np.full((SIZE, SIZE, 3), 255, np.uint8), feather=0.1)
    crop_x = np.array([1, SIZE * 0.05, SIZE * 0.15, SIZE / 2])  # Along the crop's middle row, from its left edge.
    x, y = np.round(aligned.to_photo(np.stack([crop_x, np.full(4, SIZE / 2)], axis=1))).astype(int).T
    gain = (result[y, x].astype(float) - photo[y, x]).mean(axis=1) / (255.0 - photo[y, x].mean(axis=1))
    assert gain[0] < 0.1 and 0.2 < gain[1] < 0.8 and gain[2] > 0.98 and gain[3] > 0.98, gain.round(2)


def test_pasting_the_crop_itself_restores_the_photo(photos):
    """Round trip photo → crop → photo: the face comes back close to the original (a 512 px crop, upsampled back)."""
    photo, faces = photos("obama.jpg")
    aligned = align_face(photo, faces[0].points, 512)
    restored = aligned.paste(aligned.image[::2, ::2])  # Any size is accepted; it is resized to the crop.
    left, top = np.floor(faces[0].points.min(axis=0)).astype(int)
    right, bottom = np.ceil(faces[0].points.max(axis=0)).astype(int)
    assert psnr(restored[top:bottom, left:right], photo[top:bottom, left:right]) > 26


def test_paste_keeps_alpha_and_follows_a_mask(photos):
    photo, faces = photos("obama.jpg")
    alpha = np.random.default_rng(1).integers(0, 256, photo.shape[:2], dtype=np.uint8)
    rgba = np.dstack([photo, alpha])
    aligned = align_face(rgba, faces[0].points, SIZE)
    nothing = aligned.paste(255 - aligned.image, mask=np.zeros((SIZE, SIZE)))
    np.testing.assert_array_equal(nothing, rgba)
    with pytest.raises(ValueError, match="mask values"):
        aligned.paste(aligned.image, mask=np.full((SIZE, SIZE), 2.0))


def test_grayscale_photos_align_to_rgb(photos):
    photo, faces = photos("biden.jpg")
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    aligned = align_face(gray, faces[0].points, SIZE)
    assert aligned.image.shape == (SIZE, SIZE, 3)
    assert (aligned.image[..., 0] == aligned.image[..., 2]).all()
    assert aligned.paste(aligned.image).shape == photo.shape


def test_reflect_padding_fills_a_face_cut_by_the_edge(photos):
    """Where the square leaves the photo the crop holds mirrored, blurred photo, not a flat border."""
    photo, faces = photos("obama_partial_face.jpg")
    aligned = align_face(photo, faces[0].points, SIZE)
    grid = np.stack(np.meshgrid(np.arange(SIZE), np.arange(SIZE)), axis=-1).reshape(-1, 2).astype(np.float32)
    x, y = aligned.to_photo(grid).T
    height, width = photo.shape[:2]
    outside = ((x < -0.5) | (x > width - 0.5) | (y < -0.5) | (y > height - 0.5)).reshape(SIZE, SIZE)
    assert 0.1 < outside.mean() < 0.5, "the face must be cut by the photo's edge"
    inside = ~cv2.dilate(outside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    padding = outside & ~cv2.dilate((~outside).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    gray = cv2.cvtColor(aligned.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    assert gray[padding].std() > 10, "the padding must carry the photo's mirrored content, not a constant"
    assert detail[padding].mean() < 0.5 * detail[inside].mean(), "the padding must be blurred"


def test_the_largest_face_is_the_default_and_any_face_can_be_chosen(photos):
    photo, faces = photos("two_people.jpg")
    assert len(faces) == 2
    assert select_face(faces) is faces[0] and faces[0].area >= faces[1].area
    assert select_face(faces, 2) is faces[1]
    with pytest.raises(ValueError, match="face 3 does not exist: the photo has 2 faces, numbered 1 to 2"):
        select_face(faces, 3)

    second = align_photo(photo, SIZE, number=2, backend="dlib")
    np.testing.assert_allclose(second.to_photo(second.landmarks), faces[1].points, atol=1e-3)

    drawn = draw_faces(photo, faces, chosen=2)
    for face, color in ((faces[0], FACE_COLOR), (faces[1], CHOSEN_COLOR)):
        left, top, right, bottom = np.round(face.box).astype(int)
        edge = drawn[(top + bottom) // 2, left : left + 3]  # The box's left side, half-way down.
        assert (edge == color).all(axis=1).any(), f"no {color} box edge at x={left}"
    untouched = drawn[5:, : int(min(f.box[0] for f in faces)) - 5]
    np.testing.assert_array_equal(untouched, photo[5:, : untouched.shape[1]])


@pytest.mark.parametrize("image", ["facade", "camera", "flat"])
def test_no_face_gets_a_clear_message(image):
    photo = {
        "facade": lambda: np.asarray(Image.open(EXAMPLES / "facade_020.jpg").convert("RGB")),
        "camera": data.camera,  # A man in profile behind a camera: grayscale, no frontal face.
        "flat": lambda: np.full((300, 400, 3), 128, np.uint8),
    }[image]()
    with pytest.raises(NoFaceFound, match="no face found in the photo"):
        align_photo(photo, SIZE, backend="dlib")


def test_bad_inputs_name_what_is_wrong(photos):
    photo, faces = photos("obama.jpg")
    points = faces[0].points
    with pytest.raises(ValueError, match=r"landmarks must have shape \(68, 2\)"):
        align_face(photo, points[:5], SIZE)
    with pytest.raises(ValueError, match=r"landmarks must have shape \(68, 2\) of \(x, y\) pixels, got \(136,\)"):
        align_face(photo, points.ravel(), SIZE)
    with pytest.raises(ValueError, match="photo must be uint8"):
        align_face(photo.astype(np.float32), points, SIZE)
    with pytest.raises(ValueError, match="photo must have shape"):
        align_face(photo[None], points, SIZE)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        align_face(photo, points, 0)
    with pytest.raises(ValueError, match="lies outside the 910x1137 photo"):
        align_face(photo, points + 5000, SIZE)
    with pytest.raises(ValueError, match="eyes and the mouth at one place"):
        align_face(photo, np.full((68, 2), 100.0), SIZE)
    aligned = align_face(photo, points, SIZE)
    with pytest.raises(ValueError, match="edited must be uint8"):
        aligned.paste(np.zeros((SIZE, SIZE, 3)))
    with pytest.raises(ValueError, match="edited must be a square crop, got 256x128"):
        aligned.paste(aligned.image[:128])
    with pytest.raises(ValueError, match=r"mask must be a square \(S, S\) array"):
        aligned.paste(aligned.image, mask=np.ones((SIZE, SIZE, 3)))
