"""The paint tab's handlers, called as the page calls them: rectangles, brush strokes, render, bad input."""
import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from segmentation import CLASS_NAMES, PALETTE, Painter
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
