"""The generator reproduces the NVlabs reference outputs in ../shared/fixtures/stylegan2 to 1e-4."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from draggan.networks import Generator, GeneratorConfig

TOL = 1e-4


def load_fixture(shared_dir, name):
    root = shared_dir / "fixtures" / "stylegan2"
    config = GeneratorConfig.from_init_kwargs(json.loads((root / f"{name}.json").read_text())["init_kwargs"])
    G = Generator(config).eval()
    G.load_state_dict(load_file(root / f"{name}.safetensors"), strict=True)
    return G, dict(np.load(root / f"{name}_expected.npz"))


@pytest.mark.parametrize("name", ["tiny64", "tiny256"])
def test_mapping_matches_reference(shared_dir, name):
    G, expected = load_fixture(shared_dir, name)
    z = torch.from_numpy(expected["z"])
    with torch.no_grad():
        ws = G.mapping(z, truncation_psi=0.7)
        ws_cut = G.mapping(z, truncation_psi=0.5, truncation_cutoff=4)
    np.testing.assert_allclose(ws.numpy(), expected["ws_psi0.7"], atol=TOL, rtol=0)
    np.testing.assert_allclose(ws_cut.numpy(), expected["ws_psi0.5_cutoff4"], atol=TOL, rtol=0)
    # The cutoff really leaves the later layers untruncated.
    assert not np.allclose(ws_cut[:, 4:].numpy(), G.mapping(z, truncation_psi=0.5)[:, 4:].detach().numpy())


@pytest.mark.parametrize("name", ["tiny64", "tiny256"])
@pytest.mark.parametrize("fused", [True, False])
def test_synthesis_image_and_every_block_match_reference(shared_dir, name, fused):
    G, expected = load_fixture(shared_dir, name)
    ws = torch.from_numpy(expected["ws_psi0.7"])
    with torch.no_grad():
        img, feats = G.synthesis(ws, noise_mode="const", return_features=True, fused_modconv=fused)
    assert img.shape == (2, 3, G.img_resolution, G.img_resolution)
    np.testing.assert_allclose(img.numpy(), expected["img"], atol=TOL, rtol=0)
    assert len(feats) == len(G.synthesis.block_resolutions)
    stored = [i for i in range(len(feats)) if f"feat{i}_sample0" in expected]
    assert len(stored) >= 5
    for i in stored:
        np.testing.assert_allclose(feats[i][:1].numpy(), expected[f"feat{i}_sample0"], atol=TOL, rtol=0,
                                   err_msg=f"block b{4 * 2 ** i}")


def test_feats5_is_the_128_block(shared_dir):
    G, expected = load_fixture(shared_dir, "tiny256")
    with torch.no_grad():
        _, feats = G.synthesis(torch.from_numpy(expected["ws_psi0.7"]), return_features=True)
    assert feats[5].shape[-1] == 128


def test_stopping_early_gives_the_same_features_and_a_low_res_preview(shared_dir):
    G, expected = load_fixture(shared_dir, "tiny256")
    ws = torch.from_numpy(expected["ws_psi0.7"])
    with torch.no_grad():
        preview, feats = G.synthesis(ws, return_features=True, last_block=5)
        _, no_rgb_feats = G.synthesis(ws, return_features=True, last_block=5, rgb=False, fused_modconv=False)
    assert len(feats) == 6 and preview.shape == (2, 3, 128, 128)
    np.testing.assert_allclose(feats[5][:1].numpy(), expected["feat5_sample0"], atol=TOL, rtol=0)
    np.testing.assert_allclose(no_rgb_feats[5][:1].numpy(), expected["feat5_sample0"], atol=TOL, rtol=0)
    # The preview is the running skip image: a low-pass version of the final image.
    small = torch.nn.functional.avg_pool2d(torch.from_numpy(expected["img"]), 2)
    assert torch.corrcoef(torch.stack([preview.flatten(), small.flatten()]))[0, 1] > 0.5


@pytest.mark.parametrize("name", ["tiny64", "tiny256"])
def test_a_render_without_autograd_draws_the_autograd_paths_image(shared_dir, name):
    """Renders fold the activation gain into the kernels and run in place; with autograd on, the layers keep
    NVlabs' order of operations. Both must draw one image, clamps included (conv_clamp lowered so that they bite)."""
    G, expected = load_fixture(shared_dir, name)
    ws = torch.from_numpy(expected["ws_psi0.7"])
    for layer in G.synthesis.modules():
        if hasattr(layer, "conv_clamp") and layer.conv_clamp is not None:
            layer.conv_clamp = 0.5
    with torch.no_grad():
        rendered = G.synthesis(ws)
    with torch.enable_grad():
        traced = G.synthesis(ws.clone().requires_grad_())
    assert rendered.shape == traced.shape
    torch.testing.assert_close(rendered, traced.detach(), atol=1e-5, rtol=0)
    assert (traced.detach().abs() >= 0.5 - 1e-6).float().mean() > 0.01  # the clamp did bite


def test_noise_modes_and_bad_shapes(shared_dir):
    G, expected = load_fixture(shared_dir, "tiny64")
    ws = torch.from_numpy(expected["ws_psi0.7"])
    with torch.no_grad():
        const = G.synthesis(ws, noise_mode="const")
        none = G.synthesis(ws, noise_mode="none")
        rand = G.synthesis(ws, noise_mode="random")
    assert not torch.allclose(const, none) and not torch.allclose(const, rand)
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(ws[:, :3])
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="loud")
    with pytest.raises(ValueError, match="z must have shape"):
        G.mapping(torch.zeros(1, 7))
