"""The Space's build files fit what Hugging Face runs (deploy/space_facts.py), and its preloaded weights are found."""
import os
import subprocess
import sys

import pytest
import yaml

from benchmarks.space_cold_start import preload
from conftest import REPO
from deploy import space_facts
from draggan.registry import REGISTRY
from editor.models import DEFAULT_MODEL

FRONT_MATTER = yaml.safe_load((REPO / "README.md").read_text().split("---")[1])
REQUIREMENTS = (REPO / "requirements.txt").read_text()


def test_front_matter_python_is_one_zero_gpu_runs():
    assert space_facts.zero_gpu_pythons(str(FRONT_MATTER["python_version"])), \
        f"python_version {FRONT_MATTER['python_version']} is none of ZeroGPU's {space_facts.ZERO_GPU_PYTHON}"


def test_torch_range_admits_a_zero_gpu_release_and_the_local_cpu_wheel():
    assert space_facts.zero_gpu_torches(REQUIREMENTS), "ZeroGPU would find no candidate PyTorch version"
    specifier = space_facts.torch_specifier(REQUIREMENTS)
    assert "2.13.0" in specifier, "this project's CPU machines install the local 2.13.0 CPU wheel"
    assert "2.14.0" not in specifier, "a range admitting 2.14+ pulls a CUDA build of several GB onto CPU machines"


def test_the_facts_parse_what_they_are_given():
    assert space_facts.zero_gpu_torches("torch==2.13.0\n") == []
    assert space_facts.zero_gpu_torches("numpy\ntorch>=2.9 # comment\n") == ["2.9.1", "2.10.0", "2.11.0"]
    assert space_facts.zero_gpu_pythons("3.11") == [] and space_facts.zero_gpu_pythons("3.10") == ["3.10.13"]
    with pytest.raises(ValueError, match="no torch line"):
        space_facts.torch_specifier("numpy\n")


def test_packages_txt_has_the_libraries_cv2_loads():
    packages = (REPO / "packages.txt").read_text().split()
    assert {"libgl1", "libglib2.0-0"} <= set(packages)


def test_preload_from_hub_fetches_the_default_drag_model():
    spec = REGISTRY[DEFAULT_MODEL]
    assert f"{spec.repo_id} {spec.filename}" in FRONT_MATTER["preload_from_hub"]
    assert spec.repo_id in FRONT_MATTER["models"]


def test_a_preloaded_checkpoint_is_found_offline(tmp_path):
    checkpoint = tmp_path / "ffhq.pkl"
    with open(checkpoint, "wb") as f:
        f.truncate(REGISTRY[DEFAULT_MODEL].min_bytes + 1)  # sparse: as big as the weights, no disk
    expected = preload(tmp_path / "hub", checkpoint)
    # A fresh process, as a Space starts: the Hub cache is read from HF_HUB_CACHE when huggingface_hub is imported.
    script = ("import huggingface_hub, sys\n"
              "def no_network(*a, **k): sys.exit('hf_hub_download was called')\n"
              "huggingface_hub.hf_hub_download = no_network\n"
              "from draggan.registry import resolve_source\n"
              f"print(resolve_source({DEFAULT_MODEL!r}))\n")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "DRAGGAN_CHECKPOINTS": str(tmp_path / "no-checkpoints")}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(expected)
