"""A rosinality/stylegan2-pytorch checkpoint loads into our NVlabs-layout Generator and draws the same image
as an independent re-implementation of rosinality's forward pass (written here from its maths)."""
import argparse
import math

import pytest
import torch
import torch.nn.functional as F

from draggan import CheckpointFormatError, load_generator
from draggan.rosinality import MEAN_LATENT_SAMPLES

STYLE_DIM, N_MLP, LR_MLP = 16, 2, 0.01
CHANNELS = {4: 16, 8: 16, 16: 16, 32: 8}  # min(256 // res, 16)
BLUR = torch.tensor([1.0, 3.0, 3.0, 1.0])
BLUR2D = torch.outer(BLUR, BLUR) / 64


def random_rosinality_g_ema(seed=0) -> dict[str, torch.Tensor]:
    """A 32 px rosinality `g_ema` state dict with rosinality's key names and shapes, every tensor random."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    sd = {}
    for i in range(1, N_MLP + 1):
        sd[f"style.{i}.weight"] = randn(STYLE_DIM, STYLE_DIM) / LR_MLP
        sd[f"style.{i}.bias"] = randn(STYLE_DIM, scale=0.1)

    def modulated(prefix, cin, cout, k):
        sd[f"{prefix}.weight"] = randn(1, cout, cin, k, k)
        sd[f"{prefix}.modulation.weight"] = randn(cin, STYLE_DIM)
        sd[f"{prefix}.modulation.bias"] = 1 + randn(cin, scale=0.1)

    def styled_conv(prefix, cin, cout, up):
        modulated(f"{prefix}.conv", cin, cout, 3)
        if up:
            sd[f"{prefix}.conv.blur.kernel"] = BLUR2D * 4
        sd[f"{prefix}.noise.weight"] = randn(1, scale=0.3)
        sd[f"{prefix}.activate.bias"] = randn(cout, scale=0.1)

    def to_rgb(prefix, cin, up):
        modulated(f"{prefix}.conv", cin, 3, 1)
        sd[f"{prefix}.bias"] = randn(1, 3, 1, 1, scale=0.1)
        if up:
            sd[f"{prefix}.upsample.kernel"] = BLUR2D * 4

    sd["input.input"] = randn(1, CHANNELS[4], 4, 4)
    styled_conv("conv1", CHANNELS[4], CHANNELS[4], up=False)
    to_rgb("to_rgb1", CHANNELS[4], up=False)
    resolutions = sorted(CHANNELS)[1:]
    for i, res in enumerate(resolutions):
        styled_conv(f"convs.{2 * i}", CHANNELS[res // 2], CHANNELS[res], up=True)
        styled_conv(f"convs.{2 * i + 1}", CHANNELS[res], CHANNELS[res], up=False)
        to_rgb(f"to_rgbs.{i}", CHANNELS[res], up=True)
    for k in range(2 * len(resolutions) + 1):
        res = 4 * 2 ** ((k + 1) // 2)
        sd[f"noises.noise_{k}"] = randn(1, 1, res, res)
    return sd


# ----------------------------------------------------------------------------- rosinality's maths, per sample

def upfirdn(x, kernel, up, pad):
    """Zero-insertion up-sampling, padding, then FIR filtering (rosinality's upfirdn2d)."""
    if up > 1:
        y = x.new_zeros(x.shape[0], x.shape[1], x.shape[2] * up, x.shape[3] * up)
        y[:, :, ::up, ::up] = x
        x = y
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    c = x.shape[1]
    return F.conv2d(x, kernel.flip([0, 1]).expand(c, 1, *kernel.shape), groups=c)


def mapping(sd, z):
    x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
    for i in range(1, N_MLP + 1):
        w = sd[f"style.{i}.weight"] * (LR_MLP / math.sqrt(STYLE_DIM))
        x = F.leaky_relu(F.linear(x, w) + sd[f"style.{i}.bias"] * LR_MLP, 0.2) * math.sqrt(2)
    return x


def modulated_conv(sd, prefix, x, style, demodulate, up):
    weight = sd[f"{prefix}.weight"][0]                      # [O, I, k, k]
    cin, k = weight.shape[1], weight.shape[-1]
    s = F.linear(style, sd[f"{prefix}.modulation.weight"] / math.sqrt(STYLE_DIM), sd[f"{prefix}.modulation.bias"])
    outs = []
    for b in range(x.shape[0]):
        w = weight / math.sqrt(cin * k * k) * s[b].reshape(1, cin, 1, 1)
        if demodulate:
            w = w * torch.rsqrt(w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        xb = x[b: b + 1]
        if up:
            out = F.conv_transpose2d(xb, w.transpose(0, 1), stride=2)
            outs.append(upfirdn(out, BLUR2D * 4, up=1, pad=(1, 1)))
        else:
            outs.append(F.conv2d(xb, w, padding=k // 2))
    return torch.cat(outs)


def styled_conv(sd, prefix, x, style, noise, up=False):
    out = modulated_conv(sd, f"{prefix}.conv", x, style, demodulate=True, up=up)
    out = out + sd[f"{prefix}.noise.weight"] * noise
    return F.leaky_relu(out + sd[f"{prefix}.activate.bias"].reshape(1, -1, 1, 1), 0.2) * math.sqrt(2)


def to_rgb(sd, prefix, x, style, skip):
    out = modulated_conv(sd, f"{prefix}.conv", x, style, demodulate=False, up=False) + sd[f"{prefix}.bias"]
    return out if skip is None else out + upfirdn(skip, BLUR2D * 4, up=2, pad=(2, 1))


def rosinality_forward(sd, latent):
    """Image for W+ `latent` [N, num_ws, style_dim] with the stored noise buffers."""
    noise = [sd[f"noises.noise_{k}"] for k in range(2 * (len(CHANNELS) - 1) + 1)]
    x = sd["input.input"].repeat(latent.shape[0], 1, 1, 1)
    x = styled_conv(sd, "conv1", x, latent[:, 0], noise[0])
    skip = to_rgb(sd, "to_rgb1", x, latent[:, 1], None)
    for i in range(len(CHANNELS) - 1):
        x = styled_conv(sd, f"convs.{2 * i}", x, latent[:, 2 * i + 1], noise[2 * i + 1], up=True)
        x = styled_conv(sd, f"convs.{2 * i + 1}", x, latent[:, 2 * i + 2], noise[2 * i + 2])
        skip = to_rgb(sd, f"to_rgbs.{i}", x, latent[:, 2 * i + 3], skip)
    return skip


# ----------------------------------------------------------------------------- tests

def save_checkpoint(path, g_ema, **extra):
    torch.save({"g_ema": g_ema, "args": argparse.Namespace(size=32, n_mlp=N_MLP), **extra}, path)
    return path


@pytest.mark.parametrize("fused", [True, False])
def test_rosinality_checkpoint_draws_the_same_image(tmp_path, fused):
    sd = random_rosinality_g_ema()
    latent_avg = torch.randn(STYLE_DIM) * 0.2
    G = load_generator(save_checkpoint(tmp_path / "550000.pt", sd, latent_avg=latent_avg), device="cpu")
    assert (G.img_resolution, G.num_ws, G.z_dim) == (32, 8, STYLE_DIM)  # num_ws = log2(size) * 2 - 2
    assert G.synthesis.b8.conv0.conv_clamp is None
    assert torch.equal(G.mapping.w_avg, latent_avg)
    z = torch.randn(2, STYLE_DIM, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ws = G.mapping(z, truncation_psi=0.7)
        ours = G.synthesis(ws, noise_mode="const", fused_modconv=fused)
        w = mapping(sd, z)
        theirs = rosinality_forward(sd, (latent_avg + 0.7 * (w - latent_avg)).unsqueeze(1).repeat(1, G.num_ws, 1))
    torch.testing.assert_close(ws[:, 0], latent_avg + 0.7 * (w - latent_avg), atol=1e-5, rtol=0)
    assert theirs.shape == ours.shape == (2, 3, 32, 32) and theirs.abs().mean() > 0.1
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


def test_missing_latent_avg_is_estimated_from_the_mapping(tmp_path):
    sd = random_rosinality_g_ema(seed=1)
    G = load_generator(save_checkpoint(tmp_path / "g.pt", sd), device="cpu")
    with torch.no_grad():
        w = mapping(sd, torch.randn(8 * MEAN_LATENT_SAMPLES, STYLE_DIM, generator=torch.Generator().manual_seed(9)))
    spread = w.std(dim=0)
    assert ((G.mapping.w_avg - w.mean(dim=0)).abs() < 0.1 * spread).all()
    assert not torch.equal(G.mapping.w_avg, torch.zeros(STYLE_DIM))


def test_incomplete_or_foreign_rosinality_files_name_the_key(tmp_path):
    sd = random_rosinality_g_ema()
    del sd["convs.1.noise.weight"]
    with pytest.raises(CheckpointFormatError, match=r"a\.pt: rosinality checkpoint lacks 'convs\.1\.noise\.weight'"):
        load_generator(save_checkpoint(tmp_path / "a.pt", sd))
    sd = random_rosinality_g_ema()
    sd["convs.0.conv.extra_scale"] = torch.ones(1)
    with pytest.raises(CheckpointFormatError, match=r"b\.pt: unexpected rosinality keys \['convs\.0\.conv\.extra_scale'\]"):
        load_generator(save_checkpoint(tmp_path / "b.pt", sd))


def test_convert_cli_turns_a_rosinality_checkpoint_into_safetensors(tmp_path, capsys):
    from draggan.convert import main as convert_main
    pt = save_checkpoint(tmp_path / "ros.pt", random_rosinality_g_ema(seed=2), latent_avg=torch.zeros(STYLE_DIM))
    assert convert_main([str(pt), str(tmp_path / "out" / "ros.safetensors")]) == 0
    assert "32x32, 8 ws" in capsys.readouterr().out
    direct, converted = load_generator(pt), load_generator(tmp_path / "out" / "ros.safetensors")
    assert converted.config == direct.config
    ws = direct.mapping(torch.randn(1, STYLE_DIM), truncation_psi=0.5)
    with torch.no_grad():
        torch.testing.assert_close(converted.synthesis(ws), direct.synthesis(ws), atol=0, rtol=0)
