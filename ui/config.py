"""The app's settings: `AppConfig`, one field per flag of `python app.py`, each also read from an environment
variable (a Space's "Variables": a Space runs `app.py` with no flags). A flag beats its variable, which beats the
field's default; `python app.py --help` names each variable, and a bad value is refused with one sentence."""

from __future__ import annotations

import argparse
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Mapping

from editor.models import DEFAULT_MODEL
from editor.tuned import DEFAULT_MAX_TUNED
from ui.lanes import MAX_RUNNING, MAX_WAITING, StepLimits
from ui.sessions import MAX_CACHE_BYTES, SESSION_TTL_S

ENV_PREFIX = "DRAGGAN_"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
DEVICES = ("auto", "cpu", "cuda", "mps")


def opt(default, help: str, kind: type | None = None, env: str | None = None):
    """A field that is also a flag: `kind` converts a flag's or variable's text (default: the default's type);
    `env` names its variable (default: DRAGGAN_ and the field's name in capitals)."""
    return field(default=default, metadata={"help": help, "kind": kind or type(default), "env": env})


@dataclass(frozen=True)
class AppConfig:
    """Everything `python app.py` can be told. `AppConfig()` is the app's default; tests build it directly."""
    port: int = opt(7860, "port to serve on", env="GRADIO_SERVER_PORT")
    share: bool = opt(False, "also serve on a public gradio.live link")
    device: str = opt("auto", f"where the generators run: {', '.join(DEVICES)} (auto: CUDA, else MPS, else CPU)")
    model: str = opt(DEFAULT_MODEL, "drag tab's first model: a registry name or a checkpoint file")
    demo: bool = opt(False, "open on the facades generator that ships with the app (no download; starts in seconds)")
    segmentation_weights: Path | None = opt(None, "one facades checkpoint (.safetensors) for the segmentation "
                                                  "tab; default: the shipped models", kind=Path)
    max_drags: int = opt(MAX_RUNNING, "drags and inversions optimised at once over all visitors")
    max_waiting: int = opt(MAX_WAITING, "drags and inversions that may wait for a turn; more are told to try "
                                        "again later")
    max_tuned: int = opt(DEFAULT_MAX_TUNED, "photo sessions that keep a PTI-tuned generator in memory (~124 MB "
                                            "each at 512 px; the ToRGB fit alone costs 36 KB and is not counted); "
                                            "the least recently used idle one waits on disk")
    session_ttl: float = opt(SESSION_TTL_S, "seconds a visitor may stay idle before their session and files are "
                                            "freed", kind=float)
    max_drag_steps: int = opt(StepLimits.drag, "most drag steps one job may ask for (bounds its time; raise it "
                                               "on a private machine)")
    max_invert_steps: int = opt(StepLimits.invert, "most projection steps one inversion may ask for")
    max_pti_steps: int = opt(StepLimits.pti, "most PTI steps one inversion may ask for")
    max_cache_gb: float = opt(MAX_CACHE_BYTES / 2**30, "disk gradio's cached uploads and outputs may take; the "
                                                       "oldest go first")
    jobs_per_ip: bool | None = opt(None, "one drag or inversion per IP, not per browser session (default: on a "
                                         "Space)", kind=bool)

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        for name, low in (("max_drags", 1), ("max_waiting", 0), ("max_tuned", 1), ("session_ttl", 1),
                          ("max_drag_steps", 1), ("max_invert_steps", 1), ("max_pti_steps", 0),
                          ("port", 0)):
            if not getattr(self, name) >= low:
                raise ValueError(f"{flag(name)} must be at least {low}, got {getattr(self, name)}")
        if not self.max_cache_gb > 0:
            raise ValueError(f"--max-cache-gb must be more than 0, got {self.max_cache_gb}")

    @property
    def limits(self) -> StepLimits:
        return StepLimits(self.max_drag_steps, self.max_invert_steps, self.max_pti_steps)

    @property
    def max_cache_bytes(self) -> int:
        return int(self.max_cache_gb * 2**30)

    @property
    def by_ip(self) -> bool:
        """Whether a client is an IP: as set, else on a Space (its visitors are strangers behind one proxy)."""
        return bool(os.environ.get("SPACE_ID")) if self.jobs_per_ip is None else self.jobs_per_ip


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def variable(f) -> str:
    return f.metadata["env"] or ENV_PREFIX + f.name.upper()


def _convert(kind: type, text: str):
    """A flag's or variable's text as `kind`; ValueError when it is not one."""
    if kind is bool:
        if text.strip().lower() not in TRUE + FALSE:
            raise ValueError(f"expected one of {', '.join(TRUE + FALSE)}")
        return text.strip().lower() in TRUE
    if kind is int:
        return int(text)
    return kind(text)


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ,
               description: str = "") -> AppConfig:
    """The settings from the command line `argv` (default: sys.argv), then `environ`, then the defaults."""
    parser = argparse.ArgumentParser(description=description)
    for f in fields(AppConfig):
        kind, env = f.metadata["kind"], variable(f)
        default = f.default if f.default is not MISSING else None
        if env in environ:
            try:
                default = _convert(kind, environ[env])
            except ValueError as err:
                parser.error(f"the environment variable {env}={environ[env]!r} is not a valid {flag(f.name)} "
                             f"({kind.__name__}): {err}")
        shown = "" if f.default is None else f"default {f.default}; "
        help_ = f"{f.metadata['help']} ({shown}environment variable {env})"
        if kind is bool:
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=default, help=help_)
        else:
            parser.add_argument(flag(f.name), type=kind, default=default, help=help_)
    try:
        return AppConfig(**vars(parser.parse_args(argv)))
    except ValueError as err:
        parser.error(str(err))
