"""GAN image editing in the browser: DragGAN point dragging and pix2pix facade segmentation.

    python app.py                      # http://127.0.0.1:7860
    python app.py --demo --port 7861   # only the small untrained generator: starts in seconds
    python app.py --share --device cuda

One gr.Blocks app with two tabs, built in ui/ (one module per tab). Generator weights live once per
process in a small cache; everything a visitor does (image, points, mask, history) lives in their own gr.State.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gradio as gr

from common.hosting import size_threads, startup_device
from common.images import MAX_UPLOAD_BYTES
from ui import CSS, AppConfig, build_app
from ui.lanes import StepLimits
from ui.sessions import SESSION_TTL_S, install_shutdown
from editor.models import DEFAULT_MODEL
from editor.tuned import DEFAULT_MAX_TUNED


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port to serve on (default 7860)")
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where the generators run (auto: CUDA, else MPS, else CPU)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="drag tab's first model: a registry name or a checkpoint file")
    parser.add_argument("--demo", action="store_true", default=os.environ.get("DRAGGAN_DEMO") == "1",
                        help="use only the untrained demo generator (also: DRAGGAN_DEMO=1)")
    parser.add_argument("--segmentation-weights", type=Path, default=None,
                        help="one facades checkpoint (.safetensors) for the segmentation tab; default: the shipped models")
    parser.add_argument("--max-drags", type=int, default=2, help="drags optimised at once over all visitors")
    parser.add_argument("--max-tuned", type=int, default=DEFAULT_MAX_TUNED,
                        help="photo sessions that keep a tuned generator (~124 MB each at 512 px); the least "
                             "recently used is freed and its visitor asked to invert again")
    parser.add_argument("--session-ttl", type=float, default=SESSION_TTL_S,
                        help=f"seconds a visitor may stay idle before their session and files are freed "
                             f"(default {SESSION_TTL_S})")
    limits = StepLimits()
    for name, what, default in (("drag", "drag steps", limits.drag), ("invert", "projection steps", limits.invert),
                                ("pti", "PTI steps", limits.pti)):
        parser.add_argument(f"--max-{name}-steps", type=int, default=default,
                            help=f"most {what} one job may ask for (default {default}, bounding its time; "
                                 "raise it on a private machine)")
    parser.add_argument("--max-cache-gb", type=float, default=AppConfig.max_cache_bytes / 2**30,
                        help="disk gradio's cached uploads and outputs may take; the oldest go first")
    parser.add_argument("--max-waiting", type=int, default=AppConfig.max_waiting,
                        help="drags and inversions that may wait for a turn; more are told to try again later")
    parser.add_argument("--jobs-per-ip", action=argparse.BooleanOptionalAction,
                        default=bool(os.environ.get("SPACE_ID")),
                        help="one drag or inversion per IP, not per browser session (default: on a Space)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        device = startup_device(args.device)  # cuda on ZeroGPU, where models go to the GPU at start-up
    except ValueError as err:
        raise SystemExit(f"--device {args.device}: {err}") from None
    size_threads()  # the cores the container really has (a Space's CPU basic: 2), not the host's
    config = AppConfig(device=device, model=args.model, demo=args.demo,
                       segmentation_weights=args.segmentation_weights, max_drags=max(1, args.max_drags),
                       max_tuned=max(1, args.max_tuned), session_ttl=max(1.0, args.session_ttl),
                       limits=StepLimits(args.max_drag_steps, args.max_invert_steps, args.max_pti_steps),
                       max_waiting=max(0, args.max_waiting), jobs_by_ip=args.jobs_per_ip,
                       max_cache_bytes=int(args.max_cache_gb * 2**30))
    demo = build_app(config)
    install_shutdown(demo)
    # show_error: what gradio itself refuses (a malformed payload) reaches an API client as a message, not null.
    demo.launch(server_port=args.port, share=args.share, css=CSS, theme=gr.themes.Soft(), show_error=True,
                max_file_size=MAX_UPLOAD_BYTES)


if __name__ == "__main__":
    main()
