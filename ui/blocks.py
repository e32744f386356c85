"""The app: one gr.Blocks with the drag tab and the segmentation tab, each built by its own module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import torch

from common import pick_device
from ui import drag_tab, segmentation_tab
from ui.models import DEFAULT_MODEL, ModelCache, first_model, model_choices
from ui.tuned import DEFAULT_MAX_TUNED

CSS = """
.legend td, .legend th { padding: 2px 8px; }
"""


@dataclass
class AppConfig:
    device: torch.device = field(default_factory=pick_device)
    model: str = DEFAULT_MODEL           # The drag tab's first model: registry name or checkpoint file.
    demo: bool = False                   # Only the untrained demo generator (fast start: tests, offline demos).
    segmentation_weights: Path | None = None  # One checkpoint for the segmentation tab; None = the shipped models.
    max_drags: int = 2                   # Optimisations running at once, over all visitors.
    max_tuned: int = DEFAULT_MAX_TUNED   # Tuned generators (PTI, ~124 MB each at 512 px) kept over all visitors.


def build_app(config: AppConfig) -> gr.Blocks:
    """The two-tab Blocks app. Nothing per-visitor is kept here: that lives in gr.State."""
    models = ModelCache(config.device)
    model, notice = first_model(models, config.model, config.demo)
    seg = segmentation_tab.SegmentationTab(segmentation_tab.model_files(config.segmentation_weights), config.device)
    with gr.Blocks(title="GAN image editor", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# GAN image editor\nDrag points on a StyleGAN2 image (DragGAN), or segment a building "
                    "facade into its parts (pix2pix).")
        drag_tab.build(demo, models, model_choices(model), model, notice, config.max_drags,
                       config.max_tuned)
        segmentation_tab.build(seg)
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo
