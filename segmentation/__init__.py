"""pix2pix for building facades: photo -> the 12-class CMP label map.

    from segmentation import load_model
    m = load_model()                      # the shipped facades checkpoint, no download
    labels = m.predict(rgb_uint8)         # (H, W, 3) uint8 label colours
"""

from .model import SegmentationModel, load_model, read_image
from .palette import CLASS_NAMES, PALETTE

__all__ = ["CLASS_NAMES", "PALETTE", "SegmentationModel", "load_model", "read_image"]
