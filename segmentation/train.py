"""Train pix2pix either way on facades: G = λ_rec·rec(G(x), y) + λ_adv·GAN(D(x, G(x))).

    python -m segmentation.train --data ../shared/datasets/facades/train --out runs/facades
    python -m segmentation.train --data ../shared/datasets/facades/train --out runs/painter \
        --direction BtoA --head rgb --lambda-rec 100 --dropout 0.5 ...   # labels -> photo (docs/painter.md)

The default generator has a class head (13 logits, label = argmax) trained with the L1
between its softmax and the one-hot labels (``--rec ce``: cross-entropy), and a conditional
PatchGAN on (photo, class-probability map) at λ_rec : λ_adv = 20 : 1. ``--head rgb`` is the
earlier Tanh colour head with a colour L1; ``--lambda-adv 0`` trains without a discriminator.

One process trains on the best device; ``torchrun --nproc_per_node N -m segmentation.train ...``
trains with DistributedDataParallel (gloo on CPU, nccl on CUDA), multi-node included.
``--direction BtoA`` trains the painter: G reads the one-hot class map and writes a photo (L1 to
the real photo), D sees (class map, photo), and validation is the FCN-score (``fcn_score``): the
shipped default segmenter reads each painted photo back, scored against the map it was painted from.

Rank 0 validates, plots and writes checkpoints:

- ``OUT/best.safetensors`` + ``best.json``: the generator with the best validation mIoU (FCN mIoU for BtoA);
- ``OUT/best.pt`` and ``OUT/last.pt``: resume states (``--resume`` takes either): weights,
  optimisers, lr schedule, history; the augmentation stream restarts. A resumed run may set a
  new ``--iters`` / ``--decay-start`` (the schedule is a function of the iteration);
- ``OUT/history.json``, ``OUT/loss_curves.png``, ``OUT/samples_<iter>.png``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from common import pick_device
from common.flags import opt, parse_config

from .checkpoint import load_state, save_segmenter, save_state
from .data import PairedConfig, PairedFolder, list_pairs, read_pair, split_files
from .evaluate import evaluate
from .fcn_score import fcn_score, read_pairs
from .losses import class_reconstruction, discriminator_loss, gan_loss
from .model import SegmentationModel, load_model
from .painter import Painter, one_hot
from .networks import PatchDiscriminator, SegmenterConfig, build_segmenter, init_weights
from .palette import PALETTE
from .plots import plot_losses, sample_grid


@dataclass
class TrainConfig:
    data: str = field(metadata={"help": "side-by-side paired folder (photo left, labels right)"})
    out: str = field(metadata={"help": "run folder: checkpoints, history, figures"})
    arch: str = opt("unet", "generator: 'unet' (pix2pix) or 'fcn' (the earlier encoder-decoder)")
    head: str = opt("class", "'class': 13 logits, label = argmax; 'rgb': Tanh colours snapped to the palette")
    rec: str = opt("l1", "class head's reconstruction loss: 'l1' (softmax vs one-hot), 'ce', or 'ce+lovasz' "
                         "(cross-entropy + the Lovász-softmax IoU surrogate)")
    ngf: int = opt(16, "U-Net width: channels of the first encoder block")
    depth: int = opt(7, "U-Net down-samplings")
    norm: str = opt("instance", "'instance' or 'batch'")
    dropout: float = opt(0.0, "dropout in the 3 innermost decoder blocks (train only; a resumed run takes this flag)")
    ndf: int = opt(64, "PatchGAN width")
    lambda_rec: float = opt(20.0, "reconstruction weight (20 : 1 with --lambda-adv is the default)")
    lambda_adv: float = opt(1.0, "adversarial weight; 0 = no discriminator")
    lambda_sem: float = opt(0.0, "painter only: semantic-consistency weight, the cross-entropy of --sem-reader's "
                                 "reading of the painted photo against its label map; 0 = pix2pix's loss alone")
    sem_reader: str = opt("cgan", "the frozen shipped segmenter --lambda-sem reads with (not the judge, "
                                  "which is the default segmenter)")
    gan_mode: str = opt("vanilla", "'vanilla' (BCE) or 'lsgan'")
    d_input: str = opt("soft", "class head's fake map for D: 'soft' (softmax) or 'hard' (straight-through one-hot: "
                               "argmax forward, softmax gradient, so softness is no tell)")
    iters: int = opt(20000, "training iterations (batches)")
    decay_start: int = opt(-1, "iteration where linear lr decay to 0 starts; -1 = iters // 2")
    batch_size: int = opt(1, "pairs per batch")
    lr: float = opt(2e-4, "Adam learning rate of G and D")
    beta1: float = opt(0.5, "Adam beta1")
    load_size: int = opt(286, "photos and labels are resized to this before the random crop")
    load_size_max: int = opt(0, "zoom jitter: if > load-size, each item's resize side is drawn from "
                                "[load-size, load-size-max]")
    color_jitter: float = opt(0.0, "photo brightness, contrast and saturation jitter strength j: factors U(1-j, 1+j)")
    crop_size: int = opt(256, "random crop size (may be smaller than image-size: the U-Net is convolutional)")
    image_size: int = opt(256, "square size predict and validation resize photos to")
    direction: str = opt("AtoB", "'AtoB': photo -> labels (segment); 'BtoA': labels -> photo (paint; needs --head rgb)")
    val_fraction: float = opt(0.1, "held-out share of the pairs (seeded split)")
    split_seed: int = opt(0, "seed of the train / validation split")
    seed: int = opt(0, "seed of weights and augmentation")
    val_every: int = opt(1000, "validate and checkpoint every this many iterations")
    log_every: int = opt(50, "log mean losses and images/s every this many iterations")
    threads: int = opt(0, "torch CPU threads per process; 0 = torch's default")
    workers: int = opt(0, "DataLoader worker processes (augmentation off the training thread)")
    bf16: bool = opt(False, "bf16 autocast for the forward passes (CPU: needs avx512_bf16 or AMX)")
    channels_last: bool = opt(False, "channels-last memory format for G and D")
    device: str = opt("", "cpu / cuda / mps; '' = best available")

    def segmenter(self) -> SegmenterConfig:
        """The generator these flags describe (also what a resume state's config rebuilds)."""
        return SegmenterConfig(self.arch, self.ngf, self.depth, self.norm, self.dropout, self.image_size, self.head,
                               len(PALETTE), self.direction)


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, Path | None]:
    return parse_config(TrainConfig, __doc__, argv)


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


def _seed_worker(worker_id: int) -> None:
    """Give each DataLoader worker its own augmentation stream (they start as copies)."""
    info = torch.utils.data.get_worker_info()
    info.dataset.rng = np.random.default_rng(torch.initial_seed() % 2 ** 32)


@dataclass
class Nets:
    """Everything a training step changes, and what a checkpoint holds."""
    G: torch.nn.Module
    D: torch.nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    G_train: torch.nn.Module       # G, or G wrapped in DDP.
    D_train: torch.nn.Module | None
    palette: torch.Tensor          # (C, 3) class colours in [-1, 1], for the rgb head's targets.
    reader: torch.nn.Module | None  # The frozen segmenter of the painter's semantic-consistency loss.


def _build_nets(cfg: TrainConfig, scfg: SegmenterConfig, device, distributed: bool) -> Nets:
    G = build_segmenter(scfg).to(device)
    init_weights(G)
    D = None
    if cfg.lambda_adv > 0:
        D = PatchDiscriminator(cfg.ndf, 3, cfg.norm, in_channels=scfg.in_channels + scfg.out_channels).to(device)
        init_weights(D)
    if cfg.channels_last:
        G = G.to(memory_format=torch.channels_last)
        D = D.to(memory_format=torch.channels_last) if D is not None else None
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), cfg.lr, betas=(cfg.beta1, 0.999)) if D is not None else None
    palette = torch.from_numpy(PALETTE).float().div(127.5).sub(1).to(device)
    return Nets(G, D, opt_g, opt_d, DDP(G) if distributed else G,
                DDP(D) if distributed and D is not None else D, palette, _reader(cfg, device))


def _reader(cfg: TrainConfig, device) -> torch.nn.Module | None:
    """The frozen class-head segmenter that reads painted photos back for ``--lambda-sem``."""
    if cfg.lambda_sem <= 0:
        return None
    if cfg.direction != "BtoA":
        raise ValueError("--lambda-sem is the painter's loss: it needs --direction BtoA")
    model = load_model(cfg.sem_reader, device=device)
    if model.head != "class":
        raise ValueError(f"--sem-reader {cfg.sem_reader!r} has a {model.head!r} head; it needs a class head")
    return model.segmenter.eval().requires_grad_(False)


def _d_view(probs: torch.Tensor, kind: str) -> torch.Tensor:
    """What D sees of G's class map. Real maps are one-hot, so a soft map is told apart by its softness
    alone (see ``probe_discriminator``); "hard" shows D the argmax one-hot and passes the softmax gradient."""
    if kind == "soft":
        return probs
    if kind == "hard":
        hard = F.one_hot(probs.argmax(1), probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
        return hard + probs - probs.detach()
    raise ValueError(f"d_input must be 'soft' or 'hard', got {kind!r}")


def train_step(cfg: TrainConfig, nets: Nets, x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """One pix2pix step as in its ``optimize_parameters``: D on (real, fake) pairs, then G. Returns the losses.

    AtoB: x is the photo, target its class map. BtoA: x is the class map (read one-hot), target the photo."""
    classes = x
    if cfg.direction == "BtoA":
        x = one_hot(x, len(PALETTE))
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    nets.G_train.train()
    with autocast:
        out = nets.G_train(x).float()
    if cfg.head == "class":
        truth = one_hot(target, out.shape[1])
        real, fake = truth, _d_view(out.softmax(1), cfg.d_input)
        g_rec = class_reconstruction(cfg.rec, out, target, truth)
    else:  # a colour output (a painter is always one): the photo itself, or the label colours
        real = target if cfg.direction == "BtoA" else nets.palette[target].permute(0, 3, 1, 2)
        fake = out
        g_rec = (fake - real).abs().mean()
    logs = {"g_rec": g_rec.item()}
    g_adv = torch.zeros((), device=x.device)
    if nets.D is not None:
        # D: real pairs towards 1, generated pairs towards 0, in one forward over [real; fake]
        # (instance norm keeps the halves independent).
        with autocast:
            logits = nets.D_train(torch.cat([x, x]), torch.cat([real, fake.detach()])).float()
        loss_d, d_real, d_fake = discriminator_loss(*logits.chunk(2), cfg.gan_mode)
        nets.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        nets.opt_d.step()
        # G through the bare D: D's weights are frozen here, so no DDP sync is needed.
        nets.D.requires_grad_(False)
        with autocast:
            g_adv = gan_loss(nets.D(x, fake).float(), True, cfg.gan_mode)
        nets.D.requires_grad_(True)
        logs.update(d_real=d_real.item(), d_fake=d_fake.item(), g_adv=g_adv.item())
    loss_g = cfg.lambda_rec * g_rec + cfg.lambda_adv * g_adv
    if nets.reader is not None:
        with autocast:
            read = nets.reader(fake).float()
        g_sem = F.cross_entropy(read, classes)
        loss_g = loss_g + cfg.lambda_sem * g_sem
        logs["g_sem"] = g_sem.item()
    nets.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    nets.opt_g.step()
    return logs


@dataclass
class Progress:
    """What validate_and_save reads and extends; also part of the resume state."""
    history: list = field(default_factory=list)   # Logged mean losses.
    val: list = field(default_factory=list)       # Validation scores.
    best: float = -1.0                            # Best validation mIoU so far.


def checkpoint_state(cfg: TrainConfig, nets: Nets, progress: Progress, it: int) -> dict:
    s = {"generator": nets.G.state_dict(), "opt_g": nets.opt_g.state_dict(), "iter": it,
         "best_miou": progress.best, "history": json.dumps(progress.history), "val": json.dumps(progress.val),
         "config": json.dumps(asdict(cfg)), "torch_rng": torch.get_rng_state()}
    if nets.D is not None:
        s.update(discriminator=nets.D.state_dict(), opt_d=nets.opt_d.state_dict())
    return s


_fcn = functools.cache(load_model)  # the painter's judge: the shipped default segmenter, read once per run


def _validate(cfg: TrainConfig, scfg: SegmenterConfig, G: torch.nn.Module, val_files: list[Path]):
    """(scores, summary, sample rows) of G on the validation pairs: segmentation mIoU, or the FCN-score."""
    device = next(G.parameters()).device
    if cfg.direction == "AtoB":
        model = SegmentationModel(G, scfg.image_size, PALETTE, device=device, head=scfg.head)
        s = evaluate(model, val_files)
        rows = [(a, b, model.predict(a)) for a, b in map(read_pair, val_files[:4])]
        return s, s.summary(), rows
    painter = Painter(G, scfg.image_size, PALETTE, device=device)
    pairs = read_pairs(val_files)
    painted = fcn_score(lambda classes, _: painter.paint(classes), _fcn(), pairs)
    rows = [(PALETTE[c], photo, painter.paint(c)) for photo, c in pairs[:4]]
    return painted.scores, painted.summary(), rows


def validate_and_save(cfg: TrainConfig, scfg: SegmenterConfig, nets: Nets, progress: Progress, it: int,
                      val_files: list[Path]) -> None:
    """Score G on the validation pairs; write best (if better) and last checkpoints, curves, samples."""
    out = Path(cfg.out)
    s, summary, rows = _validate(cfg, scfg, nets.G, val_files)
    nets.G.train()
    progress.val.append({"iter": it, **summary})
    print(json.dumps({"val": progress.val[-1]}), flush=True)
    if s.mean_iou > progress.best:
        progress.best = s.mean_iou
        meta = {"iter": it, "val": progress.val[-1], "class_iou": s.class_iou, "train_config": asdict(cfg)}
        save_segmenter(out / "best.safetensors", nets.G, scfg, meta)
        save_state(out / "best.pt", checkpoint_state(cfg, nets, progress, it))
    save_state(out / "last.pt", checkpoint_state(cfg, nets, progress, it))
    plot_losses([(out.name, progress.history, progress.val)], out / "loss_curves.png")
    sample_grid(rows, out / f"samples_{it:06d}.png")
    (out / "history.json").write_text(json.dumps({"train": progress.history, "val": progress.val}, indent=1))


@dataclass
class TrainResult:
    generator: torch.nn.Module  # This rank's trained generator (identical on all ranks).
    rank: int
    world_size: int
    iters: int
    best_miou: float            # Rank 0 only; NaN elsewhere.


def _start_ranks(cfg: TrainConfig):
    """(device, rank, world, distributed) after joining the torchrun job, if any."""
    device = pick_device(cfg.device or None)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device, 0, 1, False
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    return device, dist.get_rank(), dist.get_world_size(), True


def _restore(state: dict, nets: Nets, resume: Path) -> tuple[int, Progress]:
    nets.G.load_state_dict(state["generator"])
    nets.opt_g.load_state_dict(state["opt_g"])
    if nets.D is not None:
        if "discriminator" not in state:
            raise ValueError(f"{resume}: a checkpoint without a discriminator cannot resume GAN training")
        nets.D.load_state_dict(state["discriminator"])
        nets.opt_d.load_state_dict(state["opt_d"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["iter"]), Progress(json.loads(state["history"]), json.loads(state["val"]),
                                        float(state["best_miou"]))


def _adopt_shape(cfg: TrainConfig, saved: dict) -> None:
    """A resumed run's network shape, from the config saved with it."""
    for key in ("arch", "head", "ngf", "depth", "norm", "ndf", "image_size", "direction"):
        setattr(cfg, key, saved.get(key, getattr(cfg, key)))


def _loaders(cfg: TrainConfig, rank: int, world: int, distributed: bool):
    """(training loader, its DistributedSampler or None, validation files) of the split `cfg` asks for."""
    train_files, val_files = split_files(list_pairs(cfg.data), cfg.val_fraction, cfg.split_seed)
    if not val_files:
        raise ValueError(f"val_fraction {cfg.val_fraction} leaves no validation pairs in {cfg.data}")
    dataset = PairedFolder(train_files, PairedConfig(cfg.direction, cfg.load_size, cfg.crop_size,
                                                          load_size_max=cfg.load_size_max,
                                                          color_jitter=cfg.color_jitter),
                           train=True, palette=PALETTE, seed=cfg.seed + rank)
    sampler = torch.utils.data.DistributedSampler(dataset, world, rank, seed=cfg.seed) if distributed else None
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=sampler is None,
                                         sampler=sampler, drop_last=True, num_workers=cfg.workers,
                                         worker_init_fn=_seed_worker, persistent_workers=cfg.workers > 0)
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training pairs per process are fewer than batch size {cfg.batch_size}")
    return loader, sampler, val_files


def train(cfg: TrainConfig, resume: Path | None = None) -> TrainResult:
    """Run training on this process (one rank of a torchrun job, or alone)."""
    device, rank, world, distributed = _start_ranks(cfg)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    state = load_state(resume) if resume else None
    if state is not None:  # the network's shape comes from the checkpoint, not the flags (dropout has no weights)
        _adopt_shape(cfg, json.loads(state["config"]))
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")

    loader, sampler, val_files = _loaders(cfg, rank, world, distributed)
    scfg = cfg.segmenter()
    nets = _build_nets(cfg, scfg, device, distributed)
    start_it, progress = _restore(state, nets, resume) if state is not None else (0, Progress())
    # last_epoch = start_it - 1 puts a resumed schedule where it stopped (initial_lr comes from opt state).
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, _lr_factor(cfg), last_epoch=start_it - 1)
              for o in (nets.opt_g, nets.opt_d) if o is not None]

    sums: dict[str, float] = {}
    n_sum, t_log = 0, time.perf_counter()
    batches = _infinite(loader, sampler)
    bar = tqdm(range(start_it, cfg.iters), initial=start_it, total=cfg.iters, disable=rank != 0,
               mininterval=1.0 if sys.stderr.isatty() else 60.0, desc=f"train {out.name}")
    for it in bar:
        x, target = (t.to(device) for t in next(batches))
        for k, v in train_step(cfg, nets, x, target).items():
            sums[k] = sums.get(k, 0.0) + v
        for sched in scheds:
            sched.step()
        n_sum += 1
        done = it + 1
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.iters):
            entry = {"iter": done, **{k: v / n_sum for k, v in sums.items()},
                     "images_per_s": n_sum * cfg.batch_size * world / (time.perf_counter() - t_log),
                     "lr": scheds[0].get_last_lr()[0]}
            progress.history.append(entry)
            bar.set_postfix({k: f"{v:.3f}" for k, v in entry.items() if k != "iter"})
            if not sys.stderr.isatty():
                print(json.dumps(entry), flush=True)
            sums, n_sum, t_log = {}, 0, time.perf_counter()
        if done % cfg.val_every == 0 or done == cfg.iters:
            if rank == 0:
                validate_and_save(cfg, scfg, nets, progress, done, val_files)
                t_log = time.perf_counter()  # validation time is not training throughput
            if distributed:
                dist.barrier()
    bar.close()
    if distributed:
        dist.destroy_process_group()
    return TrainResult(nets.G, rank, world, cfg.iters, progress.best if rank == 0 else float("nan"))


def main(argv: list[str] | None = None) -> None:
    cfg, resume = parse_args(argv)
    result = train(cfg, resume)
    if result.rank == 0:
        print(json.dumps({"done": result.iters, "best_miou": result.best_miou}))


if __name__ == "__main__":
    main()
