"""The app's boundary checks and per-session helpers, without a server."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

import gradio as gr
import landmarks
from editor import BUSY, NO_IMAGE, DragPoints, DragSettings, Editor, Point, Refused, Shared, explain
from editor.files import session_path
from draggan.realism import untrained_generator
from editor.models import DEMO_MODEL, ModelCache
from editor.tuned import TunedCopies
from ui import AppConfig, build_app
from ui.drag_tab import DragTab, latent_boxes, model_lr
from ui.editor_view import points_from_table, points_table
from ui.images import display_scale, enlarge, mask_from_editor
from ui.segmentation_tab import blend, legend_html


def settings(**changes) -> dict:
    return {"model": "m", "seed": 0, "truncation_psi": 0.7, "lr": 2e-3, "max_steps": 10, "latent_space": "W+",
            **changes}


@pytest.mark.parametrize("field, value, words", [
    ("seed", -1, "seed: Input should be greater than or equal to 0 (got -1)"),
    ("seed", 1.5, "seed: Input should be a valid integer"),
    ("truncation_psi", 2.0, "truncation_psi: Input should be less than or equal to 1.5"),
    ("lr", 0.0, "lr: Input should be greater than 0"),
    ("lr", float("nan"), "lr: Input should be a finite number"),
    ("max_steps", 0, "max_steps: Input should be greater than or equal to 1"),
    ("latent_space", "Z", "latent_space: Input should be 'W' or 'W+'"),
    ("model", "", "model: String should have at least 1 character"),
])
def test_settings_errors_name_the_field(field, value, words):
    with pytest.raises(ValidationError) as info:
        DragSettings.model_validate(settings(**{field: value}))
    assert words in explain(info.value, "settings")


def test_settings_accept_the_panel_values():
    s = DragSettings.model_validate(settings(seed=3.0, latent_space="W"))
    assert s.seed == 3 and not s.w_plus


def test_the_settings_follow_the_model(monkeypatch):
    """The bundled facades model slides a block's output in its drags and inverts poorly with 20 steps and the fit
    alone (docs/drag.md): its registry entry says so, and the app's boxes and sessions read that entry."""
    from draggan.registry import BUNDLED_MODEL, REGISTRY
    from editor.checks import DRAG, INVERT
    from ui.lanes import StepLimits
    from ui.photo_panel import invert_label, step_counts
    facades = REGISTRY[BUNDLED_MODEL]
    assert facades.drag.feature_res and not DRAG.feature_res
    assert model_lr(BUNDLED_MODEL) == facades.drag.lr
    monkeypatch.setitem(REGISTRY, BUNDLED_MODEL, replace(facades, drag=replace(facades.drag, lr=5e-3)))
    assert model_lr(BUNDLED_MODEL) == 5e-3, "the Learning rate box reads the entry"
    assert model_lr("ffhq-512") == model_lr("/some/file.pkl") == model_lr(None) == DRAG.lr
    lr_box, space_box = latent_boxes(BUNDLED_MODEL)  # its drags slide features: no learning rate, no latent space
    assert not lr_box["interactive"] and not space_box["interactive"] and "slide" in lr_box["info"]
    lr_box, space_box = latent_boxes("ffhq-512")
    assert lr_box["interactive"] and space_box["interactive"] and lr_box["value"] == DRAG.lr
    limits = StepLimits(drag=200, invert=500, pti=500)
    assert step_counts(BUNDLED_MODEL, limits) == (facades.invert.steps, facades.invert.pti_steps) != \
        (INVERT.steps, INVERT.pti_steps)
    assert step_counts("ffhq-512", limits) == step_counts("/some/file.pkl", limits) == (INVERT.steps, INVERT.pti_steps)
    assert step_counts(BUNDLED_MODEL, StepLimits(drag=200, invert=50, pti=10)) == (50, 10)  # the server's caps hold
    assert invert_label(BUNDLED_MODEL) == "Invert (W+ projection, then ToRGB fit and a feature offset)"
    assert invert_label("ffhq-512") == "Invert (W+ projection, then ToRGB fit)"


def test_points_must_lie_inside_the_image_and_pair_up():
    size = {"size": (128, 96)}
    assert Point.model_validate({"x": 127, "y": 95}, context=size).x == 127
    with pytest.raises(ValidationError, match="outside the 128x96 image"):
        Point.model_validate({"x": 10, "y": 96}, context=size)
    with pytest.raises(ValidationError) as info:
        DragPoints.model_validate({"handles": [{"x": 1, "y": 1}, {"x": 200, "y": 1}],
                                   "targets": [{"x": 2, "y": 2}, {"x": 3, "y": 3}]}, context=size)
    assert "handles.1: (200.0, 1.0) lies outside the 128x96 image" in explain(info.value, "points")
    with pytest.raises(ValidationError, match="finite number"):
        Point.model_validate({"x": float("inf"), "y": 1}, context=size)
    with pytest.raises(ValidationError, match="at least 1 item"):
        DragPoints.model_validate({"handles": [], "targets": []})


def test_points_table_round_trip_and_errors():
    clicks = [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]
    rows = points_table(clicks)
    assert rows == [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, None, None]]
    assert points_from_table({"data": rows}) == clicks
    assert points_from_table([[None, None, None, None]]) == []
    with pytest.raises(ValueError, match="row 1: 'x' is not a number"):
        points_from_table([["x", 1, 2, 3]])
    with pytest.raises(ValueError, match="row 2: the target needs both x and y"):
        points_from_table([[1, 1, 2, 2], [1, 1, 2, None]])


def test_state_pairs_ignore_a_lone_last_handle():
    state = Editor(SHARED)
    state.points = [(1, 2), (3, 4), (5, 6)]
    handles, targets = state.pairs()
    assert handles.tolist() == [[1, 2]] and targets.tolist() == [[3, 4]]
    state.set_pairs(np.array([[7, 8]]), np.array([[9, 10]]))
    assert state.points == [(7.0, 8.0), (9.0, 10.0)]


def test_mask_from_a_painted_editor_layer_is_scaled_to_the_image():
    layer = np.zeros((512, 512, 4), np.uint8)
    layer[:256, :, 3] = 255  # top half painted, on a 4x enlarged canvas
    mask = mask_from_editor({"background": None, "layers": [layer], "composite": None}, (128, 128))
    assert mask.shape == (128, 128) and mask[:64].all() and not mask[64:].any()
    assert mask_from_editor({"layers": [np.zeros((8, 8, 4), np.uint8)]}, (8, 8)) is None
    assert mask_from_editor(None, (8, 8)) is None


def test_mask_layers_are_read_one_at_a_time_through_the_limits_and_only_from_uploads(tmp_path, monkeypatch):
    """Issue 31.3: six strip layers in the mask cost +1.1 GB; a layer naming a server path was opened."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    (tmp_path / "uploads").mkdir()
    strip, outside = tmp_path / "uploads" / "strip.png", tmp_path / "outside.png"
    Image.new("RGBA", (1_000_000, 8)).save(strip)
    Image.new("RGBA", (64, 64), (255, 255, 255, 255)).save(outside)
    with pytest.raises(ValueError, match="mask layer 1 is 1000000×8; its longest side may be at most 16384 px"):
        mask_from_editor({"layers": [{"path": str(strip)}]}, (128, 128))
    with pytest.raises(ValueError, match="the mask has 5 layers; at most 4 are read"):
        mask_from_editor({"layers": [np.zeros((8, 8, 4), np.uint8)] * 5}, (8, 8))
    with pytest.raises(ValueError, match="mask layer 1 must be an uploaded image file sent to this app"):
        mask_from_editor({"layers": [{"path": str(outside)}]}, (64, 64))


def test_a_model_outside_the_menu_is_refused_before_anything_is_opened(tmp_path):
    """Issue 31.2: /upload_photo's model argument opened any server path or started a Hub download."""
    class Untouchable(ModelCache):
        def get(self, name):
            raise AssertionError(f"{name!r} was opened")
    ed = Editor(Shared(Untouchable(torch.device("cpu")), TunedCopies(), choices=[DEMO_MODEL]))
    for model in ("/etc/hostname", "someone/private-model", 7):
        with pytest.raises(Refused, match="is not one of the 1 models the app offers"):
            ed.upload(str(tmp_path / "photo.jpg"), "photo.jpg", model)


def test_enlarged_view_is_an_integer_multiple():
    image = np.zeros((2, 3, 3), np.uint8)
    image[1, 2] = 255
    scale = display_scale(3, 2)
    big = enlarge(image, scale)
    assert scale == 171 and big.shape == (342, 513, 3)
    # The bright pixel (2, 1) is brightest around its block centre ((x + 0.5) * scale - 0.5).
    assert big[int(1.5 * scale), int(2.5 * scale)].min() == 255 and big[0, 0].max() == 0
    assert display_scale(512, 512) == 1 and enlarge(image, 1) is image


def test_blend_and_legend():
    photo = np.full((2, 2, 3), 100, np.uint8)
    labels = np.full((2, 2, 3), 200, np.uint8)
    assert blend(photo, labels, 0.25)[0, 0, 0] == 125
    with pytest.raises(ValueError, match="same shape"):
        blend(photo, labels[:1], 0.5)
    html = legend_html(("wall", "door"), np.array([[255, 0, 0], [0, 0, 255]]), {"wall": 0.25, "door": 0.75})
    assert html.index("door") < html.index("wall") and "75.0 %" in html and "#0000ff" in html


# ----------------------------------------------------------------------------- handlers without a browser

SHARED = Shared(ModelCache(torch.device("cpu")), TunedCopies())


@pytest.fixture(scope="module")
def tab():
    return DragTab()


def fresh_state(tab) -> Editor:
    state = Editor(SHARED)
    tab.new_image(state, DEMO_MODEL, 0, 0.7, 2e-3, 10, "W+")
    return state


def test_preset_fills_handles_and_targets_from_landmarks(tab):
    """With landmarks (here those of a real photo, scaled to the 128 px image) a preset gives point pairs."""
    from skimage import data
    faces = landmarks.detect_landmarks(data.astronaut(), backend="dlib")
    assert faces, "dlib found no face on the astronaut"
    state = fresh_state(tab)
    state.landmarks = faces[0] * (128 / 512)
    image, status, rows = tab.apply_preset("smile", state, 1.0)
    handles, targets = state.pairs()
    assert "Preset **smile**" in status and len(rows) == len(handles) >= 2
    assert np.abs(targets - handles).max() > 0.5  # the corners move
    assert image.shape == (512, 512, 3)
    _, status, _ = tab.apply_preset("smile", state, 1.5)
    assert "strength must be in [0, 1], got 1.5" in status


def click(tab, state, x, y):
    return tab.add_point(state, gr.SelectData(None, {"index": [x, y], "value": None}))


def test_clicks_alternate_handle_and_target(tab):
    state = fresh_state(tab)
    _, status, rows = click(tab, state, 41.5, 81.5)
    assert "Added a handle (red) at (10, 20)" in status and rows == [[10.0, 20.0, None, None]]
    _, status, rows = click(tab, state, 121.5, 81.5)
    assert "Added a target (blue) at (30, 20)" in status and rows == [[10.0, 20.0, 30.0, 20.0]]
    # A click outside the 512 px view (4x the 128 px image) is refused with a message; the pair stays.
    _, status, _ = click(tab, state, 530, 10)
    assert "outside the 128x128 image" in status and state.points == [(10.0, 20.0), (30.0, 20.0)]


def test_startup_offline_names_the_missing_checkpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path))
    demo = build_app(AppConfig(device="cpu", model="ffhq-512"))
    notice = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-notice")
    assert "'ffhq-512' is not available" in notice.value
    assert "stylegan2-ffhq-512x512.pkl" in notice.value and "Facades, trained here (128 px)" in notice.value
    dropdown = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown))
    assert dropdown.value == DEMO_MODEL


def test_typed_points_replace_the_clicks_when_valid(tab):
    state = fresh_state(tab)
    _, status, rows = tab.edit_points(state, {"data": [[10, 12, 30, 12], [50, 60, None, None]]})
    assert rows == [[10, 12, 30, 12], [50, 60, None, None]]
    assert state.points == [(10, 12), (30, 12), (50, 60)] and "1 handle → target pair" in status
    _, status, _ = tab.edit_points(state, {"data": [[10, 12, 300, 12]]})
    assert "Invalid point 2" in status and "outside the 128x128 image" in status
    assert state.points == [(10, 12), (30, 12), (50, 60)]  # unchanged by the bad edit


def test_exports_go_to_the_session_folder_and_replace_the_last_one():
    """Issue 23.5: each export wrote a new folder under the temp dir, kept an hour; now a session keeps one."""
    tab = DragTab()
    state = fresh_state(tab)
    tab.new_image(state, DEMO_MODEL, 0, 0.7, 2e-3, 5, "W+")
    tab.export(state)
    second, status = tab.export(state)
    folder = session_path(state.visitor) / "export"
    assert "Exported" in status and all(Path(f).parent == folder for f in second)
    assert sorted(p.name for p in folder.iterdir()) == sorted(Path(f).name for f in second)


def test_a_local_checkpoint_is_offered_and_loads(monkeypatch, tmp_path):
    """A generator file in the checkpoints folder shows up in the dropdown and runs without a notice."""
    from draggan import save_generator
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path))
    path = save_generator(untrained_generator(), tmp_path / "my-model.safetensors")
    demo = build_app(AppConfig(device="cpu", model=str(path)))
    dropdown = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown))
    notice = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-notice")
    assert dropdown.value == str(path) and str(path) in [value for _, value in dropdown.choices]
    assert not notice.visible


def test_handlers_refuse_while_a_drag_runs_and_before_an_image(tab):
    """One guard: the status says why, every other output is left as it is, and the state does not change."""
    empty = Editor(SHARED)
    for answer in (tab.undo_drag(empty), tab.apply_preset("smile", empty, 0.5), tab.detect(empty)):
        assert answer[1] == NO_IMAGE and all(v == gr.skip() for i, v in enumerate(answer) if i != 1)
    state = fresh_state(tab)
    click(tab, state, 41.5, 81.5)
    state.running = True
    image = state.image
    answers = [tab.new_image(state, DEMO_MODEL, 1, 0.7, 2e-3, 10, "W+"), tab.clear_points(state),
               tab.undo_drag(state), tab.reset_image(state), click(tab, state, 10, 10),
               *tab.start(state, DEMO_MODEL, 0, 0.7, 2e-3, 10, "W+", None, None)]
    for answer in answers:
        assert answer[1] == BUSY and all(v == gr.skip() for i, v in enumerate(answer) if i != 1)
    assert state.points == [(10.0, 20.0)] and state.image is image


def test_undo_drag_brings_back_the_points_of_that_drag(tab):
    state = fresh_state(tab)
    before = state.image.copy()
    table = {"data": [[10.5, 20, 30, 20]]}
    *_, (_, status, rows) = tab.start(state, DEMO_MODEL, 0, 0.7, 2e-3, 3, "W", table, None)
    assert "step 3/3" in status and rows[0][:2] != [10.5, 20]  # the handle moved
    _, status, rows = tab.undo_drag(state)
    assert status == "Undid the last drag." and rows == [[10.5, 20, 30, 20]]
    np.testing.assert_array_equal(state.image, before)
    assert tab.undo_drag(state)[1] == "Nothing to undo."
