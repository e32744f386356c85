"""The Gradio UI: one module per tab (`drag_tab`, `segmentation_tab`), each with its handlers and layout,
assembled by `blocks.build_app`. `app.py` parses the command line and launches it."""
from .blocks import CSS, AppConfig, build_app
