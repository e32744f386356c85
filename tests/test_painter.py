"""The painter (labels -> photo): input snapping and checks, the variation seed, BtoA training, the FCN-score."""
import numpy as np
import pytest
import torch
from PIL import Image

from segmentation import PALETTE, load_painter
from segmentation.checkpoint import save_segmenter
from segmentation.data import PairedConfig, PairedFolder, list_pairs
from segmentation.fcn_score import fcn_score, flat_painter, jpeg, mean_gradient, real_photos
from segmentation.model import SegmentationModel
from segmentation.networks import SegmenterConfig, build_segmenter, init_weights
from segmentation.painter import as_classes
from segmentation.ship_painter import ship_painter
from segmentation.train import TrainConfig, _build_nets, train_step
from segmentation.train import main as train_main
from test_segmentation import make_pair_folder, synthetic_label_map

TINY = SegmenterConfig("unet", ngf=4, depth=3, dropout=0.5, image_size=32, head="rgb", direction="BtoA")


@pytest.fixture()
def painter_file(tmp_path):
    torch.manual_seed(0)
    g = build_segmenter(TINY)
    init_weights(g)
    path = tmp_path / "painter.safetensors"
    save_segmenter(path, g, TINY, half=True)
    return path


def label_map(size=(40, 24), seed=0) -> np.ndarray:
    classes = synthetic_label_map(np.random.default_rng(seed), max(size))[:size[1], :size[0]]
    return PALETTE[classes]


def test_paint_returns_a_photo_of_the_maps_size_and_snaps_any_colour(painter_file):
    painter = load_painter(painter_file)
    labels = label_map((40, 24))
    photo = painter.paint(labels, seed=0)
    assert photo.shape == (24, 40, 3) and photo.dtype == np.uint8
    assert photo.std() > 0  # a real image, not a constant
    off = np.clip(labels.astype(int) + np.random.default_rng(1).integers(-12, 13, labels.shape), 0, 255)
    assert np.array_equal(painter.paint(off.astype(np.uint8), seed=0), photo)  # JPEG-ish colours snap
    classes = as_classes(labels)
    assert np.array_equal(painter.paint(classes, seed=0), photo)  # a class map paints the same
    rgba = np.concatenate([labels, np.full((24, 40, 1), 255, np.uint8)], -1)
    assert np.array_equal(painter.paint(rgba, seed=0), photo)


def test_the_seed_is_the_variation(painter_file):
    painter = load_painter(painter_file)
    labels = label_map((32, 32))
    a, b, c = (painter.paint(labels, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    painter.paint(labels, seed=9)
    assert torch.equal(torch.rand(1), before)  # painting leaves the caller's random stream alone


@pytest.mark.parametrize("bad, message", [
    ("a string", "shape"),
    (np.zeros((32, 32, 2), np.uint8), "shape"),
    (np.zeros((32, 32, 3), np.float32), "uint8"),
    (np.full((32, 32), 13), "0..12"),
    (np.full((32, 32), -1), "0..12"),
    (np.full((32, 32), 2.5), "integers"),
    (np.zeros((4, 32), np.int64), "at least 8"),
    (None, "no label map"),
])
def test_bad_labels_get_clear_messages(painter_file, bad, message):
    with pytest.raises(ValueError, match=message):
        load_painter(painter_file).paint(bad)


def test_load_painter_refuses_a_segmenter_and_a_missing_file(tmp_path):
    seg = SegmenterConfig(ngf=4, depth=3, image_size=32)
    save_segmenter(tmp_path / "seg.safetensors", build_segmenter(seg), seg)
    with pytest.raises(ValueError, match="not a painter"):
        load_painter(tmp_path / "seg.safetensors")
    with pytest.raises(FileNotFoundError, match="direction BtoA"):
        load_painter(tmp_path / "none.safetensors")
    with pytest.raises(ValueError, match="head 'rgb'"):
        build_segmenter(SegmenterConfig(ngf=4, depth=3, image_size=32, direction="BtoA"))


def test_btoa_data_gives_the_class_map_as_input_and_the_photo_as_target(tmp_path):
    folder = make_pair_folder(tmp_path / "pairs", 1, 32)
    photo, classes = PairedFolder(list_pairs(folder), PairedConfig("AtoB", 32, 32), train=False, palette=PALETTE)[0]
    x, y = PairedFolder(list_pairs(folder), PairedConfig("BtoA", 32, 32), train=False, palette=PALETTE)[0]
    assert torch.equal(x, classes) and torch.equal(y, photo)


def test_btoa_train_step_reads_one_hot_labels_and_conditions_d_on_them():
    cfg = TrainConfig(data="", out="", ngf=4, depth=3, ndf=4, crop_size=32, image_size=32, head="rgb",
                      direction="BtoA", lambda_rec=100.0)
    nets = _build_nets(cfg, cfg.segmenter(), torch.device("cpu"), False)
    assert nets.G.downs[0].conv.in_channels == 13 and nets.D.net[0].in_channels == 13 + 3
    g0 = [p.clone() for p in nets.G.parameters()]
    classes, photo = torch.randint(0, 13, (2, 32, 32)), torch.rand(2, 3, 32, 32) * 2 - 1
    logs = train_step(cfg, nets, classes, photo)
    assert set(logs) == {"g_rec", "g_adv", "d_real", "d_fake"} and 0 < logs["g_rec"] <= 2
    assert all(not torch.equal(a, b) for a, b in zip(g0, nets.G.parameters()))


def test_the_semantic_consistency_loss_reads_the_painting_with_a_frozen_segmenter(tmp_path):
    torch.manual_seed(0)
    reader_cfg = SegmenterConfig("unet", ngf=4, depth=3, image_size=32, head="class")
    reader = build_segmenter(reader_cfg)
    init_weights(reader)
    save_segmenter(tmp_path / "reader.safetensors", reader, reader_cfg)
    cfg = TrainConfig(data="", out="", ngf=4, depth=3, ndf=4, crop_size=32, image_size=32, head="rgb",
                      direction="BtoA", lambda_rec=100.0, lambda_sem=10.0,
                      sem_reader=str(tmp_path / "reader.safetensors"))
    nets = _build_nets(cfg, cfg.segmenter(), torch.device("cpu"), False)
    frozen = [p.clone() for p in nets.reader.parameters()]
    classes, photo = torch.randint(0, 13, (2, 32, 32)), torch.rand(2, 3, 32, 32) * 2 - 1
    logs = train_step(cfg, nets, classes, photo)
    assert 0 < logs["g_sem"] < 10, "a cross-entropy over 13 classes"
    assert all(torch.equal(a, b) and not b.requires_grad for a, b in zip(frozen, nets.reader.parameters()))
    with pytest.raises(ValueError, match="needs --direction BtoA"):
        _build_nets(TrainConfig(data="", out="", lambda_sem=1.0), TINY, torch.device("cpu"), False)
    save_segmenter(tmp_path / "rgb.safetensors", build_segmenter(TINY), TINY)
    with pytest.raises(ValueError, match="needs a class head"):
        _build_nets(TrainConfig(data="", out="", head="rgb", direction="BtoA", lambda_sem=1.0,
                                sem_reader=str(tmp_path / "rgb.safetensors")), TINY, torch.device("cpu"), False)


def test_painter_training_cli_writes_a_loadable_painter(tmp_path):
    data = make_pair_folder(tmp_path / "pairs", 10, 32)
    out = tmp_path / "run"
    train_main(["--data", str(data), "--out", str(out), "--direction", "BtoA", "--head", "rgb", "--ngf", "4",
                "--depth", "3", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--image-size", "32",
                "--dropout", "0.5", "--lambda-rec", "100", "--iters", "2", "--val-every", "2", "--threads", "1"])
    painter = load_painter(out / "best.safetensors")
    assert painter.paint(label_map((32, 32))).shape == (32, 32, 3)
    val = __import__("json").loads((out / "history.json").read_text())["val"][0]
    assert {"mean_iou", "gradient"} <= set(val)  # validation is the FCN-score
    shipped = tmp_path / "shipped" / "painter.safetensors"
    score = ship_painter(out, list_pairs(data)[:2], path=shipped, checkpoint="last")
    assert 0 <= score["mean_iou"] <= 1 and load_painter(shipped).paint(label_map((32, 32))).shape == (32, 32, 3)
    segmenter_run = tmp_path / "segmenter"
    train_main(["--data", str(data), "--out", str(segmenter_run), "--ngf", "4", "--depth", "3", "--ndf", "4",
                "--load-size", "36", "--crop-size", "32", "--image-size", "32", "--iters", "1", "--threads", "1"])
    with pytest.raises(ValueError, match="not a painter"):
        ship_painter(segmenter_run, list_pairs(data)[:2], path=shipped, checkpoint="last")


class OracleFCN(SegmentationModel):
    """Reads a photo painted with the palette colours back exactly: snaps each pixel to the nearest colour."""

    def __init__(self):
        self.palette = PALETTE

    def predict_classes(self, image):
        from segmentation.palette import colours_to_classes
        return colours_to_classes(np.asarray(image), PALETTE)


def test_fcn_score_of_a_perfect_painting_is_one_and_flat_fills_class_means():
    rng = np.random.default_rng(0)
    classes = [synthetic_label_map(rng, 32) for _ in range(3)]
    pairs = [(PALETTE[c], c) for c in classes]  # "photos" painted in the label colours
    assert fcn_score(real_photos, OracleFCN(), pairs).scores.mean_iou == pytest.approx(1.0)
    grey = [(np.repeat((c * 19)[..., None], 3, -1).astype(np.uint8), c) for c in classes]
    flat = flat_painter(grey)
    out = flat(classes[0], None)
    assert np.array_equal(out, grey[0][0])  # each class's mean colour is its (constant) colour here
    assert mean_gradient(np.zeros((16, 16, 3), np.uint8)) == 0 and mean_gradient(out) > 0


def test_the_jpeg_option_compresses_every_render_before_it_is_segmented():
    rng = np.random.default_rng(0)
    classes = [synthetic_label_map(rng, 64) for _ in range(3)]
    pairs = [(PALETTE[c], c) for c in classes]
    assert fcn_score(jpeg(real_photos, 90), OracleFCN(), pairs).scores.pixel_accuracy > 0.9, "content survives"
    ramp = np.linspace(0, 255, 64)[None, :, None] * np.ones((64, 1, 3))
    photo = np.clip(ramp + rng.normal(0, 4, ramp.shape), 0, 255).astype(np.uint8)
    out = jpeg(lambda c, p: p, 75)(None, photo)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert 0 < np.abs(out.astype(int) - photo).mean() < 6, "compressed, not replaced"


def test_the_shipped_painter_paints_a_facade_offline():
    painter = load_painter()
    assert sum(p.numel() for p in painter.generator.parameters()) * 2 <= 20 * 2 ** 20  # fits 20 MiB in fp16
    blank = np.full((256, 256), 2)  # all facade
    blank[40:100, 50:110] = 3       # one window
    photo = painter.paint(blank, seed=0)
    assert photo.shape == (256, 256, 3)
    window, wall = photo[50:90, 60:100].mean(), photo[150:250, 150:250].mean()
    assert abs(window - wall) > 5  # the window is painted differently from the wall around it
