"""One key-and-shape check for every loader, so a checkpoint that does not fit says exactly how."""
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
    return [f"{label} ({len(items)}): {', '.join(items[:shown])}{' ...' if len(items) > shown else ''}"
            for label, items in [("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)]
            if items]
