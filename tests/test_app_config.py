"""The app's settings: every flag of `python app.py` comes from `AppConfig` and can be set by the environment
variable that --help names; a bad value gets one sentence; the page shows what was set."""
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from ui import AppConfig, build_app, parse_args
from ui.config import variable

REPO = Path(__file__).resolve().parents[1]


def test_help_names_an_environment_variable_for_every_flag():
    out = subprocess.run([sys.executable, "app.py", "--help"], cwd=REPO, capture_output=True, text=True, check=True)
    text = " ".join(out.stdout.split())
    for f in fields(AppConfig):
        flag = "--" + f.name.replace("_", "-")
        assert flag in text and f"environment variable {variable(f)}" in text, flag


def test_a_flag_beats_its_variable_which_beats_the_default():
    assert parse_args([], {}) == AppConfig()
    env = {"DRAGGAN_MAX_INVERT_STEPS": "150", "DRAGGAN_DEMO": "true", "DRAGGAN_SEGMENTATION_WEIGHTS": "w.safetensors",
           "GRADIO_SERVER_PORT": "7999", "DRAGGAN_JOBS_PER_IP": "0"}
    config = parse_args([], env)
    assert (config.max_invert_steps, config.demo, config.port, config.jobs_per_ip) == (150, True, 7999, False)
    assert config.segmentation_weights == Path("w.safetensors") and config.limits.invert == 150
    assert parse_args(["--max-invert-steps", "40", "--no-demo"], env).max_invert_steps == 40
    assert parse_args(["--session-ttl", "30.5", "--max-cache-gb", "1"], {}).session_ttl == 30.5
    assert not parse_args(["--no-demo"], env).demo


@pytest.mark.parametrize("env, says", [
    ({"DRAGGAN_MAX_INVERT_STEPS": "lots"}, "DRAGGAN_MAX_INVERT_STEPS='lots' is not a valid --max-invert-steps (int)"),
    ({"DRAGGAN_DEMO": "maybe"}, "DRAGGAN_DEMO='maybe' is not a valid --demo (bool): expected one of 1, true"),
    ({"DRAGGAN_MAX_DRAGS": "0"}, "--max-drags must be at least 1, got 0"),
    ({"DRAGGAN_DEVICE": "gpu"}, "--device must be one of auto, cpu, cuda, mps, got 'gpu'"),
])
def test_a_bad_value_is_refused_with_a_sentence(env, says, capsys):
    with pytest.raises(SystemExit):
        parse_args([], env)
    assert says in capsys.readouterr().err


def test_the_variable_for_max_invert_steps_shows_on_the_page():
    demo = build_app(parse_args(["--device", "cpu"], {"DRAGGAN_MAX_INVERT_STEPS": "150", "DRAGGAN_DEMO": "1"}))
    try:
        steps = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "invert-steps")
        assert steps.info == "at most 150 here" and steps.maximum == 150
    finally:
        demo.reaper.stop()
