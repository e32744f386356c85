"""Train a StyleGAN2 on a folder of photos, on a CPU in hours: the drag tab's own facade generator.

    python -m draggan.train --data ../shared/datasets/facades/train --out runs/facades128
    python -m draggan.train --data ../shared/datasets/facades/train --out runs/facades128 \
        --resume runs/facades128/last.pt --kimg 400        # continue, perhaps for longer

G is this project's `Generator` (so the app, the drag and the inversion read it like any StyleGAN2), small enough
for two cores. D is a projected discriminator on the frozen encoder of our shipped segmenter, behind DiffAugment
(`projected_discriminator.py`): it knows facades before it sees the first fake, which is what makes a few hundred
photos and a few hundred kimg enough. Hinge loss, Adam (0, 0.99), an EMA of G with NVlabs' ramp-up, style mixing,
bf16 autocast, and NVlabs' path length regularizer, lazy: the smooth W that a drag and an inversion walk in. The
photos are the left halves of pix2pix side-by-side pairs (`--layout pairs`, the facades set) or whole images (`--layout photos`, any folder: centre-cropped to squares), mirrored at random; the validation split
is the segmenters' own (seeded 10 %), held out from training.

Every `--snap-kimg` the run writes to OUT:

- `last.pt`: the resume state (G, G_ema, D's heads, both optimisers, kimg, history; `torch.load(weights_only=True)`);
- `G_ema.safetensors`: the EMA generator, which `load_generator` reads like any checkpoint;
- `samples.png`: a grid of G_ema at fixed seeds; `history.json` and `curves.png`: losses and the realism figure
  (`draggan.realism`: the default segmenter's Frechet and class-share distances to the validation photos).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from common.flags import opt, parse_config
from segmentation.data import IMAGE_SUFFIXES, list_pairs, read_pair, split_files

from .loading import save_generator
from .networks import Generator, GeneratorConfig
from .projected_discriminator import ProjectedDiscriminator
from .realism import Judge, compare, generator_samples


@dataclass
class TrainConfig:
    data: str = field(metadata={"help": "folder of photos (see --layout)"})
    out: str = field(metadata={"help": "run folder: resume state, generator, samples, curves"})
    layout: str = opt("pairs", "'pairs': left halves of side-by-side pairs (facades); 'photos': whole images")
    resolution: int = opt(128, "image size of G (a power of two)")
    z_dim: int = opt(256, "Z and W width")
    mapping_layers: int = opt(2, "mapping network depth")
    channel_base: int = opt(4096, "G's channels at resolution r are min(channel_base / r, channel_max)")
    channel_max: int = opt(64, "G's widest layer")
    kimg: float = opt(300.0, "train until this many thousand images have been shown to D")
    batch: int = opt(8, "images per step, even (small: early on, updates count more than images on a CPU)")
    g_lr: float = opt(0.001, "G's Adam learning rate")
    d_lr: float = opt(0.001, "D's Adam learning rate")
    ema_kimg: float = opt(5.0, "half-life of G_ema in kimg")
    ema_rampup: float = opt(0.05, "EMA ramp-up: the half-life is at most this share of the images seen so far")
    style_mixing: float = opt(0.5, "share of batches whose w switch to a second z at a random layer")
    diversity: float = opt(1.0, "weight of G's diversity hinge: pairs of fakes as far apart as pairs of photos")
    pl_weight: float = opt(2.0, "weight of the path length regularizer (NVlabs' value; 0: off)")
    pl_interval: int = opt(4, "run the path length regularizer every this many steps, on half the batch")
    val_fraction: float = opt(0.1, "held-out share of the photos (the segmenters' seeded split)")
    snap_kimg: float = opt(4.0, "write the state, samples, curves and the realism figure every this many kimg")
    realism_samples: int = opt(100, "G_ema images for the realism figure at each snapshot")
    seed: int = opt(0, "seed of weights, latents and augmentation")
    threads: int = opt(2, "torch CPU threads")
    bf16: bool = opt(True, "bf16 autocast for G and D (CPU: avx512_bf16 or AMX)")

    def generator(self) -> GeneratorConfig:
        return GeneratorConfig(z_dim=self.z_dim, w_dim=self.z_dim, img_resolution=self.resolution,
                               mapping_kwargs={"num_layers": self.mapping_layers},
                               synthesis_kwargs={"channel_base": self.channel_base, "channel_max": self.channel_max,
                                                 "conv_clamp": 256})


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, Path | None]:
    return parse_config(TrainConfig, __doc__, argv)


# ----------------------------------------------------------------------------- data

def _square(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(h, w)
    return rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def read_image(path: Path, layout: str, size: int) -> torch.Tensor:
    """One training photo as (3, size, size) uint8."""
    if layout == "pairs":
        rgb = read_pair(path)[0]
    elif layout == "photos":
        with Image.open(path) as im:
            rgb = _square(np.asarray(im.convert("RGB")))
    else:
        raise ValueError(f"layout must be 'pairs' or 'photos', got {layout!r}")
    return torch.from_numpy(np.array(Image.fromarray(rgb).resize((size, size), Image.LANCZOS))).permute(2, 0, 1)


def photo_split(cfg: TrainConfig) -> tuple[list[Path], list[Path]]:
    """(training, validation) files: the segmenters' seeded split of the folder."""
    if cfg.layout == "pairs":
        files = list_pairs(cfg.data)
    else:
        folder = Path(cfg.data)
        if not folder.is_dir():
            raise FileNotFoundError(f"photo folder not found: {folder}")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise ValueError(f"{cfg.data}: need at least 2 images to train on, found {len(files)}")
    return split_files(files, cfg.val_fraction)


def load_photos(files: list[Path], cfg: TrainConfig) -> torch.Tensor:
    """All photos in memory as (N, 3, R, R) uint8: 400 facades at 128 px are 20 MB."""
    return torch.stack([read_image(f, cfg.layout, cfg.resolution) for f in tqdm(files, desc="photos", leave=False)])


def real_batch(photos: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """`n` photos drawn with replacement, half of them mirrored, as floats in [-1, 1]."""
    x = photos[torch.randint(len(photos), (n,), generator=g)].float().div(127.5).sub(1)
    flip = torch.rand(n, generator=g) < 0.5
    x[flip] = x[flip].flip(3)
    return x


# ----------------------------------------------------------------------------- the run

PL_DECAY = 0.01  # NVlabs' pl_decay: the running mean's step towards each batch's mean path length.


class Run:
    """G, G_ema, D and their optimisers, with one training step and a resume state."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.G = Generator(cfg.generator()).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.D = ProjectedDiscriminator(seed=cfg.seed).train()
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.g_lr, betas=(0.0, 0.99), eps=1e-8)
        self.opt_D = torch.optim.Adam(self.D.heads.parameters(), lr=cfg.d_lr, betas=(0.0, 0.99), eps=1e-8)
        self.pl_mean = torch.zeros([])  # Running mean of the path lengths (NVlabs' pl_mean).
        self.nimg = 0
        self.history: list[dict] = []
        self.rng = torch.Generator().manual_seed(cfg.seed)

    def _ws(self, n: int) -> torch.Tensor:
        """W+ for `n` random z, with style mixing; tracks w_avg as NVlabs' mapping does (beta 0.995)."""
        mapping = self.G.mapping
        ws = mapping(torch.randn(n, self.G.z_dim, generator=self.rng))
        with torch.no_grad():
            mapping.w_avg.copy_(ws[:, 0].mean(0).lerp(mapping.w_avg, 0.995))
        if torch.rand([], generator=self.rng) < self.cfg.style_mixing:
            cut = int(torch.randint(1, ws.shape[1], [], generator=self.rng))
            ws = torch.cat([ws[:, :cut], mapping(torch.randn(n, self.G.z_dim, generator=self.rng))[:, cut:]], 1)
        return ws

    def _autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cfg.bf16)

    def step(self, photos: torch.Tensor) -> dict[str, float]:
        """One G step (hinge: -D(fake), plus the diversity hinge) and one D step on the same images, then the EMA.

        The reader is frozen, so projected features serve both steps: the fakes' read once with autograd for G's
        step, then detached for D's; the photos' read once without.
        """
        cfg = self.cfg
        with torch.no_grad(), self._autocast():
            real_feats = self.D.read(real_batch(photos, cfg.batch, self.rng), paired=True)
        self.D.heads.requires_grad_(False)  # G's step needs D's input gradient only.
        with self._autocast():
            fake = self.G.synthesis(self._ws(cfg.batch), noise_mode="random", fused_modconv=False)
            feats = self.D.read(fake, paired=True)
            g_loss = -self.D.score(feats).float().mean()
        spread = pair_distance(feats[:-1]) / pair_distance(real_feats[:-1]).clamp_min(1e-8)
        g_total = g_loss + cfg.diversity * F.relu(1 - spread).mean()
        if cfg.pl_weight > 0 and (self.nimg // cfg.batch) % cfg.pl_interval == 0:
            g_total = g_total + self._path_length_penalty() * cfg.pl_weight * cfg.pl_interval
        self.opt_G.zero_grad(set_to_none=True)
        g_total.backward()
        self.opt_G.step()

        self.D.heads.requires_grad_(True)
        with self._autocast():
            d_fake = F.relu(1 + self.D.score([f.detach() for f in feats])).float().mean()
            d_real = F.relu(1 - self.D.score(real_feats)).float().mean()
        self.opt_D.zero_grad(set_to_none=True)
        (d_fake + d_real).backward()
        self.opt_D.step()

        self.nimg += cfg.batch
        self._update_ema()
        return {"g": g_loss.item(), "d_real": d_real.item(), "d_fake": d_fake.item(),
                "pair_spread": spread.mean().item(), "pl_mean": self.pl_mean.item()}

    def _path_length_penalty(self) -> torch.Tensor:
        """(|J_w^T y| - its running mean)^2 for images y of random noise (Karras et al. 2020, sec. 3.2): a step in W
        moves the image alike wherever w is, which is what a drag's and an inversion's steps in W rely on. The mean
        starts at the first lengths measured, not at NVlabs' 0, so a run resumed with it switched on is not pulled
        towards a constant G."""
        ws = self._ws(max(1, self.cfg.batch // 2))
        with self._autocast():
            img = self.G.synthesis(ws, noise_mode="random", fused_modconv=False).float()
        y = torch.randn(img.shape, generator=self.rng) / math.sqrt(img.shape[2] * img.shape[3])
        grad, = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.float().square().sum(2).mean(1).sqrt()
        with torch.no_grad():
            start = lengths.mean() if self.pl_mean == 0 else self.pl_mean
            self.pl_mean = start.lerp(lengths.mean(), PL_DECAY)
        return (lengths - self.pl_mean).square().mean()

    @torch.no_grad()
    def _update_ema(self) -> None:
        half_life = min(self.cfg.ema_kimg * 1000, self.nimg * self.cfg.ema_rampup)
        beta = 0.5 ** (self.cfg.batch / max(half_life, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def state(self) -> dict:
        return {"config": asdict(self.cfg), "nimg": self.nimg, "history": json.dumps(self.history),
                "pl_mean": self.pl_mean, "G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(),
                "D_heads": self.D.trainable_state(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "rng": self.rng.get_state(),
                "torch_rng": torch.get_rng_state()}  # Noise and augmentation draw from torch's global stream.

    def load(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.D.load_state_dict(state["D_heads"], strict=False)
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.nimg, self.history = int(state["nimg"]), json.loads(state["history"])
        self.pl_mean = state.get("pl_mean", torch.zeros([]))  # states from before the regularizer lack it
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])


def pair_distance(feats: list[torch.Tensor]) -> torch.Tensor:
    """Mean absolute difference between the batch's first and second halves, per feature level: (levels,).

    Fakes that G draws alike sit close in the reader's features; a photo batch shows how far apart two facades
    should be (Mao et al. 2019's mode seeking, normalised by the data instead of the latents).
    """
    return torch.stack([(a - b).float().abs().mean() for a, b in (f.chunk(2) for f in feats)])


SHAPE_KEYS = ("resolution", "z_dim", "mapping_layers", "channel_base", "channel_max", "layout", "seed")


def resume_state(path: Path, cfg: TrainConfig) -> dict:
    """A resume state read without running code, checked to describe the same networks as `cfg`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = state["config"]
    changed = [k for k in SHAPE_KEYS if saved.get(k) != getattr(cfg, k)]
    if changed:
        raise ValueError(f"{path} was trained with other {', '.join(changed)} "
                         f"({', '.join(f'{k}={saved.get(k)}' for k in changed)}): pass the same flags to resume")
    return state


def save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".partial")
    torch.save(obj, tmp)
    tmp.replace(path)


# ----------------------------------------------------------------------------- figures

def sample_grid(G: Generator, path: Path, n: int = 32, seed: int = 1234) -> None:
    """G at fixed seeds (so grids of one run compare), 8 to a row."""
    with torch.no_grad():
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
        x = torch.cat([G(c) for c in z.split(16)]).clamp(-1, 1).add(1).mul(127.5).round().byte()
    rows = [torch.cat(list(x[i:i + 8]), dim=2) for i in range(0, n, 8)]
    Image.fromarray(torch.cat(rows, dim=1).permute(1, 2, 0).numpy()).save(path)


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    steps = [h for h in history if "g" in h]
    for key in ("g", "d_real", "d_fake", "pair_spread", "pl_mean"):
        axes[0].plot([h["kimg"] for h in steps if key in h], [h[key] for h in steps if key in h], lw=1, label=key)
    axes[0].set_title("hinge losses; fakes' pair spread; mean path length")
    axes[0].legend(fontsize=7)
    snaps = [h for h in history if "frechet" in h]
    axes[1].plot([h["kimg"] for h in snaps], [h["frechet"] for h in snaps], marker=".")
    axes[1].set_title("Frechet (segmenter classes) to validation")
    axes[2].plot([h["kimg"] for h in snaps], [h["class_share"] for h in snaps], marker=".")
    axes[2].set_title("class-share distance to validation")
    for ax in axes:
        ax.set_xlabel("kimg")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


# ----------------------------------------------------------------------------- main

def train(cfg: TrainConfig, resume: Path | None = None) -> Run:
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train_files, val_files = photo_split(cfg)
    photos = load_photos(train_files, cfg)
    judge = Judge()
    val = load_photos(val_files, cfg).float().div(127.5).sub(1)
    reference = judge.probabilities(torch.cat([val, val.flip(3)]))
    run = Run(cfg)
    if resume is not None:
        run.load(resume_state(resume, cfg))
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    print(f"{len(photos)} training photos, {len(val_files)} held out; G {sum(p.numel() for p in run.G.parameters()):,} "
          f"parameters; from {run.nimg / 1000:.1f} to {cfg.kimg} kimg", flush=True)

    bar = tqdm(total=cfg.kimg * 1000, initial=run.nimg, unit="img", unit_scale=True, smoothing=0.05)
    next_snap = (run.nimg // int(cfg.snap_kimg * 1000) + 1) * int(cfg.snap_kimg * 1000)
    losses: list[dict] = []
    t0, n0 = time.time(), run.nimg
    while run.nimg < cfg.kimg * 1000:
        losses.append(run.step(photos))
        bar.update(cfg.batch)
        if len(losses) == 10:
            mean = {k: float(np.mean([l[k] for l in losses])) for k in losses[0]}
            rate = (run.nimg - n0) / (time.time() - t0)
            run.history.append({"kimg": run.nimg / 1000, **mean, "img_per_s": rate})
            bar.set_postfix(g=f"{mean['g']:.2f}", d_real=f"{mean['d_real']:.2f}", d_fake=f"{mean['d_fake']:.2f}",
                            pair_spread=f"{mean['pair_spread']:.2f}")
            losses = []
        if run.nimg >= next_snap or run.nimg >= cfg.kimg * 1000:
            next_snap += int(cfg.snap_kimg * 1000)
            snapshot(run, judge, reference, out)
            t0, n0 = time.time(), run.nimg
    bar.close()
    return run


def snapshot(run: Run, judge: Judge, reference: torch.Tensor, out: Path) -> None:
    """Realism figure, samples, curves, the EMA generator and the resume state."""
    samples = generator_samples(run.G_ema, run.cfg.realism_samples, seed=run.cfg.seed)
    r = compare(judge.probabilities(samples), reference)
    run.history.append({"kimg": run.nimg / 1000, "frechet": r.frechet, "class_share": r.class_share,
                        "spread": r.spread})
    tqdm.write(f"kimg {run.nimg / 1000:g}: Frechet {r.frechet:.3f}, class-share distance {r.class_share:.3f}, "
               f"spread {r.spread:.2f}")
    sample_grid(run.G_ema, out / "samples.png")
    plot_history(run.history, out / "curves.png")
    (out / "history.json").write_text(json.dumps(run.history))
    save_generator(run.G_ema, out / "G_ema.safetensors", source=f"draggan.train {run.nimg / 1000:.1f} kimg")
    save_atomic(run.state(), out / "last.pt")


def main(argv: list[str] | None = None) -> None:
    cfg, resume = parse_args(argv)
    train(cfg, resume)


if __name__ == "__main__":
    main()
