"""Inversion: W+ projection, PTI and the ToRGB fit on the tiny256 golden generator and a real face; stop, progress,
bad input."""
import math
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import draggan.inversion as inversion_module
from draggan import DragSession, invert, load_generator
from draggan.export import to_uint8
from draggan.image_distance import (LPIPS_BACKBONE_FILE, PIXEL_LOSS_NAME, ImageDistance, image_distance,
                                    pyramid_pixel_distance)
from draggan.inversion import InversionProgress, InvertConfig, fast_schedule, learning_rate
from landmarks import align_face, detect_landmarks
from conftest import tiny_generator


@pytest.fixture(autouse=True)
def empty_torch_hub(tmp_path, monkeypatch):
    """No cached LPIPS backbone: every inversion here runs the offline pixel loss, wherever the tests run."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


@pytest.fixture(scope="module")
def tiny256(shared_dir):
    return load_generator(shared_dir / "fixtures" / "stylegan2" / "tiny256.safetensors")


@pytest.fixture(scope="module")
def small():
    """A 64 px random generator: fast enough for behaviour tests that need a few steps."""
    return tiny_generator(perturb=0.05)


def generated(G, seed, psi=0.7):
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim).astype(np.float32))
    with torch.no_grad():
        return to_uint8(G.synthesis(G.mapping(z, truncation_psi=psi)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_generator_image_is_recovered_within_200_projection_steps(tiny256, seed):
    result = invert(tiny256, generated(tiny256, seed=seed), steps=200, torgb_steps=0, full_share=0.5)
    assert result.psnr >= 22, f"seed {seed}: {result.psnr:.1f} dB"
    assert result.loss == PIXEL_LOSS_NAME and result.message == "" and result.overlay.tensors == {}
    assert result.ws.shape == (1, tiny256.num_ws, tiny256.w_dim)
    assert result.image.shape == (256, 256, 3) and result.image.dtype == np.uint8
    assert result.resolutions == [128] * 100 + [256] * 100 and result.psnr == result.projection_psnr


def aligned_face(shared_dir, name: str) -> np.ndarray:
    photo = np.asarray(Image.open(shared_dir / "fixtures" / "faces" / name).convert("RGB"))
    (lm68,) = detect_landmarks(photo, backend="dlib")[:1]
    return align_face(photo, lm68, 256).image


def test_pti_adds_3db_on_a_real_face(tiny256, shared_dir):
    result = invert(tiny256, aligned_face(shared_dir, "obama.jpg"), pti_steps=30, torgb_steps=0, pti_lr=1e-3,
                    bf16=True)
    assert result.psnr - result.projection_psnr >= 3, f"{result.projection_psnr:.1f} -> {result.psnr:.1f} dB"
    assert not result.overlay.only_torgb and result.message == ""
    assert result.resolutions == [128] * InvertConfig().steps + [256] * 30
    with torch.no_grad():
        rendered = to_uint8(result.overlay.on(tiny256).synthesis(result.ws))
    np.testing.assert_array_equal(result.image, rendered)


def test_g_is_never_modified(small):
    before = {k: v.clone() for k, v in small.state_dict().items()}
    flags = [p.requires_grad for p in small.parameters()]
    result = invert(small, generated(small, seed=1), steps=5, pti_steps=5)
    after = small.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [p.requires_grad for p in small.parameters()] == flags
    assert all(p.grad is None for p in small.parameters())
    tuned = result.overlay.on(small)
    assert tuned is not small and not torch.equal(tuned.state_dict()["synthesis.b64.conv1.weight"],
                                                  before["synthesis.b64.conv1.weight"])
    assert all(p.grad is None and not p.requires_grad for p in tuned.parameters())


def test_progress_rises_and_stop_ends_early_keeping_the_last_latent(small):
    stop, seen = threading.Event(), []

    def progress(p: InversionProgress):
        seen.append(p)
        if p.step == 7:
            stop.set()

    result = invert(small, generated(small, seed=2), steps=20, pti_steps=10, torgb_steps=0, progress=progress,
                    stop=stop)
    assert [p.step for p in seen] == list(range(1, 8))
    assert all(p.total == 30 and p.stage == "projection" and p.eta_s > 0 and math.isfinite(p.psnr) for p in seen)
    assert len(result.psnr_history) == 7 and "stopped" in result.message and "7 of 30" in result.message
    assert result.overlay.tensors == {}  # stopped before PTI: no tuning
    assert torch.isfinite(result.ws).all() and result.ws.shape == (1, small.num_ws, small.w_dim)


def test_stop_in_pti_ends_within_one_step_and_keeps_the_tuned_copy(small):
    stop, seen = threading.Event(), []

    def progress(p: InversionProgress):
        seen.append(p)
        if p.stage == "pti":
            stop.set()

    result = invert(small, generated(small, seed=2), steps=4, pti_steps=10, progress=progress, stop=stop)
    assert [p.stage for p in seen] == ["projection"] * 4 + ["pti"] and "5 of 54" in result.message
    assert not result.overlay.only_torgb and result.psnr != result.projection_psnr


def test_eta_counts_the_steps_and_renders_left(small, monkeypatch):
    """Each step takes 1 s on a fake clock: the ETA after a projection step is the steps and renders left,
    the PTI steps priced by their volume relative to the projection's until two have run (a first step also pays
    for warm-up): 4 forward passes each, at the 1/2 that the projection steps and the render took of their price."""
    clock = iter(range(10 ** 6))
    monkeypatch.setattr(inversion_module.time, "perf_counter", lambda: float(next(clock)))
    seen = []
    invert(small, generated(small, seed=5), steps=4, pti_steps=4, torgb_steps=0, progress=seen.append)
    assert [round(p.eta_s, 6) for p in seen[4:]] == [7.0, 3.0, 2.0, 1.0]  # 3 x 2 s + 1 s, then 2, 1, 0 steps + 1 s
    assert all(p.eta_s > 0 for p in seen[:4]) and seen[3].eta_s == (1 + 4 * 4 + 1) / 3  # all priced, x 1/3


def test_a_non_finite_loss_stops_with_the_last_good_latent(small, monkeypatch):
    calls = []

    def breaks_at_step_4(synth, target):
        calls.append(1)
        loss = pyramid_pixel_distance(synth, target)
        return loss * float("nan") if len(calls) == 4 else loss

    monkeypatch.setattr(inversion_module, "image_distance", lambda device, loss: ImageDistance("test", breaks_at_step_4))
    result = invert(small, generated(small, seed=3), steps=10, pti_steps=5)
    assert "non-finite" in result.message and "step 4" in result.message
    assert len(result.psnr_history) == 3 and result.overlay.tensors == {}
    assert torch.isfinite(result.ws).all()


@pytest.mark.parametrize("target, words", [
    (np.zeros((64, 64, 3), np.float32), "uint8"),
    (np.zeros((64, 64), np.uint8), "H x W x 3"),
    (np.zeros((64, 64, 4), np.uint8), "H x W x 3"),
    (np.zeros((64, 80, 3), np.uint8), "square"),
    ([[0, 0, 0]], "numpy array"),
])
def test_wrong_targets_get_a_clear_message(small, target, words):
    with pytest.raises(ValueError, match=words):
        invert(small, target, steps=1, pti_steps=0)


def test_any_size_is_resized_and_step_counts_are_checked(small):
    result = invert(small, np.full((300, 300, 3), 128, np.uint8), steps=2, pti_steps=0)
    assert result.target.shape == (64, 64, 3) and (result.target == 128).all()
    with pytest.raises(ValueError, match="steps"):
        invert(small, result.target, steps=0)


def test_fast_schedule_and_the_defaults():
    default = InvertConfig()
    assert (default.steps, default.pti_steps, default.torgb_steps, default.full_share) == (20, 0, 40, 0.0)
    assert fast_schedule(20, 512, default) == [128] * 20 and fast_schedule(20, 1024, default) == [256] * 20
    quarter = InvertConfig(full_share=0.25)
    assert fast_schedule(100, 512, quarter) == [128] * 75 + [512] * 25
    assert fast_schedule(3, 256, quarter) == [128] * 2 + [256]  # at least one full-resolution step
    low = InvertConfig(low_resolution=128)
    assert fast_schedule(16, 1024, low) == [128] * 16 and fast_schedule(10, 64, low) == [64] * 10
    assert fast_schedule(10, 512, InvertConfig(full_share=1)) == [512] * 10
    with pytest.raises(ValueError, match="full_share"):
        InvertConfig(full_share=1.5)
    with pytest.raises(ValueError, match="torgb_steps"):
        InvertConfig(torgb_steps=-1)


def test_learning_rate_follows_projector_ramps():
    assert learning_rate(0.0) == 0 and learning_rate(0.025) == pytest.approx(0.05)
    assert learning_rate(0.3) == pytest.approx(0.1) and learning_rate(0.875) == pytest.approx(0.05)
    assert learning_rate(0.999) < 1e-4


def test_offline_loss_is_the_pixel_pyramid_and_says_so(tmp_path):
    assert image_distance("cpu").name == PIXEL_LOSS_NAME
    with pytest.raises(ValueError, match=LPIPS_BACKBONE_FILE):
        image_distance("cpu", loss="lpips")
    with pytest.raises(ValueError, match="'auto', 'lpips' or 'pixel'"):
        image_distance("cpu", loss="vgg")
    a = torch.rand(1, 3, 64, 64) * 2 - 1
    assert float(pyramid_pixel_distance(a, a)) == 0
    # A flat colour shift shows at every level (3 levels: 64, 32, 16): 3 x (0.1 + 0.01).
    assert float(pyramid_pixel_distance(a + 0.1, a)) == pytest.approx(0.33, rel=1e-4)


def test_a_drag_session_starts_from_the_inverted_latent_and_resets_to_it(small):
    result = invert(small, generated(small, seed=4), steps=3, pti_steps=2)
    session = DragSession(result.overlay.on(small), seed=7, truncation_psi=0.5, ws=result.ws)
    assert torch.equal(session.ws, result.ws)
    np.testing.assert_array_equal(session.render(), result.image)
    session.start_drag([(20, 30)], [(40, 30)])
    for _ in range(2):
        session.step(preview=False)
    assert not torch.equal(session.ws, result.ws)
    session.reset()
    assert torch.equal(session.ws, result.ws) and session.history == []
    with pytest.raises(ValueError, match=rf"latent must have shape \[1, {small.num_ws}, 32\]"):
        DragSession(small, ws=result.ws[:, :4])


def test_a_feature_offset_stage_adds_detail_and_a_drag_session_starts_from_it(small, shared_dir):
    photo = aligned_face(shared_dir, "obama.jpg")
    seen = []
    result = invert(small, photo, steps=10, torgb_steps=10, feature_steps=30, feature_res=16, progress=seen.append)
    without = invert(small, photo, steps=10, torgb_steps=10, feature_steps=30)  # no feature_res: no such stage
    assert without.features is None and "features" not in without.stages
    assert result.stages == ["projection"] * 10 + ["fit"] * 10 + ["features"] * 30 and seen[-1].total == 50
    assert result.psnr >= without.psnr + 2, f"{without.psnr:.1f} -> {result.psnr:.1f} dB"
    assert result.features.shape == (1, 32, 16, 16)
    session = DragSession(result.overlay.on(small), ws=result.ws, features=result.features, feature_res=16)
    np.testing.assert_array_equal(session.render(), result.image)  # the session shows what the inversion made
    list(session.drag([(20, 30)], [(30, 30)], max_steps=2))
    session.reset()
    assert torch.equal(session.features, result.features)
