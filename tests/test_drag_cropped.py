"""The windowed step (draggan/cropped.py) against the full-map pass on tiny random generators."""
import numpy as np
import pytest
import torch

import draggan.session as session_module
from conftest import tiny_generator
from draggan.cropped import (Window, low_synthesis, step_windows, window_features, windowed_features,
                             windows_share)
from draggan.features import feature_block_index
from draggan.motion import motion_radius, motion_supervision_loss
from draggan.session import LOSS_READ_MARGIN, DragSession

NUM_OPTIMIZED = 6


def noisy_generator(res: int, seed: int = 0):
    """Random weights, with noise switched on so that a mis-sliced noise map would show."""
    return tiny_generator(res, seed, channel_base=2048, noise_strength=0.3)


@pytest.fixture(scope="module")
def G256():
    return noisy_generator(256)


def latent(G, seed):
    torch.manual_seed(seed)
    ws = G.mapping(torch.randn(1, G.z_dim), truncation_psi=0.7)
    return ws, 0.1 * torch.randn(1, NUM_OPTIMIZED, G.w_dim)


def with_offset(ws, offset):
    return torch.cat([ws[:, :NUM_OPTIMIZED] + offset, ws[:, NUM_OPTIMIZED:]], dim=1)


CASES = {
    "corners": ([(0, 0), (255, 255)], [(6, 4), (249, 250)]),
    "edges": ([(0, 131), (200, 255), (255, 7)], [(5, 128), (203, 249), (250, 12)]),
    "far apart": ([(20, 30), (230, 220)], [(30, 30), (220, 215)]),
    "overlapping": ([(100, 100), (103, 102), (150, 60)], [(110, 100), (110, 108), (150, 70)]),
    "random": None,
}


@pytest.mark.parametrize("case", list(CASES))
def test_windowed_loss_and_gradient_equal_the_full_pass(G256, case):
    res, index = 256, feature_block_index(256)
    if CASES[case] is None:
        gen = np.random.RandomState(7)
        handles = gen.randint(0, res, size=(4, 2)).astype(np.float32)
        targets = np.clip(handles + gen.randint(-12, 13, size=(4, 2)), 0, res - 1).astype(np.float32)
    else:
        handles, targets = (np.array(a, np.float32) for a in CASES[case])
    handles, targets = torch.from_numpy(handles), torch.from_numpy(targets)
    ws0, offset = latent(G256, seed=len(case))
    r1 = motion_radius(res)

    full_offset = offset.clone().requires_grad_(True)
    _, feats = G256.synthesis(with_offset(ws0, full_offset), return_features=True, last_block=index,
                              fused_modconv=False, rgb=False)
    full_loss = motion_supervision_loss(feats[index], handles, targets, r1, (res, res))
    full_loss.backward()

    crop_offset = offset.clone().requires_grad_(True)
    ws = with_offset(ws0, crop_offset)
    windows = step_windows(handles, r1 + LOSS_READ_MARGIN, (res, res), (128, 128))
    assert 0 < windows_share(windows, (128, 128)) < 0.1
    feat, box = windowed_features(G256.synthesis, ws, index, windows)
    for window in windows:  # the windows hold the full map's features
        torch.testing.assert_close(window.slice_of(feat, box),
                                   window.slice_of(feats[index], Window(0, 128, 0, 128)), rtol=1e-5, atol=1e-5)
    # The box read as the feature map of an image of its own, its corner at `shift`.
    scale = res // 128
    shift = torch.tensor([box.x0 * scale, box.y0 * scale], dtype=handles.dtype)
    size = ((box.y1 - box.y0) * scale, (box.x1 - box.x0) * scale)
    crop_loss = motion_supervision_loss(feat, handles, targets, r1, size, origin=shift)
    crop_loss.backward()

    torch.testing.assert_close(crop_loss, full_loss, rtol=1e-5, atol=1e-7)
    scale = full_offset.grad.abs().max()
    assert scale > 0
    torch.testing.assert_close(crop_offset.grad, full_offset.grad, rtol=1e-5, atol=1e-5 * float(scale))


@pytest.mark.parametrize("res", [64, 256])
def test_window_features_equal_the_full_map_at_borders_and_inside(res):
    """At 64 px the feature block is b32 and the windows run through b8, b16 and b32; at 256 through b32-b128."""
    G = noisy_generator(res, seed=3)
    index = feature_block_index(res)
    size = G.synthesis.blocks[index].resolution
    ws, offset = latent(G, seed=1)
    ws = with_offset(ws, offset)
    _, feats = G.synthesis(ws, return_features=True, last_block=index, fused_modconv=False, rgb=False)
    low = low_synthesis(G.synthesis, ws, index)
    whole = Window(0, size, 0, size)
    for window in (Window(0, 4, 0, 5), Window(10, 17, size - 12, size), Window(size // 2, size // 2 + 1, 3, 9),
                   whole):
        torch.testing.assert_close(window_features(G.synthesis, ws, low, index, window), window.slice_of(
            feats[index], whole), rtol=1e-5, atol=1e-5)


def test_step_windows_cover_the_reads_and_merge_overlaps():
    image, feature = (512, 512), (128, 128)
    handles = torch.tensor([[256.0, 256.0], [259.0, 258.0], [0.0, 511.0]])
    windows = step_windows(handles, 5, image, feature)
    assert len(windows) == 2  # the first two overlap and merge
    merged, corner = sorted(windows, key=lambda w: w.x0, reverse=True)
    # Pixels 251..264 sit at feature rows/columns 62.4..66.0: their bilinear reads span 62..66.
    assert merged.x0 <= 62 and merged.x1 >= 67 and merged.y0 <= 62 and merged.y1 >= 66
    assert merged.x1 - merged.x0 <= 7 and merged.y1 - merged.y0 <= 7
    assert corner.x0 == 0 and corner.y1 == 128 and corner.area < 40
    assert windows_share(windows, feature) < 0.01
    assert step_windows(handles[:1], 17, image, feature)[0].area > merged.area


def count_windowed_steps(monkeypatch):
    calls = []
    real = session_module.windowed_features

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(session_module, "windowed_features", spy)
    return calls


def test_windowed_drag_follows_the_full_map_path_for_40_steps(G256, monkeypatch):
    """Tracking and loss read only the windows: the trajectory is the full-map one (within 0.5 px) step by step."""
    calls = count_windowed_steps(monkeypatch)
    handles, targets = [(100, 120), (250, 3), (30, 200)], [(140, 128), (200, 40), (60, 230)]
    sessions = [DragSession(G256, seed=3, lr=1e-2), DragSession(G256, seed=3, lr=1e-2, cropped=False)]
    results = []
    for s in sessions:
        s.start_drag(handles, targets)
        results.append([s.step() for _ in range(40)])
    assert len(calls) == 40  # every step of the first session, none of the second
    for windowed, full in zip(*results):
        np.testing.assert_allclose(windowed.handles, full.handles, atol=0.5)
        assert windowed.loss == pytest.approx(full.loss, rel=1e-3) if full.loss is not None else windowed.done
    moved = np.abs(np.array(results[0][-1].handles) - np.array(handles)).max()
    assert moved >= 10  # the handles really travelled
    torch.testing.assert_close(sessions[0].ws, sessions[1].ws, rtol=1e-3, atol=1e-4)


def test_a_windowed_step_can_still_show_the_preview(G256):
    previews = []
    for cropped in (True, False):
        s = DragSession(G256, seed=3, lr=1e-2, cropped=cropped)
        s.start_drag([(100, 120)], [(120, 128)])
        s.step()
        previews.append(s.step(preview=True).preview)
    assert previews[0].shape == (256, 256, 3)
    np.testing.assert_allclose(previews[0].astype(int), previews[1].astype(int), atol=1)


def test_a_mask_or_many_handles_take_the_full_map(G256, monkeypatch):
    calls = count_windowed_steps(monkeypatch)
    s = DragSession(G256, seed=0, lr=1e-2)
    mask = np.zeros((256, 256), bool)
    mask[64:192, 64:192] = True
    s.start_drag([(100, 100)], [(120, 100)], mask=mask)
    s.step()
    s.step()
    gen = np.random.RandomState(0)
    many = gen.randint(20, 236, size=(68, 2)).tolist()  # a 68-point landmark preset
    s.start_drag(many, [(x + 8, y) for x, y in many])
    s.step()
    assert calls == []
    s.start_drag([(100, 100)], [(120, 100)])
    s.step()
    assert len(calls) == 1
    # The explicit option overrides the choice both ways; a forced crop refuses a mask by name.
    s.config.cropped = True
    s.start_drag(many, [(x + 8, y) for x, y in many])
    s.step()
    assert len(calls) == 2
    with pytest.raises(ValueError, match="cropped=True needs a drag without a mask"):
        s.start_drag([(100, 100)], [(120, 100)], mask=mask)
    s.config.cropped = False
    s.start_drag([(100, 100)], [(120, 100)])
    s.step()
    assert len(calls) == 2


def test_low_synthesis_rejects_bad_input(G256):
    ws, _ = latent(G256, seed=0)
    with pytest.raises(ValueError, match="feature_index"):
        low_synthesis(G256.synthesis, ws, 0)
    with pytest.raises(ValueError, match="ws must have shape"):
        low_synthesis(G256.synthesis, ws[:, :3], 5)
