"""pix2pix for building facades: photo -> the 13-colour CMP label map.

    from segmentation import list_models, load_model
    [m.name for m in list_models()]       # the shipped models, the default first
    m = load_model()                      # the default model, no download; load_model("cgan") by name
    labels = m.predict(rgb_uint8)         # (H, W, 3) uint8 label colours
"""

from .model import SegmentationModel, list_models, load_model, read_image
from .palette import CLASS_NAMES, PALETTE

__all__ = ["CLASS_NAMES", "PALETTE", "SegmentationModel", "list_models", "load_model", "read_image"]
