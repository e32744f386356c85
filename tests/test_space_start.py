"""Starting as a Space: the page is served where the Space says, threads fit the cores, ZeroGPU gets `cuda`."""
import sys
import types

import torch

from benchmarks.space_cold_start import free_port, start_as_space, wait_for_page
from common import hosting, pick_device
from common.zerogpu import ZERO_GPU_VARIABLE


def test_the_app_started_with_a_spaces_environment_serves_its_page(tmp_path):
    port = free_port()
    process = start_as_space(port, tmp_path)
    try:
        page = wait_for_page(port, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
    log = (tmp_path / "app.log").read_text()
    assert '"title":"GAN image editor"' in page, log[-2000:]  # the Blocks config the page is built from
    assert f"0.0.0.0:{port}" in log, "served where GRADIO_SERVER_NAME and GRADIO_SERVER_PORT said"
    assert "runs on Facades, trained here" in log, "with the Hub offline and nothing preloaded the drag tab falls back"


def test_cgroup_quota_caps_the_threads(tmp_path, monkeypatch):
    (tmp_path / "cpu.max").write_text("200000 100000\n")
    assert hosting.cgroup_cpus(tmp_path) == 2.0
    monkeypatch.setattr(hosting.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert hosting.available_cores(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert hosting.available_cores(tmp_path) == 2, "a part of a core is still a thread"
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert hosting.cgroup_cpus(tmp_path) is None and hosting.available_cores(tmp_path) == 64


def test_cgroup_v1_quota_and_no_cgroup(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert hosting.cgroup_cpus(tmp_path) == 4.0
    assert hosting.cgroup_cpus(tmp_path / "missing") is None


def test_size_threads_sets_torch_to_the_available_cores(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(hosting, "available_cores", lambda: 1)
    try:
        assert hosting.size_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_on_zero_gpu_models_go_to_cuda_after_spaces_is_imported(monkeypatch):
    monkeypatch.setenv(ZERO_GPU_VARIABLE, "true")
    monkeypatch.setitem(sys.modules, "spaces", types.ModuleType("spaces"))
    imported = []
    monkeypatch.setattr(hosting.importlib, "import_module", lambda name: imported.append(name))
    assert hosting.startup_device("auto") == torch.device("cuda") and imported == ["spaces"]
    assert hosting.startup_device("cpu") == torch.device("cpu")


def test_off_zero_gpu_the_device_is_picked_as_before(monkeypatch):
    monkeypatch.delenv(ZERO_GPU_VARIABLE, raising=False)
    assert hosting.startup_device("auto") == pick_device()
    assert hosting.startup_device("cpu") == torch.device("cpu")
