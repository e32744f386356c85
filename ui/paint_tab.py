"""The paint tab: draw a facade's label map (rectangles and a brush in the class colours) and render it as a photo.

The label map shown on the left is the map: rectangles (two clicks on it) and brush strokes (the Brush canvas)
both write it, and Render (the `/paint` API: label map file, seed -> photo) reads it back, so an API client
sends a label map image just as the page does. The painter is loaded once for everyone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

import segmentation
from common.images import entering_image
from segmentation.painter import as_classes
from ui.legend import hex_colour, legend_html
from ui.outputs import unique_outputs
from ui.payloads import click_position, readable_payload
from ui.visitor_files import visitor_file

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "assets" / "painter" / "examples").glob("*.png"))
CANVAS = 256              # A blank facade's side: the painter's own size.
MAX_SIDE = 1024           # Label maps are read at most this large (the painter works at 256 px).
FACADE = segmentation.CLASS_NAMES.index("facade")
NO_MAP = "Start from a blank facade or an example, or send a segmentation over with “Edit these labels”."


def read_map(value) -> np.ndarray:
    """The (H, W) class map of a label image as the page or an API client sends it (a file record, an array), read
    at most MAX_SIDE px through the shape limits of `common.images` before any per-pixel work.

    Transparent pixels (erased, or never painted) are facade; every other colour snaps to its nearest class."""
    if value is None:
        raise ValueError(NO_MAP)
    name = "the label map"
    image, name = (value, name) if isinstance(value, np.ndarray) else visitor_file(value, name)
    rgba = entering_image(image, MAX_SIDE, name=name, mode="RGBA")
    classes = as_classes(rgba[..., :3])
    classes[rgba[..., 3] == 0] = FACADE
    return classes


def parse_seed(value) -> int:
    try:
        seed = float(value)
    except (TypeError, ValueError):
        seed = math.nan
    if not (0 <= seed < 2 ** 31 and seed == int(seed)):  # also refuses NaN; 1e308 is not echoed in 309 digits
        raise ValueError(f"the variation seed must be a whole number from 0 to {2 ** 31 - 1}, "
                         f"got {str(value)[:20]!r}")
    return int(seed)


@dataclass
class PaintTab:
    """The tab's handlers over one painter (None, with `problem` set, when its weights did not load)."""
    painter: segmentation.Painter | None
    problem: str = ""

    @property
    def palette(self) -> np.ndarray:
        return segmentation.PALETTE

    def show(self, classes: np.ndarray, message: str):
        """(label map, brush canvas, legend, status) for a new map."""
        labels = self.palette[classes]
        canvas = {"background": labels, "layers": [], "composite": labels}
        shares = np.bincount(classes.ravel(), minlength=len(self.palette)) / classes.size
        return labels, canvas, legend_html(segmentation.CLASS_NAMES, self.palette,
                                           dict(zip(segmentation.CLASS_NAMES, shares))), message

    def blank(self, message: str = "A blank facade: draw windows, doors, …"):
        return (*self.show(np.full((CANVAS, CANVAS), FACADE, np.int64), message), None)

    def example(self, number: int):
        """The next example label map (from the training labels), and the next number."""
        if not EXAMPLES:
            return (*self.blank("No example label maps are installed: here is a blank facade."), 0)
        path = EXAMPLES[int(number) % len(EXAMPLES)]
        return (*self.show(read_map(str(path)), f"Example label map {path.stem} (training labels)."), None,
                int(number) + 1)

    def rectangle(self, labels, corner, name: str, evt: gr.SelectData):
        """Two clicks on the label map fill the rectangle between them with the chosen class."""
        try:
            classes = read_map(labels)
        except ValueError as err:
            return gr.skip(), gr.skip(), gr.skip(), f"⚠️ {err}", None
        try:
            x, y = (max(0, int(v)) for v in click_position(evt))
        except ValueError as err:
            return gr.skip(), gr.skip(), gr.skip(), f"⚠️ {err}", None
        if corner is None:
            return gr.skip(), gr.skip(), gr.skip(), f"First corner at ({x}, {y}): click the opposite corner.", (x, y)
        if name not in segmentation.CLASS_NAMES:
            return gr.skip(), gr.skip(), gr.skip(), f"⚠️ Pick a class for the rectangle, not {str(name)[:40]!r}.", None
        (x0, x1), (y0, y1) = sorted((corner[0], x)), sorted((corner[1], y))
        classes[y0:y1 + 1, x0:x1 + 1] = segmentation.CLASS_NAMES.index(name)
        return (*self.show(classes, f"Filled ({x0}, {y0})–({x1}, {y1}) with {name}."), None)

    def brushed(self, canvas):
        """Brush strokes merged into the map (the canvas's composite is the whole map)."""
        composite = canvas.get("composite") if isinstance(canvas, dict) else None
        if composite is None:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            classes = read_map(composite)
        except ValueError as err:
            return gr.skip(), gr.skip(), f"⚠️ {err}"
        labels, _, legend, _ = self.show(classes, "")
        return labels, legend, "Brush strokes added."

    def paint(self, labels, seed):
        """(photo, status) for a label map (the `/paint` API: a label map image file and a seed)."""
        if self.painter is None:
            return None, self.problem
        try:
            seed = parse_seed(seed)
            photo = self.painter.paint(read_map(labels), seed)
        except ValueError as err:
            return None, f"⚠️ {err}"
        return photo, f"Rendered a {photo.shape[1]}×{photo.shape[0]} facade, variation {seed}."

    def live(self, labels, seed, on: bool):
        """Render as the map changes; the status line stays the editing's (a failed render leaves the photo)."""
        if not on or self.painter is None:
            return gr.skip()
        photo, _ = self.paint(labels, seed)
        return gr.skip() if photo is None else photo

    def variation(self, labels):
        seed = random.randrange(2 ** 31)
        return (seed, *self.paint(labels, seed))

    def receive(self, kept):
        """The segmentation tab's predicted map, sent over by its “Edit these labels” button, and this tab shown."""
        if kept is None:
            return gr.skip(), gr.skip(), gr.skip(), "Segment a photo first, then press “Edit these labels”.", gr.skip()
        shown = self.show(as_classes(kept[1]), "The segmentation's label map: edit it, and see it rendered.")
        return (*shown, gr.Tabs(selected="paint"))


def load(device) -> PaintTab:
    try:
        return PaintTab(segmentation.load_painter(device=device))
    except (OSError, ValueError) as err:
        return PaintTab(None, f"⚠️ The painter is not available: {err}")


@dataclass
class PaintWidgets:
    """What other tabs wire to: the label map, brush canvas, legend and status a segmentation is sent to."""
    shown: list


def build(tab: PaintTab) -> PaintWidgets:
    """The paint tab: label map (rectangles) or brush canvas on the left, the photo on the right; tools below."""
    colours = [hex_colour(c) for c in tab.palette]
    with gr.Tab("Paint", id="paint"):
        corner, example_no = gr.State(None), gr.State(0)
        gr.Markdown(tab.problem, visible=bool(tab.problem), elem_id="paint-notice")
        with gr.Row():
            with gr.Column():
                with gr.Tabs():
                    with gr.Tab("Rectangles"):
                        labels = gr.Image(label="Label map: click two corners to fill a rectangle", format="png",
                                          interactive=False, height=420, buttons=["download"],
                                          elem_id="paint-labels")
                    with gr.Tab("Brush"):
                        canvas = readable_payload(
                            gr.ImageEditor(type="numpy", label="Brush in the class colours (facade erases)",
                                           layers=False, transforms=(), sources=(), height=420,
                                           elem_id="paint-canvas",
                                           brush=gr.Brush(colors=colours, default_color=colours[3],
                                                          color_mode="fixed")),
                            "the brush canvas", "an image editor value: {'background': file, 'layers': [files], "
                            "'composite': file}")
            photo = gr.Image(label="Painted facade", interactive=False, format="png", height=460,
                             buttons=["download", "fullscreen"], elem_id="paint-photo")
        with gr.Row():
            with gr.Column(scale=2):
                name = gr.Radio(list(segmentation.CLASS_NAMES[1:]), value="window", label="Rectangle class",
                                elem_id="paint-class")
                with gr.Row():
                    blank = gr.Button("Blank facade", elem_id="paint-blank")
                    example = gr.Button("Example labels", elem_id="paint-example")
                    render = gr.Button("Render", variant="primary", elem_id="paint-render")
                    variation = gr.Button("New variation", elem_id="paint-variation")
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, maximum=2 ** 31 - 1, label="Variation seed",
                                     elem_id="paint-seed")
                    live = gr.Checkbox(True, label="Render as I draw", elem_id="paint-live")
                status = gr.Markdown(NO_MAP, elem_id="paint-status")
            legend = gr.HTML(elem_id="paint-legend")
    shown = [labels, canvas, legend, status]
    blank.click(unique_outputs(tab.blank), None, shown + [corner], api_visibility="private")
    example.click(unique_outputs(tab.example), example_no, shown + [corner, example_no], api_visibility="private")
    labels.select(unique_outputs(tab.rectangle), [labels, corner, name], shown + [corner],
                  api_visibility="private", preprocess=False)
    canvas.input(unique_outputs(tab.brushed), canvas, [labels, legend, status], api_visibility="private",
                 preprocess=False)  # the composite as a file record: read reduced, through the shape limits
    render.click(unique_outputs(tab.paint), [labels, seed], [photo, status], api_name="paint", preprocess=False)
    variation.click(unique_outputs(tab.variation), labels, [seed, photo, status], api_visibility="private",
                    preprocess=False)
    labels.change(unique_outputs(tab.live), [labels, seed, live], photo, api_visibility="private",
                  preprocess=False)
    return PaintWidgets(shown)
