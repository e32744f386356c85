"""The drag editor: one visitor's drag work as plain methods, outside Gradio.

An `Editor` holds what one visitor edits: the drag session on a shared generator, the clicked points, the
painted mask, the detected landmarks and, when they bring their own photo, the photo with its faces and the
aligned crop. Its edits are `new_image`, `add_point`, `apply_preset`, `drag`, `invert`, `stop`, `undo` and
`export`, with the smaller ones around them (`set_points`, `set_mask`, `detect`, `upload`, `choose_face`, ...).
Each returns the status message, or raises `Refused` with the message to show instead; a refused edit
changes nothing. The UI (ui/drag_tab.py, ui/photo_panel.py) turns widget values into these calls and the
editor back into widget values.

Every visitor's editor shares one `Shared`: the generators (loaded once per process) and the cap on PTI-tuned
generators. A photo's tuning is an `Overlay` applied on top of the shared generator. gr.State deep-copies its
initial value for each visitor; `Shared` is not copied with it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from pydantic import ValidationError

import landmarks
from draggan.errors import CheckpointError
from draggan.inversion import InversionProgress
from draggan.overlay import Overlay
from draggan.registry import drag_config, draws_faces, invert_config, model_label
from draggan.session import DragSession, StepResult
from presets import PRESETS

from .checks import DragPoints, DragSettings, InvertSettings, Point, explain
from .exports import export_drag
from .files import session_dir
from .models import DEFAULT_MODEL as FACE_MODEL, DEMO_MODEL, ModelCache
from .photo import PhotoEdit, inversion_summary
from .tuned import TunedCopies
from .worker import StopFlag, follow, follow_inversion, run_drag, run_inversion

NO_IMAGE = "No image yet: press **New image**."
NO_POINTS = ("**Start needs points.** Click the image once for a handle (red), then once for its target "
             "(blue), or press a preset.")
NO_FACE = ("**No face found** in this image, so there are no landmarks for the presets. "
           "Try another seed or model, or place the points by clicking the image.")
NO_PHOTO = "Upload a photo first (under **Your own photo**)."
BUSY = "A drag is running: press **Stop** first."

MaskReader = Callable[[tuple[int, int]], "np.ndarray | None"]  # Image size (w, h) -> painted (H, W) bool mask.


class Refused(ValueError):
    """An edit the editor will not make; the message says why. `warn`: worth a pop-up, not only the status."""

    def __init__(self, message: str, warn: bool = False):
        super().__init__(message)
        self.warn = warn


@dataclass(eq=False)
class Shared:
    """What every visitor's editor shares: the generators and the cap on PTI-tuned generators."""
    models: ModelCache
    tuned: TunedCopies
    choices: list[str] | None = None   # The models the app offers; None accepts any name (tests, scripts).

    def __deepcopy__(self, memo) -> Shared:
        return self  # One per process: a visitor's copy of a fresh Editor shares it.

    def leave(self, visitor: str) -> None:
        """A visitor closed the page: free their PTI tuning now (unless it is mid-run)."""
        holder = self.tuned.release(visitor)
        if holder is not None and not holder.running:
            holder.drop_session("")


@dataclass
class DragUpdate:
    """One answer of a running drag: the frame to show and the status line; `final` for the last one."""
    frame: np.ndarray | None
    status: str
    final: bool = False


def status_line(result: StepResult, max_steps: int) -> str:
    """"step 12/200 · distance 8.3 px · 210 ms/step" for one optimisation step."""
    distance = float(np.max(result.distances)) if len(result.distances) else 0.0
    return f"step {result.step}/{max_steps} · distance {distance:.1f} px · {result.ms:.0f} ms/step"


class Editor:
    """One visitor's drag editing: session, points, mask, landmarks and their own photo."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.session: DragSession | None = None   # Its own latent and undo stack on the overlay over a shared G.
        self.overlay: Overlay | None = Overlay()   # The photo's tuning (empty: none); None while it waits on disk.
        self.image: np.ndarray | None = None       # The session's current image, rendered once per latent change.
        self._closing_frame: np.ndarray | None = None  # The closing frame of the drag that is ending.
        self.model = ""                            # Model the session was built from.
        self.points: list[tuple[float, float]] = []  # Clicks: handle, target, handle, ...
        self.landmarks: np.ndarray | None = None   # (68, 2) of the current image, once detected.
        self.mask: np.ndarray | None = None        # (H, W) bool flexible region; None = everything may move.
        self.show_mask = False                     # Tint what the mask holds fixed.
        self.photo: PhotoEdit | None = None        # The visitor's uploaded photo, once aligned.
        self.edited: landmarks.AlignedFace | None = None  # The face the session edits (export pastes it back).
        self.visitor = ""                          # Gradio session hash: the key of the visitor's PTI tuning.
        self.dropped = ""                          # Why the session was taken away (its PTI tuning freed).
        self.running = False                       # A drag or an inversion runs.
        self._stop: StopFlag | None = None         # Set to stop the running drag or inversion.
        self._spilled: Path | None = None          # The overlay, on disk while memory was needed elsewhere.

    # --- state

    def ready(self, needs_image: bool = True) -> None:
        """Refuse while a drag or inversion runs, or (with `needs_image`) before there is an image. The overlay
        is in memory afterwards (restored from disk if it was spilled) and marked as just used."""
        if needs_image and self.session is None:
            raise Refused(self.dropped or NO_IMAGE)
        if self.running:
            raise Refused(BUSY)
        if self._spilled is not None:
            self._restore()
        self.shared.tuned.touch(self)

    def spill(self) -> None:
        """Memory is wanted for another visitor's PTI tuning: write this overlay to the session folder and let it
        go; the next edit restores it (`ready`). Photo, latent and history stay."""
        path = self.overlay.save(session_dir(self.visitor) / "tuned.safetensors")
        self.session.swap_generator(None)
        self.overlay, self._spilled = None, path

    def _restore(self) -> None:
        self.overlay = Overlay.load(self._spilled)
        self.session.swap_generator(self.overlay.on(self._generator(self.model)))
        self._spilled = None
        self.shared.tuned.admit(self)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the generator's images."""
        height, width = self.session.image_size
        return width, height

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Complete handle → target pairs as (K, 2) float32 arrays (a trailing lone handle is left out)."""
        k = len(self.points) // 2
        return (np.array(self.points[0:2 * k:2], dtype=np.float32).reshape(k, 2),
                np.array(self.points[1:2 * k:2], dtype=np.float32).reshape(k, 2))

    def set_pairs(self, handles: np.ndarray, targets: np.ndarray) -> None:
        self.points = [p for h, t in zip(np.asarray(handles), np.asarray(targets))
                       for p in ((float(h[0]), float(h[1])), (float(t[0]), float(t[1])))]

    def summary(self) -> str:
        k = len(self.points) // 2
        lone = " Click again for the target (blue) of the last handle." if len(self.points) % 2 else ""
        return f"{k} handle → target pair{'s' * (k != 1)}.{lone}"

    def _start(self, session: DragSession, model: str, edited: landmarks.AlignedFace | None,
               overlay: Overlay = Overlay()) -> None:
        """Edit `session` (its overlay on `model`) from now on: everything tied to the previous image is forgotten."""
        self.session, self.model, self.edited, self.overlay, self._spilled = session, model, edited, overlay, None
        self.points, self.landmarks, self.mask, self.dropped = [], None, None, ""
        self._render()

    def _render(self) -> np.ndarray:
        self.image = self.session.render()
        return self.image

    def drop_session(self, reason: str) -> None:
        """Let go of the session (and with it their tuning): the visitor is told `reason` on their next edit."""
        self.session, self.image, self.dropped, self.overlay, self._spilled = None, None, reason, Overlay(), None
        self.points, self.landmarks = [], None

    # --- image

    def _generator(self, model: str):
        """The generator of `model`, one of the models the app offers (checked first: a path or a registry name
        from an API client is never opened or downloaded)."""
        choices = self.shared.choices
        if not isinstance(model, str) or (choices is not None and model not in choices):
            offered = f" the {len(choices)} models the app offers" if choices is not None else " the app's models"
            raise Refused(f"⚠️ Model {str(model)[:60]!r} is not one of{offered}: choose one from the menu.",
                          warn=True)
        try:
            return self.shared.models.get(model)
        except CheckpointError as err:
            raise Refused(f"⚠️ {err}", warn=True) from None

    def new_image(self, settings: DragSettings) -> str:
        """The image of (model, seed, ψ); forgets points, mask and history."""
        self.ready(needs_image=False)
        generator = self._generator(settings.model)
        self._start(DragSession(generator, seed=settings.seed, truncation_psi=settings.truncation_psi,
                                config=drag_config(settings.model)), settings.model, None)
        return (f"New image: seed {settings.seed}, ψ {settings.truncation_psi:g}, {settings.latent_space}. "
                "Click the image to add a handle (red), click again for its target (blue).")

    def reset(self) -> str:
        """Back to the session's start latent, with no points, mask or history."""
        self.ready()
        self.session.reset()
        self._start(self.session, self.model, self.edited, self.overlay)
        return "Back to the original image."

    # --- points

    def add_point(self, x: float, y: float) -> str:
        """A click at image pixel (x, y): alternately a handle and a target."""
        self.ready()
        try:
            point = Point.model_validate({"x": x, "y": y}, context={"size": self.size})
        except ValidationError as err:
            raise Refused(explain(err, "point")) from None
        self.points.append((point.x, point.y))
        role = "handle (red)" if len(self.points) % 2 else "target (blue)"
        return f"Added a {role} at ({point.x:.0f}, {point.y:.0f}). {self.summary()}"

    def set_points(self, points: list[tuple[float, float]]) -> str:
        """Typed points (handle, target, ...) replace the clicks, if every one lies inside the image."""
        self.ready()
        for index, (x, y) in enumerate(points):
            try:
                Point.model_validate({"x": x, "y": y}, context={"size": self.size})
            except ValidationError as err:
                raise Refused(explain(err, f"point {index + 1}")) from None
        self.points = list(points)
        return f"Points edited. {self.summary()}"

    def undo_point(self) -> str:
        self.ready()
        if self.points:
            self.points.pop()
        return f"Removed the last point. {self.summary()}"

    def clear_points(self) -> str:
        self.ready()
        self.points.clear()
        return "Points cleared."

    # --- mask

    def _read_mask(self, paint: MaskReader) -> np.ndarray | None:
        try:
            return paint(self.size)
        except ValueError as err:
            raise Refused(f"Invalid mask: {err}") from None

    def set_mask(self, paint: MaskReader, show: bool) -> str:
        """The painted flexible region, tinted in the view when `show`."""
        self.show_mask = bool(show)
        if self.session is None:
            raise Refused(NO_IMAGE)
        self.mask = self._read_mask(paint)
        if self.mask is None:
            return "No mask painted: every part of the image may move."
        return f"Mask: {100 * self.mask.mean():.0f} % of the image may move; the rest is held in place."

    def reset_mask(self) -> str:
        self.mask = None
        if self.session is None:
            raise Refused(NO_IMAGE)
        return "Mask reset: every part of the image may move."

    # --- landmarks and presets

    def _find_landmarks(self) -> str:
        """Detect the largest face's landmarks; the message says what was found."""
        self.landmarks = None
        if not draws_faces(self.model):
            return (f"Landmarks and the expression presets need a face model (e.g. {model_label(FACE_MODEL)}): "
                    f"{model_label(self.model)} does not draw faces.")
        try:
            faces = landmarks.detect_landmarks(self.image)
        except landmarks.BackendUnavailable as err:
            return f"⚠️ Landmark detection cannot run here: {err}"
        if not faces:
            return NO_FACE
        self.landmarks = faces[0]
        more = f" (the largest of {len(faces)} faces)" if len(faces) > 1 else ""
        return f"Found 68 landmarks{more}."

    def detect(self) -> str:
        """The 68 landmarks of the largest face in the current image."""
        self.ready()
        message = self._find_landmarks()
        return message + (" Press a preset to fill the points." if self.landmarks is not None else "")

    def apply_preset(self, name: str, strength: float) -> str:
        """Handles and targets from the landmarks (detected first if needed) for the named expression.
        Without a face the status says so (and the view shows that no landmarks were found)."""
        self.ready()
        if self.landmarks is None:
            message = self._find_landmarks()
            if self.landmarks is None:
                return message
        try:
            handles, targets = PRESETS[name](self.landmarks, strength=float(strength))
        except (TypeError, ValueError) as err:  # e.g. a strength outside [0, 1] from an API client
            raise Refused(f"Preset '{name}': {err}") from None
        edge = np.array(self.size) - 1
        inside = np.clip(targets, 0, edge)
        moved = int(np.any(inside != targets, axis=1).sum())  # e.g. "open mouth" pulls the chin past a tight crop
        self.set_pairs(np.clip(handles, 0, edge), inside)
        note = (f" {moved} target{'s' * (moved != 1)} lay past the image edge and {'were' if moved != 1 else 'was'} "
                "moved onto it." if moved else "")
        return f"Preset **{name}** at strength {strength:g}: {self.summary()}{note} Press Start."

    # --- the drag

    def _drag_pairs(self, points: list[tuple[float, float]] | None) -> tuple[np.ndarray, np.ndarray]:
        """The complete pairs of `points` (None: the clicks), checked; they become the editor's points."""
        points = list(self.points if points is None else points)
        points = points[: 2 * (len(points) // 2)]
        if not points:
            raise Refused(NO_POINTS, warn=True)
        try:
            checked = DragPoints.of(points, self.size)
        except ValidationError as err:
            raise Refused(explain(err, "points")) from None
        self.points = points
        return checked.as_arrays()

    def drag(self, settings: DragSettings, points: list[tuple[float, float]] | None = None,
             paint: MaskReader | None = None) -> Iterator[DragUpdate]:
        """Drag the points (None: the clicks) to their targets: an update per step, until the targets are reached,
        `settings.max_steps`, or `stop()`. `paint` reads the flexible region (None: keep the current mask).
        A client that never made an image gets the settings' image first."""
        self.ready(needs_image=False)
        if self.session is None:
            self.new_image(settings)
        handles, targets = self._drag_pairs(points)
        if paint is not None:
            self.mask = self._read_mask(paint)
        self.landmarks = None  # They belong to the image before the drag.
        self._run_started()
        self._closing_frame = None
        steps, final = self._steps(handles, targets, settings), None
        try:
            for update in steps:
                if update.final:
                    final = update
                    break
                yield update
        finally:
            steps.close()
            self._run_ended()
            # A drag that ran to its end closed on a full frame of its last latent: that is the image, and a second
            # render (a second at 512 px on 2 cores) would only delay the last update.
            if self._closing_frame is None:
                self._render()
            else:
                self.image = self._closing_frame
        if final is not None:  # Said once the run has ended: the next edit may come the moment it is read.
            yield final

    def _steps(self, handles: np.ndarray, targets: np.ndarray, settings: DragSettings) -> Iterator[DragUpdate]:
        """The drag runs on a fresh session (on ZeroGPU in a GPU worker) that this one follows step by step. Between
        full frames each step shows the last one (at first the image before the drag) with the tracked handles."""
        result, shown, s = None, None, self.session
        steps = run_drag(self._generator(self.model), self.overlay, s.ws, s.features, s.config, handles, targets,
                         mask=self.mask, max_steps=settings.max_steps, lr=settings.lr, w_plus=settings.w_plus,
                         stop=self._stop)
        try:
            for result in follow(s, handles, targets, steps):
                self.set_pairs(result.handles, targets)
                shown = result.frame if result.frame is not None else shown
                yield DragUpdate(shown, status_line(result, settings.max_steps))
        except ValueError as err:  # A point or mask the session refuses (before any step): say which.
            yield DragUpdate(None, f"⚠️ {err}", final=True)
            return
        outcome = "reached the targets" if result.done else result.message or "stopped"
        self._closing_frame = result.frame  # drag() ends every run on a frame of its last latent
        yield DragUpdate(None, f"{status_line(result, settings.max_steps)} — {outcome}.", final=True)

    def _run_started(self) -> None:
        """A drag or an inversion begins: other edits are refused until it ends, and `stop()` can reach it."""
        self._stop, self.running = StopFlag(session_dir(self.visitor)), True

    def _run_ended(self) -> None:
        self._stop.clear()
        self._stop, self.running = None, False

    def stop(self) -> str:
        """Ask the running drag or inversion to stop after its current step (safe from another thread)."""
        if not self.running:
            return "Nothing is running."
        flag = self._stop  # read once: the run may end on its own thread meanwhile
        if flag is not None:
            flag.set()  # An inversion keeps what it has so far, a drag the latent of its last step.
        return "Stopping after the current step…"

    def undo(self) -> str:
        """Back to the latent before the last drag, with that drag's points."""
        self.ready()
        record = self.session.undo()
        self._render()
        if record is None:
            return "Nothing to undo."
        self.landmarks = None
        if len(record.handles):  # A loaded latent's record has no points: keep the current ones.
            self.set_pairs(record.handles, record.targets)
        return "Undid the last drag."

    def export(self, visitor: str | None = None) -> tuple[list[str], str]:
        """The current image as PNG, the recorded drag as MP4 and GIF, the latent as .npy or .npz, and for a photo the
        full photo with the edit pasted back, in the session folder of `visitor`: (file paths, message)."""
        if self.session is None:
            raise Refused(self.dropped or NO_IMAGE)
        if self._spilled is not None:
            self._restore()
        self.visitor = visitor or self.visitor or uuid.uuid4().hex
        return export_drag(self.session, self.image, self.edited, session_dir(self.visitor) / "export")

    # --- your own photo

    def upload(self, path: str, name: str, model: str | None = None, number=None) -> str:
        """A new photo: its faces found and face `number` (None: the largest) aligned for `model` (None: the
        current one). No face, or a file that is no image: refused, and nothing changes."""
        self.ready(needs_image=False)
        model = model or self.model
        size = self._generator(model).img_resolution
        try:
            self.photo = PhotoEdit.read(path, name, model, size, number)
        except landmarks.BackendUnavailable as err:
            raise Refused(f"⚠️ Face detection cannot run here: {err}") from None
        except ValueError as err:  # NoFaceFound, a bad file or face number
            raise Refused(f"⚠️ {err}", warn=True) from None
        return self.photo.found()

    def choose_face(self, number) -> str:
        """Align another face of the uploaded photo (numbers as drawn on it)."""
        self.ready(needs_image=False)
        if self.photo is None:
            raise Refused(NO_PHOTO)
        size = self._generator(self.photo.model).img_resolution
        try:
            self.photo = self.photo.choose(number, self.photo.model, size)
        except ValueError as err:
            raise Refused(f"⚠️ {err}") from None
        return self.photo.found()

    def invert(self, settings: InvertSettings, progress: Callable[[InversionProgress], None] | None = None,
               visitor: str | None = None) -> str:
        """W+ projection, PTI if asked, then the ToRGB fit of the aligned crop; the session then edits that latent
        with the tuning's overlay on the shared generator, and the photo's landmarks (mapped into the crop) are
        ready for the presets. `visitor` keys a PTI tuning in the cap."""
        self.ready(needs_image=False)
        photo = self.photo
        if photo is None:
            raise Refused(NO_PHOTO)
        generator = self._generator(photo.model)
        self.visitor = visitor or self.visitor or uuid.uuid4().hex
        self._run_started()
        started = time.perf_counter()
        try:
            result = follow_inversion(run_inversion(generator, photo.aligned.image, stop=self._stop,
                                                    config=invert_config(photo.model), steps=settings.steps,
                                                    pti_steps=settings.pti_steps,
                                                    feature_res=drag_config(photo.model).feature_res), progress)
        finally:
            self._run_ended()
        seconds = time.perf_counter() - started
        self._start(DragSession(result.overlay.on(generator), ws=result.ws, features=result.features,
                                config=drag_config(photo.model)), photo.model, photo.aligned, result.overlay)
        self.landmarks = photo.aligned.landmarks.copy() if len(photo.aligned.landmarks) else None
        if not result.overlay.only_torgb:  # PTI's overlay is a copy of the network: counted by the cap
            self.shared.tuned.admit(self)
        return inversion_summary(photo, result, bool(result.overlay.tensors), seconds,
                                 faceless=not draws_faces(photo.model))

