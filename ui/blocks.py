"""The app: one gr.Blocks with the drag, segmentation and paint tabs, each built by its own module and wired
to each other only here (the segmentation's "Edit these labels" sends its map to the paint tab)."""

from __future__ import annotations

import gradio as gr
import torch

from common import on_zero_gpu
from common.hosting import startup_device
from ui import drag_tab, paint_tab, segmentation_tab
from ui.config import AppConfig
from ui.outputs import unique_outputs
from editor.models import ModelCache, first_model, model_choices
from ui.fast_lane import FastLane, guard_events
from ui.lanes import SlowLane
from ui.sessions import SessionReaper

CSS = """
.legend td, .legend th { padding: 2px 8px; }
"""


def build_app(config: AppConfig) -> gr.Blocks:
    """The three-tab Blocks app. Nothing per-visitor is kept here: that lives in gr.State."""
    device = startup_device(config.device)
    models = ModelCache(device)
    model, notice = first_model(models, config.model, config.demo)
    # The 256 px pix2pix nets answer in tens of ms on CPU: on ZeroGPU they stay there, asking no GPU (or quota).
    pix2pix = torch.device("cpu") if on_zero_gpu() else device
    seg = segmentation_tab.SegmentationTab(segmentation_tab.model_files(config.segmentation_weights), pix2pix)
    painter = paint_tab.load(pix2pix)
    # Gradio's cached uploads and outputs older than a session may live are deleted every few minutes.
    cache = (int(min(600, config.session_ttl)), int(config.session_ttl))
    with gr.Blocks(title="GAN image editor", delete_cache=cache) as demo:
        gr.Markdown("# GAN image editor\nDrag points on a StyleGAN2 image (DragGAN), segment a building "
                    "facade into its parts, or paint a facade's parts and see it built (pix2pix).")
        with gr.Tabs() as tabs:
            lane = SlowLane(config.max_drags, config.max_waiting, config.by_ip)
            drag_tab.build(demo, models, model_choices(model), model, notice, config.max_tuned, config.limits, lane)
            seg_widgets = segmentation_tab.build(seg)
            paint_widgets = paint_tab.build(painter)
        seg_widgets.edit.click(unique_outputs(painter.receive), seg_widgets.kept, paint_widgets.shown + [tabs],
                               api_visibility="private")
    demo.queue(max_size=64)
    # Slow jobs wait in `lane` (bounded, one per client: --max-drags, --max-waiting) and fast ones in a FastLane
    # (a share per client): every event leaves gradio's queue at once, so no client can fill it.
    guard_events(demo, FastLane(by_ip=config.by_ip))
    demo.reaper = SessionReaper(demo, config.session_ttl, max_cache_bytes=config.max_cache_bytes).start()
    return demo
