"""The drag tab: DragGAN point dragging on a generated image, its handlers and its layout.

Handlers are plain functions of (the visitor's DragState, widget values) -> widget values, testable
without a browser. The layout is a few small panel functions that fill one namespace of widgets,
and `build` wires them, so a new panel is one function and a few lines of wiring.
"""

from __future__ import annotations

import functools
import inspect
from types import SimpleNamespace

import gradio as gr
import numpy as np
from pydantic import ValidationError

import landmarks
from common import gpu
from draggan.errors import CheckpointError
from draggan.session import DragSession
from presets import PRESETS
from ui.drag_state import (
    POINT_COLUMNS,
    DragPoints,
    DragSettings,
    DragState,
    Point,
    explain,
    points_from_table,
    points_table,
)
from ui.exports import export_drag
from ui.images import display_scale, enlarge, mask_from_editor, tint_outside
from ui.outputs import unique_outputs
from ui.models import ModelCache
from ui.tuned import DEFAULT_MAX_TUNED, TunedCopies

FRAME_EVERY = 4           # A full frame is shown and kept for export every this many steps (previews between).

NO_IMAGE = "No image yet: press **New image**."
NO_POINTS = ("**Start needs points.** Click the image once for a handle (red), then once for its target "
             "(blue), or press a preset.")
NO_FACE = ("**No face found** in this image, so there are no landmarks for the presets. "
           "Try another seed or model, or place the points by clicking the image.")
BUSY = "A drag is running: press **Stop** first."


def _drag_steps(session: DragSession, handles: np.ndarray, targets: np.ndarray, **settings):
    """The steps of one drag (`DragSession.drag`), as a generator that common.gpu can put on a ZeroGPU GPU."""
    yield from session.drag(handles, targets, **settings)


run_drag = gpu(_drag_steps, duration=lambda *args, max_steps=200, **settings: min(300.0, 20.0 + 0.25 * max_steps))


def status_line(result, max_steps: int) -> str:
    """"step 12/200 · distance 8.3 px · 210 ms/step" for one optimisation step."""
    distance = float(np.max(result.distances)) if len(result.distances) else 0.0
    return f"step {result.step}/{max_steps} · distance {distance:.1f} px · {result.ms:.0f} ms/step"


def parse_settings(model, seed, psi, lr, max_steps, space, choices: list[str] | None = None) -> DragSettings:
    """The settings panel's values, checked (a pydantic ValidationError names each bad field); with `choices`,
    the model must be one of them (the events read raw values, so gradio's own check of the dropdown is off)."""
    return DragSettings.model_validate({"model": model or "", "seed": seed, "truncation_psi": psi, "lr": lr,
                                        "max_steps": max_steps, "latent_space": space},
                                       context={"choices": choices})


def guarded(outputs: int, needs_image: bool = True):
    """A handler that answers in the status (its second output) instead of acting while this visitor's drag
    runs (BUSY) or, with `needs_image`, before there is an image (NO_IMAGE); other outputs stay as they are."""
    def refusal(state: DragState) -> tuple | None:
        if needs_image and state.session is None:
            message = state.dropped or NO_IMAGE
        elif state.running:
            message = BUSY
        else:
            return None
        return tuple(message if i == 1 else gr.skip() for i in range(outputs))

    def state_of(args: tuple) -> DragState:
        return next(a for a in args if isinstance(a, DragState))

    def wrap(handler):
        if inspect.isgeneratorfunction(handler):  # a streaming handler must stay a generator for gradio
            @functools.wraps(handler)
            def stream(*args, **kwargs):
                refused = refusal(state_of(args))
                if refused:
                    yield refused
                    return
                yield from handler(*args, **kwargs)
            return stream

        @functools.wraps(handler)
        def respond(*args, **kwargs):
            return refusal(state_of(args)) or handler(*args, **kwargs)
        return respond
    return wrap


class DragTab:
    """The drag tab's handlers: plain functions of (session state, widget values) -> widget values."""

    def __init__(self, models: ModelCache, choices: list[str] | None = None):
        self.models = models
        self.choices = choices  # The dropdown's models; None accepts any name (tests, scripts).

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

    def points_view(self, state: DragState, message: str) -> tuple:
        """(image, status, points table): what most handlers show."""
        return self.view(state), message, points_table(state.points)

    # --- settings and image

    def _build_session(self, state: DragState, settings: DragSettings) -> str | None:
        """A fresh session for `settings` on the shared generator; an error message, or None when it worked."""
        try:
            generator = self.models.get(settings.model)
        except CheckpointError as err:
            return f"⚠️ {err}"
        state.session = DragSession(generator, seed=settings.seed, truncation_psi=settings.truncation_psi)
        state.model, state.edited = settings.model, None
        state.new_image()
        state.rendered()
        return None

    @guarded(outputs=5, needs_image=False)
    def new_image(self, state: DragState, model, seed, psi, lr, max_steps, space):
        """Render the image of (model, seed, ψ) for this visitor; forgets points, mask and history.

        Returns (image, status, points table, mask editor, model dropdown)."""
        try:
            settings = parse_settings(model, seed, psi, lr, max_steps, space, self.choices)
        except ValidationError as err:
            return gr.skip(), explain(err, "settings"), gr.skip(), gr.skip(), gr.skip()
        problem = self._build_session(state, settings)
        if problem:  # Keep the current image, and put the dropdown back on its model.
            gr.Warning(problem)
            return gr.skip(), problem, gr.skip(), gr.skip(), state.model or gr.skip()
        message = (f"New image: seed {settings.seed}, ψ {settings.truncation_psi:g}, {settings.latent_space}. "
                   "Click the image to add a handle (red), click again for its target (blue).")
        return *self.points_view(state, message), self.mask_background(state), gr.skip()

    # --- points

    @guarded(outputs=3)
    def add_point(self, state: DragState, evt: gr.SelectData):
        """A click: alternately a handle and a target, mapped back to the generator's pixels."""
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
        return self.points_view(state, f"Added a {role} at ({point.x:.0f}, {point.y:.0f}). {self.summary(state)}")

    @guarded(outputs=3)
    def edit_points(self, state: DragState, table):
        """The points table was edited by hand: take its rows as the new points, if they are valid."""
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
        return self.points_view(state, f"Points edited. {self.summary(state)}")

    @guarded(outputs=3)
    def undo_point(self, state: DragState):
        if state.points:
            state.points.pop()
        return self.points_view(state, f"Removed the last point. {self.summary(state)}")

    @guarded(outputs=3)
    def clear_points(self, state: DragState):
        state.points.clear()
        return self.points_view(state, "Points cleared.")

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

    @guarded(outputs=2)
    def detect(self, state: DragState):
        """68 landmarks of the largest face in the current image, drawn in yellow."""
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

    @guarded(outputs=3)
    def apply_preset(self, name: str, state: DragState, strength: float):
        """Handles and targets from the landmarks (detected first if needed) for the named expression."""
        if state.landmarks is None:
            message = self.find_landmarks(state)
            if state.landmarks is None:
                return self.view(state), message, gr.skip()
        try:
            handles, targets = PRESETS[name](state.landmarks, strength=float(strength))
        except (TypeError, ValueError) as err:  # e.g. a strength outside [0, 1] from an API client
            return gr.skip(), f"Preset '{name}': {err}", gr.skip()
        width, height = self.size(state)
        inside = np.clip(targets, 0, [width - 1, height - 1])
        moved = int(np.any(inside != targets, axis=1).sum())  # e.g. "open mouth" pulls the chin past a tight crop
        state.set_pairs(np.clip(handles, 0, [width - 1, height - 1]), inside)
        note = (f" {moved} target{'s' * (moved != 1)} lay past the image edge and {'were' if moved != 1 else 'was'} "
                "moved onto it." if moved else "")
        return self.points_view(state, f"Preset **{name}** at strength {strength:g}: {self.summary(state)}{note} "
                                       "Press Start.")

    # --- the drag

    def _pairs_for_drag(self, state: DragState, table) -> tuple[np.ndarray, np.ndarray]:
        """The complete pairs of the table (or of the clicks), checked; a ValueError holds the status message."""
        try:
            points = points_from_table(table) if table is not None else list(state.points)
        except ValueError as err:
            raise ValueError(f"Invalid points table: {err}") from None
        points = points[: 2 * (len(points) // 2)]
        if not points:
            gr.Warning("Add a handle and a target first.")
            raise ValueError(NO_POINTS)
        try:
            checked = DragPoints.model_validate({"handles": [{"x": x, "y": y} for x, y in points[0::2]],
                                                 "targets": [{"x": x, "y": y} for x, y in points[1::2]]},
                                                context={"size": self.size(state)})
        except ValidationError as err:
            raise ValueError(explain(err, "points")) from None
        state.points = points
        return checked.as_arrays()

    @guarded(outputs=3, needs_image=False)
    def start(self, state: DragState, model, seed, psi, lr, max_steps, space, table, editor):
        """Stream the optimisation: a frame and a status line per step, until the targets are reached,
        the step limit, or Stop. Yields (image, status, points table)."""
        try:
            settings = parse_settings(model, seed, psi, lr, max_steps, space, self.choices)
        except ValidationError as err:
            yield gr.skip(), explain(err, "settings"), gr.skip()
            return
        if state.session is None:  # An API client that never pressed "New image".
            problem = self._build_session(state, settings)
            if problem:
                yield gr.skip(), problem, gr.skip()
                return
        try:
            handles, targets = self._pairs_for_drag(state, table)
        except ValueError as err:
            yield gr.skip(), str(err), gr.skip()
            return
        state.landmarks = None  # They belong to the image before the drag.
        try:
            if editor is not None:
                state.mask = mask_from_editor(editor, self.size(state))
        except ValueError as err:
            yield gr.skip(), f"Invalid mask: {err}", gr.skip()
            return
        yield from self._stream_drag(state, handles, targets, settings)

    def _stream_drag(self, state: DragState, handles: np.ndarray, targets: np.ndarray, settings: DragSettings):
        state.running = True
        result = None
        try:
            for result in run_drag(state.session, handles, targets, mask=state.mask, max_steps=settings.max_steps,
                                   frame_every=FRAME_EVERY, lr=settings.lr, w_plus=settings.w_plus):
                state.set_pairs(result.handles, targets)
                frame = result.frame if result.frame is not None else result.preview
                yield self.view(state, frame), status_line(result, settings.max_steps), gr.skip()
        except ValueError as err:  # A point or mask the session refuses (before any step): say which.
            yield self.points_view(state, f"⚠️ {err}")
            return
        finally:
            state.running = False
            state.rendered()
        outcome = "reached the targets" if result.done else result.message or "stopped"
        yield self.points_view(state, f"{status_line(result, settings.max_steps)} — {outcome}.")

    @staticmethod
    def stop(state: DragState) -> str:
        """Ask this visitor's running drag or inversion to stop after its current step (runs beside it)."""
        if not state.running:
            return "Nothing is running."
        if state.photo is not None and state.photo.stop is not None:
            state.photo.stop.set()  # An inversion keeps what it has so far.
        elif state.session is not None:
            state.session.stop()
        return "Stopping after the current step…"

    @guarded(outputs=3)
    def undo_drag(self, state: DragState):
        """Back to the latent before the last drag, with that drag's points."""
        record = state.session.undo()
        state.rendered()
        if record is not None:
            state.landmarks = None
            if len(record.handles):  # A loaded latent's record has no points: keep the current ones.
                state.set_pairs(record.handles, record.targets)
        return self.points_view(state, "Undid the last drag." if record is not None else "Nothing to undo.")

    @guarded(outputs=4)
    def reset_image(self, state: DragState):
        state.session.reset()
        state.rendered()
        state.new_image()
        return *self.points_view(state, "Back to the original image."), self.mask_background(state)

    # --- export

    def export(self, state: DragState):
        """The current image as PNG, the recorded drag as MP4 and GIF, and the latent as .npy."""
        if state.session is None:
            return None, state.dropped or NO_IMAGE
        return export_drag(state.session, state.image, state.edited)


# ----------------------------------------------------------------------------- layout

def image_column(w: SimpleNamespace) -> None:
    """The image, the status line, the drag buttons and the points table."""
    w.image = gr.Image(label="Click: handle (red), then target (blue)", type="numpy", interactive=False,
                       format="webp", elem_id="drag-image", buttons=["download", "fullscreen"])
    w.status = gr.Markdown("Loading…", label="drag status", elem_id="drag-status")
    with gr.Row():
        w.start = gr.Button("Start", variant="primary", elem_id="start")
        w.stop = gr.Button("Stop", variant="stop", elem_id="stop")
        w.undo_drag = gr.Button("Undo drag")
        w.reset_image = gr.Button("Reset image")
    with gr.Row():
        w.undo_point = gr.Button("Undo last point", size="sm")
        w.clear_points = gr.Button("Clear points", size="sm")
    w.table = gr.Dataframe(headers=POINT_COLUMNS, datatype="number", column_count=4,
                           label="Points (pixels of the generated image; editable)", interactive=True,
                           elem_id="points")


def settings_panel(w: SimpleNamespace, choices: list[str], model: str) -> None:
    with gr.Accordion("Settings", open=True):
        w.model = gr.Dropdown(choices, value=model, label="Model", info="Registry names and files in checkpoints/")
        with gr.Row():
            w.seed = gr.Number(0, label="Seed", precision=0)
            w.space = gr.Radio(["W+", "W"], value="W+", label="Latent space", info="read at Start")
        w.psi = gr.Slider(0.0, 1.5, 0.7, step=0.05, label="Truncation ψ")
        w.lr = gr.Number(2e-3, label="Learning rate", step=1e-3)
        w.max_steps = gr.Slider(1, 2000, 200, step=1, label="Max steps")
        w.new_image = gr.Button("New image")


def presets_panel(w: SimpleNamespace) -> None:
    with gr.Accordion("Landmarks and presets", open=True):
        w.detect = gr.Button("Detect landmarks", elem_id="detect")
        w.strength = gr.Slider(0.0, 1.0, 0.7, step=0.05, label="Strength")
        with gr.Row():
            w.presets = {name: gr.Button(name.capitalize(), size="sm", min_width=110,
                                         elem_id="preset-" + name.replace(" ", "-")) for name in PRESETS}


def mask_panel(w: SimpleNamespace) -> None:
    with gr.Accordion("Mask (flexible region)", open=False):
        gr.Markdown("Paint where the image may change; the rest is held in place. No paint = everything may move.")
        w.editor = gr.ImageEditor(type="numpy", label="Brush", layers=False, transforms=(), sources=(),
                                  brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"), elem_id="mask-editor")
        with gr.Row():
            w.show_mask = gr.Checkbox(False, label="Show mask")
            w.reset_mask = gr.Button("Reset mask", size="sm")


def export_panel(w: SimpleNamespace) -> None:
    with gr.Accordion("Export", open=False):
        w.export = gr.Button("Export PNG, MP4, GIF and latent")
        w.files = gr.File(label="Downloads", file_count="multiple", interactive=False)


def wire(demo: gr.Blocks, tab: DragTab, w: SimpleNamespace, max_drags: int) -> None:
    """The events of the drag tab, with the api_name of each public endpoint."""
    settings = [w.model, w.seed, w.psi, w.lr, w.max_steps, w.space]
    view = [w.image, w.status, w.table]
    mask = [w.state, w.editor, w.show_mask]
    # new_image and start read their inputs unprocessed (raw JSON values, the table as a dict, mask layers as
    # files): what gradio would refuse ({"error": null} for an API client) is checked by the handlers instead,
    # with messages that name the field, row or layer. Every image goes out in a file of its own (ui/outputs.py).
    gr.on([demo.load, w.new_image.click, w.model.input, w.seed.submit, w.psi.release],
          unique_outputs(tab.new_image), [w.state, *settings], [*view, w.editor, w.model], api_name="new_image",
          preprocess=False)
    w.image.select(unique_outputs(tab.add_point), w.state, view, api_visibility="private")
    w.table.input(unique_outputs(tab.edit_points), [w.state, w.table], view, api_visibility="private")
    w.undo_point.click(unique_outputs(tab.undo_point), w.state, view, api_name="undo_point")
    w.clear_points.click(unique_outputs(tab.clear_points), w.state, view, api_name="clear_points")
    w.editor.input(unique_outputs(tab.update_mask), mask, [w.image, w.status], api_visibility="private")
    w.show_mask.input(unique_outputs(tab.update_mask), mask, [w.image, w.status], api_visibility="private")
    w.reset_mask.click(unique_outputs(tab.reset_mask), w.state, [w.editor, w.image, w.status],
                       api_visibility="private")
    w.detect.click(unique_outputs(tab.detect), w.state, [w.image, w.status], api_name="detect_landmarks")
    for name, button in w.presets.items():
        button.click(unique_outputs(tab.preset(name)), [w.state, w.strength], view,
                     api_name="preset_" + name.replace(" ", "_"))
    w.start.click(unique_outputs(tab.start), [w.state, *settings, w.table, w.editor], view, api_name="start",
                  concurrency_limit=max_drags, concurrency_id="drag", preprocess=False)
    w.stop.click(tab.stop, w.state, w.status, api_name="stop", concurrency_limit=None)
    w.undo_drag.click(unique_outputs(tab.undo_drag), w.state, view, api_name="undo_drag")
    w.reset_image.click(unique_outputs(tab.reset_image), w.state, [*view, w.editor], api_name="reset_image")
    w.export.click(tab.export, w.state, [w.files, w.status], api_name="export")


def build(demo: gr.Blocks, models: ModelCache, choices: list[str], model: str, notice: str,
          max_drags: int, max_tuned: int = DEFAULT_MAX_TUNED) -> SimpleNamespace:
    """The drag tab inside `demo`: layout, then events. Returns its widgets."""
    from ui.photo import PhotoPanel, photo_panel, wire_photo  # ui.photo builds on this module's DragTab

    w = SimpleNamespace()
    with gr.Tab("Drag", id="drag"):
        w.state = gr.State(DragState(), delete_callback=DragTab.stop)
        gr.Markdown(notice, elem_id="model-notice", visible=bool(notice))
        with gr.Row():
            with gr.Column(scale=2):
                image_column(w)
            with gr.Column(scale=1):
                photo_panel(w)
                settings_panel(w, choices, model)
                presets_panel(w)
                mask_panel(w)
                export_panel(w)
    tab = DragTab(models, choices)
    wire(demo, tab, w, max_drags)
    wire_photo(demo, PhotoPanel(tab, TunedCopies(max_tuned)), w, max_drags)
    return w
