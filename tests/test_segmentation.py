"""Behaviour of the segmentation package: palette, data, networks, metrics, checkpoints, predict, CLIs."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segmentation import CLASS_NAMES, PALETTE, list_models, load_model, read_image
from segmentation.checkpoint import load_segmenter, load_state, save_segmenter, save_state
from segmentation.data import PairedConfig, PairedFolder, list_pairs, read_pair, split_files
from segmentation.evaluate import main as evaluate_main
from segmentation.losses import class_reconstruction, lovasz_softmax
from segmentation.metrics import confusion, scores
from segmentation.model import SegmentationModel, as_rgb
from segmentation.networks import (EncoderDecoder, PatchDiscriminator, SegmenterConfig, UNet,
                                   build_segmenter)
from segmentation.palette import classes_to_colours, colours_to_classes, derive_palette, quantise
from segmentation.probe_discriminator import probe
from segmentation.report import main as report_main
from segmentation.soup import average_weights
from segmentation.soup import main as soup_main
from segmentation.train import TrainConfig, _build_nets, _d_view, train_step
from segmentation.train import main as train_main

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FACADES = SHARED / "datasets" / "facades" / "train"


def synthetic_label_map(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Random rectangles of palette colours, JPEG-compressed like the real label maps."""
    classes = np.zeros((size, size), np.int64)
    for _ in range(12):
        y, x = rng.integers(0, size - 8, 2)
        h, w = rng.integers(6, size // 2, 2)
        classes[y:y + h, x:x + w] = rng.integers(0, len(PALETTE))
    return classes


def make_pair_folder(folder: Path, n: int, size: int = 64, seed: int = 0) -> Path:
    """Side-by-side pairs: photo = a per-class gray level plus noise, label = palette colours."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        classes = synthetic_label_map(rng, size)
        photo = np.repeat((classes * 20 + 10)[..., None], 3, -1) + rng.integers(0, 10, (size, size, 3))
        pair = np.concatenate([photo.clip(0, 255).astype(np.uint8), PALETTE[classes]], axis=1)
        Image.fromarray(pair).save(folder / f"{i + 1}.png")
    return folder


# --- palette -------------------------------------------------------------------------------


def test_palette_has_thirteen_distinct_named_colours():
    assert PALETTE.shape == (13, 3) and PALETTE.dtype == np.uint8
    assert len(CLASS_NAMES) == 13 and CLASS_NAMES[:2] == ("unlabelled", "background") and CLASS_NAMES[-1] == "shop"
    d = np.linalg.norm(PALETTE[:, None].astype(float) - PALETTE[None].astype(float), axis=-1)
    assert d[~np.eye(13, dtype=bool)].min() > 50


def outlined_label_map(rng: np.random.Generator) -> np.ndarray:
    """A 4 x 3 grid of boxes of the region classes on "background", each drawn with a 2 px
    "unlabelled" seam, as the facade label maps are."""
    classes = np.ones((96, 96), np.int64)
    for cell, c in enumerate(rng.permutation(np.arange(1, 13))):
        y, x = 32 * (cell // 4), 24 * (cell % 4)
        classes[y + 2:y + 30, x + 2:x + 22] = 0
        classes[y + 4:y + 28, x + 4:x + 20] = c
    return classes


def test_derive_palette_finds_region_colours_and_the_seam_colour(tmp_path):
    rng = np.random.default_rng(1)
    maps = [PALETTE[outlined_label_map(rng)] for _ in range(4)]
    assert np.array_equal(derive_palette(maps), PALETTE)
    # The seam colour never fills a 3x3 patch: only the second (line) stage can find it.
    assert np.array_equal(derive_palette(maps, num_classes=12), PALETTE[1:])


def test_derive_palette_recovers_colours_through_jpeg(tmp_path):
    rng = np.random.default_rng(1)
    maps = []
    for i in range(6):
        classes = synthetic_label_map(rng, 96)
        classes[:8, :7 * 13] = np.repeat(np.arange(13), 7)[None]  # every class appears
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(PALETTE[classes[:96, :96]]).save(path, quality=75)
        maps.append(np.asarray(Image.open(path)))
    assert np.abs(derive_palette(maps).astype(int) - PALETTE.astype(int)).max() <= 10


@pytest.mark.skipif(not FACADES.is_dir(), reason=f"facades data not found at {FACADES}")
def test_derive_palette_on_facades_matches_the_constant():
    files = list_pairs(FACADES)[::8]
    derived = derive_palette(read_pair(f)[1] for f in files)
    assert np.abs(derived.astype(int) - PALETTE.astype(int)).max() <= 6


def test_quantise_snaps_blended_colours_to_nearest_class():
    rgb = np.array([[[5, 3, 215], [250, 150, 10], [128, 128, 128]]], np.uint8)
    classes = colours_to_classes(rgb)
    assert classes.tolist() == [[1, 9, int(np.argmin(((PALETTE.astype(int) - 128) ** 2).sum(1)))]]
    assert np.array_equal(quantise(PALETTE[None]), PALETTE[None])
    assert np.array_equal(classes_to_colours(classes), PALETTE[classes])
    with pytest.raises(ValueError, match="class indices"):
        classes_to_colours(np.array([[13]]))


# --- metrics -------------------------------------------------------------------------------


def test_scores_by_hand():
    truth = np.array([[0, 0], [1, 1]])
    pred = np.array([[0, 1], [1, 1]])
    s = scores(confusion(truth, pred, 3))
    assert s.pixel_accuracy == pytest.approx(0.75)
    assert s.mean_class_accuracy == pytest.approx((0.5 + 1.0) / 2)
    assert s.class_iou[:2] == pytest.approx([1 / 2, 2 / 3])
    assert np.isnan(s.class_iou[2])  # absent class: left out of the mean
    assert s.mean_iou == pytest.approx((1 / 2 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="shapes differ"):
        confusion(truth, pred[:1], 3)


# --- data ----------------------------------------------------------------------------------


def test_split_is_seeded_disjoint_and_ten_percent():
    files = [Path(f"{i}.jpg") for i in range(1, 401)]
    train, val = split_files(files, 0.1, seed=0)
    assert len(val) == 40 and len(train) == 360 and not set(train) & set(val)
    assert split_files(files, 0.1, seed=0) == (train, val)
    assert split_files(files, 0.1, seed=1)[1] != val


def test_training_augmentation_moves_photo_and_label_together(tmp_path):
    folder = tmp_path / "same"
    folder.mkdir()
    rng = np.random.default_rng(0)
    half = PALETTE[synthetic_label_map(rng, 32)]
    Image.fromarray(np.concatenate([half, half], 1)).save(folder / "1.png")
    ds = PairedFolder(list_pairs(folder), PairedConfig(load_size=36, crop_size=32), train=True, seed=3)
    crops = [ds[0] for _ in range(8)]
    for x, y in crops:
        assert x.shape == y.shape == (3, 32, 32)
        assert torch.equal(x, y)  # same crop and flip on both halves
    assert any(not torch.equal(crops[0][0], c[0]) for c in crops[1:])  # augmentation varies
    labelled = PairedFolder(list_pairs(folder), PairedConfig(load_size=32, crop_size=32), palette=PALETTE)
    x, classes = labelled[0]
    assert classes.shape == (32, 32) and classes.dtype == torch.int64
    # The class map is flipped with the photo: each pixel's class matches its photo colour.
    photo = ((x + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.uint8)
    assert np.array_equal(colours_to_classes(photo), classes.numpy())


def test_zoom_and_colour_jitter_keep_photo_and_labels_aligned(tmp_path):
    folder = tmp_path / "zoom"
    folder.mkdir()
    half = PALETTE[synthetic_label_map(np.random.default_rng(1), 32)]
    Image.fromarray(np.concatenate([half, half], 1)).save(folder / "1.png")
    config = PairedConfig(load_size=32, crop_size=32, load_size_max=64)
    ds = PairedFolder(list_pairs(folder), config, train=True, palette=PALETTE, seed=0)
    crops = [ds[0] for _ in range(12)]
    for x, classes in crops:
        assert x.shape == (3, 32, 32) and classes.shape == (32, 32)
        photo = ((x + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.uint8)
        # Bicubic photo and nearest labels agree away from the class edges.
        assert (colours_to_classes(photo) == classes.numpy()).mean() > 0.85
    assert len({c.sum().item() for _, c in crops}) > 3  # zooms and offsets vary
    jittered = PairedFolder(list_pairs(folder), PairedConfig(load_size=32, crop_size=32, flip=False,
                                                             color_jitter=0.3), train=True, palette=PALETTE)
    plain = PairedFolder(list_pairs(folder), PairedConfig(load_size=32, crop_size=32, flip=False),
                         train=True, palette=PALETTE)
    (xj, yj), (xp, yp) = jittered[0], plain[0]
    assert torch.equal(yj, yp) and not torch.allclose(xj, xp) and xj.abs().max() <= 1
    with pytest.raises(ValueError, match="color_jitter"):
        PairedFolder(list_pairs(folder), PairedConfig(load_size=32, crop_size=32, color_jitter=1.5))


def test_lovasz_softmax_is_one_minus_iou_on_hard_maps():
    rng = np.random.default_rng(0)
    truth = torch.from_numpy(synthetic_label_map(rng, 32)).long()[None]
    pred = truth.clone()
    pred[:, :, :10] = (pred[:, :, :10] + 1) % 13  # a third of the columns wrong
    one_hot = torch.nn.functional.one_hot(pred, 13).permute(0, 3, 1, 2).float()
    present = truth.unique()
    ious = [((pred == c) & (truth == c)).sum() / ((pred == c) | (truth == c)).sum() for c in present]
    expected = 1 - torch.stack(ious).float().mean()
    assert lovasz_softmax(one_hot, truth).item() == pytest.approx(expected.item(), abs=1e-5)
    perfect = torch.nn.functional.one_hot(truth, 13).permute(0, 3, 1, 2).float()
    assert lovasz_softmax(perfect, truth).item() == pytest.approx(0.0, abs=1e-6)
    # A random subset of pixels estimates the same loss.
    torch.manual_seed(0)
    assert lovasz_softmax(one_hot, truth, max_pixels=512).item() == pytest.approx(expected.item(), abs=0.08)


def test_ce_plus_lovasz_pushes_a_rare_class_harder_than_ce():
    classes = torch.zeros(1, 16, 16, dtype=torch.long)
    classes[:, :2, :2] = 1  # 4 of 256 pixels
    logits = torch.zeros(1, 13, 16, 16, requires_grad=True)
    one_hot = torch.nn.functional.one_hot(classes, 13).permute(0, 3, 1, 2).float()
    ratios = {}
    for kind in ("ce", "ce+lovasz"):
        logits.grad = None
        class_reconstruction(kind, logits, classes, one_hot).backward()
        rare = -logits.grad[0, 1, :2, :2].mean()     # pull towards the rare class on its pixels
        common = -logits.grad[0, 0, 4:, 4:].mean()   # pull towards the common class on its pixels
        ratios[kind] = (rare / common).item()
    assert ratios["ce"] == pytest.approx(1.0)  # CE: every pixel alike
    assert ratios["ce+lovasz"] > 2.0           # Lovász: every class alike
    with pytest.raises(ValueError, match="ce\\+lovasz"):
        class_reconstruction("dice", logits, classes, one_hot)


def test_direction_btoa_swaps_halves(tmp_path):
    folder = make_pair_folder(tmp_path / "d", 1, 32)
    a, b = read_pair(folder / "1.png")
    x, y = PairedFolder(list_pairs(folder), PairedConfig("BtoA", 32, 32), train=False)[0]
    assert torch.allclose(x, torch.from_numpy(b.copy()).permute(2, 0, 1).float() / 127.5 - 1)


def test_odd_sized_and_non_image_files_are_named(tmp_path):
    folder = make_pair_folder(tmp_path / "bad", 2, 32)
    Image.fromarray(np.zeros((32, 50, 3), np.uint8)).save(folder / "3.png")
    with pytest.raises(ValueError, match=r"3\.png.*twice as wide"):
        PairedFolder(list_pairs(folder))
    (folder / "3.png").unlink()
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(folder / "4.png")
    with pytest.raises(ValueError, match=r"4\.png.*16x16"):
        PairedFolder(list_pairs(folder))
    (folder / "4.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"4\.png.*not a readable image"):
        read_pair(folder / "4.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        list_pairs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="missing"):
        list_pairs(tmp_path / "missing")


# --- networks ------------------------------------------------------------------------------


def test_encoder_decoder_is_the_earlier_network():
    g = EncoderDecoder()
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 8), (8, 16), (16, 32), (32, 64), (64, 128)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    y = g(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 3, 64, 64) and y.abs().max() <= 1


def test_unet_width_and_shape():
    small, wide = UNet(ngf=8, depth=5), UNet(ngf=16, depth=5)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert 3.5 < count(wide) / count(small) < 4.5  # parameters grow with width squared
    y = small(torch.randn(1, 3, 64, 64))
    assert y.shape == (1, 3, 64, 64) and y.abs().max() <= 1
    logits = build_segmenter(SegmenterConfig(ngf=4, depth=4, image_size=32))(torch.randn(1, 3, 32, 32) * 50)
    assert logits.shape == (1, 13, 32, 32) and logits.abs().max() > 1  # class head: unbounded logits
    with pytest.raises(ValueError, match="not divisible"):
        build_segmenter(SegmenterConfig(depth=7, image_size=96))
    with pytest.raises(ValueError, match="head must be"):
        build_segmenter(SegmenterConfig(head="labels", image_size=128))


def test_patchgan_sees_70_pixels_and_needs_matching_pairs():
    d = PatchDiscriminator(ndf=8, norm="batch").eval()  # eval batch norm: no image-wide statistics
    x = torch.zeros(1, 3, 256, 256, requires_grad=True)
    out = d(x, torch.zeros(1, 3, 256, 256))
    assert out.shape == (1, 1, 30, 30)
    out[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1, 3)))
    assert rows.max() - rows.min() + 1 == 70
    with pytest.raises(ValueError, match="photo and label of one size"):
        d(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 32, 32))


def test_train_step_updates_d_then_g_on_photo_and_class_probabilities():
    cfg = TrainConfig(data="", out="", ngf=4, depth=4, ndf=4, crop_size=32, image_size=32)
    nets = _build_nets(cfg, SegmenterConfig(ngf=4, depth=4, image_size=32), torch.device("cpu"), False)
    assert nets.D.net[0].in_channels == 3 + 13  # conditional D on (photo, 13-class probability map)
    g0 = [p.clone() for p in nets.G.parameters()]
    d0 = [p.clone() for p in nets.D.parameters()]
    x, classes = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randint(0, 13, (2, 32, 32))
    logs = train_step(cfg, nets, x, classes)
    assert set(logs) == {"g_rec", "g_adv", "d_real", "d_fake"} and 0 < logs["g_rec"] <= 2
    assert all(not torch.equal(a, b) for a, b in zip(g0, nets.G.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, nets.D.parameters()))


def test_hard_d_input_is_one_hot_forward_and_softmax_backward():
    logits = torch.randn(2, 13, 8, 8, requires_grad=True)
    probs = logits.softmax(1)
    hard = _d_view(probs, "hard")
    one_hot = torch.nn.functional.one_hot(logits.argmax(1), 13).permute(0, 3, 1, 2).float()
    assert torch.allclose(hard.detach(), one_hot, atol=1e-6)  # D sees the argmax map
    weights = torch.randn_like(probs)
    (grad_hard,) = torch.autograd.grad((hard * weights).sum(), logits, retain_graph=True)
    (grad_soft,) = torch.autograd.grad((probs * weights).sum(), logits)
    assert torch.allclose(grad_hard, grad_soft)  # straight-through: the softmax's gradient
    assert _d_view(probs, "soft") is probs
    with pytest.raises(ValueError, match="d_input"):
        _d_view(probs, "binary")


def test_probe_discriminator_reads_a_gan_runs_resume_state(tmp_path):
    cfg = TrainConfig(data="", out="", ngf=4, depth=4, ndf=4, crop_size=32, image_size=32)
    nets = _build_nets(cfg, cfg.segmenter(), torch.device("cpu"), False)
    state = {"generator": nets.G.state_dict(), "discriminator": nets.D.state_dict(), "iter": 3,
             "config": json.dumps(dataclasses.asdict(cfg))}
    save_state(tmp_path / "gan" / "last.pt", state)
    val = list_pairs(make_pair_folder(tmp_path / "pairs", 2, 32))
    verdict = probe(tmp_path / "gan", val)
    assert verdict["iter"] == 3 and all(0 <= verdict[k] <= 1 for k in ("truth", "softmax", "argmax", "top_probability"))
    save_state(tmp_path / "l1" / "last.pt", {k: v for k, v in state.items() if k != "discriminator"})
    with pytest.raises(ValueError, match="not a GAN run"):
        probe(tmp_path / "l1", val)
    state["config"] = json.dumps({**dataclasses.asdict(cfg), "ndf": 8})
    save_state(tmp_path / "gan" / "last.pt", state)
    with pytest.raises(ValueError, match="the discriminator does not fit the run's config"):
        probe(tmp_path / "gan", val)


# --- checkpoints and predict ---------------------------------------------------------------


def tiny_model(tmp_path: Path) -> Path:
    cfg = SegmenterConfig(ngf=4, depth=4, image_size=32)
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_segmenter(path, build_segmenter(cfg), cfg, {"note": "test"})
    return path


def test_checkpoint_round_trip_gives_same_predictions(tmp_path):
    path = tiny_model(tmp_path)
    g, cfg, info = load_segmenter(path)
    g2, _, _ = load_segmenter(path)
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(g(x), g2(x)) and cfg.ngf == 4 and info["meta"]["note"] == "test"


def test_corrupt_and_mismatched_checkpoints_fail_clearly(tmp_path):
    path = tiny_model(tmp_path)
    info = json.loads(path.with_suffix(".json").read_text())
    info["segmenter"]["ngf"] = 8
    path.with_suffix(".json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="shape"):
        load_segmenter(path)
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_segmenter(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="tiny.json"):
        load_segmenter(path)


def tiny_run(folder: Path, seed: int, it: int, ngf: int = 4) -> Path:
    """A run folder holding only a best checkpoint saved at iteration ``it``."""
    cfg = SegmenterConfig(ngf=ngf, depth=4, image_size=32)
    torch.manual_seed(seed)
    save_segmenter(folder / "best.safetensors", build_segmenter(cfg), cfg, {"iter": it})
    return folder


def test_soup_is_the_weight_mean_and_refuses_other_networks(tmp_path):
    a, b = (tiny_run(tmp_path / n, seed, 10) / "best.safetensors" for n, seed in (("a", 0), ("b", 1)))
    soup, cfg, ingredients = average_weights([a, b])
    ga, gb = load_segmenter(a)[0].state_dict(), load_segmenter(b)[0].state_dict()
    for k, v in soup.state_dict().items():
        assert torch.allclose(v, (ga[k] + gb[k]) / 2), k
    assert not torch.allclose(ga["out.0.weight"], gb["out.0.weight"])  # the two really differ
    assert [info["meta"]["iter"] for _, info in ingredients] == [10, 10]
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(average_weights([a, a])[0](x), load_segmenter(a)[0](x), atol=1e-6)
    wide = tiny_run(tmp_path / "wide", 0, 10, ngf=8) / "best.safetensors"
    with pytest.raises(ValueError, match="not the same network.*ngf 4 vs 8"):
        average_weights([a, wide])
    with pytest.raises(ValueError, match="at least two"):
        average_weights([a])


def test_soup_cli_writes_a_run_that_report_takes(tmp_path, capsys):
    data = make_pair_folder(tmp_path / "pairs", 10, 32)
    runs = [str(tiny_run(tmp_path / n, seed, it)) for n, seed, it in (("a", 0, 3), ("b", 1, 5))]
    soup_main(["--data", str(data), "--runs", *runs, "--out", str(tmp_path / "soup")])
    meta = json.loads((tmp_path / "soup" / "best.json").read_text())["meta"]
    assert meta["soup_of"] == {"a": 3, "b": 5} and meta["iter"] == 5
    assert set(meta["ingredient_val_miou"]) == {"a", "b"} and 0 <= meta["val"]["mean_iou"] <= 1
    assert "soup" in capsys.readouterr().out
    report_main(["--data", str(data), "--runs", str(tmp_path / "soup"), "--out", str(tmp_path / "report"),
                 "--grid-rows", "1"])
    assert "| soup | 5 |" in capsys.readouterr().out
    assert not (tmp_path / "report" / "loss_curves.png").exists()  # a soup has no curves of its own


def test_resume_state_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"generator": Evil(), "config": "{}"}))
    with pytest.raises(ValueError, match="not a readable training checkpoint"):
        load_state(bad)


def test_predict_any_size_and_bad_inputs(tmp_path):
    g, cfg, _ = load_segmenter(tiny_model(tmp_path))
    m = SegmentationModel(g, cfg.image_size, device="cpu")
    rng = np.random.default_rng(0)
    for shape in [(50, 70, 3), (33, 20), (40, 40, 4), (300, 17, 1)]:
        out = m.predict(rng.integers(0, 255, shape, dtype=np.uint8))
        assert out.shape == shape[:2] + (3,) and out.dtype == np.uint8
        assert set(map(tuple, out.reshape(-1, 3))) <= set(map(tuple, PALETTE))
    shares = m.class_shares(m.predict_classes(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)))
    assert list(shares) == list(CLASS_NAMES) and sum(shares.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 8 px"):
        m.predict(np.zeros((4, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="at most"):
        as_rgb(np.zeros((7000, 7000), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        m.predict(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        m.predict(np.zeros((32, 32, 2), np.uint8))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.png: not a readable image"):
        read_image(tmp_path / "notes.png")
    Image.fromarray(np.full((20, 30, 4), 200, np.uint8)).save(tmp_path / "rgba.png")
    assert m.predict(read_image(tmp_path / "rgba.png")).shape == (20, 30, 3)


def test_native_scale_pads_to_the_network_and_flip_tta_is_mirror_symmetric(tmp_path):
    g, cfg, _ = load_segmenter(tiny_model(tmp_path))
    seen = []
    g.register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape[2:])))
    photo = np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    native = SegmentationModel(g, cfg.image_size, device="cpu", scale="native")
    assert native.predict_classes(photo).shape == (37, 53)
    assert seen[-1] == (48, 64)  # own size, padded up to a multiple of 2**depth = 16
    tta = SegmentationModel(g, cfg.image_size, device="cpu", flip_tta=True)
    out = tta.predict_classes(photo)
    assert seen[-2:] == [(32, 32), (32, 32)]  # fixed scale: the training size, photo and mirror
    assert np.array_equal(tta.predict_classes(np.ascontiguousarray(photo[:, ::-1])), out[:, ::-1])
    with pytest.raises(ValueError, match="scale must be"):
        SegmentationModel(g, cfg.image_size, device="cpu", scale="huge")


def test_shipped_models_are_listed_small_and_load_by_name():
    shipped = list_models()
    assert len(shipped) >= 2 and shipped[0].default and sum(m.default for m in shipped) == 1
    for m in shipped:
        assert m.path.stat().st_size <= 20 * 2**20, f"{m.name} is over 20 MiB"
        model = load_model(m.name, device="cpu")
        assert model.image_size == 256 and np.array_equal(model.palette, PALETTE)
    with pytest.raises(ValueError, match=shipped[0].name):  # an unknown name lists the real ones
        load_model("no-such-model")


@pytest.mark.skipif(not FACADES.is_dir(), reason=f"facades data not found at {FACADES}")
def test_shipped_default_segments_held_out_facades():
    """On held-out pairs the default model must clearly beat painting everything "facade", and it must
    paint the 13th colour (the unlabelled seams) where the annotators left it: near true seams."""
    from segmentation.evaluate import evaluate

    val = split_files(list_pairs(FACADES), 0.1, seed=0)[1][:8]
    model = load_model(device="cpu")
    s = evaluate(model, val)
    truth = np.concatenate([colours_to_classes(read_pair(f)[1]).ravel() for f in val])
    baseline = scores(confusion(truth, np.full_like(truth, CLASS_NAMES.index("facade")), len(CLASS_NAMES)))
    assert s.pixel_accuracy > baseline.pixel_accuracy + 0.05
    assert s.mean_iou > 2 * baseline.mean_iou and s.mean_class_accuracy > 2 * baseline.mean_class_accuracy

    unlabelled = CLASS_NAMES.index("unlabelled")
    painted = near_seam = seam_area = 0
    for f in val:
        photo, labels = read_pair(f)
        seams = torch.from_numpy(colours_to_classes(labels) == unlabelled).float()[None, None]
        near = torch.nn.functional.max_pool2d(seams, 5, 1, 2)[0, 0].numpy() > 0  # within 2 px of a seam
        predicted = model.predict_classes(photo) == unlabelled
        painted, near_seam = painted + predicted.sum(), near_seam + (predicted & near).sum()
        seam_area += near.mean() / len(val)
    assert painted > 0, "the 13th colour never appears in predictions"
    assert near_seam / painted > max(0.5, 1.5 * seam_area)  # where it belongs, well above chance


# --- CLIs ----------------------------------------------------------------------------------


def test_train_resume_and_evaluate_cli(tmp_path, capsys):
    data = make_pair_folder(tmp_path / "pairs", 10, 32)
    common = ["--data", str(data), "--ngf", "4", "--depth", "4", "--ndf", "4", "--load-size", "36",
              "--crop-size", "32", "--val-every", "4", "--log-every", "2", "--threads", "1"]
    out = tmp_path / "run"
    train_main(common + ["--out", str(out), "--iters", "4"])
    for name in ["best.safetensors", "best.json", "best.pt", "last.pt", "loss_curves.png", "samples_000004.png"]:
        assert (out / name).is_file(), name
    # A resume keeps the network's shape (ngf) but takes the loss, augmentation and dropout flags.
    train_main(common + ["--out", str(out), "--iters", "8", "--resume", str(out / "last.pt"), "--ngf", "8",
                         "--rec", "ce+lovasz", "--dropout", "0.5", "--load-size-max", "44", "--color-jitter", "0.2"])
    config = json.loads((out / "config.json").read_text())
    assert (config["ngf"], config["dropout"], config["rec"], config["load_size_max"]) == (4, 0.5, "ce+lovasz", 44)
    hist = json.loads((out / "history.json").read_text())
    assert [h["iter"] for h in hist["train"]] == [2, 4, 6, 8]
    assert hist["train"][2]["lr"] == pytest.approx(1e-4)  # resumed schedule: decay 4 -> 8, halfway at 6
    assert {"g_rec", "g_adv", "d_real", "d_fake"} <= set(hist["train"][-1])
    s = evaluate_main(["--model", str(out / "best.safetensors"), "--data", str(data), "--split", "all",
                       "--json", str(tmp_path / "s.json")])
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["n"] == 10 and saved["mean_iou"] == pytest.approx(s.mean_iou) and 0 <= s.mean_iou <= 1
    assert "mIoU" in capsys.readouterr().out
    report_main(["--data", str(data), "--runs", str(out), "--out", str(tmp_path / "report"), "--grid-rows", "2"])
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| run | ")]
    assert len(rows) == 2 and rows[1][2].strip() in ("4", "8")  # header, then the run's best iteration
    assert 0 <= float(rows[1][5]) <= 1
    assert (tmp_path / "report" / "loss_curves.png").is_file()
    assert Image.open(tmp_path / "report" / "result_grid.png").size == (3 * 128, 1 * 128)  # 1 val pair


def test_l1_training_learns_the_mapping(tmp_path):
    """A few dozen L1-only steps must beat the untrained network on its own training pairs."""
    data = make_pair_folder(tmp_path / "pairs", 4, 32)
    out = tmp_path / "l1"
    train_main(["--data", str(data), "--out", str(out), "--ngf", "8", "--depth", "4", "--lambda-adv", "0",
                "--load-size", "32", "--crop-size", "32", "--iters", "60", "--val-every", "60",
                "--log-every", "10", "--val-fraction", "0.25", "--lr", "2e-3", "--threads", "1"])
    hist = json.loads((out / "history.json").read_text())["train"]
    assert hist[-1]["g_rec"] < 0.5 * hist[0]["g_rec"]
    assert not {"d_real", "d_fake", "g_adv"} & set(hist[-1])  # L1 only: no discriminator
