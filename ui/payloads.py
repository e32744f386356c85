"""What an API client sends in place of a file, a table or a mask gets one sentence, not pydantic's dump.

Why: gradio (6.31, `Blocks.preprocess_data`) checks every input against its component's data model before any
handler runs, also with preprocess=False, so a string where a file or a table belongs came back as
"1 validation error for ImageData / Input should be a valid dictionary ...". `readable_payload` gives one
component a copy of its data model (same schema, same name) whose check, wrapped around the model's own,
raises `WrongPayload`: not a ValueError, so pydantic lets it through, and gradio (show_error) sends its sentence.
"""
from __future__ import annotations

import math

import gradio as gr
from pydantic import ValidationError, model_validator


class WrongPayload(Exception):
    """A value of the wrong kind for a component; the message says what was expected."""


def readable_payload(component: gr.components.Component, what: str, expected: str) -> gr.components.Component:
    """`component`, whose inputs that are not a JSON object are refused with "`what` must be `expected`", and
    whose malformed objects (a file record without gradio's "meta" in a mask layer) with that and the first
    problem, in one sentence."""
    base = type(component).data_model

    def check(cls, value, handler):
        if not isinstance(value, dict) and not isinstance(value, base):
            raise WrongPayload(f"{what} must be {expected}; got {type(value).__name__} {str(value)[:40]!r}")
        try:
            return handler(value)
        except ValidationError as err:
            problem = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in problem["loc"]) or "the value"
            message = problem["msg"].removeprefix("Value error, ")[:160]
            raise WrongPayload(f"{what} must be {expected}; {where}: {message}") from None
    component.data_model = type(base.__name__, (base,), {"_kind": model_validator(mode="wrap")(classmethod(check))})
    return component


def click_position(evt) -> tuple[float, float]:
    """(x, y) of a click (`gr.SelectData.index`) as two finite numbers; a ValueError says what came instead (an
    API client writes the event data: "invalid literal for int()" reached it before)."""
    index = getattr(evt, "index", None)
    try:
        x, y = (float(v) for v in index)
    except (TypeError, ValueError):
        x = y = math.nan
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"a click must be at two numbers (x, y), got {str(index)[:40]!r}")
    return x, y
