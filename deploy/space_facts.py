"""What Hugging Face Spaces run, kept in one place: the deploy command and the tests read it from here.

Source: the Hub's Spaces documentation (the ZeroGPU page and the hardware list) as of `DOCS_DATE`. The
ZeroGPU lists grow: when the docs change, change them here, and tests/test_space_facts.py says whether the
README front matter and requirements.txt still fit.
"""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

DOCS_DATE = "2026-08"                                  # When the lists below were read off the Hub docs.
ZERO_GPU_PYTHON = ("3.10.13", "3.12.12")               # The only Python builds ZeroGPU runs.
ZERO_GPU_TORCH = ("2.8.0", "2.9.1", "2.10.0", "2.11.0")  # The only PyTorch releases ZeroGPU installs.

CPU_BASIC = "cpu-basic"                                # The free default: 2 vCPU, 16 GB RAM, 50 GB disk.
ZERO_GPU = "zero-a10g"                                 # ZeroGPU as the Hub API names the flavour.
HARDWARE = {                                           # What the two flavours this app is made for give.
    CPU_BASIC: "free: 2 vCPU, 16 GB RAM, 50 GB of non-persistent disk, no GPU",
    ZERO_GPU: "a shared GPU lent per call of a GPU function; daily quota in minutes; 2 such Spaces per free account",
}
LFS_THRESHOLD_BYTES = 10 * 1024 * 1024                 # Bigger files must go through LFS/Xet (upload_folder does).
STARTUP_TIMEOUT_MINUTES = 30                           # Default `startup_duration_timeout`.


def python_admits(python_version: str, release: str) -> bool:
    """Whether a front matter `python_version` ("3.12" or "3.12.12") selects the Python `release`."""
    wanted, have = python_version.split("."), release.split(".")
    return have[:len(wanted)] == wanted


def zero_gpu_pythons(python_version: str) -> list[str]:
    """The ZeroGPU Python builds a front matter `python_version` selects."""
    return [release for release in ZERO_GPU_PYTHON if python_admits(python_version, release)]


def torch_specifier(requirements: str) -> SpecifierSet:
    """The version range of the `torch` line of a requirements.txt text; a ValueError if there is none."""
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-") and Requirement(line).name == "torch":
            return Requirement(line).specifier
    raise ValueError("requirements.txt has no torch line")


def zero_gpu_torches(requirements: str) -> list[str]:
    """The ZeroGPU PyTorch releases the requirements' torch range admits, newest last."""
    specifier = torch_specifier(requirements)
    return sorted((v for v in ZERO_GPU_TORCH if Version(v) in specifier), key=Version)
