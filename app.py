"""GAN image editing in the browser: DragGAN point dragging and pix2pix facade segmentation.

    python app.py                      # http://127.0.0.1:7860
    python app.py --demo --port 7861   # only the small untrained generator: starts in seconds
    python app.py --share --device cuda

One gr.Blocks app with two tabs. Generator weights live once per process in a small cache;
everything a visitor does (image, points, mask, history) lives in their own gr.State.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageOps
from pydantic import ValidationError

import landmarks
import segmentation
from app_state import (
    POINT_COLUMNS,
    DragPoints,
    DragSettings,
    DragState,
    Point,
    blend,
    display_scale,
    enlarge,
    explain,
    legend_html,
    mask_from_editor,
    points_from_table,
    points_table,
    tint_outside,
)
from draggan.errors import CheckpointError
from draggan.export import export_video, save_png
from common import pick_device
from draggan.loading import load_generator
from draggan.networks import Generator, GeneratorConfig
from draggan.registry import list_models
from draggan.session import DragSession
from presets import PRESETS

REPO = Path(__file__).resolve().parent
EXAMPLES = sorted((REPO / "assets" / "examples").glob("*.jpg"))
DEFAULT_MODEL = "ffhq-512"
DEMO_MODEL = "demo: untrained 128 px generator (random weights)"
DEMO_SEED = 2023          # Fixed init of the demo generator: the same "model" on every machine.
FRAME_EVERY = 4           # A full frame is shown and kept for export every this many steps (previews between).
MAX_CACHED_MODELS = 2     # Generators kept in memory at once (a 512 px FFHQ model is ~120 MB).
EXPORT_DIR = Path(tempfile.gettempdir()) / "gan-editor-exports"
EXPORT_TTL_S = 3600       # Export folders older than this are deleted (gradio serves its own copies).

NO_IMAGE = "No image yet: press **New image**."
NO_POINTS = ("**Start needs points.** Click the image once for a handle (red), then once for its target "
             "(blue), or press a preset.")
NO_FACE = ("**No face found** in this image, so there are no landmarks for the presets. "
           "Try another seed or model, or place the points by clicking the image.")
BUSY = "A drag is running: press **Stop** first."


# ----------------------------------------------------------------------------- shared models

def demo_generator() -> Generator:
    """A small StyleGAN2 with seeded random weights, so the app runs with no checkpoint at all.

    It is untrained: its images are colour blobs, not faces. Dragging still works on them,
    which is what the offline demo and the browser test need.
    """
    config = GeneratorConfig(z_dim=64, w_dim=64, img_resolution=128, mapping_kwargs={"num_layers": 2},
                             synthesis_kwargs={"channel_base": 2048, "channel_max": 32, "conv_clamp": 256})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEMO_SEED)
        return Generator(config)


class ModelCache:
    """Generators shared by every session, one copy per name; the least recently used is dropped."""

    def __init__(self, device: torch.device):
        self.device = device
        self._models: OrderedDict[str, torch.nn.Module] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> torch.nn.Module:
        """The generator for a dropdown value; a CheckpointError says what is missing and where to put it."""
        with self._lock:
            if name not in self._models:
                model = demo_generator() if name == DEMO_MODEL else load_generator(name, device=self.device)
                self._models[name] = model.to(self.device).eval().requires_grad_(False)
                while len(self._models) > MAX_CACHED_MODELS:
                    self._models.popitem(last=False)
            self._models.move_to_end(name)
            return self._models[name]


@dataclass
class AppConfig:
    device: torch.device = field(default_factory=pick_device)
    model: str = DEFAULT_MODEL           # The drag tab's first model: registry name or checkpoint file.
    demo: bool = False                   # Only the untrained demo generator (fast start: tests, offline demos).
    segmentation_weights: Path = segmentation.model.DEFAULT_WEIGHTS
    max_drags: int = 2                   # Optimisations running at once, over all visitors.


# ----------------------------------------------------------------------------- drag tab

def status_line(result, max_steps: int) -> str:
    """"step 12/200 · distance 8.3 px · 210 ms/step" for one optimisation step."""
    distance = float(np.max(result.distances)) if len(result.distances) else 0.0
    return f"step {result.step}/{max_steps} · distance {distance:.1f} px · {result.ms:.0f} ms/step"


def parse_settings(model, seed, psi, lr, max_steps, space) -> DragSettings:
    """The settings panel's values, checked (a pydantic ValidationError names each bad field)."""
    return DragSettings.model_validate({"model": model or "", "seed": seed, "truncation_psi": psi, "lr": lr,
                                        "max_steps": max_steps, "latent_space": space})


def remove_old_exports() -> None:
    """Delete export folders older than EXPORT_TTL_S, so a long-running Space does not fill its disk."""
    if not EXPORT_DIR.is_dir():
        return
    cutoff = time.time() - EXPORT_TTL_S
    for folder in EXPORT_DIR.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


class DragTab:
    """The drag tab's handlers: plain functions of (session state, widget values) -> widget values."""

    def __init__(self, models: ModelCache):
        self.models = models

    # --- drawing

    def view(self, state: DragState, frame: np.ndarray | None = None) -> np.ndarray | None:
        """The image (enlarged when small) with the mask tint, landmarks, points and arrows drawn on."""
        if state.session is None:
            return None
        image = state.image if frame is None else frame
        height, width = image.shape[:2]
        if state.show_mask and state.mask is not None and state.mask.shape == (height, width):
            image = tint_outside(image, state.mask)
        scale = display_scale(width, height)
        image = enlarge(image, scale)
        centre = (scale - 1) / 2  # Pixel (x, y) of the image sits at the centre of its enlarged block.
        if state.landmarks is not None:
            image = landmarks.draw_points(image, state.landmarks * scale + centre, color=(255, 220, 0))
        handles, targets = state.pairs()
        if len(handles):
            image = landmarks.draw_arrows(image, handles * scale + centre, targets * scale + centre)
        if len(state.points) % 2:
            image = landmarks.draw_points(image, np.array([state.points[-1]]) * scale + centre)
        return image

    @staticmethod
    def size(state: DragState) -> tuple[int, int]:
        """(width, height) of the generator's images."""
        height, width = state.session.image_size
        return width, height

    @staticmethod
    def summary(state: DragState) -> str:
        k = len(state.points) // 2
        lone = " Click again for the target (blue) of the last handle." if len(state.points) % 2 else ""
        return f"{k} handle → target pair{'s' * (k != 1)}.{lone}"

    @staticmethod
    def mask_background(state: DragState) -> dict:
        """An empty mask editor over the current image (enlarged like the main view)."""
        image = state.image
        return {"background": enlarge(image, display_scale(image.shape[1], image.shape[0])),
                "layers": [], "composite": None}

    # --- settings and image

    def _build_session(self, state: DragState, settings: DragSettings) -> str | None:
        """A fresh session for `settings` on the shared generator; an error message, or None when it worked."""
        try:
            generator = self.models.get(settings.model)
        except CheckpointError as err:
            return f"⚠️ {err}"
        state.session = DragSession(generator, seed=settings.seed, truncation_psi=settings.truncation_psi,
                                    lr=settings.lr, w_plus=settings.w_plus)
        state.model = settings.model
        state.new_image()
        state.rendered()
        return None

    def new_image(self, state: DragState, model, seed, psi, lr, max_steps, space):
        """Render the image of (model, seed, ψ) for this visitor; forgets points, mask and history.

        Returns (image, status, points table, mask editor, model dropdown)."""
        if state.running:
            return gr.skip(), BUSY, gr.skip(), gr.skip(), gr.skip()
        try:
            settings = parse_settings(model, seed, psi, lr, max_steps, space)
        except ValidationError as err:
            return gr.skip(), explain(err, "settings"), gr.skip(), gr.skip(), gr.skip()
        problem = self._build_session(state, settings)
        if problem:  # Keep the current image, and put the dropdown back on its model.
            gr.Warning(problem)
            return gr.skip(), problem, gr.skip(), gr.skip(), state.model or gr.skip()
        message = (f"New image: seed {settings.seed}, ψ {settings.truncation_psi:g}, {settings.latent_space}. "
                   "Click the image to add a handle (red), click again for its target (blue).")
        return self.view(state), message, points_table(state.points), self.mask_background(state), gr.skip()

    # --- points

    def add_point(self, state: DragState, evt: gr.SelectData):
        """A click: alternately a handle and a target, mapped back to the generator's pixels."""
        if state.session is None:
            return gr.skip(), NO_IMAGE, gr.skip()
        if state.running:
            return gr.skip(), BUSY, gr.skip()
        width, height = self.size(state)
        scale = display_scale(width, height)
        x, y = evt.index
        try:
            point = Point.model_validate({"x": (float(x) - (scale - 1) / 2) / scale,
                                          "y": (float(y) - (scale - 1) / 2) / scale},
                                         context={"size": (width, height)})
        except (ValidationError, TypeError, ValueError) as err:
            text = explain(err, "point") if isinstance(err, ValidationError) else f"Invalid point: {err}"
            return gr.skip(), text, gr.skip()
        state.points.append((point.x, point.y))
        role = "handle (red)" if len(state.points) % 2 else "target (blue)"
        return (self.view(state), f"Added a {role} at ({point.x:.0f}, {point.y:.0f}). {self.summary(state)}",
                points_table(state.points))

    def edit_points(self, state: DragState, table):
        """The points table was edited by hand: take its rows as the new points, if they are valid."""
        if state.session is None:
            return gr.skip(), NO_IMAGE, gr.skip()
        try:
            points = points_from_table(table)
            size = self.size(state)
            for index, (x, y) in enumerate(points):
                Point.model_validate({"x": x, "y": y}, context={"size": size})
        except ValidationError as err:
            return gr.skip(), explain(err, f"point {index + 1}"), gr.skip()
        except ValueError as err:
            return gr.skip(), f"Invalid points table: {err}", gr.skip()
        state.points = points
        return self.view(state), f"Points edited. {self.summary(state)}", points_table(state.points)

    def undo_point(self, state: DragState):
        if state.running:
            return gr.skip(), BUSY, gr.skip()
        if state.points:
            state.points.pop()
        return self.view(state), f"Removed the last point. {self.summary(state)}", points_table(state.points)

    def clear_points(self, state: DragState):
        if state.running:
            return gr.skip(), BUSY, gr.skip()
        state.points.clear()
        return self.view(state), "Points cleared.", points_table(state.points)

    # --- mask

    def update_mask(self, state: DragState, editor, show: bool):
        """Keep the painted flexible region (white brush) and tint the fixed part when 'show mask' is on."""
        state.show_mask = bool(show)
        if state.session is None:
            return gr.skip(), gr.skip()
        state.mask = mask_from_editor(editor, self.size(state))
        if state.mask is None:
            note = "No mask painted: every part of the image may move."
        else:
            note = f"Mask: {100 * state.mask.mean():.0f} % of the image may move; the rest is held in place."
        return self.view(state), note

    def reset_mask(self, state: DragState):
        state.mask = None
        if state.session is None:
            return gr.skip(), gr.skip(), NO_IMAGE
        return self.mask_background(state), self.view(state), "Mask reset: every part of the image may move."

    # --- landmarks and presets

    @staticmethod
    def find_landmarks(state: DragState) -> str:
        """Detect the largest face's landmarks into the state; returns the status message."""
        state.landmarks = None
        try:
            faces = landmarks.detect_landmarks(state.image)
        except landmarks.BackendUnavailable as err:
            return f"⚠️ Landmark detection cannot run here: {err}"
        if not faces:
            gr.Warning("No face found in this image.")
            return NO_FACE
        state.landmarks = faces[0]
        more = f" (the largest of {len(faces)} faces)" if len(faces) > 1 else ""
        return f"Found 68 landmarks{more}."

    def detect(self, state: DragState):
        """68 landmarks of the largest face in the current image, drawn in yellow."""
        if state.session is None:
            return gr.skip(), NO_IMAGE
        message = self.find_landmarks(state)
        if state.landmarks is not None:
            message += " Press a preset to fill the points."
        return self.view(state), message

    def preset(self, name: str):
        """The click handler of one preset button."""
        def apply(state: DragState, strength: float):
            return self.apply_preset(name, state, strength)
        apply.__name__ = "preset_" + name.replace(" ", "_")
        return apply

    def apply_preset(self, name: str, state: DragState, strength: float):
        """Handles and targets from the landmarks (detected first if needed) for the named expression."""
        if state.session is None:
            return gr.skip(), NO_IMAGE, gr.skip()
        if state.running:
            return gr.skip(), BUSY, gr.skip()
        if state.landmarks is None:
            message = self.find_landmarks(state)
            if state.landmarks is None:
                return self.view(state), message, gr.skip()
        try:
            handles, targets = PRESETS[name](state.landmarks, strength=float(strength))
        except (TypeError, ValueError) as err:  # e.g. a strength outside [0, 1] from an API client
            return gr.skip(), f"Preset '{name}': {err}", gr.skip()
        width, height = self.size(state)
        state.set_pairs(np.clip(handles, 0, [width - 1, height - 1]), np.clip(targets, 0, [width - 1, height - 1]))
        return (self.view(state), f"Preset **{name}** at strength {strength:g}: {self.summary(state)} Press Start.",
                points_table(state.points))

    # --- the drag

    def start(self, state: DragState, model, seed, psi, lr, max_steps, space, table, editor):
        """Stream the optimisation: a frame and a status line per step, until the targets are reached,
        the step limit, or Stop. Yields (image, status, points table)."""
        if state.running:
            yield gr.skip(), BUSY, gr.skip()
            return
        try:
            settings = parse_settings(model, seed, psi, lr, max_steps, space)
        except ValidationError as err:
            yield gr.skip(), explain(err, "settings"), gr.skip()
            return
        if state.session is None:  # An API client that never pressed "New image".
            problem = self._build_session(state, settings)
            if problem:
                yield gr.skip(), problem, gr.skip()
                return
        size = self.size(state)
        try:
            points = points_from_table(table) if table is not None else list(state.points)
        except ValueError as err:
            yield gr.skip(), f"Invalid points table: {err}", gr.skip()
            return
        pairs = len(points) // 2
        if pairs == 0:
            gr.Warning("Add a handle and a target first.")
            yield self.view(state), NO_POINTS, gr.skip()
            return
        state.points = points[: 2 * pairs]
        try:
            checked = DragPoints.model_validate({"handles": [{"x": x, "y": y} for x, y in state.handles],
                                                 "targets": [{"x": x, "y": y} for x, y in state.targets]},
                                                context={"size": size})
        except ValidationError as err:
            yield gr.skip(), explain(err, "points"), gr.skip()
            return
        handles, targets = checked.as_arrays()
        state.landmarks = None  # They belong to the image before the drag.
        if editor is not None:
            state.mask = mask_from_editor(editor, size)
        session = state.session
        session.config.lr, session.config.w_plus = settings.lr, settings.w_plus  # Read when a drag starts.
        state.undo_points.append(list(state.points))
        state.running = True
        result = None
        try:
            for result in session.drag(handles, targets, mask=state.mask, max_steps=settings.max_steps,
                                       frame_every=FRAME_EVERY):
                state.set_pairs(result.handles, targets)
                frame = result.frame if result.frame is not None else result.preview
                yield self.view(state, frame), status_line(result, settings.max_steps), gr.skip()
        except ValueError as err:  # A point or mask the session refuses: say which.
            state.undo_points.pop()
            yield self.view(state), f"⚠️ {err}", points_table(state.points)
            return
        finally:
            state.running = False
            state.rendered()
        if result.done:
            outcome = "reached the targets"
        else:
            outcome = result.message or "stopped"
        yield self.view(state), f"{status_line(result, settings.max_steps)} — {outcome}.", points_table(state.points)

    def stop(self, state: DragState) -> str:
        """Ask this visitor's running drag to stop after its current step (runs beside the stream)."""
        if state.session is None or not state.running:
            return "Nothing is running."
        state.session.stop()
        return "Stopping after the current step…"

    def undo_drag(self, state: DragState):
        if state.session is None:
            return gr.skip(), NO_IMAGE, gr.skip()
        if state.running:
            return gr.skip(), BUSY, gr.skip()
        undone = state.session.undo()
        state.rendered()
        if undone:
            state.landmarks = None
            if state.undo_points:
                state.points = state.undo_points.pop()
        message = "Undid the last drag." if undone else "Nothing to undo."
        return self.view(state), message, points_table(state.points)

    def reset_image(self, state: DragState):
        if state.session is None:
            return gr.skip(), NO_IMAGE, gr.skip(), gr.skip()
        if state.running:
            return gr.skip(), BUSY, gr.skip(), gr.skip()
        state.session.reset()
        state.rendered()
        state.new_image()
        return self.view(state), "Back to the original image.", points_table(state.points), \
            self.mask_background(state)

    # --- export

    def export(self, state: DragState):
        """The current image as PNG, the recorded drag as MP4 and GIF, and the latent as .npy."""
        if state.session is None:
            return None, NO_IMAGE
        remove_old_exports()
        folder = EXPORT_DIR / uuid.uuid4().hex
        folder.mkdir(parents=True)
        session = state.session
        frames = session.frames or [state.image]
        files = [save_png(state.image, folder / "drag_final.png"),
                 session.save_latent(folder / "drag_latent.npy"),
                 export_video(frames, folder / "drag.mp4"), export_video(frames, folder / "drag.gif")]
        message = (f"Exported the final image, {len(frames)} frame{'s' * (len(frames) != 1)} of the last drag "
                   "as MP4 and GIF, and the latent.")
        return [str(f) for f in files], message


# ----------------------------------------------------------------------------- segmentation tab

def read_photo(upload: dict) -> np.ndarray:
    """An uploaded file as RGB uint8 (EXIF rotation applied); a ValueError naming the file if it is no image."""
    name = upload.get("orig_name") or Path(upload.get("path") or "upload").name
    try:
        with Image.open(upload["path"]) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, KeyError, TypeError, Image.DecompressionBombError) as err:
        raise ValueError(f"'{name}' is not a readable image ({type(err).__name__}). "
                         "Upload a JPEG, PNG or WebP photo.") from None
    try:
        return segmentation.model.as_rgb(rgb)
    except ValueError as err:
        raise ValueError(f"'{name}': {err}") from None


class SegmentationTab:
    """Facade photo -> label map, overlay and legend, with the model loaded once for everyone."""

    def __init__(self, weights: Path, device: torch.device):
        try:
            self.model = segmentation.load_model(weights, device=device)
            self.notice = ""
        except (OSError, ValueError) as err:
            self.model = None
            self.notice = f"⚠️ The segmentation model is not available: {err}"

    def segment(self, photo: dict | None, opacity: float):
        """Returns (label map, overlay, legend HTML, status, (photo, labels) kept for the opacity slider).

        `photo` is the upload's raw file record (the event runs with preprocess=False), so that a file
        that is not an image gets a readable message here instead of failing inside Gradio.
        """
        if not photo:
            return None, None, "", "Upload a facade photo or pick an example.", None
        try:
            rgb = read_photo(photo)
        except ValueError as err:
            gr.Warning(str(err))
            return None, None, "", f"⚠️ {err}", None
        if self.model is None:
            return None, None, "", self.notice, None
        classes = self.model.predict_classes(rgb)
        labels = self.model.palette[classes]
        legend = legend_html(self.model.class_names, self.model.palette, self.model.class_shares(classes))
        height, width = classes.shape
        return labels, blend(rgb, labels, opacity), legend, f"Segmented a {width}×{height} photo.", (rgb, labels)

    @staticmethod
    def reblend(kept, opacity: float):
        if kept is None:
            return gr.skip()
        photo, labels = kept
        return blend(photo, labels, opacity)


# ----------------------------------------------------------------------------- the app

CSS = """
.legend td, .legend th { padding: 2px 8px; }
"""


def build_app(config: AppConfig) -> gr.Blocks:
    """The two-tab Blocks app. Nothing per-visitor is kept here: that lives in gr.State."""
    models = ModelCache(config.device)
    drag = DragTab(models)
    seg = SegmentationTab(config.segmentation_weights, config.device)

    notice = ""
    first_model = DEMO_MODEL if config.demo else config.model
    if not config.demo:
        print(f"Loading the drag model '{first_model}' (a registry model downloads once, ~360 MB)…", flush=True)
        try:
            models.get(first_model)
        except CheckpointError as err:
            notice = (f"⚠️ **The drag model '{first_model}' is not available.** {err}\n\n"
                      "Until then the drag tab runs on an **untrained demo generator** (random weights): "
                      "its images are colour blobs, not faces, but dragging works.")
            first_model = DEMO_MODEL
    if first_model == DEMO_MODEL and not notice:
        notice = "Running the **untrained demo generator** (random weights): colour blobs, not faces."
    choices = [DEMO_MODEL] + [m for m in list_models() if m != DEMO_MODEL]
    if first_model not in choices:
        choices.append(first_model)

    with gr.Blocks(title="GAN image editor", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# GAN image editor\nDrag points on a StyleGAN2 image (DragGAN), or segment a building "
                    "facade into its parts (pix2pix).")
        with gr.Tab("Drag", id="drag"):
            state = gr.State(DragState(), delete_callback=lambda s: s.session.stop() if s.running else None)
            gr.Markdown(notice, elem_id="model-notice", visible=bool(notice))
            with gr.Row():
                with gr.Column(scale=2):
                    image = gr.Image(label="Click: handle (red), then target (blue)", type="numpy",
                                     interactive=False, format="webp", elem_id="drag-image",
                                     buttons=["download", "fullscreen"])
                    status = gr.Markdown("Loading…", label="drag status", elem_id="drag-status")
                    with gr.Row():
                        start = gr.Button("Start", variant="primary", elem_id="start")
                        stop = gr.Button("Stop", variant="stop", elem_id="stop")
                        undo_drag = gr.Button("Undo drag")
                        reset_image = gr.Button("Reset image")
                    with gr.Row():
                        undo_point = gr.Button("Undo last point", size="sm")
                        clear_points = gr.Button("Clear points", size="sm")
                    table = gr.Dataframe(headers=POINT_COLUMNS, datatype="number", column_count=4,
                                         label="Points (pixels of the generated image; editable)",
                                         interactive=True, elem_id="points")
                with gr.Column(scale=1):
                    with gr.Accordion("Settings", open=True):
                        model = gr.Dropdown(choices, value=first_model, label="Model",
                                            info="Registry names and files in checkpoints/")
                        with gr.Row():
                            seed = gr.Number(0, label="Seed", precision=0)
                            space = gr.Radio(["W+", "W"], value="W+", label="Latent space", info="read at Start")
                        psi = gr.Slider(0.0, 1.5, 0.7, step=0.05, label="Truncation ψ")
                        lr = gr.Number(2e-3, label="Learning rate", step=1e-3)
                        max_steps = gr.Slider(1, 2000, 200, step=1, label="Max steps")
                        new_image = gr.Button("New image")
                    with gr.Accordion("Landmarks and presets", open=True):
                        detect = gr.Button("Detect landmarks", elem_id="detect")
                        strength = gr.Slider(0.0, 1.0, 0.7, step=0.05, label="Strength")
                        with gr.Row():
                            preset_buttons = {name: gr.Button(name.capitalize(), size="sm", min_width=110,
                                                              elem_id="preset-" + name.replace(" ", "-"))
                                              for name in PRESETS}
                    with gr.Accordion("Mask (flexible region)", open=False):
                        gr.Markdown("Paint where the image may change; the rest is held in place. "
                                    "No paint = everything may move.")
                        editor = gr.ImageEditor(type="numpy", label="Brush", layers=False, transforms=(),
                                                sources=(), brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"),
                                                elem_id="mask-editor")
                        with gr.Row():
                            show_mask = gr.Checkbox(False, label="Show mask")
                            reset_mask = gr.Button("Reset mask", size="sm")
                    with gr.Accordion("Export", open=False):
                        export = gr.Button("Export PNG, MP4, GIF and latent")
                        files = gr.File(label="Downloads", file_count="multiple", interactive=False)

            settings = [model, seed, psi, lr, max_steps, space]
            view = [image, status, table]
            gr.on([demo.load, new_image.click, model.input, seed.submit, psi.release],
                  drag.new_image, [state, *settings], [*view, editor, model], api_name="new_image")
            image.select(drag.add_point, state, view, api_visibility="private")
            table.input(drag.edit_points, [state, table], view, api_visibility="private")
            undo_point.click(drag.undo_point, state, view, api_name="undo_point")
            clear_points.click(drag.clear_points, state, view, api_name="clear_points")
            editor.input(drag.update_mask, [state, editor, show_mask], [image, status], api_visibility="private")
            show_mask.input(drag.update_mask, [state, editor, show_mask], [image, status], api_visibility="private")
            reset_mask.click(drag.reset_mask, state, [editor, image, status], api_visibility="private")
            detect.click(drag.detect, state, [image, status], api_name="detect_landmarks")
            for name, button in preset_buttons.items():
                button.click(drag.preset(name), [state, strength], view, api_name="preset_" + name.replace(" ", "_"))
            start.click(drag.start, [state, *settings, table, editor], view, api_name="start",
                        concurrency_limit=config.max_drags, concurrency_id="drag")
            stop.click(drag.stop, state, status, api_name="stop", concurrency_limit=None)
            undo_drag.click(drag.undo_drag, state, view, api_name="undo_drag")
            reset_image.click(drag.reset_image, state, [*view, editor], api_name="reset_image")
            export.click(drag.export, state, [files, status], api_name="export")

        with gr.Tab("Segmentation", id="segmentation"):
            kept = gr.State(None)
            gr.Markdown(seg.notice, visible=bool(seg.notice), elem_id="seg-notice")
            with gr.Row():
                photo = gr.Image(label="Facade photo", type="numpy", sources=["upload", "clipboard"],
                                 elem_id="seg-photo")
                labels = gr.Image(label="Label map", interactive=False, format="png", elem_id="seg-labels")
                overlay = gr.Image(label="Overlay", interactive=False, format="png", elem_id="seg-overlay")
            with gr.Row():
                with gr.Column(scale=2):
                    opacity = gr.Slider(0.0, 1.0, 0.5, step=0.05, label="Overlay opacity")
                    seg_status = gr.Markdown("Upload a facade photo or pick an example.",
                                             label="segmentation status", elem_id="seg-status")
                    if EXAMPLES:
                        gr.Examples([[str(p)] for p in EXAMPLES], inputs=photo, elem_id="seg-examples",
                                    label="Example facades (CMP Facade Database, research use)")
                legend = gr.HTML(elem_id="seg-legend")
            photo.change(seg.segment, [photo, opacity], [labels, overlay, legend, seg_status, kept],
                         api_name="segment", preprocess=False)
            opacity.change(seg.reblend, [kept, opacity], overlay, api_visibility="private")
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port to serve on (default 7860)")
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where the generators run (auto: CUDA, else MPS, else CPU)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="drag tab's first model: a registry name or a checkpoint file")
    parser.add_argument("--demo", action="store_true", default=os.environ.get("DRAGGAN_DEMO") == "1",
                        help="use only the untrained demo generator (also: DRAGGAN_DEMO=1)")
    parser.add_argument("--segmentation-weights", type=Path, default=segmentation.model.DEFAULT_WEIGHTS,
                        help="facades checkpoint (.safetensors) for the segmentation tab")
    parser.add_argument("--max-drags", type=int, default=2, help="drags optimised at once over all visitors")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        device = pick_device(None if args.device == "auto" else args.device)
    except ValueError as err:
        raise SystemExit(f"--device {args.device}: {err}") from None
    config = AppConfig(device=device, model=args.model, demo=args.demo,
                       segmentation_weights=args.segmentation_weights, max_drags=max(1, args.max_drags))
    build_app(config).launch(server_port=args.port, share=args.share, css=CSS, theme=gr.themes.Soft())


if __name__ == "__main__":
    main()
