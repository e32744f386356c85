"""Hostile and malformed checkpoints (tests/hostile_checkpoints.py) are all refused with a CheckpointError that
names the file, before anything big is built; `python -m draggan.convert` says so in one line and writes nothing."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from draggan import CheckpointError, Generator, GeneratorConfig, load_generator
from draggan.networks import MAX_PARAMETER_BYTES

from hostile_checkpoints import write_corpus

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return {path.name: path for path in write_corpus(folder)}


def test_every_hostile_checkpoint_is_refused_with_a_checkpoint_error_naming_it(corpus):
    assert len(corpus) >= 45 and max(p.stat().st_size for p in corpus.values()) < 1_000_000
    wrong = {}
    for name, path in corpus.items():
        try:
            load_generator(path, device="cpu")
            wrong[name] = "loaded"
        except CheckpointError as err:
            if name not in str(err) or len(str(err)) > 2000:
                wrong[name] = f"message does not name the file or is too long: {str(err)[:200]}"
        except Exception as err:  # noqa: BLE001 - exactly what must not happen
            wrong[name] = f"{type(err).__name__}: {err}"
    assert wrong == {}
    assert not (next(iter(corpus.values())).parent / "module_src_was_executed").exists()


@pytest.mark.parametrize("name, expected", [
    ("resolution_32768.safetensors", "img_resolution must be in [4, 4096], got 32768"),
    ("string_channel_base.safetensors", "channel_base must be an integer, got str '32768'"),
    ("negative_z_dim.safetensors", "z_dim must be in [1, 4096], got -512"),
    ("init_kwargs_a_list.safetensors", "init_kwargs must be a mapping"),
    ("in_range_but_12_gb.safetensors", "12.9 GB of parameters"),
    ("all_nan.safetensors", "NaN or infinite values in (75)"),
    ("rosinality_non_tensor_entries.pt", "not a named tensor (2)"),
    ("rosinality_zero_stride_51g_values.pt", "51,200,000,064 values"),
    ("pickle_init_kwargs_a_list.pkl", "init_kwargs must be a mapping"),
])
def test_messages_say_what_is_wrong(corpus, name, expected):
    with pytest.raises(CheckpointError) as info:
        load_generator(corpus[name])
    assert expected in str(info.value)


def test_a_300_digit_number_is_not_printed_in_full(corpus):
    with pytest.raises(CheckpointError, match=r"z_dim must be in \[1, 4096\], got 1000000000\d+\.\.\.$") as info:
        load_generator(corpus["z_dim_300_digits.safetensors"])
    assert len(str(info.value)) < 300


def test_config_checks_run_before_any_module_is_built():
    with pytest.raises(ValueError, match="img_resolution must be a power of two, got 96"):
        GeneratorConfig(img_resolution=96)
    with pytest.raises(ValueError, match="mapping_kwargs.layer_features must be an integer"):
        GeneratorConfig(mapping_kwargs={"num_layers": 8, "layer_features": 3.5})
    # The public generators pass, and the projected size is exactly what the module holds.
    for resolution in (256, 512, 1024):
        assert GeneratorConfig(img_resolution=resolution).parameter_bytes() < MAX_PARAMETER_BYTES / 7
    small = GeneratorConfig(z_dim=8, w_dim=8, img_resolution=16, mapping_kwargs={"num_layers": 2},
                            synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    assert small.parameter_bytes() == sum(t.numel() * 4 for t in Generator(small).state_dict().values())


@pytest.mark.parametrize("name", ["all_nan.safetensors", "resolution_32768.safetensors", "pickle_init_kwargs_a_list.pkl",
                                  "truncated_50pct_complete.pt"])
def test_convert_refuses_in_one_line_and_leaves_no_output(corpus, tmp_path, name):
    out = tmp_path / "converted.safetensors"
    result = subprocess.run([sys.executable, "-m", "draggan.convert", str(corpus[name]), str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_loaded_weights_are_the_files_own_tensors(tmp_path):
    """The meta-device build takes the checked tensors as they are: values equal, fp32, nothing left on meta."""
    from checkpoint_files import tiny_generator
    from draggan import save_generator
    G = tiny_generator()
    loaded = load_generator(save_generator(G, tmp_path / "g.safetensors"), device="cpu")
    for key, value in loaded.state_dict().items():
        assert value.device.type == "cpu" and value.dtype == torch.float32
        assert torch.equal(value, G.state_dict()[key]), key


@pytest.mark.parametrize("name", ["resolution_32768.safetensors", "pickle_runs_os_system.pkl"])
def test_the_app_starts_on_the_bundled_generator_and_says_why(corpus, capsys, name):
    """`python app.py --model <hostile file>` does not crash: the page and the terminal name the file."""
    import gradio as gr
    from ui import AppConfig, build_app
    from editor.models import DEMO_MODEL
    demo = build_app(AppConfig(device="cpu", model=str(corpus[name])))
    notice = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-notice")
    dropdown = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown))
    assert name in notice.value and "Facades, trained here" in notice.value and dropdown.value == DEMO_MODEL
    assert name in capsys.readouterr().out
