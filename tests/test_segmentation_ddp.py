"""DistributedDataParallel training: 2 CPU processes on gloo, as torchrun would start them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from PIL import Image

from conftest import free_port
from segmentation.train import TrainConfig, train


def _random_pairs(folder: Path, n: int, size: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _rank(rank: int, world: int, port: int, cfg: TrainConfig, result_dir: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    result = train(cfg)
    torch.save({"rank": result.rank, "world": result.world_size,
                "weights": {k: v.clone() for k, v in result.generator.state_dict().items()}},
               Path(result_dir) / f"rank{rank}.pt")


def test_two_gloo_ranks_stay_in_sync_and_write_once(tmp_path):
    data = _random_pairs(tmp_path / "pairs", 12, 32)
    out = tmp_path / "run"
    cfg = TrainConfig(data=str(data), out=str(out), ngf=4, depth=4, ndf=4, load_size=36, crop_size=32, image_size=32,
                      iters=4, val_every=4, log_every=2, threads=1, device="cpu")
    mp.spawn(_rank, args=(2, free_port(), cfg, str(tmp_path)), nprocs=2, join=True)

    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert (r0["rank"], r1["rank"], r0["world"], r1["world"]) == (0, 1, 2, 2)
    # Each rank trained on its own shard; equal weights mean DDP averaged the gradients.
    for k, v in r0["weights"].items():
        assert torch.equal(v, r1["weights"][k]), k
    torch.manual_seed(0)
    from segmentation.networks import SegmenterConfig, build_segmenter, init_weights
    fresh = build_segmenter(SegmenterConfig(ngf=4, depth=4, image_size=32))
    init_weights(fresh)
    assert any(not torch.equal(v, r0["weights"][k]) for k, v in fresh.state_dict().items())

    # Only rank 0 wrote: one history with each logged iteration once, one best checkpoint.
    hist = json.loads((out / "history.json").read_text())
    assert [h["iter"] for h in hist["train"]] == [2, 4] and len(hist["val"]) == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["best.json", "best.pt", "best.safetensors", "config.json", "history.json", "last.pt",
         "loss_curves.png", "samples_000004.png"])
