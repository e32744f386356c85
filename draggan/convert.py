"""Convert a checkpoint once into this project's self-contained `.safetensors`; later loads are safe and fast.

    python -m draggan.convert IN [OUT] [--force]

IN is an NVlabs `.pkl`, a rosinality `.pt` or a registry name; OUT defaults to IN's name with the
suffix `.safetensors` (for a registry name: `<checkpoints dir>/<stem>.safetensors`, where the
registry looks first). The written file is re-read and compared tensor by tensor before the command
reports success; a failed conversion leaves no file behind. Exit status: 0 on success, 1 for a checkpoint
or disk error (one line on stderr, no traceback), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from safetensors.torch import load_file

from .errors import CheckpointError
from .loading import build_generator, read_checkpoint, save_generator
from .registry import REGISTRY, checkpoints_dir, resolve_source


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def default_output(source: str) -> Path:
    if source in REGISTRY and not Path(source).exists():
        return checkpoints_dir() / REGISTRY[source].converted_name
    return Path(source).with_suffix(".safetensors")


def convert(source: str, output: Path | None = None, force: bool = False) -> Path:
    """Read `source`, write it as .safetensors at `output`, verify the copy, print progress."""
    output = Path(output) if output is not None else default_output(source)
    path = resolve_source(source)
    if output.resolve() == path.resolve():
        raise CheckpointError(f"{output}: output would overwrite the input")
    if output.exists() and not force:
        raise CheckpointError(f"{output}: already exists (use --force to overwrite)")
    start = time.perf_counter()
    print(f"reading {path} ({_mb(path.stat().st_size)})", flush=True)
    config, state = read_checkpoint(path)
    G = build_generator(config, state, str(path))
    params = sum(p.numel() for p in G.parameters())
    print(f"  generator {config.img_resolution}x{config.img_resolution}, {G.num_ws} ws, "
          f"{params / 1e6:.2f} M parameters, {config.synthesis_kwargs}", flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_generator(G, output, source=path.name)
    written = load_file(str(output))
    if set(written) != set(G.state_dict()) or any(not written[k].equal(v) for k, v in G.state_dict().items()):
        output.unlink()  # a copy that may differ from its source must not be left for the loader to find
        raise CheckpointError(f"{output}: the written file does not read back identically; it was removed")
    print(f"wrote {output} ({_mb(output.stat().st_size)}) in {time.perf_counter() - start:.1f} s, verified", flush=True)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m draggan.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="NVlabs .pkl, rosinality .pt, or a registry name")
    parser.add_argument("output", nargs="?", type=Path, help="output .safetensors (default: beside the input)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = parser.parse_args(argv)
    if args.output is not None and args.output.suffix != ".safetensors":
        parser.error(f"output must end in .safetensors, got {args.output}")
    try:
        convert(args.source, args.output, args.force)
    except (CheckpointError, OSError) as e:  # a bad checkpoint, or a disk that is full or read-only
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
