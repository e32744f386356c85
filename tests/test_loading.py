"""load_generator reads NVlabs pickles (without running their code), safetensors and the shared fixtures,
and turns every bad file into a CheckpointError that names it."""
import json
import os
import pickle
import subprocess
import sys
import types
from collections import OrderedDict
from functools import partial

import numpy as np
import pytest
import torch
from safetensors import safe_open

from conftest import tiny_generator
from draggan import (CheckpointError, CheckpointFormatError, CheckpointNotFoundError,
                     UnsafeCheckpointError, load_generator, save_generator)
from draggan.convert import main as convert_main
from draggan.loading import build_generator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_KWARGS = dict(z_dim=16, w_dim=16, c_dim=0, img_resolution=32, img_channels=3,
                   mapping_kwargs={"num_layers": 2},
                   synthesis_kwargs={"channel_base": 256, "channel_max": 16, "num_fp16_res": 2, "conv_clamp": 256})


# The generator of TINY_KWARGS, with every tensor (biases, noise strengths, w_avg too) random.
perturbed_generator = partial(tiny_generator, res=32, dim=16, channel_base=256, channel_max=16, num_fp16_res=2,
                              perturb=0.3)


def render(G, seed=1):
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G.synthesis(G.mapping(z, truncation_psi=0.7), noise_mode="const")


# ----------------------------------------------------------------------------- NVlabs pickle layout

def fake_nvlabs_modules(marker):
    """`torch_utils.persistence` and `dnnlib.util` stand-ins, so pickle.dumps writes NVlabs' exact globals.

    The persisted `module_src` would create `marker` if anything executed it.
    """
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):  # never called by the loader
        raise AssertionError("the loader must not call the real persistence hook")
    _reconstruct_persistent_obj.__module__ = persistence.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = util.__name__, "EasyDict"
    util.EasyDict = EasyDict

    class Persistent:
        """Pickles as NVlabs' Decorator.__reduce__ does: (_reconstruct_persistent_obj, (meta,))."""

        def __init__(self, class_name, state):
            self.class_name, self.state = class_name, state

        def __reduce__(self):
            meta = dict(type="class", version=6, class_name=self.class_name, state=self.state,
                        module_src=f"open({str(marker)!r}, 'w').write('executed')\nclass {self.class_name}: pass\n")
            return persistence._reconstruct_persistent_obj, (meta,)

    return persistence, util, Persistent


@pytest.fixture
def nvlabs(monkeypatch, tmp_path):
    marker = tmp_path / "module_src_was_executed"
    persistence, util, Persistent = fake_nvlabs_modules(marker)
    for name, module in [("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                         ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)]:
        monkeypatch.setitem(sys.modules, name, module)
    yield types.SimpleNamespace(Persistent=Persistent, EasyDict=util.EasyDict, marker=marker)
    assert not marker.exists(), "code from the pickle was executed"


def persist(nv, module: torch.nn.Module, class_name: str, init_kwargs=None, dtype=None):
    """The `__dict__` NVlabs pickles for a module: torch internals, parameters, buffers, children, attributes."""
    def cast(t):
        return t if dtype is None else t.to(dtype)
    state = {"training": False,
             "_parameters": OrderedDict((k, torch.nn.Parameter(cast(v.detach()), requires_grad=False))
                                        for k, v in module._parameters.items()),
             "_buffers": OrderedDict((k, cast(v)) for k, v in module._buffers.items()),
             "_non_persistent_buffers_set": set(), "_backward_hooks": OrderedDict(), "_forward_hooks": OrderedDict(),
             "_modules": OrderedDict((k, persist(nv, v, type(v).__name__, dtype=dtype))
                                     for k, v in module._modules.items()),
             "_init_args": (), "_init_kwargs": init_kwargs if init_kwargs is not None else {}}
    for key, value in vars(module).items():  # numpy scalars, as NVlabs' `weight_gain = lr / np.sqrt(n)` are
        if not key.startswith("_") and isinstance(value, (int, float)) and not isinstance(value, bool):
            state[key] = np.float64(value) if isinstance(value, float) else value
    return nv.Persistent(class_name, state)


def easy(nv, kwargs):
    return nv.EasyDict({k: easy(nv, v) if isinstance(v, dict) else v for k, v in kwargs.items()})


def write_nvlabs_pickle(nv, path, G, init_kwargs=None, protocol=4, dtype=None, drop=()):
    init_kwargs = easy(nv, init_kwargs or TINY_KWARGS)
    discriminator = torch.nn.Linear(4, 1)
    snapshot = {"G": persist(nv, G, "Generator", init_kwargs, dtype), "D": persist(nv, discriminator, "Discriminator"),
                "G_ema": persist(nv, G, "Generator", init_kwargs, dtype), "augment_pipe": None,
                "training_set_kwargs": nv.EasyDict(path="ffhq.zip", resolution=np.int64(32), xflip=False,
                                                   mean=np.arange(3, dtype=np.float32))}
    for key in drop:
        del snapshot[key]
    path.write_bytes(pickle.dumps(snapshot, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4])
def test_nvlabs_pickle_round_trip_without_running_its_source(nvlabs, tmp_path, protocol):
    G = perturbed_generator()
    path = write_nvlabs_pickle(nvlabs, tmp_path / "net.pkl", G, protocol=protocol)
    assert b"torch_utils.persistence" in path.read_bytes() and b"module_src" in path.read_bytes()
    loaded = load_generator(path, device="cpu")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert loaded.config == G.config and loaded.synthesis.b4.conv1.conv_clamp == 256
    for key, value in G.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    torch.testing.assert_close(render(loaded), render(G), atol=0, rtol=0)


def test_flat_stylegan3_codebase_init_kwargs_keep_conv_clamp(nvlabs, tmp_path):
    # DragGAN's generator takes **synthesis_kwargs, so its pickles store channel_base etc. at the top level.
    flat = {k: v for k, v in TINY_KWARGS.items() if k != "synthesis_kwargs"} | TINY_KWARGS["synthesis_kwargs"]
    G = perturbed_generator()
    loaded = load_generator(write_nvlabs_pickle(nvlabs, tmp_path / "flat.pkl", G, init_kwargs=flat), device="cpu")
    assert loaded.config == G.config and loaded.synthesis.b32.torgb.conv_clamp == 256


def test_fp16_pickle_is_cast_to_fp32(nvlabs, tmp_path):
    G = perturbed_generator()
    loaded = load_generator(write_nvlabs_pickle(nvlabs, tmp_path / "half.pkl", G, dtype=torch.float16), device="cpu")
    for key, value in loaded.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, G.state_dict()[key].half().float()), key


def test_pickle_without_g_ema_is_a_clear_error(nvlabs, tmp_path):
    path = write_nvlabs_pickle(nvlabs, tmp_path / "no_ema.pkl", perturbed_generator(), drop=["G_ema"])
    with pytest.raises(CheckpointFormatError, match=r"no_ema\.pkl: the pickle has no 'G_ema' entry.*'G'"):
        load_generator(path)


def test_a_pickle_of_foreign_classes_is_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"G_ema": types.SimpleNamespace(a=1)}))
    with pytest.raises(UnsafeCheckpointError, match=r"plain\.pkl: refusing to load global types\.SimpleNamespace"):
        load_generator(path)


# ----------------------------------------------------------------------------- malicious pickles

class Exploit:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("func, args, global_name", [
    (os.system, "touch {m}", f"{os.system.__module__}.system"),
    (eval, "open({m!r}, 'w')", "builtins.eval"),
    (subprocess.Popen, ["touch", "{m}"], "subprocess.Popen"),
])
def test_malicious_pickle_is_refused_and_nothing_runs(nvlabs, tmp_path, func, args, global_name):
    marker = tmp_path / "pwned"
    arg = [a.format(m=str(marker)) for a in args] if isinstance(args, list) else args.format(m=str(marker))
    G = perturbed_generator()
    snapshot = persist(nvlabs, G, "Generator", easy(nvlabs, TINY_KWARGS))
    snapshot.state["_modules"]["mapping"].state["evil"] = Exploit(func, arg)  # deep inside G_ema
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": snapshot}))
    with pytest.raises(UnsafeCheckpointError, match=rf"evil\.pkl: refusing to load global {global_name}"):
        load_generator(path)
    assert not marker.exists()


def test_malicious_storage_bytes_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Exploit(os.system, f"touch {marker}"))
    path = tmp_path / "storage.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Exploit(torch.storage._load_from_bytes, payload)}))
    with pytest.raises(CheckpointError, match=r"storage\.pkl"):
        load_generator(path)
    assert not marker.exists()


def test_tensorflow_pickle_gets_a_conversion_hint(monkeypatch, tmp_path):
    network = types.ModuleType("dnnlib.tflib.network")

    class Network:  # what NVlabs' TensorFlow StyleGAN2 pickles hold
        pass
    Network.__module__, Network.__qualname__ = network.__name__, "Network"
    network.Network = Network
    for name in ("dnnlib", "dnnlib.tflib"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, network.__name__, network)
    path = tmp_path / "stylegan2-car-config-f.pkl"
    path.write_bytes(pickle.dumps((None, None, Network())))
    with pytest.raises(CheckpointFormatError, match=r"car-config-f\.pkl: this is a TensorFlow StyleGAN pickle.*legacy"):
        load_generator(path)


# ----------------------------------------------------------------------------- bad files

def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match=r"nothere\.pkl: no such file, and not a registry name"):
        load_generator(tmp_path / "nothere.pkl")
    with pytest.raises(CheckpointNotFoundError, match="is a folder"):
        load_generator(tmp_path)


def test_wrong_format_files(tmp_path):
    png = tmp_path / "photo.pkl"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(CheckpointFormatError, match=r"photo\.pkl: not a checkpoint we can read.*PNG"):
        load_generator(png)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointFormatError, match=r"empty\.safetensors: the file is empty"):
        load_generator(empty)
    other = tmp_path / "classifier.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}, "epoch": 3}, other)
    with pytest.raises(CheckpointFormatError, match=r"classifier\.pt: a torch file without a rosinality 'g_ema'.*epoch"):
        load_generator(other)


def test_truncated_and_corrupt_files(nvlabs, tmp_path):
    G = perturbed_generator()
    pkl = write_nvlabs_pickle(nvlabs, tmp_path / "full.pkl", G)
    st = save_generator(G, tmp_path / "full.safetensors")
    pt = tmp_path / "full.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(4, 4), "input.input": torch.zeros(1, 4, 4, 4)}}, pt)
    for path in (pkl, st, pt):
        data = path.read_bytes()
        cut = tmp_path / f"cut{path.suffix}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(CheckpointFormatError, match=rf"cut\{path.suffix}: .*(truncated|corrupt|ends early)"):
            load_generator(cut)
    flipped = bytearray(pkl.read_bytes())
    flipped[2:66] = np.random.RandomState(0).bytes(64)  # scramble the opcodes at the top of the pickle
    bad = tmp_path / "flipped.pkl"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match=r"flipped\.pkl"):
        load_generator(bad)


def test_weights_that_do_not_fit_list_every_problem(tmp_path):
    G = perturbed_generator()
    state = dict(G.state_dict())
    del state["mapping.fc0.bias"]
    state["synthesis.b8.conv0.weight"] = torch.zeros(3, 3, 3, 3)
    state["synthesis.b64.const"] = torch.zeros(1)
    with pytest.raises(CheckpointFormatError, match=r"src\.pkl: .*missing \(1\): mapping\.fc0\.bias; unexpected \(1\): "
                                                    r"synthesis\.b64\.const; shape mismatch \(1\): synthesis\.b8\.conv0"
                                                    r"\.weight: file \[3, 3, 3, 3\], model \[16, 16, 3, 3\]"):
        build_generator(G.config, state, "src.pkl")


# ----------------------------------------------------------------------------- safetensors and convert

def test_safetensors_round_trip_embeds_the_config(tmp_path):
    G = perturbed_generator(res=64)
    path = save_generator(G, tmp_path / "g.safetensors", source="g.pkl")
    with safe_open(str(path), "pt") as f:
        assert json.loads(f.metadata()["draggan_config"])["init_kwargs"]["img_resolution"] == 64
    loaded = load_generator(path, device=torch.device("cpu"))
    assert loaded.config == G.config and not (tmp_path / "g.json").exists()
    torch.testing.assert_close(render(loaded), render(G), atol=0, rtol=0)


def test_shared_fixture_loads_through_its_sidecar_json(shared_dir):
    root = shared_dir / "fixtures" / "stylegan2"
    G = load_generator(root / "tiny64.safetensors", device="cpu")
    expected = np.load(root / "tiny64_expected.npz")
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(expected["z"]), truncation_psi=0.7)
        img = G.synthesis(ws, noise_mode="const")
    np.testing.assert_allclose(ws.numpy(), expected["ws_psi0.7"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(img.numpy(), expected["img"], atol=1e-4, rtol=0)


def test_safetensors_without_config_names_the_missing_sidecar(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in perturbed_generator().state_dict().items()}, str(path))
    with pytest.raises(CheckpointFormatError, match=r"bare\.safetensors: no generator config.*bare\.json"):
        load_generator(path)
    (tmp_path / "bare.json").write_text(json.dumps({"init_kwargs": TINY_KWARGS}))
    assert load_generator(path).img_resolution == 32


def test_convert_cli_pickle_to_safetensors(nvlabs, tmp_path, capsys):
    G = perturbed_generator()
    pkl = write_nvlabs_pickle(nvlabs, tmp_path / "net.pkl", G)
    assert convert_main([str(pkl)]) == 0
    out = capsys.readouterr().out
    assert "reading" in out and "MB" in out and "verified" in out
    loaded = load_generator(tmp_path / "net.safetensors")
    torch.testing.assert_close(render(loaded), render(G), atol=0, rtol=0)
    assert convert_main([str(pkl)]) == 1  # exists, no --force
    assert "already exists" in capsys.readouterr().err
    assert convert_main([str(pkl), str(tmp_path / "net.safetensors"), "--force"]) == 0


def test_convert_cli_runs_as_a_module_and_reports_bad_input(tmp_path):
    bad = tmp_path / "notes.pkl"
    bad.write_text("hello")
    result = subprocess.run([sys.executable, "-m", "draggan.convert", str(bad)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "notes.pkl: not a checkpoint we can read" in result.stderr


def test_reader_handles_numpy_values_in_the_snapshot(nvlabs, tmp_path):
    from draggan.pickle_reader import read_pickle
    path = write_nvlabs_pickle(nvlabs, tmp_path / "net.pkl", perturbed_generator())
    snapshot = read_pickle(path)
    assert snapshot["training_set_kwargs"]["resolution"] == 32
    np.testing.assert_array_equal(snapshot["training_set_kwargs"]["mean"], np.arange(3, dtype=np.float32))
    assert snapshot["G_ema"].class_name == "Generator"
    assert isinstance(snapshot["G_ema"].state["_modules"]["mapping"].state["_modules"]["fc0"].state["weight_gain"],
                      float)


def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    from draggan import pick_device
    assert pick_device("cpu") == torch.device("cpu") and pick_device(torch.device("meta")).type == "meta"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    with pytest.raises(ValueError, match="'cuda' is not available"):
        pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
