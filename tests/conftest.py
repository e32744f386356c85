"""Shared test setup: offline, fixed threads, where the read-only shared data lives, and two helpers
(`free_port`, `tiny_generator`, `local_model`) that several test files use."""
import os
import shutil
import socket
from pathlib import Path

import pytest
import torch

from draggan.networks import Generator, GeneratorConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the checkout (CI puts it there); tests that need it skip without it."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_model(checkpoints: Path) -> str:
    """A copy of the bundled facades generator in an app's checkpoints folder, as the model menu offers it: a file of
    one's own, which may draw faces (the face detector decides), where the bundled entry says it draws none."""
    from draggan.registry import BUNDLED_DIR, BUNDLED_MODEL, REGISTRY
    path = checkpoints / "my-portraits.safetensors"
    shutil.copy(BUNDLED_DIR / REGISTRY[BUNDLED_MODEL].filename, path)
    return str(path)


def tiny_generator(res: int = 64, seed: int = 0, dim: int = 32, channel_base: int = 1024, channel_max: int = 32,
                   noise_strength: float | None = None, perturb: float = 0.0, **synthesis) -> Generator:
    """A small StyleGAN2 (2 mapping layers, z and w of `dim`) with weights drawn from `seed`, in eval mode.

    A fresh generator has zero noise strengths and biases and w_avg at zero: `noise_strength` sets every
    layer's (so that a mis-sliced noise map shows), `perturb` adds that much Gaussian noise to every
    tensor (so that a loader that drops or mixes up a tensor cannot pass by luck).
    """
    torch.manual_seed(seed)
    config = GeneratorConfig(z_dim=dim, w_dim=dim, img_resolution=res, mapping_kwargs={"num_layers": 2},
                             synthesis_kwargs={"channel_base": channel_base, "channel_max": channel_max,
                                               "conv_clamp": 256, **synthesis})
    G = Generator(config).eval()
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if noise_strength is not None and name.endswith("noise_strength"):
                t.fill_(noise_strength)
            if perturb and not name.endswith("resample_filter"):
                t.add_(perturb * torch.randn_like(t))
    return G.requires_grad_(False)
