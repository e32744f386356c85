"""The paint tab's handlers, called as the page calls them: rectangles, brush strokes, render, bad input."""
import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from segmentation import CLASS_NAMES, PALETTE, Painter
from segmentation.palette import colours_to_classes
from segmentation.networks import SegmenterConfig, build_segmenter
from ui.paint_tab import EXAMPLES, FACADE, NO_MAP, PaintTab, read_map

WINDOW = CLASS_NAMES.index("window")


@pytest.fixture(scope="module")
def tab():
    torch.manual_seed(0)
    config = SegmenterConfig("unet", ngf=4, depth=3, dropout=0.5, image_size=32, head="rgb", direction="BtoA")
    return PaintTab(Painter(build_segmenter(config), 32))


@pytest.fixture(autouse=True)
def uploads_here(tmp_path, monkeypatch):
    """The tests' files stand for uploads: they lie in gradio's upload folder (ui/visitor_files.py)."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))


def click(x, y):
    return gr.SelectData(None, {"index": [x, y], "value": None})


def as_upload(image: np.ndarray, path) -> dict:
    Image.fromarray(image).save(path)
    return {"path": str(path), "orig_name": path.name}


def test_blank_then_a_window_rectangle_from_two_clicks(tab, tmp_path):
    labels, canvas, legend, status, corner = tab.blank()
    assert labels.shape == (256, 256, 3) and (labels == PALETTE[FACADE]).all()
    assert canvas["background"] is labels and "facade" in legend and "100.0 %" in legend
    upload = as_upload(labels, tmp_path / "map.png")
    *_, status, corner = tab.rectangle(upload, None, "window", click(40, 30))
    assert corner == (40, 30) and "opposite corner" in status
    labels, canvas, legend, status, corner = tab.rectangle(upload, corner, "window", click(10, 90))
    assert corner is None and "window" in status
    classes = read_map(labels)
    assert (classes[30:91, 10:41] == WINDOW).all()
    assert (classes[:30] == FACADE).all() and (classes[:, 41:] == FACADE).all()
    assert (canvas["background"] == labels).all() and canvas["layers"] == []


def test_brush_strokes_snap_to_classes_and_transparent_is_facade(tab):
    composite = np.zeros((64, 64, 4), np.uint8)        # all transparent: nothing painted
    composite[8:20, 8:20] = [*np.clip(PALETTE[WINDOW].astype(int) + 4, 0, 255), 255]  # an off-palette window
    labels, legend, status = tab.brushed({"background": None, "layers": [], "composite": composite})
    classes = read_map(labels)
    assert (classes[8:20, 8:20] == WINDOW).all() and (classes[30:] == FACADE).all()
    assert tab.brushed(None)[0] is not None  # nothing to merge: every output skipped


def test_render_takes_the_map_file_and_a_seed(tab, tmp_path):
    labels = tab.blank()[0]
    labels[100:160, 60:120] = PALETTE[WINDOW]
    upload = as_upload(labels, tmp_path / "map.png")
    photo, status = tab.paint(upload, 5)
    assert photo.shape == (256, 256, 3) and "variation 5" in status
    assert np.array_equal(tab.paint(upload, 5)[0], photo)
    assert not np.array_equal(tab.paint(upload, 6)[0], photo)
    seed, photo, status = tab.variation(upload)
    assert 0 <= seed < 2 ** 31 and np.array_equal(tab.paint(upload, seed)[0], photo)


@pytest.mark.parametrize("labels, seed, message", [
    (None, 0, NO_MAP),
    ("text", 0, "readable image"),
    ("map", "abc", "whole number"),
    ("map", -3, "from 0 to"),
    ("map", float("nan"), "whole number"),
    (42, 0, "image file"),
])
def test_bad_render_input_gets_a_message(tab, tmp_path, labels, seed, message):
    if labels == "text":
        (tmp_path / "notes.png").write_text("not an image")
        labels = {"path": str(tmp_path / "notes.png"), "orig_name": "notes.png"}
    elif labels == "map":
        labels = as_upload(tab.blank()[0], tmp_path / "map.png")
    photo, status = tab.paint(labels, seed)
    assert photo is None and message in status


def test_examples_cycle_through_training_label_maps(tab):
    assert len(EXAMPLES) >= 8
    first = tab.example(0)
    second = tab.example(1)
    assert first[-1] == 1 and second[-1] == 2
    assert not np.array_equal(first[0], second[0])
    assert len(np.unique(read_map(first[0]))) >= 4  # a real facade map: several classes


def test_edit_these_labels_brings_the_segmentation_over(tab):
    assert "Segment a photo first" in tab.receive(None)[3]
    predicted = PALETTE[np.random.default_rng(0).integers(0, 13, (48, 64))]
    labels, canvas, legend, status, tabs = tab.receive((np.zeros((48, 64, 3), np.uint8), predicted))
    assert np.array_equal(labels, predicted) and isinstance(tabs, gr.Tabs)


def test_a_missing_painter_says_so(tmp_path):
    broken = PaintTab(None, "⚠️ The painter is not available: missing")
    assert broken.paint(None, 0) == (None, "⚠️ The painter is not available: missing")


def test_a_brush_composite_goes_through_the_shape_limits_before_any_per_pixel_work(tab, tmp_path):
    """Issue 31.3: the brush's composite skipped the size checks (a 4000x4000 one cost +4.3 GB, a 1,000,000x8
    strip +2.1 GB); now it is read like an upload: strips refused on the header, big maps read reduced."""
    strip = tmp_path / "strip.png"
    Image.new("RGBA", (1_000_000, 8)).save(strip)
    *_, status = tab.brushed({"background": None, "layers": [], "composite": {"path": str(strip)}})
    assert "its longest side may be at most 16384 px" in status
    big = np.zeros((4000, 4000, 4), np.uint8)
    big[:2000, :2000] = [*PALETTE[WINDOW], 255]
    for composite in (big, as_upload(big, tmp_path / "big.png")):
        labels, _, status = tab.brushed({"background": None, "layers": [], "composite": composite})
        assert labels.shape == (1024, 1024, 3) and "Brush strokes added" in status
        classes = read_map(labels)
        assert (classes[:500, :500] == WINDOW).all() and (classes[530:] == FACADE).all()


def test_a_label_map_outside_the_upload_folder_is_refused_as_a_missing_one(tab, tmp_path, monkeypatch):
    """Issue 31.1: the paint tab opened any path an API client named; existence showed in the error."""
    secret = tmp_path / "secret.png"
    Image.fromarray(tab.blank()[0]).save(secret)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    answers = {tab.paint({"path": str(path)}, 0)[1].replace(str(path), "<path>")
               for path in (secret, tmp_path / "missing.png", tmp_path)}
    (answer,) = answers
    assert "must be an uploaded image file sent to this app" in answer
    assert "Rendered" in tab.paint({"path": str(EXAMPLES[0])}, 0)[1]  # one of the app's own examples


@pytest.mark.parametrize("index", ["ab", ["a", "b"], [1e308, "x"], 7, None, [float("nan"), 1]])
def test_a_bad_click_index_gets_a_sentence(tab, tmp_path, index):
    """Issue 31.6: "invalid literal for int() with base 10: 'a'" reached the client."""
    upload = as_upload(tab.blank()[0], tmp_path / "map.png")
    status = tab.rectangle(upload, None, "window", gr.SelectData(None, {"index": index, "value": None}))[3]
    assert "a click must be at two numbers (x, y)" in status and "invalid literal" not in status


@pytest.mark.parametrize("seed", [1e308, "1e308", -1, 0.5, "a", float("nan"), 2 ** 31])
def test_a_bad_seed_is_refused_without_echoing_hundreds_of_digits(tab, tmp_path, seed):
    upload = as_upload(tab.blank()[0], tmp_path / "map.png")
    photo, status = tab.paint(upload, seed)
    assert photo is None and "the variation seed must be a whole number from 0 to 2147483647" in status
    assert len(status) < 120


def test_the_colour_lookup_in_chunks_is_the_nearest_class(tmp_path):
    """Snapped in chunks (bounded memory) as the full distance table snaps them, on more than one chunk."""
    rgb = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    flat = rgb.reshape(-1, 3).astype(np.int32)
    nearest = ((flat[:, None, :] - PALETTE.astype(np.int32)[None]) ** 2).sum(-1).argmin(1).reshape(300, 300)
    assert (colours_to_classes(rgb) == nearest).all()
