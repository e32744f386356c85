"""Checks every loader shares, so a checkpoint that does not fit (or is hostile) says exactly how."""
from __future__ import annotations

from collections.abc import Mapping

import torch


def state_dict_problems(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor],
                        shown: int = 8) -> list[str]:
    """Missing keys, unexpected keys and shape mismatches of `state` against `expected`; [] when it fits."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [f"{k}: file {list(state[k].shape)}, model {list(expected[k].shape)}"
                  for k in sorted(set(state) & set(expected))
                  if tuple(getattr(state[k], "shape", ())) != tuple(expected[k].shape)]
    return _listed([("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)], shown)


def tensor_problems(state, max_values: int, shown: int = 8) -> list[str]:
    """What makes `state` unusable as weights: not a str -> tensor mapping, non-float or sparse tensors, more
    than `max_values` values in all (a tiny file can declare huge zero-stride tensors), NaN or infinity.

    Cheap checks come first, so a tensor is only read once the whole dict is known to be of a sane size."""
    if not isinstance(state, Mapping):
        return [f"the weights are a {type(state).__name__}, not a mapping of names to tensors"]
    wrong = [f"{k!r:.60}: {type(v).__name__}" for k, v in state.items()
             if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if wrong:
        return _listed([("not a named tensor", wrong)], shown)
    kinds = [f"{k}: {v.dtype}, {v.layout}" for k, v in state.items()
             if not v.dtype.is_floating_point or v.layout != torch.strided or v.device.type == "meta"]
    if kinds:
        return _listed([("not a dense floating-point tensor", kinds)], shown)
    total = sum(v.numel() for v in state.values())
    if total > max_values:
        return [f"the tensors hold {total:,} values, more than the {max_values:,} allowed"]
    bad = [k for k, v in state.items() if not bool(torch.isfinite(v).all())]
    return _listed([("NaN or infinite values in", bad)], shown)


def _listed(groups: list[tuple[str, list[str]]], shown: int) -> list[str]:
    return [f"{label} ({len(items)}): {', '.join(items[:shown])}{' ...' if len(items) > shown else ''}"
            for label, items in groups if items]
