"""The app through its HTTP API (gradio_client), as a script or another Space would use it.

The app runs in this process on a free port with the bundled facades generator (fast on CPU) and,
the shipped segmentation models (or, when they are missing, a small random segmentation checkpoint).
Each gradio_client.Client is one browser session with its own gr.State.
"""
from __future__ import annotations

import os
import re
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file

import segmentation
from conftest import free_port
from draggan.session import DragSession
from segmentation import CLASS_NAMES, PALETTE
from segmentation.checkpoint import save_segmenter
from segmentation.networks import SegmenterConfig, build_segmenter
from ui import AppConfig, build_app
from ui.editor_view import POINT_COLUMNS
from draggan import load_generator
from editor.models import DEMO_MODEL
from ui.segmentation_tab import EXAMPLES, model_files

DEMO = DEMO_MODEL
EXAMPLE = EXAMPLES[0] if EXAMPLES else None
RESOLUTION = 128  # The bundled generator's image size.
DRAG_LR = 2e-2    # For a drag that must visibly change the image in a few steps (the trained model moves less per
                  # step at the paper's 2e-3: about 0.1 of 255 in 3 steps, against 1.3 at 2e-2).


@pytest.fixture(scope="module")
def segmentation_weights(tmp_path_factory):
    """None (the app's shipped models) if present, else a small random checkpoint (the wiring is what is tested)."""
    try:
        if all(path.is_file() for _, path in model_files().values()):
            return None
    except ValueError:  # no readable model list
        pass
    path = tmp_path_factory.mktemp("seg") / "tiny.safetensors"
    config = SegmenterConfig(arch="unet", ngf=4, depth=5, image_size=32)
    torch.manual_seed(0)
    save_segmenter(path, build_segmenter(config), config)
    return path


@pytest.fixture(scope="module")
def server(segmentation_weights, tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        # No checkpoints anywhere: registry models are unavailable (HF_HUB_OFFLINE is set in conftest).
        env.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path_factory.mktemp("no-checkpoints")))
        config = AppConfig(device="cpu", demo=True, segmentation_weights=segmentation_weights)
        demo = build_app(config)
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=True)
        yield demo, f"http://127.0.0.1:{port}/"
        demo.close()


@pytest.fixture(scope="module")
def url(server):
    return server[1]


def client(url: str) -> Client:
    return Client(url, verbose=False)


def table(*pairs) -> dict:
    return {"headers": POINT_COLUMNS, "data": [list(p) for p in pairs]}


def start_args(max_steps=8, seed=0, points=((40, 64, 70, 64),), lr=2e-3, space="W+"):
    return (DEMO, seed, 0.7, lr, max_steps, space, table(*points), None)


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def seed_image(seed: int) -> np.ndarray:
    """What the demo generator draws for `seed`, rendered here, outside the app."""
    return DragSession(load_generator(DEMO_MODEL, device="cpu"), seed=seed).render()


def steps_in(status: str) -> int:
    match = re.search(r"step (\d+)/", status)
    assert match, f"no step counter in {status!r}"
    return int(match.group(1))


# ----------------------------------------------------------------------------- segmentation tab

@pytest.mark.skipif(EXAMPLE is None, reason="no example photos in assets/examples")
def test_segment_example_gives_label_map_overlay_and_legend(url, segmentation_weights):
    name = next(iter(model_files(segmentation_weights)))  # the dropdown's default
    labels_path, overlay_path, legend, status = client(url).predict(
        handle_file(str(EXAMPLE)), 0.5, name, api_name="/segment")
    photo = read(EXAMPLE)
    labels, overlay = read(labels_path), read(overlay_path)
    assert labels.shape == photo.shape and overlay.shape == photo.shape
    colours = {tuple(c) for c in labels.reshape(-1, 3)}
    assert colours <= {tuple(c) for c in PALETTE}, "label map holds colours outside the palette"
    expected = (photo.astype(np.float32) + labels) / 2
    assert np.abs(overlay - expected).max() <= 1.0
    shares = [float(v) for v in re.findall(r"([\d.]+) %", legend)]
    assert len(shares) == len(CLASS_NAMES)
    assert sum(shares) == pytest.approx(100, abs=0.1 * len(CLASS_NAMES))
    assert all(name in legend for name in CLASS_NAMES)
    assert f"Segmented a {photo.shape[1]}×{photo.shape[0]} photo" in status
    if segmentation_weights is None:
        # The shipped model sees a facade: "facade" is among its two largest classes (the legend's first rows).
        largest = re.findall(r"<td>(\w+)</td>", legend)[:2]
        assert "facade" in largest, largest


def test_paint_renders_a_label_map_file_and_refuses_a_bad_one(url, tmp_path):
    """`/paint`: a label map image and a seed in, a facade photo of the map's size out (the shipped painter)."""
    classes = np.full((192, 160), CLASS_NAMES.index("facade"))
    classes[40:100, 30:70] = CLASS_NAMES.index("window")
    Image.fromarray(PALETTE[classes]).save(tmp_path / "map.png")
    c = client(url)
    photo_path, status = c.predict(handle_file(str(tmp_path / "map.png")), 3, api_name="/paint")
    assert read(photo_path).shape == (192, 160, 3) and "Rendered a 160×192 facade, variation 3" in status
    again, _ = c.predict(handle_file(str(tmp_path / "map.png")), 3, api_name="/paint")
    assert np.array_equal(read(again), read(photo_path))  # the same seed paints the same photo
    (tmp_path / "notes.png").write_text("not an image")
    photo_path, status = c.predict(handle_file(str(tmp_path / "notes.png")), 0, api_name="/paint")
    assert photo_path is None and "notes.png: not a readable image" in status


def test_segment_rejects_a_file_that_is_not_an_image(url, tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_text("not an image")
    labels, overlay, legend, status = client(url).predict(handle_file(str(junk)), 0.5, None, api_name="/segment")
    assert labels is None and overlay is None and legend == ""
    assert "notes.png: not a readable image" in status


@pytest.mark.skipif(EXAMPLE is None, reason="no example photos in assets/examples")
def test_segment_takes_the_model_name(url, segmentation_weights):
    """/segment runs the model it is named; each gives what load_model(name) predicts; unknown names are named."""
    photo = read(EXAMPLE)
    for name, (_, path) in model_files(segmentation_weights).items():
        labels_path, _, _, status = client(url).predict(handle_file(str(EXAMPLE)), 1.0, name, api_name="/segment")
        expected = segmentation.load_model(path, device="cpu").predict(photo)
        assert np.array_equal(read(labels_path), expected), name
    labels, _, _, status = client(url).predict(handle_file(str(EXAMPLE)), 0.5, "nonsense", api_name="/segment")
    assert labels is None and "There is no segmentation model 'nonsense'" in status


# ----------------------------------------------------------------------------- drag tab

def test_new_image_renders_the_seed(url):
    c = client(url)
    first, status, points, *_ = c.predict(DEMO, 3, 0.7, 2e-3, 50, "W+", api_name="/new_image")
    again, *_ = c.predict(DEMO, 3, 0.7, 2e-3, 50, "W+", api_name="/new_image")
    other, *_ = c.predict(DEMO, 4, 0.7, 2e-3, 50, "W+", api_name="/new_image")
    assert "New image: seed 3" in status
    assert not any(any(v is not None for v in row) for row in points["data"])
    assert read(first).shape == (512, 512, 3)  # 128 px shown 4x enlarged
    np.testing.assert_array_equal(read(first), read(again))
    assert not np.array_equal(read(first), read(other))


def test_an_unavailable_model_says_what_is_missing_and_keeps_the_image(url):
    c = client(url)
    c.predict(DEMO, 5, 0.7, 2e-3, 50, "W+", api_name="/new_image")
    image, status, _, _, model = c.predict("ffhq-512", 5, 0.7, 2e-3, 50, "W+", api_name="/new_image")
    assert "'ffhq-512' is not on disk" in status and "stylegan2-ffhq-512x512.pkl" in status
    assert image == {"__type__": "update"}  # gr.skip(): the page keeps showing the current image
    assert model == DEMO  # and the dropdown goes back to the model in use


def test_start_streams_steps_and_changes_the_image(url):
    c = client(url)
    before, *_ = c.predict(DEMO, 0, 0.7, 2e-3, 8, "W+", api_name="/new_image")
    job = c.submit(*start_args(max_steps=8), api_name="/start")
    outputs = list(job)
    statuses = [o[1] for o in outputs]
    counted = [steps_in(s) for s in statuses]
    assert len(outputs) >= 3 and counted == sorted(counted) and counted[-1] > counted[0]
    assert re.search(r"step \d+/8 · distance [\d.]+ px · \d+ ms/step — ", statuses[-1])
    assert not np.array_equal(read(before), read(outputs[-1][0])), "the drag did not change the image"
    final_table = outputs[-1][2]["data"]
    assert len(final_table) == 1 and final_table[0][2:] == [70, 64]  # the target stays; the handle moves


def test_bad_input_gives_messages_not_errors(url):
    c = client(url)
    *_, status, _ = c.predict(*start_args(points=()), api_name="/start")
    assert "Start needs points" in status
    *_, status, _ = c.predict(*start_args(points=((300, 10, 20, 20),)), api_name="/start")
    assert "Invalid points" in status and "handles.0" in status and "outside the 128x128 image" in status
    *_, status, _ = c.predict(*start_args(points=((10, 10, "left", 20),)), api_name="/start")
    assert "'left' is not a number" in status
    _, status, *_ = c.predict(DEMO, -1, 0.7, 2e-3, 50, "W+", api_name="/new_image")
    assert "Invalid settings" in status and "seed" in status
    *_, status, _ = c.predict(DEMO, 0, 0.7, 0.5, 50, "W+", (table((1, 1, 2, 2))), None, api_name="/start")
    assert "Invalid settings" in status and "lr" in status
    _, status = c.predict(api_name="/detect_landmarks")
    assert "need a face model" in status  # the bundled generator draws facades
    _, status, _ = c.predict(0.7, api_name="/preset_smile")
    assert "need a face model" in status


def test_sessions_do_not_see_each_other(url):
    a, b = client(url), client(url)
    original, *_ = b.predict(DEMO, 0, 0.7, 2e-3, 6, "W+", api_name="/new_image")
    *_, (dragged, _, a_points) = list(a.submit(*start_args(max_steps=6, lr=DRAG_LR), api_name="/start"))
    assert not np.array_equal(read(original), read(dragged))
    # B still sees its own image of the same seed, undragged and without points; A keeps its pair.
    b_image, _, b_points = b.predict(api_name="/undo_point")
    np.testing.assert_array_equal(read(b_image), read(original))
    assert not any(any(v is not None for v in row) for row in b_points["data"])
    assert len(a_points["data"]) == 1
    a_png = next(f for f in a.predict(api_name="/export")[0] if f.endswith(".png"))
    b_png = next(f for f in b.predict(api_name="/export")[0] if f.endswith(".png"))
    np.testing.assert_array_equal(read(b_png), seed_image(0))
    assert np.abs(read(a_png).astype(int) - seed_image(0)).mean() > 1.0


def test_two_drags_run_at_once_and_stop_ends_one_mid_run(url):
    a, b = client(url), client(url)
    long_job = a.submit(*start_args(max_steps=500, points=((30, 30, 100, 100),)), api_name="/start")
    short_job = b.submit(*start_args(max_steps=5), api_name="/start")
    deadline = time.time() + 60
    while not any("step" in (o[1] or "") for o in long_job.outputs()):
        assert time.time() < deadline, "the long drag never reported a step"
        time.sleep(0.1)
    assert "Stopping" in a.predict(api_name="/stop")
    final = long_job.result(timeout=60)
    assert "stopped on request" in final[1] and steps_in(final[1]) < 500
    assert steps_in(short_job.result(timeout=60)[1]) <= 5


def test_undo_reset_and_export(url):
    c = client(url)
    original, *_ = c.predict(DEMO, 1, 0.7, 2e-3, 6, "W+", api_name="/new_image")
    list(c.submit(*start_args(seed=1, max_steps=6, lr=DRAG_LR), api_name="/start"))
    files, status = c.predict(api_name="/export")
    by_ext = {os.path.splitext(f)[1]: f for f in files}
    assert set(by_ext) == {".png", ".npz", ".mp4", ".gif"}, files  # the bundled model's drags move a block's output
    with np.load(by_ext[".npz"]) as saved:
        latent, features = saved["ws"], saved["features"]
    assert latent.shape[0] == 1 and latent.shape[2] == load_generator(DEMO).w_dim and np.isfinite(latent).all()
    assert features.shape[:2] == (1, 64) and np.abs(features).sum() > 0, "the drag's feature offset is saved"
    with Image.open(by_ext[".gif"]) as gif:
        assert gif.n_frames >= 2
    assert os.path.getsize(by_ext[".mp4"]) > 1000 and "Exported" in status
    final = read(by_ext[".png"])
    assert final.shape == (RESOLUTION, RESOLUTION, 3)
    assert np.abs(final.astype(int) - seed_image(1)).mean() > 1.0

    _, status, points = c.predict(api_name="/undo_drag")
    assert "Undid the last drag" in status and points["data"] == [[40, 64, 70, 64]]  # the points before it
    _, status, _ = c.predict(api_name="/undo_drag")
    assert "Nothing to undo" in status
    reset, status, points, _ = c.predict(api_name="/reset_image")
    assert "original image" in status
    assert not any(any(v is not None for v in row) for row in points["data"])
    np.testing.assert_array_equal(read(reset), read(original))


def test_slow_jobs_wait_in_their_own_lane_and_stop_in_no_queue(server):
    demo, _ = server
    deps = {fn.api_name: fn for fn in demo.fns.values()}
    assert deps["start"].concurrency_limit is None and deps["invert"].concurrency_limit is None  # ui/lanes.py
    assert deps["stop"].queue is False  # Stop never waits behind a running drag, nor in a full queue.


def test_a_painted_mask_holds_the_rest_of_the_image(url, tmp_path):
    """The brush layer of the mask editor reaches the drag: unpainted parts change much less."""
    layer = np.zeros((512, 512, 4), np.uint8)
    layer[:, 384:] = 255  # only the right 32 of the 128 px columns may move (the view is 4x enlarged): not the path
    Image.fromarray(layer, "RGBA").save(tmp_path / "layer.png")
    Image.fromarray(np.zeros((512, 512, 3), np.uint8)).save(tmp_path / "background.png")
    editor = {"background": handle_file(str(tmp_path / "background.png")),
              "layers": [handle_file(str(tmp_path / "layer.png"))], "composite": None}
    change_on_the_path = []
    for mask in (None, editor):
        c = client(url)
        args = list(start_args(max_steps=8))
        args[-1] = mask
        *_, (_, status, _) = list(c.submit(*args, api_name="/start"))
        assert "step 8/8" in status or "reached the targets" in status or "stopped getting closer" in status, status
        png = next(f for f in c.predict(api_name="/export")[0] if f.endswith(".png"))
        change_on_the_path.append(np.abs(read(png).astype(int) - seed_image(0))[48:80, 24:80].mean())
    unmasked, masked = change_on_the_path
    assert unmasked > 2, "the drag moved what lies on its path"
    assert masked < unmasked / 4, change_on_the_path


# ----------------------------------------------------------------------------- reliability (issue 11)

def test_identical_outputs_requested_at_once_come_back_whole(url):
    """Gradio names a cached output after its bytes and rewrites that file on every response, so identical
    outputs shared one file that a second response truncated while the first was still sending it (12-14 %
    empty or cut-off files with 4 sessions). Each response now has a file of its own (ui/outputs.py)."""
    a, b = client(url), client(url)
    first = a.predict(DEMO, 0, 0.7, 2e-3, 50, "W+", api_name="/new_image")[0]
    second = b.predict(DEMO, 0, 0.7, 2e-3, 50, "W+", api_name="/new_image")[0]
    np.testing.assert_array_equal(read(first), read(second))
    assert first != second, "two responses share one cache file (the client names downloads by their hash)"

    sessions = [client(url) for _ in range(6)]
    failures, barrier = [], threading.Barrier(len(sessions))

    def hammer(c):
        barrier.wait()
        for _ in range(3):
            try:
                image = read(c.predict(DEMO, 0, 0.7, 2e-3, 50, "W+", api_name="/new_image")[0])
                labels = read(c.predict(handle_file(str(EXAMPLE)), 0.5, api_name="/segment")[0])
                if not np.array_equal(image, read(first)) or labels.shape[:2] != read(EXAMPLE).shape[:2]:
                    failures.append("wrong content")
            except Exception as err:  # noqa: BLE001 - an empty or cut-off file shows up as any of several errors
                failures.append(f"{type(err).__name__}: {err}")
    threads = [threading.Thread(target=hammer, args=(c,)) for c in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert failures == []


def test_inputs_gradio_would_refuse_come_back_as_messages(url, tmp_path):
    c = client(url)
    _, status, *_ = c.predict(DEMO, "abc", 0.7, 2e-3, 50, "W+", api_name="/new_image")
    assert "Invalid settings: seed: Input should be a valid integer" in status and "'abc'" in status
    _, status, *_ = c.predict("/etc/passwd", 0, 0.7, 2e-3, 50, "W+", api_name="/new_image")
    assert "model '/etc/passwd' is not one of the" in status
    shuffled = {"headers": ["target x", "target y", "handle x", "handle y"], "data": [[40, 64, 70, 64]]}
    *_, status, _ = c.predict(DEMO, 0, 0.7, 2e-3, 8, "W+", shuffled, None, api_name="/start")
    assert "Invalid points table: the columns must be handle x, handle y, target x, target y" in status
    *_, status, _ = c.predict(DEMO, 0, 0.7, 2e-3, 8, "W+", table((40, 64, 70, 64, 1)), None, api_name="/start")
    assert "points row 1 must hold at most 4 cells" in status
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    editor = {"background": None, "layers": [handle_file(str(notes))], "composite": None}
    *_, status, _ = c.predict(*start_args()[:-1], editor, api_name="/start")
    assert "Invalid mask: mask layer 1: not a readable image" in status
    *_, status, _ = c.predict(*start_args(points=((1e308, 64, 70, 64),)), api_name="/start")
    assert "(1e+308, 64.0) lies outside the 128x128 image" in status and len(status) < 300
    *_, status = c.predict(handle_file(str(EXAMPLE)), 5, api_name="/segment")
    assert "the overlay opacity must be a number from 0 to 1, got '5'" in status


def test_a_malformed_payload_gets_gradios_message_not_null(url):
    """What gradio itself refuses before any handler runs (here a mask layer that is a number) is reported."""
    from gradio_client.exceptions import AppError
    editor = {"background": None, "layers": [123], "composite": None}
    with pytest.raises(AppError) as info:
        client(url).predict(*start_args()[:-1], editor, api_name="/start")
    assert "verbose error reporting" not in str(info.value) and "layers" in str(info.value)


def test_a_16_bit_png_is_segmented_like_its_8_bit_original(url, tmp_path):
    grey = np.asarray(Image.open(EXAMPLE).convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")  # 255 -> 65535
    c = client(url)
    labels8, overlay8, _, _ = c.predict(handle_file(str(tmp_path / "grey8.png")), 0.5, api_name="/segment")
    labels16, overlay16, _, status = c.predict(handle_file(str(tmp_path / "grey16.png")), 0.5, api_name="/segment")
    assert "Segmented" in status
    np.testing.assert_array_equal(read(labels16), read(labels8))
    np.testing.assert_array_equal(read(overlay16), read(overlay8))
    assert read(overlay16).mean() < 200  # not the near-white of a clipped 16-bit image


def test_big_photos_come_back_bounded_and_huge_ones_are_refused(url, tmp_path):
    big = tmp_path / "wide.png"
    Image.fromarray(np.asarray(Image.open(EXAMPLE).convert("RGB").resize((3000, 2000)))).save(big)
    labels, overlay, _, status = client(url).predict(handle_file(str(big)), 0.5, api_name="/segment")
    assert "Segmented a 3000×2000 photo (shown at 1024×683)" in status
    assert read(labels).shape == read(overlay).shape == (683, 1024, 3)
    huge = tmp_path / "huge.png"
    Image.new("1", (6400, 6400)).save(huge)  # 41 Mpx in a few KB
    labels, _, _, status = client(url).predict(handle_file(str(huge)), 0.5, api_name="/segment")
    assert labels is None and "huge.png is 6400×6400 = 41.0 Mpx; at most 40 Mpx" in status
