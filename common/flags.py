"""A training script's flags made from its config dataclass, so each default is written once, in the dataclass."""
from __future__ import annotations

import argparse
from dataclasses import MISSING, field
from pathlib import Path


def opt(default, help: str):
    """A dataclass field that is also a command-line flag with this help."""
    return field(default=default, metadata={"help": help})


def parse_config(config_class, description: str, argv: list[str] | None) -> tuple[object, Path | None]:
    """(config, resume path) from `argv`: one `--flag` per field (booleans as `--x/--no-x`, fields without a
    default required) and `--resume`."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, f in config_class.__dataclass_fields__.items():
        flag, help_ = "--" + name.replace("_", "-"), f.metadata["help"]
        if f.default is MISSING:
            p.add_argument(flag, required=True, help=help_)
        elif isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_)
        else:
            p.add_argument(flag, type=type(f.default), default=f.default, help=f"{help_} (default {f.default})")
    p.add_argument("--resume", type=Path, default=None, help="a resume state (last.pt) to continue from")
    args = vars(p.parse_args(argv))
    resume = args.pop("resume")
    return config_class(**args), resume
