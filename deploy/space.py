"""What goes to a Space and how: the shipped files of the working tree (not the git history), sent with
`upload_folder`, which puts the files over 10 MiB (the segmentation weights) through Xet/LFS as the Hub
requires. The command line is deploy/__main__.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import huggingface_hub

REPO = Path(__file__).resolve().parents[1]
NEEDED_FILES = ("app.py", "requirements.txt", "packages.txt", "README.md")  # The build reads these.
SHIPPED_FILES = (*NEEDED_FILES, "LICENSE")
SHIPPED_DIRS = ("assets", "common", "draggan", "editor", "landmarks", "presets", "segmentation", "ui")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", "checkpoints", "runs", "node_modules"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".swp", ".resume.pt")  # .resume.pt: a training run's state, not the app's


def shipped_files(root: Path = REPO) -> list[str]:
    """The paths (relative, with '/') a Space needs: build files, the app's packages and assets, shipped weights.

    Left out: tests/, .git, benchmarks, training runs, caches and any checkpoints/ folder (the user's own)."""
    missing = [name for name in NEEDED_FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: no {', '.join(missing)}; run the deploy from a checkout of the app")
    paths = [name for name in SHIPPED_FILES if (root / name).is_file()]
    for folder in SHIPPED_DIRS:
        for dirpath, dirnames, filenames in os.walk(root / folder):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith("."))
            paths += [(Path(dirpath) / f).relative_to(root).as_posix() for f in sorted(filenames)
                      if not f.startswith(".") and not f.endswith(SKIPPED_SUFFIXES)]
    return paths


def listing(root: Path, paths: list[str]) -> str:
    """`<bytes>  <path>` per file, then the total: what --dry-run prints."""
    sizes = [(root / p).stat().st_size for p in paths]
    lines = [f"{size}  {path}" for size, path in zip(sizes, paths)]
    return "\n".join([*lines, f"{sum(sizes)}  total ({len(paths)} files)"])


def upload(api: huggingface_hub.HfApi, space: str, root: Path, hardware: str | None, private: bool) -> str:
    """Create the Space if needed, set what was asked for, and upload the shipped files; returns its address."""
    api.create_repo(space, repo_type="space", space_sdk="gradio", exist_ok=True, private=private or None,
                    space_hardware=hardware)
    if hardware:  # create_repo leaves an existing Space's hardware as it was
        api.request_space_hardware(space, hardware)
    if private:
        api.update_repo_settings(space, private=True, repo_type="space")
    api.upload_folder(repo_id=space, repo_type="space", folder_path=root, allow_patterns=shipped_files(root),
                      delete_patterns=[f"{folder}/*" for folder in SHIPPED_DIRS],  # files a newer tree dropped
                      commit_message="Deploy the app with python -m deploy")
    return f"https://huggingface.co/spaces/{space}"
