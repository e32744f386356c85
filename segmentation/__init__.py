"""pix2pix for building facades, both ways: photo -> the 13-colour CMP label map, and labels -> photo.

    from segmentation import list_models, load_model, load_painter
    [m.name for m in list_models()]       # the shipped models, the default first
    m = load_model()                      # the default model, no download; load_model("cgan") by name
    labels = m.predict(rgb_uint8)         # (H, W, 3) uint8 label colours
    photo = load_painter().paint(labels, seed=0)   # (H, W, 3) uint8 facade photo
"""

from .manifest import list_models
from .model import SegmentationModel, load_model
from .photos import read_image
from .painter import Painter, load_painter
from .palette import CLASS_NAMES, PALETTE

__all__ = ["CLASS_NAMES", "PALETTE", "Painter", "SegmentationModel", "list_models", "load_model", "load_painter",
           "read_image"]
