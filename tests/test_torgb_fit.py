"""The ToRGB fit: its linear model is the network's own, it beats the old default on real faces, it tunes only the
ToRGB layers (so drags read G's own features), it does not blow up edits, and Stop and failures are handled."""
import threading

import numpy as np
import pytest
import torch

import draggan.inversion as inversion_module
from draggan import invert
from draggan.export import to_uint8
from benchmarks.bench_invert import OLD_DEFAULT
from draggan.inversion import InversionProgress
from draggan.torgb_fit import ToRGBFit, skip_image, torgb_inputs, torgb_parameters
from test_inversion import aligned_face, empty_torch_hub, generated, small, tiny256  # noqa: F401 (fixtures)


def test_the_linear_model_is_the_networks_image(tiny256):
    ws = tiny256.mapping(torch.randn(1, tiny256.z_dim, generator=torch.Generator().manual_seed(0)), truncation_psi=0.7)
    image, inputs = torgb_inputs(tiny256.synthesis, ws)
    params, n = torgb_parameters(tiny256.synthesis), len(tiny256.synthesis.blocks)
    mine = skip_image(tiny256.synthesis, inputs, params[:n], params[n:])
    assert image.shape == mine.shape == (1, 3, 256, 256)
    assert float((mine - image).abs().max()) < 1e-4 * float(image.abs().max())


@pytest.mark.parametrize("face", ["obama.jpg", "biden.jpg"])
def test_the_default_is_no_less_faithful_than_the_old_one_on_real_faces(tiny256, shared_dir, face):
    target = aligned_face(shared_dir, face)
    new, old = invert(tiny256, target), invert(tiny256, target, OLD_DEFAULT)
    assert new.psnr >= old.psnr, f"{face}: new {new.psnr:.2f} dB < old {old.psnr:.2f} dB"
    assert new.psnr - new.projection_psnr >= 3, f"{face}: the fit added {new.psnr - new.projection_psnr:.1f} dB"
    assert new.resolutions == [128] * 20 + [256] * 40 and new.message == ""
    assert new.stages == ["projection"] * 20 + ["fit"] * 40


@pytest.mark.parametrize("seed", [3, 4])
def test_the_fit_adds_3db_to_a_short_projection_of_a_generated_image(tiny256, seed):
    result = invert(tiny256, generated(tiny256, seed=seed))
    assert result.psnr - result.projection_psnr >= 3, f"seed {seed}: {result.projection_psnr:.1f} -> {result.psnr:.1f}"


def test_only_torgb_changes_so_drags_read_gs_own_features(small):
    before = {k: v.clone() for k, v in small.state_dict().items()}
    result = invert(small, generated(small, seed=1), steps=5)
    assert all(torch.equal(before[k], v) for k, v in small.state_dict().items())  # G untouched
    assert result.overlay.only_torgb and len(result.overlay.tensors) == 2 * len(small.synthesis.blocks)
    tuned = result.overlay.on(small)
    changed = {k for k, v in tuned.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(".torgb." in k for k in changed), sorted(changed)
    with torch.no_grad():
        (_, mine), (_, theirs) = (g.synthesis(result.ws, return_features=True) for g in (tuned, small))
    assert all(torch.equal(a, b) for a, b in zip(mine, theirs))
    assert all(p.grad is None and not p.requires_grad for p in tuned.parameters())
    with torch.no_grad():
        np.testing.assert_array_equal(result.image, to_uint8(tuned.synthesis(result.ws)))


def test_an_edit_moves_the_fitted_image_about_as_much_as_gs(tiny256, shared_dir):
    """The ridge keeps the readout near G's: a latent change (what a drag makes) is not amplified much more."""
    result = invert(tiny256, aligned_face(shared_dir, "obama.jpg"))
    ratios = []
    for seed in range(3):
        step = 0.1 * torch.randn(result.ws.shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            moved = [(g.synthesis(result.ws + step).clamp(-1, 1) - g.synthesis(result.ws).clamp(-1, 1)).norm()
                     for g in (result.overlay.on(tiny256), tiny256)]
        ratios.append(float(moved[0] / moved[1]))
    assert sum(ratios) / 3 < 1.5, ratios


def test_stop_in_the_fit_ends_within_one_iteration_and_keeps_it(small):
    stop, seen = threading.Event(), []

    def progress(p: InversionProgress):
        seen.append(p)
        if p.stage == "fit" and p.step == 6:
            stop.set()

    result = invert(small, generated(small, seed=2), steps=4, progress=progress, stop=stop)
    assert [p.stage for p in seen] == ["projection"] * 4 + ["fit"] * 2 and "6 of 44" in result.message
    assert result.overlay.tensors and result.psnr > result.projection_psnr


def test_a_non_finite_fit_keeps_the_projection_and_says_so(small, monkeypatch):
    def broken(synthesis, inputs, target, steps, ridge, on_step):
        blocks = synthesis.blocks
        return ToRGBFit([b.torgb.weight * float("nan") for b in blocks], [b.torgb.bias for b in blocks], target)

    monkeypatch.setattr(inversion_module, "fit_torgb", broken)
    result = invert(small, generated(small, seed=3), steps=3)
    assert "ToRGB fit became non-finite" in result.message and result.overlay.tensors == {}
    assert result.psnr == result.projection_psnr


def test_the_eta_prices_the_fit_before_it_runs(small, monkeypatch):
    """On a fake clock where every timing reads 1 s, the fit's iterations are priced as the one timed before the
    first step took (1 s), the renders at a forward pass scaled as the projection steps compare with their price
    (1 s for 3 forward passes); once two iterations have run, at their own time."""
    clock = iter(range(10 ** 6))
    monkeypatch.setattr(inversion_module.time, "perf_counter", lambda: float(next(clock)))
    seen = []
    invert(small, generated(small, seed=5), steps=4, torgb_steps=10, progress=seen.append)
    assert [p.stage for p in seen] == ["projection"] * 4 + ["fit"] * 10
    assert round(seen[3].eta_s, 6) == round(2 / 3 + 10, 6)          # 2 renders at 1/3, 10 iterations at 1 s
    assert round(seen[4].eta_s, 6) == 9 + 1                           # 9 iterations, the render as timed
    assert round(seen[5].eta_s, 6) == 9.0                            # 8 iterations and the render, at 1 s
    assert [round(p.eta_s, 6) for p in seen[-3:]] == [3.0, 2.0, 1.0]  # 2, 1, 0 iterations + the final render
