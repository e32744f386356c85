"""Landmark detection on real photos, backend choice offline, coordinate mapping and drawing."""

from __future__ import annotations

import importlib.machinery

import numpy as np
import pytest
from PIL import Image
from skimage import data

import landmarks
from landmarks import (
    BackendUnavailable,
    CropResize,
    DlibBackend,
    crop_resize,
    detect_faces,
    detect_landmarks,
    draw_arrows,
    draw_points,
    gen_box_to_photo,
    gen_to_photo,
    photo_to_gen,
    resolve_backend,
)
from landmarks import dlib_backend, fan_backend
from landmarks.draw import ARROW_COLOR, HANDLE_COLOR, TARGET_COLOR

# The astronaut's face in scikit-image's astronaut(), hairline to below the chin and cheek to cheek,
# read off the picture by eye (not from any detector) with a few pixels of slack.
ASTRONAUT_FACE = (165, 60, 290, 195)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def astronaut_points(astronaut) -> np.ndarray:
    faces = detect_landmarks(astronaut, backend="dlib")
    assert len(faces) == 1
    return faces[0]


def available_backends():
    return [
        "dlib",
        pytest.param(
            "face_alignment",
            marks=pytest.mark.skipif(
                not (fan_backend.installed() and fan_backend.weights_cached()),
                reason="face-alignment or its cached weights are not here (tests never download)",
            ),
        ),
    ]


@pytest.mark.parametrize("backend", available_backends())
def test_astronaut_has_one_face_with_sane_anatomy(astronaut, backend):
    result = detect_faces(astronaut, backend=backend)
    assert result.backend == backend
    assert len(result.faces) == 1
    points = result.faces[0].points
    assert points.shape == (68, 2) and points.dtype == np.float32

    left, top, right, bottom = ASTRONAUT_FACE
    inside = (points[:, 0] > left) & (points[:, 0] < right) & (points[:, 1] > top) & (points[:, 1] < bottom)
    assert inside.all(), f"points {np.flatnonzero(~inside).tolist()} fall outside the astronaut's face"

    eyes_y = points[36:48, 1].max()
    mouth_y = points[48:68, 1].min()
    assert eyes_y < mouth_y, "every eye point must sit above every mouth point"
    assert points[17:27, 1].mean() < points[36:48, 1].mean() < points[27:36, 1].mean() < points[8, 1]
    # iBUG order: the subject's right side (jaw 0, eye 36-41, corner 48) is on the image's left.
    assert points[0, 0] < points[16, 0]
    assert points[36:42, 0].mean() < points[42:48, 0].mean()
    assert points[48, 0] < points[54, 0]
    assert points[8, 1] > points[0:17, 1].max() - 3, "point 8 is the chin, the jaw's lowest point"


def test_score_threshold_drops_dlib_false_positive(astronaut):
    """dlib also reports a low-score "face" on the astronaut's suit; the threshold removes it."""
    rgb = astronaut
    everything = DlibBackend(min_score=0.0)(rgb)
    kept = DlibBackend()(rgb)
    assert len(everything) == 2
    assert len(kept) == 1
    assert min(face.score for face in everything) < DlibBackend.min_score < kept[0].score


@pytest.mark.parametrize(
    "image",
    [data.coffee(), data.rocket(), np.full((300, 400, 3), 128, dtype=np.uint8)],
    ids=["coffee", "rocket", "flat-gray"],
)
def test_image_without_face_gives_empty_list(image):
    assert detect_landmarks(image, backend="dlib") == []


def test_faces_come_largest_first(astronaut):
    small = np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.Resampling.LANCZOS))
    canvas = np.full((512, 768, 3), 200, dtype=np.uint8)
    canvas[:256, :256] = small
    canvas[:, 256:] = astronaut
    result = detect_faces(canvas, backend="dlib")
    assert len(result.faces) == 2
    assert result.faces[0].area > result.faces[1].area
    assert result.faces[0].points[:, 0].min() > 256 and result.faces[1].points[:, 0].max() < 256


def test_grayscale_rgba_and_large_images_map_back(astronaut, astronaut_points):
    gray = np.asarray(Image.fromarray(astronaut).convert("L"))
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, dtype=np.uint8)])
    large = np.asarray(Image.fromarray(astronaut).resize((4096, 4096), Image.Resampling.LANCZOS))

    (gray_points,) = detect_landmarks(gray, backend="dlib")
    (rgba_points,) = detect_landmarks(rgba, backend="dlib")
    (large_points,) = detect_landmarks(large, backend="dlib")  # Detected at 2560 px, mapped back to 4096.

    np.testing.assert_array_equal(rgba_points, astronaut_points)
    assert np.abs(gray_points - astronaut_points).max() < 4
    scaled_back = photo_to_gen(large_points, CropResize.resize((4096, 4096), (512, 512)))
    assert np.median(np.abs(scaled_back - astronaut_points)) < 1.5
    assert large_points.max() > 1200, "points must be in the large image's pixels"


def group_photo(astronaut, face_width: int = 150) -> np.ndarray:
    """A 3600×4500 photo of 36 astronauts (6×6) whose faces are `face_width` px wide."""
    crop = astronaut[0:400, 80:380]  # holds ASTRONAUT_FACE, 125 px wide
    scale = face_width / (ASTRONAUT_FACE[2] - ASTRONAUT_FACE[0])
    tile = np.asarray(Image.fromarray(crop).resize((round(300 * scale), round(400 * scale)), Image.Resampling.LANCZOS))
    photo = np.full((4500, 3600, 3), 128, dtype=np.uint8)
    for row in range(6):
        for col in range(6):
            top, left = 100 + row * 750, 100 + col * 600
            photo[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
    return photo


def test_150_px_faces_of_a_3600x4500_group_photo_are_found(astronaut):
    """At 1024 px these faces were 34 px, under dlib's 80 px window: none was found, and the message said 80 px."""
    result = detect_faces(group_photo(astronaut), backend="dlib")
    assert len(result.faces) == 36
    assert 120 < result.smallest_face <= 150
    empty = detect_faces(np.full((4500, 3600, 3), 128, dtype=np.uint8), backend="dlib")
    assert empty.faces == () and "at least about 141 px wide" in str(empty.no_face("group.jpg"))
    assert detect_faces(astronaut, backend="dlib").smallest_face == 40  # small images are doubled first


def test_downscaled_detection_reports_boxes_in_input_pixels(astronaut):
    full = detect_faces(astronaut, backend="dlib").faces[0]
    small = detect_faces(astronaut, backend="dlib", max_side=256).faces[0]
    assert np.median(np.abs(small.points - full.points)) < 3
    assert np.allclose(small.box, full.box, atol=8)


def test_auto_picks_dlib_when_downloads_are_forbidden(astronaut, monkeypatch):
    monkeypatch.setattr(fan_backend, "installed", lambda: True)
    monkeypatch.setattr(fan_backend, "weights_cached", lambda: False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_probe():
        raise AssertionError("offline mode must not try the network")

    monkeypatch.setattr(fan_backend, "weights_host_reachable", no_probe)
    assert resolve_backend("auto") == "dlib"
    result = detect_faces(astronaut, backend="auto")
    assert result.backend == "dlib"
    assert len(result.faces) == 1


def test_auto_picks_dlib_when_weights_host_is_unreachable(monkeypatch):
    monkeypatch.setattr(fan_backend, "installed", lambda: True)
    monkeypatch.setattr(fan_backend, "weights_cached", lambda: False)
    for name in fan_backend.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(fan_backend, "weights_host_reachable", lambda: False)
    assert resolve_backend("auto") == "dlib"
    monkeypatch.setattr(fan_backend, "weights_host_reachable", lambda: True)
    assert resolve_backend("auto") == "face_alignment"


def test_auto_prefers_face_alignment_with_cached_weights_even_offline(monkeypatch):
    monkeypatch.setattr(fan_backend, "installed", lambda: True)
    monkeypatch.setattr(fan_backend, "weights_cached", lambda: True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_backend("auto") == "face_alignment"
    monkeypatch.setattr(fan_backend, "installed", lambda: False)
    assert resolve_backend("auto") == "dlib"


@pytest.mark.skipif(fan_backend.installed(), reason="face-alignment is installed here")
def test_asking_for_missing_face_alignment_says_how_to_get_it(astronaut):
    with pytest.raises(BackendUnavailable, match="pip install face-alignment"):
        detect_faces(astronaut, backend="face_alignment")


def test_weights_cached_looks_in_torch_hub_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr(fan_backend, "checkpoint_dir", lambda: tmp_path)
    assert not fan_backend.weights_cached()
    (tmp_path / "2DFAN4-cd938726ad.zip").write_bytes(b"")
    assert not fan_backend.weights_cached(), "the face detector's weights are needed too"
    (tmp_path / "s3fd-619a316812.pth").write_bytes(b"")
    assert fan_backend.weights_cached()


def test_bad_inputs_raise_clear_errors(astronaut):
    with pytest.raises(ValueError, match="unknown landmark backend 'mediapipe'"):
        detect_landmarks(astronaut, backend="mediapipe")
    with pytest.raises(ValueError, match="uint8"):
        detect_landmarks(astronaut.astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        detect_landmarks(np.zeros((8, 8, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="max_side"):
        detect_faces(astronaut, max_side=0)


def test_missing_predictor_is_named(tmp_path, monkeypatch):
    real_find_spec = dlib_backend.importlib.util.find_spec

    def find_spec(name, *args):
        if name == "face_recognition_models":
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(tmp_path)]
            return spec
        return real_find_spec(name, *args)

    monkeypatch.setattr(dlib_backend.importlib.util, "find_spec", find_spec)
    with pytest.raises(BackendUnavailable, match="shape_predictor_68_face_landmarks.dat"):
        dlib_backend.predictor_path()
    assert not dlib_backend.is_available()
    monkeypatch.setattr(dlib_backend.importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(BackendUnavailable, match="face-recognition-models"):
        dlib_backend.predictor_path()


# --- photo <-> generator coordinates ------------------------------------------------------------


def _blob_photo(size, center):
    """A black photo with a small bright square whose centre is `center` (integer pixels)."""
    photo = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    x, y = center
    photo[y - 4 : y + 5, x - 4 : x + 5] = 255
    return photo


def _brightness_centroid(image):
    weight = image.astype(np.float64).sum(axis=2)
    ys, xs = np.indices(weight.shape)
    return np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()


@pytest.mark.parametrize(
    "transform",
    [
        CropResize.center_square((640, 480), 256),
        CropResize.resize((640, 480), (512, 300)),
        CropResize.square_around((300, 100, 420, 260), (640, 480), 1024, margin=0.4),
        CropResize((640, 480), (100.5, 50.25, 600.0, 470.0), (333, 200)),
    ],
    ids=["center-square", "resize", "square-around-upscale", "fractional-box"],
)
def test_mapping_follows_the_pixels(transform):
    """A point mapped with photo_to_gen lands where crop_resize puts the content under it."""
    center = (350, 180)
    gen_image = crop_resize(_blob_photo((640, 480), center), transform)
    assert gen_image.shape == (transform.size[1], transform.size[0], 3)
    mapped = photo_to_gen(np.array([center]), transform)[0]
    np.testing.assert_allclose(_brightness_centroid(gen_image), mapped, atol=0.25 * max(1.0, transform.scale.max()))


@pytest.mark.parametrize(
    "transform",
    [CropResize.center_square((1280, 720), 512), CropResize.resize((300, 500), (64, 64))],
    ids=["center-square", "resize"],
)
def test_round_trips(transform):
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 300, size=(68, 2)).astype(np.float32)
    np.testing.assert_allclose(gen_to_photo(photo_to_gen(points, transform), transform), points, atol=1e-3)
    np.testing.assert_allclose(photo_to_gen(gen_to_photo(points, transform), transform), points, atol=1e-3)


def test_center_square_maps_known_points():
    transform = CropResize.center_square((640, 480), 240)  # Crop x 80..560, scale 0.5.
    assert transform.box == (80.0, 0.0, 560.0, 480.0)
    corners = photo_to_gen(np.array([[319.5, 239.5], [79.5, -0.5]]), transform)
    np.testing.assert_allclose(corners, [[119.5, 119.5], [-0.5, -0.5]])
    assert gen_box_to_photo((0, 0, 240, 240), transform) == (80.0, 0.0, 560.0, 480.0)


def test_landmarks_found_on_generator_image_map_back_to_photo(astronaut, astronaut_points):
    box = (*astronaut_points.min(axis=0), *astronaut_points.max(axis=0))
    transform = CropResize.square_around(box, (512, 512), 256, margin=0.5)
    (gen_points,) = detect_landmarks(crop_resize(astronaut, transform), backend="dlib")
    assert np.median(np.linalg.norm(gen_to_photo(gen_points, transform) - astronaut_points, axis=1)) < 2.0


def test_square_around_stays_inside_the_photo():
    transform = CropResize.square_around((600, 400, 640, 480), (640, 480), 128, margin=1.0)
    left, top, right, bottom = transform.box
    assert right == 640 and bottom == 480 and right - left == bottom - top == 160  # 2 x the box's 80 px height.
    whole = CropResize.square_around((0, 0, 640, 480), (640, 480), 128, margin=0.5)
    assert whole.box == (80.0, 0.0, 560.0, 480.0), "a square larger than the photo shrinks to its shorter side"


def test_invalid_transforms_raise():
    with pytest.raises(ValueError, match="inside the 640x480 photo"):
        CropResize((640, 480), (0, 0, 700, 480), (256, 256))
    with pytest.raises(ValueError, match="positive integers"):
        CropResize((640, 480), (0, 0, 640, 480), (0, 256))
    with pytest.raises(ValueError, match="expects a 640x480 photo"):
        crop_resize(np.zeros((480, 600, 3), dtype=np.uint8), CropResize.resize((640, 480), (64, 64)))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        photo_to_gen(np.zeros((68, 3)), CropResize.resize((640, 480), (64, 64)))


# --- drawing ------------------------------------------------------------------------------------


def test_draw_points_returns_a_marked_copy(astronaut, astronaut_points):
    before = astronaut.copy()
    plain = draw_points(astronaut, astronaut_points)
    numbered = draw_points(astronaut, astronaut_points, numbered=True)
    np.testing.assert_array_equal(astronaut, before)
    assert plain.dtype == np.uint8 and plain.shape == astronaut.shape
    for x, y in np.round(astronaut_points).astype(int)[[0, 30, 67]]:
        assert tuple(plain[y, x]) == HANDLE_COLOR
    assert (numbered != astronaut).any(axis=2).sum() > (plain != astronaut).any(axis=2).sum()


def test_draw_on_grayscale_gives_rgb():
    gray = np.zeros((64, 64), dtype=np.uint8)
    out = draw_points(gray, np.array([[32, 32]]))
    assert out.shape == (64, 64, 3)
    assert tuple(out[32, 32]) == HANDLE_COLOR


def test_draw_arrows_marks_handles_targets_and_shaft():
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    before = image.copy()
    out = draw_arrows(image, np.array([[40.0, 100.0]]), np.array([[160.0, 100.0]]))
    np.testing.assert_array_equal(image, before)
    assert tuple(out[100, 40]) == HANDLE_COLOR
    assert tuple(out[100, 160]) == TARGET_COLOR
    assert tuple(out[100, 100]) == ARROW_COLOR
    with pytest.raises(ValueError, match="same shape"):
        draw_arrows(image, np.zeros((2, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"handles\[1\] is not finite"):
        draw_arrows(image, np.array([[1.0, 1.0], [np.nan, 2.0]]), np.zeros((2, 2)))


def test_public_api_is_importable():
    assert landmarks.detect_landmarks is detect_landmarks
    assert set(landmarks.BACKENDS) == {"dlib", "face_alignment"}
