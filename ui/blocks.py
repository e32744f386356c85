"""The app: one gr.Blocks with the drag, segmentation and paint tabs, each built by its own module and wired
to each other only here (the segmentation's "Edit these labels" sends its map to the paint tab)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import torch

from common import on_zero_gpu, pick_device
from ui import drag_tab, paint_tab, segmentation_tab
from ui.outputs import unique_outputs
from editor.models import DEFAULT_MODEL, ModelCache, first_model, model_choices
from editor.tuned import DEFAULT_MAX_TUNED
from ui.fast_lane import FastLane, guard_events
from ui.lanes import SlowLane, StepLimits
from ui.sessions import MAX_CACHE_BYTES, SESSION_TTL_S, SessionReaper

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
    session_ttl: float = SESSION_TTL_S   # Seconds a session may stay idle before it is freed with its files.
    limits: StepLimits = field(default_factory=StepLimits)  # Steps one drag or inversion may ask for.
    max_waiting: int = 8                 # Slow jobs that may wait for a turn; more are told to try again later.
    jobs_by_ip: bool = False             # One slow job per IP (a public Space), not per browser session.
    max_cache_bytes: int = MAX_CACHE_BYTES  # gradio's cached files beyond this are deleted, oldest first.


def build_app(config: AppConfig) -> gr.Blocks:
    """The two-tab Blocks app. Nothing per-visitor is kept here: that lives in gr.State."""
    models = ModelCache(config.device)
    model, notice = first_model(models, config.model, config.demo)
    # The 256 px pix2pix nets answer in tens of ms on CPU: on ZeroGPU they stay there, asking no GPU (or quota).
    pix2pix = torch.device("cpu") if on_zero_gpu() else config.device
    seg = segmentation_tab.SegmentationTab(segmentation_tab.model_files(config.segmentation_weights), pix2pix)
    painter = paint_tab.load(pix2pix)
    # Gradio's cached uploads and outputs older than a session may live are deleted every few minutes.
    cache = (int(min(600, config.session_ttl)), int(config.session_ttl))
    with gr.Blocks(title="GAN image editor", delete_cache=cache) as demo:
        gr.Markdown("# GAN image editor\nDrag points on a StyleGAN2 image (DragGAN), segment a building "
                    "facade into its parts, or paint a facade's parts and see it built (pix2pix).")
        with gr.Tabs() as tabs:
            lane = SlowLane(config.max_drags, config.max_waiting, config.jobs_by_ip)
            drag_tab.build(demo, models, model_choices(model), model, notice, config.max_drags,
                           config.max_tuned, config.limits, lane)
            seg_widgets = segmentation_tab.build(seg)
            paint_widgets = paint_tab.build(painter)
        seg_widgets.edit.click(unique_outputs(painter.receive), seg_widgets.kept, paint_widgets.shown + [tabs],
                               api_visibility="private")
    demo.queue(max_size=64)
    # Slow jobs wait in `lane` (bounded, one per client) and fast ones in a FastLane (a share per client): every
    # event leaves gradio's queue at once, so no client can fill it.
    guard_events(demo, FastLane(by_ip=config.jobs_by_ip))
    demo.reaper = SessionReaper(demo, config.session_ttl, max_cache_bytes=config.max_cache_bytes).start()
    return demo
