"""The StyleGAN2 trainer (`draggan.train`) and its realism figure (`draggan.realism`)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from draggan import load_generator
from draggan.projected_discriminator import diff_augment, minibatch_std
from draggan.realism import Judge, compare, frechet_distance, read_photos, shuffled_pixels, validation_photos
from draggan.train import TrainConfig, pair_distance, parse_args, resume_state, train


def _pairs(folder, n=6, size=32):
    """Side-by-side pairs of blocky "facades": a wall colour with darker windows; labels on the right."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(n):
        photo = np.full((size, size, 3), rng.integers(120, 220, 3), np.uint8)
        for y in range(4, size - 4, 8):
            for x in range(4, size - 4, 8):
                photo[y:y + 4, x:x + 3] = rng.integers(0, 60, 3)
        Image.fromarray(np.concatenate([photo, np.zeros_like(photo)], 1)).save(folder / f"{i}.png")
    return folder


def _config(tmp_path, out="run", **changes):
    settings = dict(resolution=16, z_dim=16, channel_base=256, channel_max=16, batch=2, kimg=0.008,
                    snap_kimg=0.004, realism_samples=4, threads=1, pl_interval=2)  # the regularizer on each half
    return TrainConfig(data=str(tmp_path / "pairs"), out=str(tmp_path / out), **{**settings, **changes})


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _pairs(root / "pairs")
    return root


def test_a_few_steps_give_finite_losses_and_a_checkpoint_load_generator_reads_bit_identically(pairs):
    run = train(_config(pairs))
    snaps = [h for h in run.history if "frechet" in h]
    assert run.nimg == 8 and len(snaps) == 2
    assert all(math.isfinite(v) for h in run.history for k, v in h.items())
    assert run.pl_mean > 0  # the path length regularizer ran
    out = pairs / "run"
    G = load_generator(out / "G_ema.safetensors", device="cpu")
    expected = run.G_ema.state_dict()
    assert G.state_dict().keys() == expected.keys()
    assert all(torch.equal(G.state_dict()[k], expected[k]) for k in expected)
    assert G.img_resolution == 16 and G.z_dim == 16
    for name in ("samples.png", "curves.png", "history.json", "last.pt", "config.json"):
        assert (out / name).is_file(), name


def test_resume_continues_the_same_run(pairs):
    straight = train(_config(pairs, out="straight"))
    first = train(_config(pairs, out="halves", kimg=0.004))
    resumed = train(_config(pairs, out="halves"), resume=pairs / "halves" / "last.pt")
    assert first.nimg == 4 and resumed.nimg == 8
    for name, want in straight.G.state_dict().items():
        assert torch.equal(resumed.G.state_dict()[name], want), name
    for name, want in straight.D.trainable_state().items():
        assert torch.equal(resumed.D.trainable_state()[name], want), name


def test_resume_refuses_a_state_of_other_networks(pairs):
    train(_config(pairs, out="small", kimg=0.004))
    with pytest.raises(ValueError, match="channel_max=16"):
        resume_state(pairs / "small" / "last.pt", _config(pairs, out="small", channel_max=8))


def test_flags_come_from_the_config_dataclass():
    cfg, resume = parse_args(["--data", "d", "--out", "o", "--kimg", "1.5", "--no-bf16", "--resume", "x.pt"])
    assert cfg.kimg == 1.5 and cfg.bf16 is False and str(resume) == "x.pt"
    assert cfg.channel_max == TrainConfig.__dataclass_fields__["channel_max"].default


def test_a_folder_without_enough_images_is_refused(tmp_path):
    (tmp_path / "pairs").mkdir()
    Image.new("RGB", (32, 16)).save(tmp_path / "pairs" / "0.png")
    with pytest.raises(ValueError, match="at least 2 images"):
        train(_config(tmp_path))


def test_diff_augment_keeps_shape_and_gradient():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = diff_augment(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_frechet_distance_is_zero_for_one_set_and_the_squared_shift_for_a_moved_one():
    a = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + 0.5) == pytest.approx(8 * 0.25, rel=1e-6)


def test_realism_separates_real_photos_from_shuffled_ones(shared_dir):
    folder = shared_dir / "datasets" / "facades" / "train"
    judge = Judge()
    reference = validation_photos(folder, size=64)
    from segmentation.data import list_pairs, split_files
    train_files, _ = split_files(list_pairs(folder))
    real = read_photos(train_files[:40], 64)
    ref = judge.probabilities(reference)
    on_real = compare(judge.probabilities(real), ref)
    on_shuffled = compare(judge.probabilities(shuffled_pixels(real)), ref)
    assert on_real.frechet < on_shuffled.frechet / 2
    assert on_real.class_share < 0.1 < on_shuffled.class_share
    # One photo over and over: spread near 0 where varied photos score near 1.
    one = compare(judge.probabilities(real[:1].repeat(40, 1, 1, 1)), ref)
    assert one.spread < 0.05 and 0.7 < on_real.spread < 1.4


def test_the_heads_minibatch_std_tells_identical_images_from_varied_ones():
    """Without it G drew one facade for every z: D could not see that a batch of fakes lacked variety."""
    same = torch.randn(1, 5, 4, 4).repeat(8, 1, 1, 1)
    varied = torch.randn(8, 5, 4, 4)
    assert minibatch_std(same, 4).shape == (8, 6, 4, 4)
    assert minibatch_std(same, 4)[:, -1].max() < 1e-3
    assert minibatch_std(varied, 4)[:, -1].min() > 0.5
    torch.testing.assert_close(minibatch_std(varied, 4)[:, :5], varied)


def test_paired_augmentation_changes_pairs_alike_so_the_diversity_term_sees_content_only():
    x = torch.randn(3, 3, 16, 16)
    batch = torch.cat([x, x])                               # each image i equals image i + 3
    paired = diff_augment(batch, paired=True)
    assert not torch.equal(paired, batch)
    torch.testing.assert_close(paired[:3], paired[3:])
    assert pair_distance([paired]).item() == 0.0
    assert pair_distance([diff_augment(batch)]).item() > 0   # independent draws: distance from augmentation alone
    with pytest.raises(ValueError, match="even batch"):
        diff_augment(torch.randn(3, 3, 16, 16), paired=True)
