"""The editor's generators: one copy per name for every visitor, and the model to open on without a network."""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from draggan.errors import CheckpointError
from draggan.loading import load_generator
from draggan.registry import BUNDLED_MODEL, list_models, model_label

DEFAULT_MODEL = "ffhq-512"
DEMO_MODEL = BUNDLED_MODEL  # `--demo`, and the fallback: the facades generator trained here, shipped in the repo.
MAX_CACHED_MODELS = 2     # Generators kept in memory at once (a 512 px FFHQ model is ~120 MB).


class ModelCache:
    """Generators shared by every session, one copy per name; the least recently used is dropped."""

    def __init__(self, device: torch.device):
        self.device = device
        self._models: OrderedDict[str, torch.nn.Module] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> torch.nn.Module:
        """The generator for a dropdown value; a CheckpointError says what is missing and where to put it."""
        with self._lock:
            if name not in self._models:
                model = load_generator(name, device=self.device)
                self._models[name] = model.to(self.device).eval().requires_grad_(False)
                while len(self._models) > MAX_CACHED_MODELS:
                    self._models.popitem(last=False)
            self._models.move_to_end(name)
            return self._models[name]


def first_model(models: ModelCache, wanted: str, demo: bool) -> tuple[str, str]:
    """(the model the editor opens with, a notice for the page): `wanted`, loaded now, or the bundled model."""
    shipped = model_label(DEMO_MODEL)
    if demo:
        models.get(DEMO_MODEL)
        return DEMO_MODEL, f"Running **{shipped}**, the generator that ships with the app (no download)."
    print(f"Loading the drag model '{wanted}' (a registry model downloads once, ~360 MB)…", flush=True)
    try:
        models.get(wanted)
    except CheckpointError as err:
        print(f"⚠️ {err}\nThe drag tab runs on {shipped} instead.", flush=True)
        models.get(DEMO_MODEL)
        return DEMO_MODEL, (f"⚠️ **The drag model '{wanted}' is not available.** {err}\n\n"
                            f"Until then the drag tab runs on **{shipped}**, which ships with the app: "
                            "drag its windows and doors; faces need the face model.")
    return wanted, ""


def model_choices(first: str) -> list[str]:
    """The dropdown: the registry (the bundled model included) and local checkpoints, and `first` if it is none
    of them."""
    choices = list_models()
    return choices if first in choices else [*choices, first]
