"""The drag tab's "Your own photo" panel: upload, choose a face, invert, as widgets over the visitor's Editor.

The editor does the work (editor/photo.py: faces, the aligned crop, the inversion); the handlers here check
what the page sent and show the photo with its numbered faces, the crop and the status. `layout` places the
panel's widgets, `wire` hangs its events on them and on the drag tab's image, status, table and mask editor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image
from pydantic import ValidationError

import landmarks
from draggan.inversion import InversionProgress
from draggan.registry import invert_config
from editor import Editor, InvertSettings, Refused, Shared, explain
from editor.controller import NO_PHOTO
from editor.photo import PhotoEdit, progress_line
from ui.editor_view import answers, mask_background, points_view
from ui.images import display_scale, enlarge
from ui.lanes import SlowLane, StepLimits, session_of
from ui.outputs import unique_outputs
from ui.payloads import click_position, readable_payload
from ui.visitor_files import visitor_file

SHOWN_PHOTO_SIDE = 1024   # The photo with its numbered face boxes is sent to the page at most this large.


def faces_view(photo: PhotoEdit) -> np.ndarray:
    """The photo with numbered face boxes (the chosen one green), at most SHOWN_PHOTO_SIDE px for the page."""
    drawn = landmarks.draw_faces(photo.photo, list(photo.faces), chosen=photo.number)
    height, width = drawn.shape[:2]
    factor = SHOWN_PHOTO_SIDE / max(height, width)
    if factor >= 1:
        return drawn
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(drawn).resize(small, Image.Resampling.LANCZOS))


def crop_view(crop: np.ndarray) -> np.ndarray:
    """The aligned crop, enlarged like the drag image when small."""
    return enlarge(crop, display_scale(crop.shape[1], crop.shape[0]))


def found_view(ed: Editor, message: str) -> tuple:
    """(photo with numbered faces, status, aligned crop, face number: kept as it was for a centre square)."""
    return faces_view(ed.photo), message, crop_view(ed.photo.aligned.image), ed.photo.number or gr.skip()


@dataclass
class PhotoPanel:
    """The panel's handlers: plain functions of (the visitor's Editor, widget values) -> widget values.
    Inversions pass `lane` with the drags (one slow job per client) and `limits` (steps per job)."""
    lane: SlowLane = field(default_factory=SlowLane)
    limits: StepLimits = field(default_factory=StepLimits)

    @staticmethod
    @answers(outputs=4)
    def upload(ed: Editor, upload: Any, model, number):
        """A new photo (gradio's file record: the event runs unprocessed): its faces found, the chosen one aligned
        for the current model. No face, or a file that is no image: a message, and nothing else changes.

        Returns (photo with numbered faces, status, aligned crop, face number)."""
        if not upload:
            raise Refused(NO_PHOTO)
        try:
            path, name = visitor_file(upload, "the photo", "an uploaded image file")
        except ValueError as err:
            raise Refused(f"⚠️ {err}", warn=True) from None
        return found_view(ed, ed.upload(path, name, model, number))

    @staticmethod
    def choose_face(ed: Editor, number):
        """Align another face of the uploaded photo (numbers as drawn on it)."""
        try:
            return found_view(ed, ed.choose_face(number))
        except Refused as err:
            return gr.skip(), str(err), gr.skip(), ed.photo.number if ed.photo is not None else gr.skip()

    @staticmethod
    @answers(outputs=4)
    def pick_face(ed: Editor, evt: gr.SelectData):
        """A click on the photo with the numbered boxes chooses the face under it (the smallest box, if nested)."""
        ed.ready(needs_image=False)
        if ed.photo is None:
            raise Refused(NO_PHOTO)
        height, width = ed.photo.photo.shape[:2]
        try:
            x, y = (v * max(1.0, max(height, width) / SHOWN_PHOTO_SIDE) for v in click_position(evt))
        except ValueError as err:
            raise Refused(f"⚠️ {err}") from None
        number = ed.photo.face_at(x, y)
        if number is None:
            raise Refused("That click is on no face: click inside a numbered box.")
        return found_view(ed, ed.choose_face(number))

    @answers(outputs=4)
    def invert(self, ed: Editor, steps, pti_steps, request: gr.Request = None, progress=gr.Progress()):
        """W+ projection (then PTI, if asked) and the ToRGB fit of the aligned crop; the drag session then starts from
        that latent.

        Returns (image, status, points table, mask editor)."""
        try:
            settings = InvertSettings.model_validate({"steps": steps, "pti_steps": pti_steps})
        except ValidationError as err:
            raise Refused(explain(err, "inversion settings")) from None
        self.limits.check("projection", settings.steps, self.limits.invert, "--max-invert-steps")
        self.limits.check("PTI", settings.pti_steps, self.limits.pti, "--max-pti-steps")

        def report(p: InversionProgress) -> None:
            progress((p.step, p.total), desc=progress_line(p))

        ed.ready(needs_image=False)
        config = invert_config(ed.photo.model if ed.photo is not None else None)
        steps = settings.steps + settings.pti_steps + config.torgb_steps + config.feature_steps  # the progress bar's
        with self.lane.admitted(self.lane.client(request), "invert", steps, session_of(request)):
            message = ed.invert(settings, report, getattr(request, "session_hash", None))
        return *points_view(ed, message), mask_background(ed)


# ----------------------------------------------------------------------------- layout and events

def step_counts(model, limits: StepLimits) -> tuple[int, int]:
    """The step boxes' values for a model: its inversion settings (`invert_config`), within this server's limits."""
    config = invert_config(model)
    return min(config.steps, limits.invert), min(config.pti_steps, limits.pti)


def invert_label(model) -> str:
    """The Invert button for a model: the stages its recipe always runs (PTI is the box's)."""
    offset = " and a feature offset" if invert_config(model).feature_steps else ""
    return f"Invert (W+ projection, then ToRGB fit{offset})"


def layout(limits: StepLimits, model: str) -> SimpleNamespace:
    """Upload beside the faces found; the aligned crop beside the face number and step counts; Invert."""
    p = SimpleNamespace()
    with gr.Accordion("Your own photo", open=True):
        with gr.Row():
            p.photo = readable_payload(gr.Image(label="Photo (any size)", type="filepath",
                                                sources=["upload", "clipboard"], height=200, elem_id="photo-upload"),
                                       "the photo", "an uploaded image file (gradio_client: handle_file(path))")
            p.faces = gr.Image(label="Faces (click one to choose)", interactive=False, height=200,
                               elem_id="photo-faces")
        with gr.Row():
            p.crop = gr.Image(label="Aligned crop", interactive=False, height=200, elem_id="photo-crop")
            with gr.Column(min_width=120):
                p.face_number = gr.Number(1, label="Face (1 = largest)", precision=0, minimum=1,
                                          elem_id="face-number")
                steps, pti_steps = step_counts(model, limits)
                p.invert_steps = gr.Number(steps, label="Projection steps",
                                           precision=0, minimum=1, maximum=limits.invert,
                                           info=f"at most {limits.invert} here", elem_id="invert-steps")
                p.pti_steps = gr.Number(pti_steps, label="PTI steps", precision=0,
                                        minimum=0, maximum=limits.pti, info=f"at most {limits.pti} here",
                                        elem_id="pti-steps")
        p.invert = gr.Button(invert_label(model), variant="primary", elem_id="invert")
    return p


def wire(demo: gr.Blocks, shared: Shared, p: SimpleNamespace, state: gr.State, model: gr.Dropdown,
         drag_outputs: list, lane: SlowLane, limits: StepLimits) -> None:
    """The panel's events. `drag_outputs` are the drag tab's (image, status, points table, mask editor): the
    panel reports in that status, and Invert shows its result there. Invert waits in the drags' `lane`."""
    panel = PhotoPanel(lane, limits)
    status = drag_outputs[1]
    found = [p.faces, status, p.crop, p.face_number]
    p.photo.upload(unique_outputs(PhotoPanel.upload), [state, p.photo, model, p.face_number], found,
                   api_name="upload_photo", preprocess=False)
    # The step and face numbers are read unprocessed: NaN or a word from an API client gets a sentence that names
    # the field (the handlers check them), not gradio's "Could not preprocess input component".
    p.face_number.input(unique_outputs(PhotoPanel.choose_face), [state, p.face_number], found,
                        api_name="choose_face", preprocess=False)
    p.faces.select(unique_outputs(PhotoPanel.pick_face), state, found, api_visibility="private")
    model.input(lambda choice: (*step_counts(choice, limits), invert_label(choice)), model,
                [p.invert_steps, p.pti_steps, p.invert], api_visibility="private", queue=False)
    p.invert.click(unique_outputs(panel.invert), [state, p.invert_steps, p.pti_steps], drag_outputs,
                   api_name="invert", concurrency_limit=None, preprocess=False)

    def leave(request: gr.Request):
        """The visitor closed the page: free their PTI tuning now rather than when gradio drops their state."""
        shared.leave(getattr(request, "session_hash", "") or "")
    demo.unload(leave)
