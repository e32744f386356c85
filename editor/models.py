"""The editor's generators: one copy per name for every visitor, and the untrained demo generator."""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from draggan.errors import CheckpointError
from draggan.loading import load_generator
from draggan.networks import Generator, GeneratorConfig
from draggan.registry import list_models

DEFAULT_MODEL = "ffhq-512"
DEMO_MODEL = "demo: untrained 128 px generator (random weights)"
DEMO_SEED = 2023          # Fixed init of the demo generator: the same "model" on every machine.
MAX_CACHED_MODELS = 2     # Generators kept in memory at once (a 512 px FFHQ model is ~120 MB).


def demo_generator() -> Generator:
    """A small StyleGAN2 with seeded random weights, so the app runs with no checkpoint at all.

    It is untrained: its images are colour blobs, not faces. Dragging still works on them,
    which is what the offline demo and the browser test need.
    """
    config = GeneratorConfig(z_dim=64, w_dim=64, img_resolution=128, mapping_kwargs={"num_layers": 2},
                             synthesis_kwargs={"channel_base": 2048, "channel_max": 32, "conv_clamp": 256})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEMO_SEED)
        return Generator(config)


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
                model = demo_generator() if name == DEMO_MODEL else load_generator(name, device=self.device)
                self._models[name] = model.to(self.device).eval().requires_grad_(False)
                while len(self._models) > MAX_CACHED_MODELS:
                    self._models.popitem(last=False)
            self._models.move_to_end(name)
            return self._models[name]


def first_model(models: ModelCache, wanted: str, demo: bool) -> tuple[str, str]:
    """(the model the editor opens with, a notice for the page): `wanted`, loaded now, or the demo generator."""
    if demo:
        return DEMO_MODEL, "Running the **untrained demo generator** (random weights): colour blobs, not faces."
    print(f"Loading the drag model '{wanted}' (a registry model downloads once, ~360 MB)…", flush=True)
    try:
        models.get(wanted)
    except CheckpointError as err:
        print(f"⚠️ {err}\nThe drag tab runs on the untrained demo generator instead.", flush=True)
        return DEMO_MODEL, (f"⚠️ **The drag model '{wanted}' is not available.** {err}\n\n"
                            "Until then the drag tab runs on an **untrained demo generator** (random weights): "
                            "its images are colour blobs, not faces, but dragging works.")
    return wanted, ""


def model_choices(first: str) -> list[str]:
    """The dropdown: the demo generator, the registry and local checkpoints, and `first` if it is none of them."""
    choices = [DEMO_MODEL] + [m for m in list_models() if m != DEMO_MODEL]
    return choices if first in choices else [*choices, first]
