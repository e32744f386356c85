"""The segmentation tab: a facade photo -> label map, overlay and legend, its handlers and its layout.

Models are held by name (the shipped ones, or one --segmentation-weights checkpoint), each loaded
once for everyone; a dropdown labels which is which, and `segment` (the `/segment` API) takes the name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import torch
import segmentation
from common.images import read_rgb, upright_size
from ui.legend import legend_html
from ui.outputs import unique_outputs
from ui.payloads import readable_payload
from ui.visitor_files import visitor_file

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "assets" / "examples").glob("*.jpg"))
NO_PHOTO = "Upload a facade photo or pick an example."
SHOWN_MAX_SIDE = 1024     # Photos are read, and label map and overlay sent back, at most this large (the models
                          # themselves work at 256 px, so nothing is lost but bytes and memory).


def read_photo(upload) -> tuple[np.ndarray, tuple[int, int]]:
    """An uploaded file as RGB uint8, at most SHOWN_MAX_SIDE px a side, and its own (width, height).

    The size is checked on the header and the file decoded already reduced (`common.images`): a 6300 px PNG
    costs one uint8 decode, not gigabytes. A ValueError names the file if it is no image, too small or too big,
    or not one the visitor may name (ui/visitor_files.py)."""
    path, name = visitor_file(upload, "the photo", "an uploaded image file")
    rgb = read_rgb(path, max_side=SHOWN_MAX_SIDE, min_side=segmentation.photos.MIN_SIDE, name=name)
    return rgb, upright_size(path)


def parse_opacity(value) -> float:
    """The overlay opacity as a float in [0, 1]; a ValueError says what was sent instead."""
    try:
        opacity = float(value)
    except (TypeError, ValueError):
        opacity = math.nan
    if not 0.0 <= opacity <= 1.0:  # also refuses NaN
        raise ValueError(f"the overlay opacity must be a number from 0 to 1, got {str(value)[:40]!r}")
    return opacity


def model_files(weights: Path | None = None) -> dict[str, tuple[str, Path]]:
    """{name: (menu label, weights file)}: the shipped models, the default first; or one given checkpoint."""
    if weights is not None:
        return {Path(weights).stem: (f"{Path(weights).name} (--segmentation-weights)", Path(weights))}
    return {m.name: (m.label + (" (default)" if m.default else ""), m.path)
            for m in segmentation.list_models()}


def blend(photo: np.ndarray, labels: np.ndarray, opacity: float) -> np.ndarray:
    """Label colours laid over the photo with the given opacity (0 = photo only, 1 = labels only)."""
    if photo.shape != labels.shape:
        raise ValueError(f"photo {photo.shape} and label map {labels.shape} must have the same shape")
    mixed = (1.0 - opacity) * photo.astype(np.float32) + opacity * labels.astype(np.float32)
    return mixed.round().clip(0, 255).astype(np.uint8)


class SegmentationTab:
    """The tab's handlers, over models loaded once for everyone and held by name."""

    def __init__(self, weights: dict[str, tuple[str, Path]], device: torch.device):
        if not weights:
            raise ValueError("the segmentation tab needs at least one model")
        self.default = next(iter(weights))
        self.labels = {name: label for name, (label, _) in weights.items()}
        self.models, self.problems = {}, {}
        for name, (_, path) in weights.items():
            try:
                self.models[name] = segmentation.load_model(path, device=device)
            except (OSError, ValueError) as err:
                self.problems[name] = f"⚠️ The segmentation model is not available: {err}"

    @property
    def notice(self) -> str:
        """What the page says about models that did not load ('' when all did)."""
        return "\n\n".join(self.problems.values())

    def segment(self, photo: dict | None, opacity: float, name: str | None = None):
        """Returns (label map, overlay, legend HTML, status, (photo, labels) kept for the opacity slider).

        `photo` is the upload's raw file record (the event runs with preprocess=False), so that a file
        that is not an image gets a readable message here instead of failing inside Gradio.
        """
        if not photo:
            return None, None, "", NO_PHOTO, None
        try:
            rgb, (width, height) = read_photo(photo)
            opacity = parse_opacity(opacity)
        except ValueError as err:
            gr.Warning(str(err))
            return None, None, "", f"⚠️ {err}", None
        name = name or self.default
        model = self.models.get(name) if isinstance(name, str) else None
        if model is None:
            known = ", ".join(repr(n) for n in self.labels)
            return None, None, "", self.problems.get(name, f"⚠️ There is no segmentation model {str(name)[:60]!r}; "
                                                           f"the models are {known}."), None
        classes = model.predict_classes(rgb)
        labels = model.palette[classes]
        legend = legend_html(model.class_names, model.palette, model.class_shares(classes))
        shown = "" if rgb.shape[:2] == (height, width) else f" (shown at {rgb.shape[1]}×{rgb.shape[0]})"
        return (labels, blend(rgb, labels, opacity), legend, f"Segmented a {width}×{height} photo{shown}.",
                (rgb, labels))

    @staticmethod
    def reblend(kept, opacity: float):
        if kept is None:
            return gr.skip()
        photo, labels = kept
        return blend(photo, labels, opacity)


@dataclass
class SegmentationWidgets:
    """What other tabs wire to: the kept (photo, label map) and the button that sends the map to be edited."""
    kept: gr.State
    edit: gr.Button


def build(tab: SegmentationTab) -> SegmentationWidgets:
    """The segmentation tab: photo, label map and overlay in a row; opacity, status, examples and legend below."""
    with gr.Tab("Segmentation", id="segmentation"):
        kept = gr.State(None)
        gr.Markdown(tab.notice, visible=bool(tab.notice), elem_id="seg-notice")
        with gr.Row():
            photo = readable_payload(
                gr.Image(label="Facade photo", type="numpy", sources=["upload", "clipboard"], elem_id="seg-photo"),
                "the photo", "an uploaded image file (gradio_client: handle_file(path))")
            labels = gr.Image(label="Label map", interactive=False, format="png", elem_id="seg-labels")
            overlay = gr.Image(label="Overlay", interactive=False, format="png", elem_id="seg-overlay")
        with gr.Row():
            with gr.Column(scale=2):
                model = gr.Dropdown([(label, name) for name, label in tab.labels.items()], value=tab.default,
                                    label="Model", elem_id="seg-model")
                opacity = gr.Slider(0.0, 1.0, 0.5, step=0.05, label="Overlay opacity")
                status = gr.Markdown(NO_PHOTO, label="segmentation status", elem_id="seg-status")
                edit = gr.Button("Edit these labels", elem_id="seg-edit")
                if EXAMPLES:
                    gr.Examples([[str(p)] for p in EXAMPLES], inputs=photo, elem_id="seg-examples",
                                label="Example facades (CMP Facade Database, research use)")
            legend = gr.HTML(elem_id="seg-legend")
    outputs = [labels, overlay, legend, status, kept]
    photo.change(unique_outputs(tab.segment), [photo, opacity, model], outputs, api_name="segment",
                 preprocess=False)
    model.change(unique_outputs(tab.segment), [photo, opacity, model], outputs, api_visibility="private",
                 preprocess=False)
    opacity.change(unique_outputs(tab.reblend), [kept, opacity], overlay, api_visibility="private")
    return SegmentationWidgets(kept, edit)
