"""Registry names resolve to env-var overrides, the checkpoints folder, or a Hub download (mocked at
huggingface_hub's boundary), and say exactly what to put where when none of them works."""
import huggingface_hub
import pytest
import torch
from huggingface_hub.errors import LocalEntryNotFoundError

from draggan import REGISTRY, ModelNotAvailableError, ModelSpec, list_models, load_generator, save_generator
from draggan import registry
from draggan.errors import CheckpointFormatError, CheckpointNotFoundError
from draggan.registry import BUNDLED_DIR, BUNDLED_MODEL, draws_faces, model_label
from draggan.networks import Generator, GeneratorConfig

TINY = GeneratorConfig(z_dim=8, w_dim=8, img_resolution=16, mapping_kwargs={"num_layers": 1},
                       synthesis_kwargs={"channel_base": 64, "channel_max": 8, "conv_clamp": None})


@pytest.fixture
def tiny_spec(monkeypatch, tmp_path):
    """A registry entry small enough for a test, and an empty checkpoints folder."""
    spec = ModelSpec("tiny-16", "stylegan2-tiny-16x16.pkl", 16, "test model", repo_id="someone/tiny", min_bytes=0)
    monkeypatch.setitem(REGISTRY, spec.name, spec)
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.delenv(spec.env_var, raising=False)
    return spec


def tiny_file(path, seed=0):
    torch.manual_seed(seed)
    G = Generator(TINY)
    path.parent.mkdir(parents=True, exist_ok=True)
    return G, save_generator(G, path)


def test_download_goes_through_hf_hub_download(monkeypatch, tmp_path, tiny_spec):
    G, path = tiny_file(tmp_path / "hub" / "blob")
    calls = []

    def fake_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename))
        return str(path)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    loaded = load_generator("tiny-16", device="cpu")
    assert calls == [("someone/tiny", "stylegan2-tiny-16x16.pkl")]
    assert torch.equal(loaded.synthesis.b16.torgb.weight, G.synthesis.b16.torgb.weight)


def test_offline_download_failure_says_what_to_put_where(monkeypatch, tiny_spec):
    def offline(repo_id, filename, **kwargs):
        raise LocalEntryNotFoundError("Cannot find the requested files in the disk cache and outgoing traffic "
                                      "has been disabled.")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(ModelNotAvailableError) as info:
        load_generator("tiny-16")
    message = str(info.value)
    for part in ("'tiny-16'", "huggingface.co/someone/tiny", "LocalEntryNotFoundError", "stylegan2-tiny-16x16.pkl",
                 "stylegan2-tiny-16x16.safetensors", "checkpoints/", "DRAGGAN_CHECKPOINT_TINY_16=/path"):
        assert part in message, part


def test_real_offline_mode_raises_model_not_available(monkeypatch, tmp_path):
    if not huggingface_hub.constants.HF_HUB_OFFLINE:
        pytest.skip("huggingface_hub was imported without HF_HUB_OFFLINE=1")
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with pytest.raises(ModelNotAvailableError, match=r"stylegan2-ffhq-512x512\.pkl.*DRAGGAN_CHECKPOINT_FFHQ_512"):
        load_generator("ffhq-512")


def test_local_files_override_the_hub(monkeypatch, tmp_path, tiny_spec):
    def no_network(*args, **kwargs):
        raise AssertionError("must not download when a local file exists")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    folder = tmp_path / "checkpoints"
    G_folder, _ = tiny_file(folder / tiny_spec.converted_name, seed=1)
    assert torch.equal(load_generator("tiny-16").synthesis.b4.const, G_folder.synthesis.b4.const)
    G_env, env_path = tiny_file(tmp_path / "elsewhere" / "mine.safetensors", seed=2)
    monkeypatch.setenv(tiny_spec.env_var, str(env_path))
    assert torch.equal(load_generator("tiny-16").synthesis.b4.const, G_env.synthesis.b4.const)
    monkeypatch.setenv(tiny_spec.env_var, str(tmp_path / "gone.pkl"))
    with pytest.raises(CheckpointNotFoundError, match=r"DRAGGAN_CHECKPOINT_TINY_16=.*gone\.pkl: no such file"):
        load_generator("tiny-16")


def test_a_file_smaller_than_its_weights_is_a_partial_download(monkeypatch, tmp_path):
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path))
    (tmp_path / "stylegan2-ffhq-512x512.pkl").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(CheckpointFormatError, match=r"stylegan2-ffhq-512x512\.pkl: only 43 bytes.*partial download"):
        load_generator("ffhq-512")


def test_tensorflow_entries_explain_the_conversion(monkeypatch, tmp_path):
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("TF pickles are not fetched"))
    with pytest.raises(ModelNotAvailableError, match=r"'car-512'.*TensorFlow pickle.*legacy\.py.*draggan\.convert"):
        load_generator("car-512")


def test_list_models_offers_registry_names_and_local_files(monkeypatch, tmp_path):
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path))
    for name in ("my-faces.safetensors", "stylegan2-ffhq-512x512.pkl", "stylegan2-car-config-f.safetensors",
                 "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    models = list_models()
    assert models[:2] == ["ffhq-512", "ffhq-1024"]
    assert "car-512" in models and "cat-256" not in models  # converted TF model only
    assert str(tmp_path / "my-faces.safetensors") in models
    assert not any(m.endswith(("notes.txt", "stylegan2-ffhq-512x512.pkl")) for m in models)
    for spec in REGISTRY.values():
        if spec.bundled:
            assert (BUNDLED_DIR / spec.filename).is_file() and spec.filename.endswith(".safetensors")
        else:
            assert spec.filename.endswith(".pkl") and spec.resolution in (256, 512, 1024)


def test_the_bundled_facades_model_loads_with_no_download(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a bundled model must not be downloaded")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    G = load_generator(BUNDLED_MODEL, device="cpu")
    assert G.img_resolution == REGISTRY[BUNDLED_MODEL].resolution == 128
    assert (BUNDLED_DIR / REGISTRY[BUNDLED_MODEL].filename).stat().st_size <= 20 * 2 ** 20
    assert BUNDLED_MODEL in list_models()
    assert model_label(BUNDLED_MODEL) == "Facades, trained here (128 px)"


def test_a_missing_bundled_file_says_how_to_get_it_back(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "BUNDLED_DIR", tmp_path)
    with pytest.raises(ModelNotAvailableError, match="git checkout -- facades-128.safetensors"):
        load_generator(BUNDLED_MODEL)


def test_only_face_models_draw_faces():
    assert draws_faces("ffhq-512") and not draws_faces(BUNDLED_MODEL) and not draws_faces("lions-512")
    assert draws_faces("checkpoints/my-own.pkl")  # unknown: the landmark detector decides
