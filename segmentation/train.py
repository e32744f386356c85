"""Train pix2pix (photo -> facade labels): G = λ_rec·L1(G(x), y) + λ_adv·GAN(D(x, G(x))).

    python -m segmentation.train --data ../shared/datasets/facades/train --out runs/facades

One process trains on the best device; ``torchrun --nproc_per_node N -m segmentation.train ...``
trains with DistributedDataParallel (gloo on CPU, nccl on CUDA), multi-node included.
Rank 0 validates, plots and writes checkpoints:

- ``OUT/best.safetensors`` + ``best.json``: the generator with the best validation mIoU;
- ``OUT/best.pt`` and ``OUT/last.pt``: resume states (``--resume`` takes either): weights,
  optimisers, lr schedule, history; the augmentation stream restarts. A resumed run may set a
  new ``--iters`` / ``--decay-start`` (the schedule is a function of the iteration);
- ``OUT/history.json``, ``OUT/loss_curves.png``, ``OUT/samples_<iter>.png``.
``--lambda-adv 0`` trains with L1 only (no discriminator).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import MISSING, asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from .checkpoint import load_state, save_generator, save_state
from .data import PairedConfig, PairedFolder, list_pairs, read_pair, split_files
from .evaluate import evaluate
from .losses import discriminator_loss, gan_loss
from common import pick_device

from .model import SegmentationModel
from .networks import GeneratorConfig, PatchDiscriminator, build_generator, init_weights
from .palette import PALETTE
from .plots import plot_losses, sample_grid


@dataclass
class TrainConfig:
    data: str
    out: str
    arch: str = "unet"
    ngf: int = 16
    depth: int = 7
    norm: str = "instance"
    dropout: float = 0.0
    ndf: int = 64              # PatchGAN width.
    lambda_rec: float = 20.0   # L1 weight; 20 : 1 is the default ratio.
    lambda_adv: float = 1.0    # GAN weight; 0 = L1 only.
    gan_mode: str = "vanilla"  # "vanilla" (BCE) or "lsgan".
    iters: int = 20000
    decay_start: int = -1      # Iteration where linear lr decay to 0 starts; -1 = iters // 2.
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    load_size: int = 286
    crop_size: int = 256
    direction: str = "AtoB"
    val_fraction: float = 0.1
    split_seed: int = 0
    seed: int = 0
    val_every: int = 1000
    log_every: int = 50
    threads: int = 0           # torch CPU threads per process; 0 = torch's default.
    device: str = ""           # "" = best available.


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, Path | None]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in TrainConfig.__dataclass_fields__.items():
        flag = "--" + name.replace("_", "-")
        if default.default is MISSING:
            p.add_argument(flag, required=True)
        else:
            p.add_argument(flag, type=type(default.default), default=default.default)
    p.add_argument("--resume", type=Path, default=None, help="a best.pt or last.pt to continue from")
    args = vars(p.parse_args(argv))
    resume = args.pop("resume")
    return TrainConfig(**args), resume


def _lr_factor(cfg: TrainConfig):
    start = cfg.iters // 2 if cfg.decay_start < 0 else cfg.decay_start
    return lambda it: 1.0 if it < start else max(0.0, 1.0 - (it - start) / max(1, cfg.iters - start))


def _infinite(loader, sampler):
    epoch = 0
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _save_samples(model: SegmentationModel, files: list[Path], path: Path, direction: str) -> None:
    rows = []
    for f in files:
        a, b = read_pair(f)
        x, y = (a, b) if direction == "AtoB" else (b, a)
        rows.append((x, y, model.predict(x)))
    sample_grid(rows, path)


@dataclass
class TrainResult:
    generator: torch.nn.Module  # This rank's trained generator (identical on all ranks).
    rank: int
    world_size: int
    iters: int
    best_miou: float            # Rank 0 only; NaN elsewhere.


def train(cfg: TrainConfig, resume: Path | None = None) -> TrainResult:
    """Run training on this process (one rank of a torchrun job, or alone)."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = pick_device(cfg.device or None)
    if distributed:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    else:
        rank, world = 0, 1
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    state = load_state(resume) if resume else None
    if state is not None:
        saved = json.loads(state["config"])
        for key in ("arch", "ngf", "depth", "norm", "dropout", "ndf", "crop_size"):
            setattr(cfg, key, saved[key])
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")

    files = list_pairs(cfg.data)
    train_files, val_files = split_files(files, cfg.val_fraction, cfg.split_seed)
    if not val_files:
        raise ValueError(f"val_fraction {cfg.val_fraction} leaves no validation pairs in {cfg.data}")
    data_cfg = PairedConfig(cfg.direction, cfg.load_size, cfg.crop_size)
    dataset = PairedFolder(train_files, data_cfg, train=True, palette=PALETTE, seed=cfg.seed + rank)
    sampler = torch.utils.data.DistributedSampler(dataset, world, rank, seed=cfg.seed) if distributed else None
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=sampler is None,
                                         sampler=sampler, drop_last=True, num_workers=0)
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training pairs per process are fewer than batch size {cfg.batch_size}")

    gcfg = GeneratorConfig(cfg.arch, cfg.ngf, cfg.depth, cfg.norm, cfg.dropout, cfg.crop_size)
    G = build_generator(gcfg).to(device)
    init_weights(G)
    use_gan = cfg.lambda_adv > 0
    D = PatchDiscriminator(cfg.ndf, 3, cfg.norm).to(device) if use_gan else None
    if D is not None:
        init_weights(D)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), cfg.lr, betas=(cfg.beta1, 0.999)) if use_gan else None
    start_it, history, val_hist, best = 0, [], [], -1.0
    if state is not None:
        G.load_state_dict(state["generator"])
        opt_g.load_state_dict(state["opt_g"])
        if use_gan:
            if "discriminator" not in state:
                raise ValueError(f"{resume}: an L1-only checkpoint cannot resume GAN training")
            D.load_state_dict(state["discriminator"])
            opt_d.load_state_dict(state["opt_d"])
        start_it, best = int(state["iter"]), float(state["best_miou"])
        history, val_hist = json.loads(state["history"]), json.loads(state["val"])
        torch.set_rng_state(state["torch_rng"])
    # last_epoch = start_it - 1 puts a resumed schedule where it stopped (initial_lr comes from opt state).
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, _lr_factor(cfg), last_epoch=start_it - 1)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, _lr_factor(cfg), last_epoch=start_it - 1) if use_gan else None
    G_train = DDP(G) if distributed else G
    D_train = DDP(D) if distributed and use_gan else D

    def checkpoint_state(it: int) -> dict:
        s = {"generator": G.state_dict(), "opt_g": opt_g.state_dict(), "iter": it, "best_miou": best,
             "history": json.dumps(history), "val": json.dumps(val_hist),
             "config": json.dumps(asdict(cfg)), "torch_rng": torch.get_rng_state()}
        if use_gan:
            s.update(discriminator=D.state_dict(), opt_d=opt_d.state_dict())
        return s

    sums: dict[str, float] = {}
    n_sum, t_log = 0, time.perf_counter()
    batches = _infinite(loader, sampler)
    bar = tqdm(range(start_it, cfg.iters), initial=start_it, total=cfg.iters, disable=rank != 0,
               mininterval=1.0 if sys.stderr.isatty() else 60.0, desc=f"train {out.name}")
    for it in bar:
        G_train.train()
        x, y = (t.to(device) for t in next(batches))
        fake = G_train(x)
        logs = {}
        if use_gan:
            # D step: real pairs towards 1, generated pairs towards 0.
            # One D forward over [real; fake] (instance norm keeps the halves independent).
            logits = D_train(torch.cat([x, x]), torch.cat([y, fake.detach()]))
            real_logits, fake_logits = logits.chunk(2)
            loss_d, d_real, d_fake = discriminator_loss(real_logits, fake_logits, cfg.gan_mode)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            logs.update(d_real=d_real.item(), d_fake=d_fake.item())
            # G step through the bare D: D's weights are frozen here, so no DDP sync is needed.
            D.requires_grad_(False)
            g_adv = gan_loss(D(x, fake), True, cfg.gan_mode)
            D.requires_grad_(True)
            logs["g_adv"] = g_adv.item()
        else:
            g_adv = torch.zeros((), device=device)
        g_rec = (fake - y).abs().mean()
        loss_g = cfg.lambda_rec * g_rec + cfg.lambda_adv * g_adv
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        sched_g.step()
        if sched_d:
            sched_d.step()
        logs["g_rec"] = g_rec.item()
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + v
        n_sum += 1
        done = it + 1
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.iters):
            dt = time.perf_counter() - t_log
            entry = {"iter": done, **{k: v / n_sum for k, v in sums.items()},
                     "images_per_s": n_sum * cfg.batch_size * world / dt, "lr": sched_g.get_last_lr()[0]}
            history.append(entry)
            bar.set_postfix({k: f"{v:.3f}" for k, v in entry.items() if k != "iter"})
            if not sys.stderr.isatty():
                print(json.dumps(entry), flush=True)
            sums, n_sum, t_log = {}, 0, time.perf_counter()
        if done % cfg.val_every == 0 or done == cfg.iters:
            if rank == 0:
                model = SegmentationModel(G, cfg.crop_size, PALETTE, device=device)
                s = evaluate(model, val_files, cfg.direction)
                val_hist.append({"iter": done, "pixel_accuracy": s.pixel_accuracy,
                                 "mean_class_accuracy": s.mean_class_accuracy, "mean_iou": s.mean_iou})
                print(json.dumps({"val": val_hist[-1]}), flush=True)
                if s.mean_iou > best:
                    best = s.mean_iou
                    meta = {"iter": done, "val": val_hist[-1], "class_iou": s.class_iou,
                            "train_config": asdict(cfg)}
                    save_generator(out / "best.safetensors", G, gcfg, meta)
                    save_state(out / "best.pt", checkpoint_state(done))
                save_state(out / "last.pt", checkpoint_state(done))
                plot_losses(history, val_hist, out / "loss_curves.png", out.name)
                _save_samples(model, val_files[:4], out / f"samples_{done:06d}.png", cfg.direction)
                (out / "history.json").write_text(json.dumps({"train": history, "val": val_hist}, indent=1))
                t_log = time.perf_counter()  # validation time is not training throughput
            if distributed:
                dist.barrier()
    bar.close()
    if distributed:
        dist.destroy_process_group()
    return TrainResult(G, rank, world, cfg.iters, best if rank == 0 else float("nan"))


def main(argv: list[str] | None = None) -> None:
    cfg, resume = parse_args(argv)
    result = train(cfg, resume)
    if result.rank == 0:
        print(json.dumps({"done": result.iters, "best_miou": result.best_miou}))


if __name__ == "__main__":
    main()
