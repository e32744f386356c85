"""The drag tab's "Your own photo" panel: upload, choose a face, align, invert (W+ then PTI), then drag.

A photo session is an ordinary drag session whose latent comes from `draggan.invert` and whose
generator is the visitor's tuned copy (ui/tuned.py caps how many exist). The photo and its aligned
face stay in the visitor's DragState, so the edited crop can be pasted back into the full photo.
Handlers follow the drag tab's rule: (state, widget values) -> widget values, status second.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image
from pydantic import BaseModel, Field, ValidationError

import landmarks
from common import gpu
from common.images import read_rgb
from draggan.errors import CheckpointError
from draggan.inversion import InversionProgress, invert
from draggan.session import DragSession
from ui.drag_state import DragState, explain
from ui.drag_tab import DragTab, guarded
from ui.outputs import unique_outputs
from ui.images import display_scale, enlarge
from ui.models import DEMO_MODEL
from ui.tuned import TunedCopies

MAX_PHOTO_SIDE = 4096     # Larger photos are read reduced to this (the paste-back comes out this large).
SHOWN_PHOTO_SIDE = 1024   # The photo with its numbered face boxes is sent to the page at most this large.
DEFAULT_STEPS = 100       # Projection steps: about a minute for a 512 px model on 2 CPU cores.
DEFAULT_PTI_STEPS = 30

NO_PHOTO = "Upload a photo with a face first (under **Your own photo**)."
NOT_FACES = (" The **demo generator is untrained**: it cannot draw a face, so the inverted image is only a colour "
             "blur of the photo; dragging, presets and paste-back still work on it.")


class InvertSettings(BaseModel):
    """The photo panel's step counts (errors name the field)."""
    steps: int = Field(ge=1, le=5000)          # W+ projection steps.
    pti_steps: int = Field(ge=0, le=2000)      # Pivotal-tuning steps (0: keep the shared generator).


@dataclass
class PhotoEdit:
    """One visitor's uploaded photo: its faces, the chosen one aligned for `model`, and the last inversion."""
    photo: np.ndarray                       # RGB uint8 as uploaded (EXIF rotation applied), at most MAX_PHOTO_SIDE.
    name: str                               # File name, for messages and export names.
    faces: tuple                            # landmarks.Face, largest first.
    number: int                             # Chosen face, 1 = the largest.
    aligned: landmarks.AlignedFace          # The chosen face at the generator's resolution.
    model: str                              # Model the crop was aligned for (its resolution).
    stop: Any = None                        # threading.Event of a running inversion.


def inversion_seconds(G, target, steps: int = 300, pti_steps: int = 100, **_) -> float:
    """GPU time to ask a ZeroGPU Space for: generous per-step figures for a 512-1024 px model."""
    return min(600.0, 20.0 + 0.15 * steps + 0.3 * pti_steps)


run_inversion = gpu(invert, duration=inversion_seconds)


def faces_view(photo: np.ndarray, faces, chosen: int) -> np.ndarray:
    """The photo with numbered face boxes (the chosen one green), at most SHOWN_PHOTO_SIDE px for the page."""
    drawn = landmarks.draw_faces(photo, list(faces), chosen=chosen)
    height, width = drawn.shape[:2]
    factor = SHOWN_PHOTO_SIDE / max(height, width)
    if factor >= 1:
        return drawn
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(drawn).resize(small, Image.Resampling.LANCZOS))


def crop_view(crop: np.ndarray) -> np.ndarray:
    """The aligned crop, enlarged like the drag image when small."""
    return enlarge(crop, display_scale(crop.shape[1], crop.shape[0]))


def upload_path(upload: Any) -> tuple[str, str]:
    """(path, file name) of an upload: gradio's file record (the event runs unprocessed) or a plain path."""
    path = upload.get("path") if isinstance(upload, dict) else upload if isinstance(upload, str) else None
    if not path:
        raise ValueError(f"the photo must be an uploaded image file, got {type(upload).__name__}")
    name = (upload.get("orig_name") if isinstance(upload, dict) else None) or Path(path).name
    return path, name


def face_number(value: Any, count: int) -> int:
    """The face field's value as 1..count; a ValueError names the face and how many there are."""
    try:
        number = float(1 if value is None or value == "" else value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (1 <= number <= count and number == int(number)):  # NaN fails the range check first
        raise ValueError(f"face {str(value)[:20]} does not exist: the photo has {count} face"
                         f"{'s' * (count != 1)}, numbered 1 to {count} (1 = the largest)")
    return int(number)


class PhotoPanel:
    """Handlers of the photo panel, on top of the drag tab's (models, view, points)."""

    def __init__(self, tab: DragTab, tuned: TunedCopies):
        self.tab, self.tuned = tab, tuned

    def _align(self, state: DragState, photo: np.ndarray, name: str, faces, number, model: str) -> tuple:
        """Align face `number` for `model` into state.photo; (faces view, status, crop, face number)."""
        number = face_number(number, len(faces))
        try:
            size = self.tab.models.get(model).img_resolution
        except CheckpointError as err:
            raise ValueError(str(err)) from None
        aligned = landmarks.align_face(photo, landmarks.select_face(faces, number).points, size)
        state.photo = PhotoEdit(photo=photo, name=name, faces=tuple(faces), number=number, aligned=aligned,
                                model=model)
        found = f"{len(faces)} faces; face {number} chosen (1 = the largest)" if len(faces) > 1 else "1 face"
        status = (f"**{name}**: {photo.shape[1]}×{photo.shape[0]}, {found}, aligned to {size}×{size}. "
                  "Press **Invert** to edit it.")
        return faces_view(photo, faces, number), status, crop_view(aligned.image), number

    @guarded(outputs=4, needs_image=False)
    def upload(self, state: DragState, upload, model, number):
        """A new photo: read it (size checked first, EXIF rotation applied), find its faces, align the chosen one
        for the current model. No face, or a file that is no image: a message, and nothing else changes.

        Returns (photo with numbered faces, status, aligned crop, face number)."""
        if not upload:
            return gr.skip(), NO_PHOTO, gr.skip(), gr.skip()
        try:
            path, name = upload_path(upload)
            photo = read_rgb(path, max_side=MAX_PHOTO_SIDE, name=name)
            faces = landmarks.detect_faces(photo).faces
            if not faces:
                raise landmarks.NoFaceFound(f"**No face found** in {name}. Use a photo with a clear, roughly "
                                            "frontal face at least about 80 px wide.")
            return self._align(state, photo, name, faces, number, model or state.model)
        except landmarks.BackendUnavailable as err:
            return gr.skip(), f"⚠️ Face detection cannot run here: {err}", gr.skip(), gr.skip()
        except ValueError as err:  # NoFaceFound, a bad file or face number, an unavailable model
            gr.Warning(str(err).replace("**", ""))
            return gr.skip(), f"⚠️ {err}", gr.skip(), gr.skip()

    @guarded(outputs=4, needs_image=False)
    def choose_face(self, state: DragState, number):
        """Align another face of the uploaded photo (numbers as drawn on it)."""
        photo = state.photo
        if photo is None:
            return gr.skip(), NO_PHOTO, gr.skip(), gr.skip()
        try:
            return self._align(state, photo.photo, photo.name, photo.faces, number, photo.model)
        except ValueError as err:
            return gr.skip(), f"⚠️ {err}", gr.skip(), photo.number

    @guarded(outputs=4, needs_image=False)
    def invert(self, state: DragState, steps, pti_steps, request: gr.Request = None, progress=gr.Progress()):
        """W+ projection then PTI of the aligned crop; the drag session then starts from that latent with the
        tuned generator, and the photo's landmarks (mapped into the crop) are ready for the presets.

        Returns (image, status, points table, mask editor)."""
        photo = state.photo
        if photo is None:
            return gr.skip(), NO_PHOTO, gr.skip(), gr.skip()
        try:
            settings = InvertSettings.model_validate({"steps": steps, "pti_steps": pti_steps})
        except ValidationError as err:
            return gr.skip(), explain(err, "inversion settings"), gr.skip(), gr.skip()
        try:
            generator = self.tab.models.get(photo.model)
        except CheckpointError as err:
            return gr.skip(), f"⚠️ {err}", gr.skip(), gr.skip()
        # The tuned copy is registered under the visitor's gradio session (a fresh id when called directly).
        state.visitor = getattr(request, "session_hash", None) or state.visitor or uuid.uuid4().hex
        result, seconds = self._run(state, generator, settings, progress)
        tuned = result.generator is not generator
        state.session = DragSession(result.generator, ws=result.ws)
        state.model, state.edited = photo.model, photo.aligned
        state.new_image()
        state.landmarks = photo.aligned.landmarks.copy()
        state.rendered()
        if tuned:
            self.tuned.admit(state)
        message = self._summary(result, tuned, seconds, photo)
        return *self.tab.points_view(state, message), self.tab.mask_background(state)

    def _run(self, state: DragState, generator, settings: InvertSettings, progress):
        """The inversion itself (under common.gpu), reporting step, PSNR and ETA to the progress bar."""
        def report(p: InversionProgress) -> None:
            stage = "W+ projection" if p.stage == "projection" else "PTI"
            progress((p.step, p.total), desc=f"{stage} · step {p.step}/{p.total} · PSNR {p.psnr:.1f} dB · "
                                             f"ETA {p.eta_s:.0f} s")

        state.photo.stop = threading.Event()
        state.running = True
        started = time.perf_counter()
        try:
            result = run_inversion(generator, state.photo.aligned.image, steps=settings.steps,
                                   pti_steps=settings.pti_steps, progress=report, stop=state.photo.stop)
        finally:
            state.running = False
            state.photo.stop = None
        return result, time.perf_counter() - started

    @staticmethod
    def _summary(result, tuned: bool, seconds: float, photo: PhotoEdit) -> str:
        """"Inverted face 1 of me.jpg in 130 steps (41 s): loss …; PSNR 24.1 dB (projection 19.0 dB, PTI on)." """
        stages = f"projection {result.projection_psnr:.1f} dB, then PTI" if tuned else "projection only, no PTI"
        text = (f"Inverted face {photo.number} of {photo.name} in {len(result.psnr_history)} steps ({seconds:.0f} s): "
                f"loss {result.loss}; PSNR **{result.psnr:.1f} dB** ({stages}).")
        if result.message:
            text += f" {result.message[0].upper()}{result.message[1:]}."
        text += " The photo's landmarks are drawn: press a preset or click points, then Start."
        return text + (NOT_FACES if photo.model == DEMO_MODEL else "")

    @guarded(outputs=4, needs_image=False)
    def pick_face(self, state: DragState, evt: gr.SelectData):
        """A click on the photo with the numbered boxes chooses the face under it (the smallest box, if nested)."""
        photo = state.photo
        if photo is None:
            return gr.skip(), NO_PHOTO, gr.skip(), gr.skip()
        height, width = photo.photo.shape[:2]
        x, y = (float(v) * max(1.0, max(height, width) / SHOWN_PHOTO_SIDE) for v in evt.index)
        under = [n for n, face in enumerate(photo.faces, 1)
                 if face.box[0] <= x <= face.box[2] and face.box[1] <= y <= face.box[3]]
        if not under:
            return gr.skip(), "That click is on no face: click inside a numbered box.", gr.skip(), gr.skip()
        return self._align(state, photo.photo, photo.name, photo.faces, under[-1], photo.model)

    def leave(self, request: gr.Request):
        """The visitor closed the page: free their tuned generator now rather than when gradio drops their state."""
        holder = self.tuned.release(getattr(request, "session_hash", "") or "")
        if holder is not None and not holder.running:
            holder.drop_session("")


# ----------------------------------------------------------------------------- layout and events

def photo_panel(w: SimpleNamespace) -> None:
    """Upload beside the faces found; the aligned crop beside the face number and step counts; Invert."""
    with gr.Accordion("Your own photo", open=True):
        with gr.Row():
            w.photo = gr.Image(label="Photo (any size)", type="filepath", sources=["upload", "clipboard"],
                               height=200, elem_id="photo-upload")
            w.faces = gr.Image(label="Faces (click one to choose)", interactive=False, height=200,
                               elem_id="photo-faces")
        with gr.Row():
            w.crop = gr.Image(label="Aligned crop", interactive=False, height=200, elem_id="photo-crop")
            with gr.Column(min_width=120):
                w.face_number = gr.Number(1, label="Face (1 = largest)", precision=0, minimum=1,
                                          elem_id="face-number")
                w.invert_steps = gr.Number(DEFAULT_STEPS, label="Projection steps", precision=0, minimum=1,
                                           elem_id="invert-steps")
                w.pti_steps = gr.Number(DEFAULT_PTI_STEPS, label="PTI steps", precision=0, minimum=0,
                                        elem_id="pti-steps")
        w.invert = gr.Button("Invert (W+ projection, then PTI)", variant="primary", elem_id="invert")


def wire_photo(demo: gr.Blocks, panel: PhotoPanel, w: SimpleNamespace, max_drags: int) -> None:
    """The photo panel's events; Invert shares the drag queue's limit (both are heavy) and Stop."""
    found = [w.faces, w.status, w.crop, w.face_number]
    w.photo.upload(unique_outputs(panel.upload), [w.state, w.photo, w.model, w.face_number], found,
                   api_name="upload_photo", preprocess=False)
    w.face_number.input(unique_outputs(panel.choose_face), [w.state, w.face_number], found, api_name="choose_face")
    w.faces.select(unique_outputs(panel.pick_face), w.state, found, api_visibility="private")
    w.invert.click(unique_outputs(panel.invert), [w.state, w.invert_steps, w.pti_steps],
                   [w.image, w.status, w.table, w.editor],
                   api_name="invert", concurrency_limit=max_drags, concurrency_id="drag")
    w.start.click(panel.tuned.touch, w.state, None, api_visibility="private", queue=False)  # LRU: in use
    demo.unload(panel.leave)
