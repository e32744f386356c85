"""The drag tab: DragGAN point dragging, as widgets over the visitor's `editor.Editor`.

Each handler is a plain function of (the visitor's Editor, widget values) -> widget values, testable without
a browser: it checks what the page sent, calls the editor and shows the result (ui/editor_view.py). The
editor does the work; a refused edit answers in the status line. The layout is a few small panel functions
and `build` wires them; the "Your own photo" panel (ui/photo_panel.py) is laid out in the same column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import gradio as gr
from pydantic import ValidationError

from draggan.registry import drag_config, model_label
from draggan.session import TRUNCATION_PSI
from editor import DragSettings, DragUpdate, Editor, Refused, Shared, explain
from editor.checks import DRAG, latent_space
from editor.controller import NO_FACE
from editor.models import ModelCache
from editor.tuned import TunedCopies
from presets import PRESETS
from ui import photo_panel
from ui.editor_view import (
    POINT_COLUMNS,
    answers,
    image_pixel,
    mask_background,
    points_from_table,
    points_view,
    view,
)
from ui.images import mask_from_editor
from ui.lanes import SlowLane, StepLimits, session_of
from ui.outputs import unique_outputs
from ui.payloads import click_position, readable_payload


def parse_settings(model, seed, psi, lr, max_steps, space, choices: list[str] | None = None) -> DragSettings:
    """The settings panel's values, checked; with `choices`, the model must be one of them (the events read raw
    values, so gradio's own check of the dropdown is off). A Refused names each bad field."""
    try:
        return DragSettings.model_validate({"model": model or "", "seed": seed, "truncation_psi": psi, "lr": lr,
                                            "max_steps": max_steps, "latent_space": space},
                                           context={"choices": choices})
    except ValidationError as err:
        raise Refused(explain(err, "settings")) from None


LR_INFO, SPACE_INFO = "set for each model", "read at Start"
SLIDE_INFO = "unused: this model's drags slide its features"


def model_lr(model) -> float:
    """The Learning rate box's value for a model: its registry entry's drag settings, else DragConfig()'s."""
    return drag_config(model).lr


def latent_boxes(model) -> tuple[dict, dict]:
    """The Learning rate and Latent space boxes' settings for a model: its learning rate, and both greyed out, saying
    why, where its drags slide a block's features instead of optimising the latent (`DragConfig.feature_res`)."""
    latent = drag_config(model).feature_res is None
    return (dict(value=model_lr(model), interactive=latent, info=LR_INFO if latent else SLIDE_INFO),
            dict(interactive=latent, info=SPACE_INFO if latent else SLIDE_INFO))


def painted(editor_value):
    """The mask editor's value as the editor's mask reader: image size (w, h) -> painted mask."""
    return lambda size: mask_from_editor(editor_value, size)


@dataclass
class DragTab:
    """The drag tab's handlers over each visitor's Editor; `choices` are the models offered (None: any name).
    Drags pass `lane` (one per client, a bounded wait) and `limits` (steps per job)."""
    choices: list[str] | None = None
    lane: SlowLane = field(default_factory=SlowLane)
    limits: StepLimits = field(default_factory=StepLimits)

    @answers(outputs=5)
    def new_image(self, ed: Editor, model, seed, psi, lr, max_steps, space):
        """Render the image of (model, seed, ψ); forgets points, mask and history.

        Returns (image, status, points table, mask editor, model dropdown)."""
        ed.ready(needs_image=False)
        settings = parse_settings(model, seed, psi, lr, max_steps, space, self.choices)
        try:
            message = ed.new_image(settings)
        except Refused as err:  # Keep the current image, and put the dropdown back on its model.
            if err.warn:
                gr.Warning(str(err))
            return gr.skip(), str(err), gr.skip(), gr.skip(), ed.model or gr.skip()
        return *points_view(ed, message), mask_background(ed), gr.skip()

    @answers(outputs=3)
    def add_point(self, ed: Editor, evt: gr.SelectData):
        """A click on the (enlarged) image: alternately a handle and a target."""
        ed.ready()
        try:
            x, y = image_pixel(ed, *click_position(evt))
        except ValueError as err:
            raise Refused(f"Invalid point: {err}") from None
        return points_view(ed, ed.add_point(x, y))

    @answers(outputs=3)
    def edit_points(self, ed: Editor, table):
        """The points table was edited by hand: its rows become the points, if they are valid."""
        ed.ready()
        try:
            points = points_from_table(table)
        except ValueError as err:
            raise Refused(f"Invalid points table: {err}") from None
        return points_view(ed, ed.set_points(points))

    @answers(outputs=3)
    def undo_point(self, ed: Editor):
        return points_view(ed, ed.undo_point())

    @answers(outputs=3)
    def clear_points(self, ed: Editor):
        return points_view(ed, ed.clear_points())

    @staticmethod
    def update_mask(ed: Editor, editor_value, show: bool):
        """Keep the painted flexible region (white brush); tint the fixed part when 'show mask' is on."""
        try:
            message = ed.set_mask(painted(editor_value), show)
        except Refused as err:
            return (gr.skip(), gr.skip()) if ed.session is None else (gr.skip(), str(err))
        return view(ed), message

    @answers(outputs=3, status=2)
    def reset_mask(self, ed: Editor):
        message = ed.reset_mask()
        return mask_background(ed), view(ed), message

    @answers(outputs=2)
    def detect(self, ed: Editor):
        """68 landmarks of the largest face in the current image, drawn in yellow."""
        message = ed.detect()
        if message == NO_FACE:
            gr.Warning("No face found in this image.")
        return view(ed), message

    def preset(self, name: str):
        """The click handler of one preset button."""
        def apply(ed: Editor, strength: float):
            return self.apply_preset(name, ed, strength)
        apply.__name__ = "preset_" + name.replace(" ", "_")
        return apply

    @answers(outputs=3)
    def apply_preset(self, name: str, ed: Editor, strength: float):
        """Handles and targets from the landmarks (detected first if needed) for the named expression. The slider
        is read unprocessed: what an API client sends instead of a number gets a sentence, not gradio's dump."""
        try:
            strength = float(strength)
        except (TypeError, ValueError):
            raise Refused(f"Preset '{name}': the strength must be a number from 0 to 1, "
                          f"got {str(strength)[:20]!r}") from None
        message = ed.apply_preset(name, strength)
        return (view(ed), message, gr.skip()) if ed.landmarks is None else points_view(ed, message)

    @answers(outputs=3)
    def start(self, ed: Editor, model, seed, psi, lr, max_steps, space, table, editor_value,
              request: gr.Request = None):
        """Stream the drag: a frame and a status line per step, until the targets are reached, the step limit,
        or Stop. Yields (image, status, points table)."""
        ed.ready(needs_image=False)
        settings = parse_settings(model, seed, psi, lr, max_steps, space, self.choices)
        self.limits.check("drag", settings.max_steps, self.limits.drag, "--max-drag-steps")
        try:
            points = points_from_table(table) if table is not None else None
        except ValueError as err:
            raise Refused(f"Invalid points table: {err}") from None
        paint = painted(editor_value) if editor_value is not None else None
        final: DragUpdate | None = None
        with self.lane.admitted(self.lane.client(request), "drag", settings.max_steps, session_of(request)):
            for update in ed.drag(settings, points, paint):
                if update.final:
                    final = update
                else:
                    yield view(ed, update.frame), update.status, gr.skip()
        if final is not None:  # Said once the lane's slot is free: a client may start again the moment it reads it.
            yield points_view(ed, final.status)

    def stop(self, ed: Editor, request: gr.Request = None) -> str:
        """Ask this visitor's running drag or inversion to stop after its current step, or take their job out of
        the waiting line (runs outside every queue)."""
        if not ed.running and self.lane.cancel(session_of(request)):
            return "Stopped: the job had not started yet."
        return ed.stop()

    @answers(outputs=3)
    def undo_drag(self, ed: Editor):
        """Back to the latent before the last drag, with that drag's points."""
        return points_view(ed, ed.undo())

    @answers(outputs=4)
    def reset_image(self, ed: Editor):
        return *points_view(ed, ed.reset()), mask_background(ed)

    @answers(outputs=2)
    def export(self, ed: Editor, request: gr.Request = None):
        """The current image as PNG, the recorded drag as MP4 and GIF, and the latent as .npy or .npz (in the
        visitor's session folder, deleted with the session)."""
        return ed.export(getattr(request, "session_hash", None))


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
    w.table = readable_payload(
        gr.Dataframe(headers=POINT_COLUMNS, datatype="number", column_count=4,
                     label="Points (pixels of the generated image; editable)", interactive=True, elem_id="points"),
        "the points table", "a table: {'headers': [...], 'data': [[handle x, handle y, target x, target y], ...]}")


def settings_panel(w: SimpleNamespace, choices: list[str], model: str, limits: StepLimits) -> None:
    """Model, seed, ψ and the drag's settings, their initial values from `DragConfig()` (the learning rate from the
    model's registry entry, where it has one)."""
    lr_box, space_box = latent_boxes(model)
    with gr.Accordion("Settings", open=True):
        w.model = gr.Dropdown([(model_label(c), c) for c in choices], value=model, label="Model",
                              info="What the generator draws; your files in checkpoints/ are listed too")
        with gr.Row():
            w.seed = gr.Number(0, label="Seed", precision=0)
            w.space = gr.Radio(["W+", "W"], value=latent_space(DRAG.w_plus), label="Latent space", **space_box)
        w.psi = gr.Slider(0.0, 1.5, TRUNCATION_PSI, step=0.05, label="Truncation ψ")
        w.lr = gr.Number(label="Learning rate", step=1e-3, **lr_box)
        w.max_steps = gr.Slider(1, limits.drag, min(DRAG.max_steps, limits.drag), step=1, label="Max steps",
                                info=f"at most {limits.drag} on this server")
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
        w.editor = readable_payload(
            gr.ImageEditor(type="numpy", label="Brush", layers=False, transforms=(), sources=(),
                           brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"), elem_id="mask-editor"),
            "the mask", "an image editor value: {'background': file, 'layers': [files], 'composite': file}")
        with gr.Row():
            w.show_mask = gr.Checkbox(False, label="Show mask")
            w.reset_mask = gr.Button("Reset mask", size="sm")


def export_panel(w: SimpleNamespace) -> None:
    with gr.Accordion("Export", open=False):
        w.export = gr.Button("Export PNG, MP4, GIF and latent")
        w.files = gr.File(label="Downloads", file_count="multiple", interactive=False)


def wire(demo: gr.Blocks, tab: DragTab, w: SimpleNamespace) -> None:
    """The events of the drag tab, with the api_name of each public endpoint."""
    settings = [w.model, w.seed, w.psi, w.lr, w.max_steps, w.space]
    view_outputs = [w.image, w.status, w.table]
    mask = [w.state, w.editor, w.show_mask]
    # new_image and start read their inputs unprocessed (raw JSON values, the table as a dict, mask layers as
    # files): what gradio would refuse ({"error": null} for an API client) is checked by the handlers instead,
    # with messages that name the field, row or layer. Every image goes out in a file of its own (ui/outputs.py).
    gr.on([demo.load, w.new_image.click, w.model.input, w.seed.submit, w.psi.release],
          unique_outputs(tab.new_image), [w.state, *settings], [*view_outputs, w.editor, w.model],
          api_name="new_image", preprocess=False)
    w.model.input(lambda model: tuple(gr.update(**box) for box in latent_boxes(model)), w.model, [w.lr, w.space],
                  api_visibility="private", queue=False)
    w.image.select(unique_outputs(tab.add_point), w.state, view_outputs, api_visibility="private")
    w.table.input(unique_outputs(tab.edit_points), [w.state, w.table], view_outputs, api_visibility="private")
    w.undo_point.click(unique_outputs(tab.undo_point), w.state, view_outputs, api_name="undo_point")
    w.clear_points.click(unique_outputs(tab.clear_points), w.state, view_outputs, api_name="clear_points")
    for trigger in (w.editor.input, w.show_mask.input):
        trigger(unique_outputs(tab.update_mask), mask, [w.image, w.status], api_visibility="private",
                preprocess=False)  # layers as file records: checked on the header before they are decoded
    w.reset_mask.click(unique_outputs(tab.reset_mask), w.state, [w.editor, w.image, w.status],
                       api_visibility="private")
    w.detect.click(unique_outputs(tab.detect), w.state, [w.image, w.status], api_name="detect_landmarks")
    for name, button in w.presets.items():
        button.click(unique_outputs(tab.preset(name)), [w.state, w.strength], view_outputs,
                     api_name="preset_" + name.replace(" ", "_"), preprocess=False)
    # Slow jobs wait in tab.lane, not in gradio's queue (ui/lanes.py); Stop runs outside every queue.
    w.start.click(unique_outputs(tab.start), [w.state, *settings, w.table, w.editor], view_outputs,
                  api_name="start", concurrency_limit=None, preprocess=False)
    w.stop.click(tab.stop, w.state, w.status, api_name="stop", queue=False)
    w.undo_drag.click(unique_outputs(tab.undo_drag), w.state, view_outputs, api_name="undo_drag")
    w.reset_image.click(unique_outputs(tab.reset_image), w.state, [*view_outputs, w.editor],
                        api_name="reset_image")
    w.export.click(tab.export, w.state, [w.files, w.status], api_name="export")


def build(demo: gr.Blocks, models: ModelCache, choices: list[str], model: str, notice: str, max_tuned: int,
          limits: StepLimits, lane: SlowLane) -> SimpleNamespace:
    """The drag tab inside `demo`: layout, then events. Returns its widgets. Drags and inversions share `lane`,
    their step counts capped by `limits`; at most `max_tuned` PTI tunings stay in memory."""
    tab = DragTab(choices, lane, limits)
    shared = Shared(models, TunedCopies(max_tuned), choices)
    w = SimpleNamespace()
    with gr.Tab("Drag", id="drag"):
        w.state = gr.State(Editor(shared), delete_callback=Editor.stop)
        gr.Markdown(notice, elem_id="model-notice", visible=bool(notice))
        with gr.Row():
            with gr.Column(scale=2):
                image_column(w)
            with gr.Column(scale=1):
                w.photo = photo_panel.layout(limits, model)
                settings_panel(w, choices, model, limits)
                presets_panel(w)
                mask_panel(w)
                export_panel(w)
    wire(demo, tab, w)
    photo_panel.wire(demo, shared, w.photo, w.state, model=w.model,
                     drag_outputs=[w.image, w.status, w.table, w.editor], lane=tab.lane, limits=limits)
    return w
