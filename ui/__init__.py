"""The Gradio UI: one module per tab (`drag_tab`, `segmentation_tab`, `paint_tab`), each with its handlers and
layout, assembled by `blocks.build_app` from an `AppConfig` (config.py). `app.py` reads the settings and launches it."""
from .blocks import CSS, build_app
from .config import AppConfig, parse_args
