"""68-point facial landmarks (iBUG 300-W, 0-based) in an RGB image, plus drawing and coordinate helpers.

    from landmarks import detect_landmarks
    faces = detect_landmarks(rgb_uint8)          # list of (68, 2) float32 (x, y), largest face first
    result = detect_faces(rgb_uint8)             # also says which backend ran, with scores and boxes
    aligned = align_face(rgb_uint8, faces[0], 1024)  # FFHQ crop; aligned.paste(edited) puts an edit back
"""

from .align import AlignedFace, align_face, align_photo, centre_square
from .detect import BACKENDS, DetectionResult, detect_faces, detect_landmarks, face_number, resolve_backend, select_face
from .dlib_backend import DlibBackend
from .draw import draw_arrows, draw_faces, draw_points
from .face import NUM_POINTS, BackendUnavailable, Face, NoFaceFound
from .fan_backend import FanBackend
from .geometry import CropResize, crop_resize, gen_box_to_photo, gen_to_photo, photo_to_gen

__all__ = [
    "AlignedFace",
    "BACKENDS",
    "NUM_POINTS",
    "BackendUnavailable",
    "CropResize",
    "DetectionResult",
    "DlibBackend",
    "Face",
    "FanBackend",
    "NoFaceFound",
    "align_face",
    "align_photo",
    "centre_square",
    "crop_resize",
    "detect_faces",
    "detect_landmarks",
    "draw_arrows",
    "draw_faces",
    "draw_points",
    "face_number",
    "gen_box_to_photo",
    "gen_to_photo",
    "photo_to_gen",
    "resolve_backend",
    "select_face",
]
