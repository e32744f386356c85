"""The drag editor (editor.Editor) without Gradio: a visitor's whole drag work as plain method calls."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from draggan.inversion import InvertConfig
from draggan.session import DragConfig
from editor import BUSY, NO_IMAGE, DragSettings, Editor, InvertSettings, Refused, Shared
from draggan.registry import BUNDLED_MODEL
from editor.models import DEMO_MODEL, ModelCache
from editor.tuned import TunedCopies

SHARED = Shared(ModelCache(torch.device("cpu")), TunedCopies())


def settings(**changes) -> DragSettings:
    return DragSettings(model=DEMO_MODEL, seed=0, truncation_psi=0.7, **changes)


def editor_with_image() -> Editor:
    ed = Editor(SHARED)
    assert "New image: seed 0" in ed.new_image(settings())
    return ed


def test_defaults_come_from_the_engine_configs():
    s = settings()
    assert (s.lr, s.max_steps, s.w_plus) == (DragConfig().lr, DragConfig().max_steps, DragConfig().w_plus)
    i = InvertSettings()
    assert (i.steps, i.pti_steps) == (InvertConfig().steps, InvertConfig().pti_steps)


def test_a_session_drags_with_its_models_own_settings():
    """The facades model frees 8 W+ layers where DragConfig() frees 6 (docs/drag.md): its images' sessions do too."""
    from draggan.registry import REGISTRY
    ed = editor_with_image()
    assert ed.session.config == REGISTRY[DEMO_MODEL].drag != DragConfig()


def test_points_drag_undo_and_export():
    ed = editor_with_image()
    before = ed.image.copy()
    assert "Added a handle" in ed.add_point(40, 64) and "Added a target" in ed.add_point(70, 64)
    with pytest.raises(Refused, match="outside the 128x128 image"):
        ed.add_point(200, 10)
    updates = list(ed.drag(settings(max_steps=4, lr=2e-2)))  # an lr that visibly moves the trained model in 4 steps
    assert updates[-1].final and "step" in updates[-1].status and " — " in updates[-1].status
    # Until the drag's first full frame the page keeps the image from before (None); then each step shows the last
    # frame, and the closing update shows the final one.
    frames = [u.frame is not None for u in updates[:-1]]
    assert frames[-1] and frames == sorted(frames) and not ed.running
    assert np.abs(ed.image.astype(int) - before).mean() > 0.5
    # The image is the drag's closing frame, the final latent in full, and it was not rendered a second time.
    np.testing.assert_array_equal(ed.image, ed.session.render())
    assert ed.image is ed.session.frames[-1]
    files, message = ed.export()
    assert {f.rsplit(".", 1)[-1] for f in files} == {"png", "npz", "mp4", "gif"} and "Exported" in message
    assert ed.undo() == "Undid the last drag." and ed.points == [(40.0, 64.0), (70.0, 64.0)]
    np.testing.assert_array_equal(ed.image, before)
    assert ed.undo() == "Nothing to undo."


def test_refusals_change_nothing():
    empty = Editor(SHARED)
    for edit in (lambda: empty.add_point(1, 1), empty.undo, empty.detect, empty.export):
        with pytest.raises(Refused, match="No image yet"):
            edit()
    assert str(Refused(NO_IMAGE)) == NO_IMAGE
    ed = editor_with_image()
    with pytest.raises(Refused, match="Start needs points"):
        list(ed.drag(settings()))
    ed.add_point(10, 20)
    ed.running = True
    with pytest.raises(Refused, match=BUSY.replace("*", r"\*")):
        ed.clear_points()
    assert ed.points == [(10.0, 20.0)]


def test_a_drag_client_that_made_no_image_gets_one_and_stop_ends_the_drag():
    ed = Editor(SHARED)
    steps = ed.drag(settings(max_steps=2000), points=[(30, 30), (100, 100)])
    first = next(steps)  # the image was made from the settings, then the drag began
    assert ed.running and not first.final
    stopper = threading.Thread(target=lambda: ed.stop())
    stopper.start()
    stopper.join()
    *_, last = steps
    assert "stopped on request" in last.status and not ed.running
    assert ed.stop() == "Nothing is running."


def test_a_painted_mask_is_read_at_the_image_size():
    ed = editor_with_image()
    seen = []
    mask = np.zeros((128, 128), bool)
    mask[:, :64] = True
    message = ed.set_mask(lambda size: seen.append(size) or mask, show=True)
    assert seen == [(128, 128)] and "50 % of the image may move" in message and ed.show_mask

    def broken(size):
        raise ValueError("mask layer 1: not a readable image")
    with pytest.raises(Refused, match="Invalid mask: mask layer 1"):
        ed.set_mask(broken, show=False)


def test_landmarks_and_presets_on_a_model_without_faces_say_they_need_a_face_model():
    ed = Editor(SHARED)
    ed.new_image(DragSettings(model=BUNDLED_MODEL, seed=0, truncation_psi=0.7))
    for message in (ed.detect(), ed.apply_preset("smile", 0.5)):
        assert message.startswith("Landmarks and the expression presets need a face model")
        assert "Facades, trained here (128 px) does not draw faces." in message
    assert ed.landmarks is None and len(ed.points) == 0


def test_a_drags_last_update_comes_once_the_run_has_ended():
    """A client may start its next drag the moment it reads the last answer: it must not be told one is running."""
    ed = editor_with_image()
    ed.add_point(40, 64), ed.add_point(70, 64)
    seen = [(update.final, ed.running) for update in ed.drag(settings(max_steps=3))]
    assert seen[-1] == (True, False) and all(running for final, running in seen[:-1])


def test_a_facade_photo_on_the_facades_model_is_edited_as_its_centre_square(shared_dir, tmp_path):
    """No face, on a model that draws none: the centre square is inverted, and the export pastes the edit back into
    that square alone."""
    from PIL import Image
    from segmentation.data import list_pairs, read_pair
    facade = read_pair(list_pairs(shared_dir / "datasets/facades/train")[0])[0]           # 256 x 256
    photo = np.concatenate([facade, np.full((256, 64, 3), 90, np.uint8)], axis=1)          # 320 x 256: square at 32
    Image.fromarray(photo).save(tmp_path / "facade.png")
    ed = Editor(SHARED)
    status = ed.upload(str(tmp_path / "facade.png"), "facade.png", DEMO_MODEL)
    assert "**facade.png**: 320×256, no face: its centre square, scaled to 128×128" in status
    square = np.asarray(Image.fromarray(photo[:, 32:288]).resize((128, 128), Image.BILINEAR)).astype(int)
    assert np.abs(ed.photo.aligned.image.astype(int) - square).mean() < 4
    with pytest.raises(Refused, match="facade.png has no face to choose"):
        ed.choose_face(1)
    status = ed.invert(InvertSettings(steps=4, pti_steps=2))
    assert "Inverted the centre square of facade.png in" in status and "does not draw faces" not in status
    assert ed.landmarks is None and ed.image.shape == (128, 128, 3)
    files, _ = ed.export()
    edited = np.asarray(Image.open(next(f for f in files if f.endswith("photo_edited.png"))).convert("RGB"))
    changed = np.nonzero((edited != photo).any(axis=(0, 2)))[0]
    assert edited.shape == photo.shape and changed.min() >= 32 and changed.max() <= 287 and len(changed) > 200
