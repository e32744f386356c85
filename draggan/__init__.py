"""StyleGAN2 generator and DragGAN editing.

Loading: `load_generator(source, device=None)` reads an NVlabs .pkl, a rosinality .pt, this project's
.safetensors or a registry name (`list_models()`, `REGISTRY`); `pick_device()` picks cuda, mps or cpu.
Every loading failure is a `CheckpointError` (a ValueError) whose message names the file.
Photos: `invert(G, target_uint8)` finds a W+ latent and an `Overlay` of tuned weights to edit it with
(`overlay.on(G)`); `InvertConfig` holds its settings.
"""
from .errors import (CheckpointError, CheckpointFormatError, CheckpointNotFoundError, ModelNotAvailableError,
                     UnsafeCheckpointError)
from common import pick_device

from .inversion import Inversion, InversionProgress, InvertConfig, invert
from .loading import load_generator, read_checkpoint, save_generator
from .networks import Generator, GeneratorConfig
from .registry import REGISTRY, ModelSpec, checkpoints_dir, list_models, resolve_source
from .overlay import Overlay
from .session import DragSession
