"""DragGAN drag engine on tiny random generators: sampling, motion, tracking, masks, history, bad input."""
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import draggan.session as session_module
from draggan.features import feature_block_index, sample_features, sample_upsampled
from benchmarks.full_resolution import full_resolution_drag
from draggan.motion import disc_offsets, motion_radius
from conftest import tiny_generator
from draggan.session import _RENDER_SECONDS, STALL_STEPS, DragSession, stop_distance
from draggan.tracking import track_points, tracking_radius, window_pixels
from draggan.warp import cell_centres, path_weights, warp_offset

LR = 1e-2  # tiny random generators move slowly at the paper's 2e-3


@pytest.fixture(scope="module")
def G():
    return tiny_generator()


def block_features(G, ws, index):
    with torch.no_grad():
        return G.synthesis(ws, return_features=True)[1][index]


def test_low_res_sampling_equals_the_upsampled_map():
    torch.manual_seed(1)
    feat = torch.randn(1, 5, 16, 16)
    up = F.interpolate(feat, size=(64, 64), mode="bilinear", align_corners=False)
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    pixels = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)
    torch.testing.assert_close(sample_features(feat, pixels, (64, 64)), up[0].reshape(5, -1).t(), atol=1e-5, rtol=0)
    # Sub-pixel reads match the reference's bilinear read of the up-sampled map (pixel centres at corners).
    points = torch.rand(50, 2) * 63
    grid = (points / 63 * 2 - 1)[None, None]
    expected = F.grid_sample(up, grid, mode="bilinear", align_corners=True)[0, :, 0].t()
    torch.testing.assert_close(sample_upsampled(feat, points, (64, 64)), expected, atol=1e-5, rtol=0)


def test_a_box_of_the_map_reads_bit_for_bit_what_the_whole_map_reads():
    """A windowed step reads a box cut out of the feature map; its reads must not round differently."""
    torch.manual_seed(2)
    feat = torch.randn(1, 7, 128, 128)                   # the map of a 512 px image
    y0, y1, x0, x1 = 70, 91, 37, 60                      # a box, in feature pixels
    origin = torch.tensor([x0 * 4.0, y0 * 4.0])
    size = ((y1 - y0) * 4, (x1 - x0) * 4)
    pixels = origin + torch.randint(8, 80, (40, 2)).float()
    moved = pixels + torch.nn.functional.normalize(torch.randn(40, 2), dim=1)  # q + d: sub-pixel
    box = feat[:, :, y0:y1, x0:x1]
    assert torch.equal(sample_features(box, pixels - origin, size), sample_features(feat, pixels, (512, 512)))
    assert torch.equal(sample_upsampled(box, moved, size, origin), sample_upsampled(feat, moved, (512, 512)))


def test_radii_stop_distance_and_feature_block_scale_with_resolution():
    assert [motion_radius(h) for h in (64, 256, 512, 1024)] == [1, 2, 3, 6]
    assert [tracking_radius(h) for h in (64, 256, 512, 1024)] == [2, 6, 12, 24]
    assert stop_distance(512, 5) == 1 and stop_distance(512, 6) == 2 and stop_distance(1024, 1) == 2
    assert stop_distance(64, 1) == 1  # floor: tracking moves in whole pixels
    assert len(disc_offsets(3)) == 29 and (disc_offsets(3).norm(dim=1) <= 3).all()
    assert [feature_block_index(r) for r in (64, 256, 512, 1024)] == [3, 5, 5, 5]
    with pytest.raises(ValueError, match="at least 32 px"):
        feature_block_index(16)


def test_drag_moves_the_handles_toward_their_targets(G):
    s = DragSession(G, seed=0, lr=LR)
    handles, targets = [(26, 32), (40, 20)], [(38, 32), (40, 30)]
    start = np.linalg.norm(np.subtract(targets, handles), axis=1)
    s.start_drag(handles, targets)
    for _ in range(25):
        r = s.step()
        if r.done:
            break
    assert r.step > 5 and len(s.history) == 1  # one drag, one undo record
    assert s.history[0].handles.tolist() == [list(h) for h in handles]
    assert np.all(np.array(r.distances) < 0.6 * start), (r.distances, start)
    assert s.history[-1].trajectory[-1].tolist() == [list(h) for h in r.handles]


def test_fast_path_follows_the_full_resolution_trajectory():
    G = tiny_generator(256, seed=1)
    s = DragSession(G, seed=3, lr=LR)
    handles, targets = [(100, 120), (150, 60)], [(120, 128), (140, 80)]
    s.start_drag(handles, targets)
    fast = [s.step().handles for _ in range(6)]
    slow = [p.tolist() for p, _ in full_resolution_drag(G, s.w0, torch.tensor(handles, dtype=torch.float32),
                                                        torch.tensor(targets, dtype=torch.float32), 6, lr=LR)]
    assert len(slow) == len(fast)
    assert np.abs(np.array(fast) - np.array(slow)).max() <= 1
    assert np.abs(np.array(fast[-1]) - np.array(handles)).max() >= 3  # the handles really moved


def test_mask_keeps_features_outside_the_flexible_region(G):
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    fixed = torch.ones(32, 32, dtype=torch.bool)
    fixed[8:24, 8:24] = False
    change = {}
    for name, m in (("free", None), ("masked", mask)):
        s = DragSession(G, seed=0, lr=LR)
        f0 = block_features(G, s.ws, s.feature_index)
        s.start_drag([(26, 32)], [(38, 32)], mask=m)
        for _ in range(9):
            s.step()
        diff = (block_features(G, s.ws, s.feature_index) - f0).abs().mean(dim=1)[0]
        change[name] = (diff[fixed].mean().item(), diff[~fixed].mean().item(), f0.abs().mean().item())
    outside_free, _, scale = change["free"]
    outside_masked, inside_masked, _ = change["masked"]
    assert outside_masked < 0.3 * outside_free, change
    assert outside_masked < 0.03 * scale, change
    assert inside_masked > 1.5 * outside_masked, change  # the flexible region still changes


def test_handles_at_the_border_and_corners(G):
    s = DragSession(G, seed=2, lr=LR)
    handles, targets = [(0, 0), (63, 63), (63, 0), (0, 40)], [(8, 6), (55, 58), (56, 5), (6, 40)]
    s.start_drag(handles, targets)
    s.step()
    for _ in range(5):
        r = s.step()
        assert all(0 <= x <= 63 and 0 <= y <= 63 for x, y in r.handles)
    # The clipped window is exactly the in-image part of the square.
    window = window_pixels(torch.tensor([[1.0, 62.0]]), 3, (64, 64))[0]
    assert {tuple(p) for p in window.long().tolist()} == {(x, y) for x in range(0, 5) for y in range(59, 64)}


def test_tracking_finds_the_nearest_feature_in_its_window():
    torch.manual_seed(0)
    feat = torch.randn(1, 8, 32, 32)
    up = F.interpolate(feat, size=(64, 64), mode="bilinear", align_corners=False)
    f_i = up[0, :, 35, 43][None]  # the feature at pixel (x=43, y=35)
    assert track_points(feat, torch.tensor([[40.0, 38.0]]), f_i, 4, (64, 64)).tolist() == [[43.0, 35.0]]
    # Out of reach: the best pixel inside the window, never past it.
    far = track_points(feat, torch.tensor([[30.0, 30.0]]), f_i, 2, (64, 64))
    assert (far - torch.tensor([[30.0, 30.0]])).abs().max() <= 2


def test_undo_restores_the_exact_latent_and_reset_returns_to_w0(G):
    s = DragSession(G, seed=0, lr=LR)
    before = s.ws
    s.start_drag([(26, 32)], [(38, 32)])
    for _ in range(4):
        s.step()
    after_first = s.ws
    assert not torch.equal(after_first, before)
    s.start_drag([(20.5, 20)], [(10, 20)])  # a second drag
    for _ in range(3):
        s.step()
    assert len(s.history) == 2
    second = s.undo()  # the record carries the drag's points, as they were passed
    assert second.handles.tolist() == [[20.5, 20]] and second.targets.tolist() == [[10, 20]]
    assert torch.equal(s.ws, after_first)
    assert s.undo() is not None and torch.equal(s.ws, before)
    assert s.undo() is None
    s.start_drag([(26, 32)], [(38, 32)])
    s.step()
    s.step()
    s.reset()
    assert torch.equal(s.ws, s.w0) and s.history == []


def test_warp_offset_translates_the_features_on_the_path_and_leaves_the_rest():
    torch.manual_seed(0)
    raw = torch.randn(1, 4, 16, 16)
    start = raw + torch.randn(1, 4, 16, 16)  # the offset a drag began with stays under the slide
    starts, shift = torch.tensor([[18.0, 30.0]]), torch.tensor([[8.0, 0.0]])  # 64 px image: 2 cells to the right
    assert torch.allclose(warp_offset(raw, start, starts, torch.zeros(1, 2), 4.0, (64, 64)), start - raw)
    moved = raw + warp_offset(raw, start, starts, shift, 4.0, (64, 64))
    # Cells within the radius of the path read the features two cells to their left: a translation.
    assert torch.allclose(moved[..., 7:9, 4:7], start[..., 7:9, 2:5], atol=1e-5)
    # Past twice the radius of the path (8 px = 2 cells), nothing moves.
    far = path_weights(cell_centres(16, (64, 64)), starts, shift, 4.0).reshape(16, 16) == 0
    assert far.float().mean() > 0.7 and torch.equal(moved[..., far], start[..., far])


def test_a_slide_drag_carries_the_handle_s_features_to_the_target_and_keeps_the_latent(G):
    s = DragSession(G, seed=0, feature_res=16)
    assert s.features.shape == (1, 32, 16, 16) and not s.features.any()
    before = block_features(G, s.ws, s.feature_index)
    results = list(s.drag([(20, 32)], [(32, 32)], max_steps=30))
    assert results[-1].done and results[-1].step < 30, [r.distances for r in results]
    assert torch.equal(s.ws, s.w0), "a slide moves the block's output, not the latent"
    after = G.synthesis(s.ws, return_features=True, feature_offset=(s.offset_block, s.features))[1][s.feature_index]
    x, y = (int(v) for v in results[-1].handles[0])
    handle = sample_features(before, torch.tensor([[20.0, 32.0]]), (64, 64))
    now = sample_features(after, torch.tensor([[float(x), float(y)]]), (64, 64))
    was = sample_features(before, torch.tensor([[float(x), float(y)]]), (64, 64))
    assert (now - handle).abs().mean() < 0.3 * (was - handle).abs().mean(), "the handle's content is at the target"
    moved = s.features.abs().sum(dim=1)[0] > 0  # 16 x 16 cells, 4 image px each
    ys, xs = np.nonzero(moved.numpy())
    assert moved.any() and moved.float().mean() < 0.3, "only the cells near the path"
    assert xs.min() * 4 >= 20 - 12 and xs.max() * 4 <= 32 + 12 and np.abs(ys * 4 + 1.5 - 32).max() <= 10, (xs, ys)


def test_a_slide_ends_when_tracking_swings_beside_the_target_or_loses_the_handle(G, monkeypatch):
    beside = iter([[[31.0, 33.0]], [[33.0, 31.0]]] * 200)  # 1.4 px from the target, for ever
    monkeypatch.setattr(session_module, "track_points", lambda *a: torch.tensor(next(beside)))
    last = list(DragSession(G, seed=0, feature_res=16).drag([(20, 32)], [(32, 32)], max_steps=200))[-1]
    assert not last.done and last.step <= STALL_STEPS + 2, last.step
    assert last.message == "the handles stopped getting closer to their targets"
    monkeypatch.setattr(session_module, "track_points", lambda feat, handles, *a: handles)  # lost: never moves
    s = DragSession(G, seed=0, feature_res=16)
    last = list(s.drag([(20, 32)], [(32, 32)], max_steps=200))[-1]
    assert not last.done and last.step < 200 and last.message
    limit = session_module.SLIDE_LIMIT * 12
    moved = s.features.abs().sum(dim=1)[0] > 0
    assert np.nonzero(moved.numpy())[1].max() * 4 <= 20 + limit + 2 * 4, "slid no further than the limit"


def test_with_a_mask_a_slide_moves_no_fixed_cell(G):
    mask = np.zeros((64, 64), bool)
    mask[16:48, 8:40] = True
    s = DragSession(G, seed=0, feature_res=16)
    list(s.drag([(20, 32)], [(32, 32)], mask=mask, max_steps=5))
    moved = s.features.abs().sum(dim=1)[0] > 0
    flexible = F.adaptive_max_pool2d(torch.from_numpy(mask).float()[None, None], (16, 16))[0, 0] > 0
    assert moved.any() and not moved[~flexible].any()


def test_feature_offset_undo_reset_and_latent_file_round_trip(G, tmp_path):
    s = DragSession(G, seed=0, feature_res=16)
    before = s.render()
    list(s.drag([(20, 32)], [(32, 32)], max_steps=4))
    after, features = s.render(), s.features
    assert features.any() and not np.array_equal(after, before)
    path = s.save_latent(tmp_path / "latent.npy")
    assert path.suffix == ".npz", "the offset travels with the latent"
    fresh = DragSession(G, seed=3, feature_res=16)
    fresh.load_latent(path)
    assert torch.equal(fresh.features, features) and np.array_equal(fresh.render(), after)
    with pytest.raises(ValueError, match="a feature offset needs a config with feature_res"):
        DragSession(G, seed=3).load_latent(path)
    assert s.undo() is not None and not s.features.any() and np.array_equal(s.render(), before)
    list(s.drag([(20, 32)], [(32, 32)], max_steps=2))
    s.reset()
    assert not s.features.any() and np.array_equal(s.render(), before)


def test_feature_offset_settings_are_checked(G):
    for bad in (12, 4):
        with pytest.raises(ValueError, match="feature_res must be None or a power of two >= 8"):
            DragSession(G, seed=0, feature_res=bad)
    with pytest.raises(ValueError, match="feature_res must be below the feature block's 32 px, got 32"):
        DragSession(G, seed=0, feature_res=32)
    with pytest.raises(ValueError, match=r"feature offset must have shape \[1, 32, 8, 8\]"):
        DragSession(G, seed=0, feature_res=8, features=torch.zeros(1, 32, 16, 16))
    with pytest.raises(ValueError, match="needs a config without feature_res"):
        DragSession(G, seed=0, feature_res=16, cropped=True).start_drag([(20, 32)], [(32, 32)])
    for bad in (0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="warp_radius must be a share of the image height in"):
            DragSession(G, seed=0, feature_res=16, warp_radius=bad)


def test_w_plus_moves_only_the_first_six_layers_and_w_mode_moves_them_together(G):
    for w_plus in (True, False):
        s = DragSession(G, seed=0, lr=LR, w_plus=not w_plus)
        list(s.drag([(26, 32)], [(38, 32)], max_steps=2, w_plus=w_plus))  # this drag's space, not the session's
        assert s.config.w_plus == (not w_plus)
        ws, w0 = s.ws[0], s.w0[0]
        assert torch.equal(ws[6:], w0[6:])
        assert not torch.equal(ws[:6], w0[:6])
        assert torch.equal(ws[:6], ws[:1].expand(6, -1)) == (not w_plus)


def test_a_drag_takes_its_own_learning_rate(G):
    """Adam's first step moves each coordinate by about lr: the drag's lr, not the session's."""
    s = DragSession(G, seed=0, lr=LR)
    for lr in (1e-3, 4e-3):
        list(s.drag([(26, 32)], [(38, 32)], max_steps=1, lr=lr))
        moved = (s.ws - s.history[-1].start_ws).abs().max().item()
        assert moved == pytest.approx(lr, rel=1e-2)
    assert s.config.lr == LR


def test_drag_renders_frames_by_their_share_of_the_time_and_always_at_the_end(G):
    s = DragSession(G, seed=0, lr=LR)
    results = list(s.drag([(26, 32)], [(38, 32)], max_steps=5, frame_share=1))  # every step
    assert [r.frame is not None for r in results] == [True] * 6
    assert results[-1].frame.shape == (64, 64, 3) and "max_steps" in results[-1].message
    assert len(s.frames) == 6 and all(r.ms > 0 for r in results)
    # The closing frame is the current latent, and its handles are tracked on it.
    np.testing.assert_array_equal(results[-1].frame, s.render())
    results = list(s.drag([(26, 32)], [(38, 32)], max_steps=5, frame_share=1e-9))  # G has rendered: only the last
    assert [r.frame is not None for r in results] == [False] * 5 + [True]
    assert all(r.preview is None for r in results) and len(s.frames) == 1
    # A generator that has never rendered renders at the first step: that times it.
    fresh = DragSession(tiny_generator(seed=5), seed=0, lr=LR)
    results = list(fresh.drag([(26, 32)], [(38, 32)], max_steps=3, frame_share=1e-9))
    assert [r.frame is not None for r in results] == [True, False, False, True]


def test_frames_are_paced_by_the_drags_own_steps_not_by_time_the_caller_spends_between_them(G):
    """The app encodes and sends every step, and a benchmark interleaves drags: neither is the drag's time."""
    s = DragSession(G, seed=0, lr=LR)
    s.render()
    step = s.step

    def quick_step(frame=False):  # steps that report 1 ms each, whatever this machine's load
        r = step(frame=frame)
        r.ms = 1.0
        return r

    s.step = quick_step
    _RENDER_SECONDS[G] = 0.2  # at frame_share 0.5 a frame is due after 0.2 s of steps
    results = []
    for r in s.drag([(26, 32)], [(50, 32)], max_steps=3, frame_share=0.5):
        results.append(r)
        time.sleep(0.3)  # longer than the render: wall-clock pacing would draw a frame at every step
    assert [r.frame is not None for r in results] == [False, False, False, True]
    _RENDER_SECONDS[G] = 0.002  # 2 ms of steps: every second step draws one
    assert [r.frame is not None for r in s.drag([(26, 32)], [(50, 32)], max_steps=3, frame_share=0.5)] == \
        [False, False, True, True]


def test_stop_request_ends_a_drag(G):
    s = DragSession(G, seed=0, lr=LR)
    stop = threading.Event()
    results = []
    for r in s.drag([(26, 32)], [(50, 32)], max_steps=50, stop=stop):
        results.append(r)
        if len(results) == 2:
            stop.set()
    assert len(results) == 3 and "stopped on request after 2 steps" in results[-1].message
    assert results[-1].frame is not None
    s.stop()  # the session's own flag is cleared when the next drag starts
    assert len(list(s.drag([(26, 32)], [(50, 32)], max_steps=2))) == 3


def test_bad_input_raises_clear_errors(G):
    s = DragSession(G, seed=0)
    with pytest.raises(ValueError, match="2 handles but 1 targets"):
        s.start_drag([(1, 1), (2, 2)], [(3, 3)])
    with pytest.raises(ValueError, match=r"target 1 at \(70, 3\) is outside the 64x64 image"):
        s.start_drag([(1, 1), (2, 2)], [(3, 3), (70, 3)])
    with pytest.raises(ValueError, match="handle 0 at"):
        s.start_drag([(-1, 5)], [(3, 3)])
    with pytest.raises(ValueError, match="handle 0 at"):
        s.start_drag([(float("nan"), 5)], [(3, 3)])
    with pytest.raises(ValueError, match=r"mask must have shape \(H, W\) = \(64, 64\), got \(32, 32\)"):
        s.start_drag([(1, 1)], [(3, 3)], mask=np.ones((32, 32)))
    with pytest.raises(ValueError, match="no drag is running"):
        s.step()
    with pytest.raises(ValueError, match="pairs"):
        s.start_drag([(1, 2, 3)], [(3, 3)])
    with pytest.raises(ValueError, match="at least one handle"):
        s.start_drag([], [])
    with pytest.raises(ValueError, match="target 0 at"):
        s.drag([(1, 1)], [(64, 1)])  # raised at the call, before any step
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got -1"):
        s.drag([(1, 1)], [(3, 1)], lr=-1)
    assert s.history == []  # nothing half-started


def test_nan_loss_stops_the_drag_and_keeps_the_last_good_latent(G, monkeypatch):
    s = DragSession(G, seed=0, lr=LR)
    s.start_drag([(26, 32)], [(38, 32)])
    s.step()
    s.step()
    good = s.ws
    real_loss = session_module.motion_supervision_loss
    monkeypatch.setattr(session_module, "motion_supervision_loss",
                        lambda *args, **kwargs: real_loss(*args, **kwargs) * float("nan"))
    r = s.step()
    assert "loss is nan" in r.message and "kept the last good latent" in r.message
    assert torch.equal(s.ws, good)
    results = list(s.drag([(26, 32)], [(38, 32)], max_steps=5))
    assert len(results) == 1 and "nan" in results[0].message and torch.equal(s.ws, good)


def test_swapping_the_generator_keeps_latent_and_history_and_refuses_another_shape():
    G, other = tiny_generator(perturb=0.05), tiny_generator(seed=1, perturb=0.05)
    s = DragSession(G, seed=0)
    list(s.drag([(20, 30)], [(26, 30)], max_steps=2))
    ws, history = s.ws, list(s.history)
    s.swap_generator(None)  # the visitor's tuning waits on disk
    s.swap_generator(other)
    assert s.G is other and torch.equal(s.ws, ws) and s.history == history
    assert not np.array_equal(s.render(), DragSession(G, ws=ws).render())
    with pytest.raises(ValueError, match="must take this session's latents and size"):
        s.swap_generator(tiny_generator(res=32))
