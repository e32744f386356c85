"""Each preset's indices, direction and magnitude, checked on the astronaut's real landmarks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from landmarks import detect_landmarks
from landmarks.draw import HANDLE_COLOR, TARGET_COLOR
from presets import PRESETS, FaceFrame, expressions, make_gallery

EXPECTED_INDICES = {
    "close eyes": [37, 38, 43, 44],
    "open eyes wider": [37, 38, 43, 44],
    "smile": [48, 54, 60, 64],
    "open mouth": [56, 57, 58, 65, 66, 67, 7, 8, 9],
    "close mouth": [65, 66, 67, 56, 57, 58],
    "slim face": [2, 3, 4, 5, 6, 10, 11, 12, 13, 14],
    "raise eyebrows": list(range(17, 27)),
    "frown": [20, 21, 22, 23],
}


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    (face,) = detect_landmarks(data.astronaut(), backend="dlib")
    return face


@pytest.fixture(scope="module")
def frame(points) -> FaceFrame:
    return FaceFrame.from_landmarks(points)


def moves(points, name, strength=1.0):
    handles, targets = PRESETS[name](points, strength)
    return handles, targets - handles


def test_every_listed_preset_exists_and_moves_its_documented_points(points):
    assert set(PRESETS) == set(EXPECTED_INDICES)
    for name, indices in EXPECTED_INDICES.items():
        handles, targets = PRESETS[name](points)
        assert handles.dtype == targets.dtype == np.float32
        assert handles.shape == targets.shape == (len(indices), 2), name
        np.testing.assert_array_equal(handles, points[indices], err_msg=name)
        assert np.linalg.norm(targets - handles, axis=1).min() > 0.5, f"{name} leaves a point where it is"
        assert str(indices[0]) in PRESETS[name].__doc__, f"{name}'s docstring must list its indices"


def test_astronaut_frame_is_upright(frame):
    np.testing.assert_allclose(frame.up, [0, -1], atol=0.1)
    np.testing.assert_allclose(frame.across, [1, 0], atol=0.1)


def test_close_eyes_puts_upper_lids_on_lower_lids(points):
    handles, targets = PRESETS["close eyes"](points)
    np.testing.assert_allclose(targets, points[[41, 40, 47, 46]], atol=1e-4)
    assert (targets[:, 1] - handles[:, 1] > 3).all(), "lids move down by the eye's opening"
    _, half = PRESETS["close eyes"](points, 0.5)
    np.testing.assert_allclose(half, (points[[37, 38, 43, 44]] + points[[41, 40, 47, 46]]) / 2, atol=1e-4)


def test_open_eyes_wider_lifts_upper_lids(points, frame):
    _, shift = moves(points, "open eyes wider")
    assert (shift[:, 1] < 0).all() and (np.abs(shift[:, 0]) < 0.2 * np.abs(shift[:, 1])).all()
    eye_widths = np.repeat([frame.right_eye_width, frame.left_eye_width], 2)
    np.testing.assert_allclose(np.linalg.norm(shift, axis=1), expressions.OPEN_EYES * eye_widths, rtol=1e-4)
    opening = points[[41, 40, 47, 46], 1] - points[[37, 38, 43, 44], 1]
    assert (1.3 < (opening - shift[:, 1]) / opening).all(), "the eyes open at least 30 % wider"


def test_smile_pulls_corners_out_and_up(points, frame):
    _, shift = moves(points, "smile")
    assert shift[0, 0] < 0 and shift[2, 0] < 0, "48 and 60 go toward the image's left"
    assert shift[1, 0] > 0 and shift[3, 0] > 0, "54 and 64 go toward the image's right"
    assert (shift[:, 1] < 0).all(), "all four corners rise"
    outward = np.abs(shift @ frame.across)
    np.testing.assert_allclose(outward[:2], expressions.SMILE_CORNERS * frame.mouth_width, rtol=1e-4)
    np.testing.assert_allclose(outward[2:], expressions.SMILE_INNER * frame.mouth_width, rtol=1e-4)


def test_open_mouth_drops_lower_lip_and_chin_together(points, frame):
    _, shift = moves(points, "open mouth")
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-4)
    assert shift[0, 1] > 0
    np.testing.assert_allclose(np.linalg.norm(shift[0]), expressions.OPEN_MOUTH * frame.mouth_width, rtol=1e-4)


def test_close_mouth_brings_lower_lip_onto_upper(points):
    handles, targets = PRESETS["close mouth"](points)
    np.testing.assert_allclose(targets[:3], points[[63, 62, 61]], atol=1e-4)
    np.testing.assert_allclose(targets[3:] - handles[3:], targets[:3] - handles[:3], atol=1e-4)
    assert (targets[:, 1] < handles[:, 1]).all(), "the astronaut smiles with open lips, so the lower lip rises"


def test_slim_face_moves_jaw_toward_the_axis(points, frame):
    _, shift = moves(points, "slim face")
    assert (shift[:5, 0] > 0).all() and (shift[5:, 0] < 0).all()
    np.testing.assert_allclose(np.linalg.norm(shift, axis=1), expressions.SLIM_FACE * frame.face_width, rtol=1e-4)
    _, targets = PRESETS["slim face"](points)
    before = points[[10, 11, 12, 13, 14], 0] - points[[6, 5, 4, 3, 2], 0]
    after = targets[5:, 0] - targets[4::-1, 0]
    assert (after < before).all(), "the jaw narrows at every height"


def test_raise_eyebrows_lifts_both_brows(points, frame):
    _, shift = moves(points, "raise eyebrows")
    assert (shift[:, 1] < 0).all()
    np.testing.assert_allclose(np.linalg.norm(shift, axis=1), expressions.RAISE_BROWS * frame.inter_ocular, rtol=1e-4)


def test_frown_lowers_inner_brows_and_draws_them_together(points):
    handles, targets = PRESETS["frown"](points)
    shift = targets - handles
    assert (shift[:, 1] > 0).all(), "inner brows go down"
    assert (shift[:2, 0] > 0).all() and (shift[2:, 0] < 0).all(), "toward each other"
    assert targets[2, 0] - targets[1, 0] < handles[2, 0] - handles[1, 0]
    assert targets[2, 0] > targets[1, 0], "the brows must not cross"


@pytest.mark.parametrize("name", sorted(EXPECTED_INDICES))
def test_strength_scales_displacement_linearly(points, name):
    handles, targets_zero = PRESETS[name](points, 0.0)
    np.testing.assert_array_equal(targets_zero, handles)
    _, full = moves(points, name, 1.0)
    _, part = moves(points, name, 0.3)
    np.testing.assert_allclose(part, 0.3 * full, atol=1e-4)


@pytest.mark.parametrize("name", sorted(EXPECTED_INDICES))
def test_presets_follow_the_face_when_it_is_rotated_and_scaled(points, name):
    """Magnitudes are face-relative and directions follow the face, so edits work at any size and tilt."""
    angle = np.radians(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    center = points.mean(axis=0)
    moved = ((points - center) @ rotation.T * 2.5 + center + [40, -10]).astype(np.float32)
    _, shift = moves(points, name)
    _, moved_shift = moves(moved, name)
    np.testing.assert_allclose(moved_shift, 2.5 * shift @ rotation.T, atol=1e-2 * np.abs(shift).max() + 1e-3)


def test_presets_do_not_alias_or_modify_the_landmarks(points):
    original = points.copy()
    for preset in PRESETS.values():
        handles, targets = preset(points, 1.0)
        handles += 100
        targets += 100
    np.testing.assert_array_equal(points, original)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan"), "0.5", True])
def test_strength_outside_zero_one_is_rejected(points, strength):
    with pytest.raises(ValueError, match="strength"):
        PRESETS["smile"](points, strength)


def test_bad_landmarks_are_rejected(points):
    with pytest.raises(ValueError, match=r"\(68, 2\).*\(67, 2\)"):
        PRESETS["smile"](points[:67])
    broken = points.copy()
    broken[30] = np.nan
    with pytest.raises(ValueError, match="landmark 30 is not finite"):
        PRESETS["frown"](broken)
    upside_down = points * [1, -1]
    with pytest.raises(ValueError, match="chin"):
        PRESETS["close eyes"](upside_down)
    with pytest.raises(ValueError, match="eye centres"):
        PRESETS["close eyes"](np.zeros((68, 2)))


def test_gallery_draws_every_preset_and_keeps_mark_colours(tmp_path):
    pictures = make_gallery.preset_pictures(data.astronaut())
    assert list(pictures) == list(PRESETS)
    path = tmp_path / "smile.png"
    make_gallery.save_png(pictures["smile"], path)
    saved = np.asarray(Image.open(path).convert("RGB"))
    assert saved.shape == (make_gallery.TILE, make_gallery.TILE, 3)
    for colour in (HANDLE_COLOR, TARGET_COLOR):
        assert (saved == colour).all(axis=2).sum() >= 4 * 9, f"each of the 4 smile points needs a {colour} dot"
