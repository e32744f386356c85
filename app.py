"""GAN image editing in the browser: DragGAN point dragging and pix2pix facade segmentation and painting.

    python app.py                      # http://127.0.0.1:7860
    python app.py --demo --port 7861   # the bundled 128 px facades generator: no download, starts in seconds
    python app.py --share --device cuda
    DRAGGAN_MAX_INVERT_STEPS=150 python app.py   # every flag is also an environment variable (see --help)

One gr.Blocks app with three tabs (drag, segmentation, paint), built in ui/ (one module per tab) from the
settings in ui/config.py. Generator weights live once per process in a small cache; everything a visitor does
(image, points, mask, history, a photo's tuning) lives in their own gr.State.
"""

from __future__ import annotations

from dataclasses import replace

import gradio as gr

from common.hosting import size_threads, startup_device
from common.images import MAX_UPLOAD_BYTES
from ui import CSS, build_app, parse_args
from ui.sessions import install_shutdown


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv, description=__doc__.splitlines()[0])
    try:
        device = startup_device(config.device)  # cuda on ZeroGPU, where models go to the GPU at start-up
    except ValueError as err:
        raise SystemExit(f"--device {config.device}: {err}") from None
    size_threads()  # the cores the container really has (a Space's CPU basic: 2), not the host's
    demo = build_app(replace(config, device=device.type))
    install_shutdown(demo)
    # show_error: what gradio itself refuses (a malformed payload) reaches an API client as a message, not null.
    demo.launch(server_port=config.port, share=config.share, css=CSS, theme=gr.themes.Soft(), show_error=True,
                max_file_size=MAX_UPLOAD_BYTES)


if __name__ == "__main__":
    main()
