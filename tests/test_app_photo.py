"""Your own photo in the drag tab: upload, face choice, inversion, drag and paste-back, through the HTTP API
(gradio_client, as tests/test_app_api.py) on the bundled facades generator with few steps, and the cap on
tuned generators without a server."""
from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file

import landmarks
from common.images import read_rgb
from conftest import free_port, local_model
from draggan.inversion import InvertConfig
from draggan.overlay import Overlay
from draggan.registry import invert_config
from draggan.session import DragSession
from editor import DragSettings, Editor, Shared
from editor.models import DEMO_MODEL, ModelCache
from editor import tuned as tuned_module
from editor.files import session_path
from editor.tuned import TunedCopies
from landmarks import face_number
from ui import AppConfig, build_app
from ui.drag_tab import DragTab

FACES = "fixtures/faces"


@pytest.fixture(scope="module")
def portraits(tmp_path_factory) -> str:
    """A model the app offers that may draw faces (a file of one's own in its checkpoints folder)."""
    return local_model(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="module")
def url(tmp_path_factory, portraits):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DRAGGAN_CHECKPOINTS", str(Path(portraits).parent))
        env.setattr(torch.hub, "get_dir", lambda: str(tmp_path_factory.mktemp("hub")))  # no LPIPS backbone
        demo = build_app(AppConfig(device="cpu", demo=True))
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield f"http://127.0.0.1:{port}/"
        demo.close()


def client(url: str) -> Client:
    return Client(url, verbose=False)


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def upload(c: Client, path, face=1, model=DEMO_MODEL):
    """(faces view, status, crop, face number) of /upload_photo, by default on the demo generator."""
    return c.predict(handle_file(str(path)), model, face, api_name="/upload_photo")


# ----------------------------------------------------------------------------- over the HTTP API

def test_a_photo_without_a_face_gets_a_message_and_nothing_changes(url, portraits, tmp_path):
    """On a model that may draw faces (a file of one's own); the facades model takes the centre square instead."""
    c = client(url)
    grey = tmp_path / "grey wall.png"
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(grey)
    faces, status, crop, number = upload(c, grey, model=portraits)
    assert "No face found** in grey wall.png" in status
    assert faces == crop == number == {"__type__": "update"}  # gr.skip(): the panel keeps what it showed
    _, status, *_ = c.predict(4, 2, api_name="/invert")
    assert "Upload a photo first" in status  # nothing was aligned, so nothing to invert
    junk = tmp_path / "notes.jpg"
    junk.write_text("not a photo")
    assert "notes.jpg: not a readable image" in upload(c, junk)[1]


def test_several_faces_are_numbered_and_any_can_be_chosen(url, shared_dir):
    c = client(url)
    photo = shared_dir / FACES / "two_people.jpg"
    faces_view, status, first_crop, number = upload(c, photo)
    assert "2 faces; face 1 chosen (1 = the largest)" in status and number == 1
    assert "aligned to 128×128" in status  # the demo generator's resolution
    _, status, second_crop, number = c.predict(2, api_name="/choose_face")
    assert "face 2 chosen" in status and number == 2
    assert np.abs(read(first_crop).astype(int) - read(second_crop)).mean() > 10, "face 2 gave face 1's crop"
    # The faces view shows the photo (reduced to at most 1024 px) with two boxes drawn on it.
    shown = read(faces_view)
    assert shown.shape[1] == 1024 and abs(shown.shape[0] - round(661 * 1024 / 1126)) <= 1
    _, status, _, number = c.predict(3, api_name="/choose_face")
    assert "face 3 does not exist: the photo has 2 faces, numbered 1 to 2" in status and number == 2
    # The choice sticks: uploading with face 2 aligns the smaller face directly.
    _, status, crop, _ = upload(c, photo, face=2)
    np.testing.assert_array_equal(read(crop), read(second_crop))


def test_upload_invert_preset_drag_and_paste_back(url, shared_dir):
    """The whole path offline: the aligned face is inverted (projection, PTI, the ToRGB fit), a preset from the photo's
    landmarks drags it, and the export holds the full-size photo with only the face's square changed."""
    c = client(url)
    path = shared_dir / FACES / "obama.jpg"
    _, status, crop, _ = upload(c, path)
    assert "obama.jpg**: 910×1137, 1 face" in status
    image, status, table, _ = c.predict(6, 3, api_name="/invert")
    steps = 9 + InvertConfig().torgb_steps + invert_config(DEMO_MODEL).feature_steps  # its recipe fits an offset
    assert f"Inverted face 1 of obama.jpg in {steps} steps" in status, status
    assert "pixel L1+L2" in status and "then PTI, the ToRGB fit and the feature offset" in status
    assert "does not draw faces" in status
    assert read(image).shape == (512, 512, 3)  # 128 px shown 4x enlarged
    _, status, rows = c.predict(1.0, api_name="/preset_smile")
    assert "Preset **smile**" in status and len(rows["data"]) == 4  # 48, 54, 60, 64 from the photo's landmarks
    points = rows
    *_, (dragged, status, _) = list(c.submit(DEMO_MODEL, 0, 0.7, 2e-3, 4, "W+", points, None, api_name="/start"))
    assert "step" in status and " — " in status
    files, status = c.predict(api_name="/export")
    by_name = {os.path.basename(f): f for f in files}
    assert {"photo_edited.png", "drag_final.png", "drag_latent.npz", "drag.mp4", "drag.gif"} <= set(by_name)
    assert "the edited photo (910×1137" in status
    original = read_rgb(path)
    edited = read(by_name["photo_edited.png"])
    assert edited.shape == original.shape
    aligned = landmarks.align_photo(original, 128)
    (left, top), (right, bottom) = aligned.quad.min(axis=0), aligned.quad.max(axis=0)
    outside = np.ones(original.shape[:2], bool)
    outside[max(0, int(top) - 2):int(bottom) + 3, max(0, int(left) - 2):int(right) + 3] = False
    np.testing.assert_array_equal(edited[outside], original[outside])  # far pixels: bit-identical
    inside = ~outside
    assert np.abs(edited[inside].astype(int) - original[inside]).mean() > 2  # the face square: the edit
    with np.load(by_name["drag_latent.npz"]) as saved:
        assert saved["ws"].shape[0] == 1 and np.isfinite(saved["ws"]).all() and np.isfinite(saved["features"]).all()


def test_stop_ends_an_inversion_and_keeps_what_it_has(url, shared_dir):
    c = client(url)
    upload(c, shared_dir / FACES / "obama-240p.jpg")
    job = c.submit(200, 0, api_name="/invert")  # the server's most projection steps
    deadline = time.time() + 60
    while not (job.status().progress_data or []):
        assert time.time() < deadline, "the inversion reported no progress"
        time.sleep(0.1)
    progress = job.status().progress_data[0]
    assert "W+ projection · step" in progress.desc and "PSNR" in progress.desc and "ETA" in progress.desc
    assert "Stopping" in c.predict(api_name="/stop")
    image, status, *_ = job.result(timeout=60)
    assert "Stopped on request after" in status and "projection only" in status, status
    assert read(image).shape == (512, 512, 3)


# ----------------------------------------------------------------------------- without a server

SHARED = Shared(ModelCache(torch.device("cpu")), TunedCopies())


def holder(overlay: Overlay, visitor: str, shared: Shared = SHARED) -> Editor:
    state = Editor(shared)
    state.visitor, state.model, state.overlay = visitor, DEMO_MODEL, overlay
    state.session = DragSession(overlay.on(SHARED.models.get(DEMO_MODEL)), seed=0)
    state.image = state.session.render()
    return state


def pti_overlay(seed: int) -> Overlay:
    """The demo generator's synthesis weights moved a little, as pivotal tuning would."""
    G = SHARED.models.get(DEMO_MODEL)
    noise = torch.Generator().manual_seed(seed)
    return Overlay({f"synthesis.{name}": p + torch.randn(p.shape, generator=noise) * 0.01
                    for name, p in G.synthesis.named_parameters()})


def test_other_visitors_spill_an_idle_copy_to_disk_and_its_next_edit_brings_it_back(monkeypatch):
    """Issue 23.3: four throwaway inversions used to free a visitor's copy ("Your tuned generator was freed")."""
    monkeypatch.setattr(tuned_module, "SPILL_AFTER_IDLE_S", 0.0)
    tuned = TunedCopies(limit=2)
    shared = Shared(SHARED.models, tuned)
    a, b, c, d = (holder(pti_overlay(i), v, shared) for i, v in enumerate("abcd"))
    before = b.session.render()
    assert tuned.admit(a) == [] and tuned.admit(b) == []
    tuned.touch(a)  # a edits again: b is now the least recently used
    assert tuned.admit(c) == ["b"] and tuned.holders() == ["a", "c"]
    spilled = session_path("b") / "tuned.safetensors"
    assert b.session.G is None and b.overlay is None and spilled.is_file()
    _, status, _ = DragTab().undo_point(b)  # b's next edit: the copy comes back, and someone else's goes
    assert "Removed the last point" in status and tuned.holders() == ["c", "b"] and a.session.G is None
    assert np.array_equal(b.session.render(), before)  # the same image, pixel for pixel
    c.running = True  # a running drag or inversion is never spilled
    assert tuned.admit(d) == ["b"] and c.session.G is not None
    monkeypatch.setattr(tuned_module, "SPILL_AFTER_IDLE_S", 60.0)  # nor a copy used a moment ago
    c.running = False
    assert tuned.admit(holder(pti_overlay(5), "e", shared)) == []


def test_a_copy_no_longer_in_use_frees_its_place():
    overlays = [pti_overlay(i) for i in range(3)]
    tuned = TunedCopies(limit=2)
    a, b = holder(overlays[0], "a"), holder(overlays[1], "b")
    tuned.admit(a), tuned.admit(b)
    a.new_image(DragSettings(model=DEMO_MODEL, seed=1, truncation_psi=0.7))  # a's overlay is no longer used
    del b  # b's page closed and gradio deleted its state
    gc.collect()
    assert tuned.holders() == []
    c = holder(overlays[2], "c")
    assert tuned.admit(c) == [] and a.session is not None
    assert tuned.release("c") is c and tuned.holders() == []
    with pytest.raises(ValueError, match="at least 1"):
        TunedCopies(limit=0)


def test_face_numbers_are_checked():
    assert face_number(None, 2) == 1 and face_number(2.0, 2) == 2
    for bad in (0, 3, 1.5, "two", float("nan")):
        with pytest.raises(ValueError, match="numbered 1 to 2"):
            face_number(bad, 2)


def test_preset_targets_past_the_crop_edge_are_moved_onto_it(shared_dir):
    """On a tight crop "open mouth" pulls the chin below the bottom edge: the targets are clamped, and said so."""
    tab = DragTab()
    state = Editor(SHARED)
    tab.new_image(state, DEMO_MODEL, 0, 0.7, 2e-3, 10, "W+")
    photo = read_rgb(shared_dir / FACES / "obama.jpg")
    points = landmarks.align_photo(photo, 128).landmarks
    state.landmarks = points + [0, 126 - points[8, 1]]  # chin (8) two pixels above the bottom edge
    _, status, _ = tab.apply_preset("open mouth", state, 1.0)
    _, targets = state.pairs()
    assert "targets lay past the image edge and were moved onto it" in status
    assert targets[:, 1].max() == 127 and targets.min() >= 0
