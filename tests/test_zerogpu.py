"""common.gpu: a no-op off ZeroGPU, and spaces.GPU(duration=...) on a ZeroGPU Space."""

from __future__ import annotations

import sys
import types

import pytest

from common import gpu, on_zero_gpu
from common.zerogpu import ZERO_GPU_VARIABLE


def render(steps: int) -> str:
    return f"rendered {steps} steps"


@pytest.fixture
def fake_spaces(monkeypatch):
    """A stand-in `spaces` module whose GPU decorator records what it was asked for."""
    calls = []

    def GPU(duration=60):
        def decorate(fn):
            def on_gpu(*args, **kwargs):
                calls.append(("ran", fn.__name__, duration))
                return fn(*args, **kwargs)

            calls.append(("wrapped", fn.__name__, duration))
            return on_gpu

        return decorate

    module = types.ModuleType("spaces")
    module.GPU = GPU
    monkeypatch.setitem(sys.modules, "spaces", module)
    return calls


def test_off_zero_gpu_the_function_comes_back_unchanged(monkeypatch, fake_spaces):
    monkeypatch.delenv(ZERO_GPU_VARIABLE, raising=False)
    assert not on_zero_gpu()
    assert gpu(render, duration=120) is render
    monkeypatch.setenv(ZERO_GPU_VARIABLE, "false")
    assert gpu(render) is render
    assert fake_spaces == [], "spaces.GPU must not be touched off ZeroGPU, even where spaces imports"


def test_on_zero_gpu_without_spaces_the_function_comes_back_unchanged(monkeypatch):
    monkeypatch.setenv(ZERO_GPU_VARIABLE, "true")
    monkeypatch.setitem(sys.modules, "spaces", None)  # Makes `import spaces` raise ImportError.
    assert gpu(render) is render


@pytest.mark.parametrize("flag", ["true", "1", "True"])
def test_on_zero_gpu_the_function_runs_under_spaces_gpu(monkeypatch, fake_spaces, flag):
    monkeypatch.setenv(ZERO_GPU_VARIABLE, flag)
    assert on_zero_gpu()
    wrapped = gpu(render, duration=120)
    assert wrapped is not render
    assert wrapped(5) == "rendered 5 steps"
    assert fake_spaces == [("wrapped", "render", 120), ("ran", "render", 120)]


def test_a_duration_function_is_passed_through(monkeypatch, fake_spaces):
    monkeypatch.setenv(ZERO_GPU_VARIABLE, "true")

    def per_call(steps):
        return 2 * steps

    gpu(render, duration=per_call)
    assert fake_spaces == [("wrapped", "render", per_call)]


@pytest.mark.parametrize("duration", [0, -5, True, "60"])
def test_a_bad_duration_is_refused_everywhere(monkeypatch, duration):
    monkeypatch.delenv(ZERO_GPU_VARIABLE, raising=False)
    with pytest.raises(ValueError, match="duration must be a positive number of seconds"):
        gpu(render, duration=duration)


def test_only_functions_are_wrapped():
    with pytest.raises(TypeError, match="gpu\\(\\) wraps a function, got int"):
        gpu(3)
