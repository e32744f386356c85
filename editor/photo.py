"""A visitor's own photo: read it, find its faces, align the chosen one, invert it (W+ projection, optional PTI,
then the ToRGB fit). A model that draws no faces (the facades) takes a photo without a face as it is: its centre
square.

A photo session is an ordinary drag session whose latent comes from `draggan.invert` and whose generator is
the shared one with the visitor's tuning (an `Overlay`: the fitted ToRGB layers, or with PTI every layer,
which editor/tuned.py caps) on top. The photo and its aligned face stay with the editor, so the edited crop
can be pasted back into the full photo.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

import landmarks
from common.images import read_rgb, upright_size
from draggan.inversion import Inversion, InversionProgress
from draggan.registry import draws_faces

MAX_PHOTO_SIDE = 4096     # Larger photos are read reduced to this (the paste-back comes out this large).
NOT_FACES = (" **This model does not draw faces**, so the inverted image is only the nearest picture it can draw; "
             "dragging, presets and paste-back still work on it.")


@dataclass
class PhotoEdit:
    """One visitor's uploaded photo: its faces, the chosen one aligned for `model`."""
    photo: np.ndarray                       # RGB uint8 as uploaded (EXIF rotation applied), at most MAX_PHOTO_SIDE.
    name: str                               # File name, for messages and export names.
    faces: tuple[landmarks.Face, ...]       # Largest first; none for a centre square.
    number: int                             # Chosen face, 1 = the largest; 0 for a centre square.
    aligned: landmarks.AlignedFace          # The chosen face (or the centre square) at the generator's resolution.
    model: str                              # Model the crop was aligned for (its resolution).

    @classmethod
    def read(cls, path: str, name: str, model: str, size: int, number=None) -> PhotoEdit:
        """Read a photo (size checked first, EXIF rotation applied), find its faces and align face `number` to
        `size` px; without a face, a model that draws none takes the centre square. A ValueError (NoFaceFound among
        them) names the file or the face."""
        photo = read_rgb(path, max_side=MAX_PHOTO_SIDE, name=name)
        found = landmarks.detect_faces(photo)
        if not found.faces and not draws_faces(model):
            return cls(photo, name, (), 0, landmarks.centre_square(photo, size), model)
        if not found.faces:  # the smallest face it could find, in the pixels of the photo as sent (not as read)
            scale = max(upright_size(path)) / max(photo.shape[:2])
            raise replace(found, smallest_face=found.smallest_face * scale).no_face(name)
        return cls(photo, name, found.faces, 1, None, model).choose(number, model, size)

    def choose(self, number, model: str, size: int) -> PhotoEdit:
        """The same photo with face `number` (as drawn on it; None = the largest) aligned to `size` px for `model`."""
        if not self.faces:
            raise ValueError(f"{self.name} has no face to choose: the model edits its centre square")
        number = landmarks.face_number(number, len(self.faces))
        aligned = landmarks.align_face(self.photo, self.faces[number - 1].points, size)
        return PhotoEdit(self.photo, self.name, self.faces, number, aligned, model)

    def face_at(self, x: float, y: float) -> int | None:
        """The number of the face whose box holds photo pixel (x, y) (the smallest box, if nested), else None."""
        under = [n for n, face in enumerate(self.faces, 1)
                 if face.box[0] <= x <= face.box[2] and face.box[1] <= y <= face.box[3]]
        return under[-1] if under else None

    def found(self) -> str:
        """"me.jpg: 910×1137, 2 faces; face 1 chosen (1 = the largest), aligned to 512×512."""
        count = len(self.faces)
        if not count:
            return (f"**{self.name}**: {self.photo.shape[1]}×{self.photo.shape[0]}, no face: its centre square, "
                    f"scaled to {self.aligned.size}×{self.aligned.size}. Press **Invert** to edit it.")
        faces = f"{count} faces; face {self.number} chosen (1 = the largest)" if count > 1 else "1 face"
        size = self.aligned.image.shape[0]
        return (f"**{self.name}**: {self.photo.shape[1]}×{self.photo.shape[0]}, {faces}, aligned to {size}×{size}. "
                "Press **Invert** to edit it.")


STAGE_NAMES = {"projection": "W+ projection", "pti": "PTI", "fit": "ToRGB fit", "features": "feature offset"}


def progress_line(p: InversionProgress) -> str:
    """"W+ projection · step 12/60 · PSNR 18.2 dB · ETA 20 s" for the progress bar."""
    stage = STAGE_NAMES.get(p.stage, p.stage)
    return f"{stage} · step {p.step}/{p.total} · PSNR {p.psnr:.1f} dB · ETA {p.eta_s:.0f} s"


def inversion_summary(photo: PhotoEdit, result: Inversion, tuned: bool, seconds: float, faceless: bool) -> str:
    """"Inverted face 1 of me.jpg in 60 steps (25 s): loss …; PSNR 24.1 dB (projection 19.0 dB, then the ToRGB fit)."""
    ran = [name for stage, name in (("pti", "PTI"), ("fit", "the ToRGB fit"), ("features", "the feature offset"))
           if stage in result.stages]
    listed = ", ".join(ran[:-1]) + " and " + ran[-1] if len(ran) > 1 else "".join(ran)
    stages = (f"projection {result.projection_psnr:.1f} dB, then {listed}" if (tuned or result.features is not None)
              and ran else "projection only, no tuning")
    what = f"face {photo.number}" if photo.faces else "the centre square"
    text = (f"Inverted {what} of {photo.name} in {len(result.psnr_history)} steps ({seconds:.0f} s): "
            f"loss {result.loss}; PSNR **{result.psnr:.1f} dB** ({stages}).")
    if result.message:
        text += f" {result.message[0].upper()}{result.message[1:]}."
    if photo.faces:
        text += " The photo's landmarks are drawn: press a preset or click points, then Start."
        return text + (NOT_FACES if faceless else "")
    return text + " Click points, then Start."
