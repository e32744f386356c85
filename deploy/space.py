"""`python -m deploy OWNER/NAME`: create or update a Hugging Face Space that runs this app.

It uploads the working tree's app files, not the git history, with `upload_folder`, which sends the files
over 10 MiB (the segmentation weights) through Xet/LFS as the Hub requires. `--dry-run` lists what would
go, and needs neither network nor token.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import huggingface_hub

from deploy import space_facts

REPO = Path(__file__).resolve().parents[1]
NEEDED_FILES = ("app.py", "requirements.txt", "packages.txt", "README.md")  # The build reads these.
SHIPPED_FILES = (*NEEDED_FILES, "LICENSE")
SHIPPED_DIRS = ("assets", "common", "draggan", "editor", "landmarks", "presets", "segmentation", "ui")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", "checkpoints", "runs", "node_modules"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".swp")
SPACE_NAME = re.compile(r"^[\w.-]+/[\w.-]+$")


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    hardware = ", ".join(f"{name} ({what})" for name, what in space_facts.HARDWARE.items())
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.splitlines()[0])
    parser.add_argument("space", help="the Space to create or update, OWNER/NAME")
    parser.add_argument("--hardware", default=None, choices=[h.value for h in huggingface_hub.SpaceHardware],
                        metavar="FLAVOUR", help=f"hardware flavour as the Hub names it: {hardware}; default: "
                                                f"{space_facts.CPU_BASIC} for a new Space, unchanged for one that exists")
    parser.add_argument("--private", action="store_true", help="make the Space private")
    parser.add_argument("--dry-run", action="store_true", help="list the files and sizes; no network, no token")
    args = parser.parse_args(argv)
    if not SPACE_NAME.match(args.space):
        parser.error(f"{args.space!r} is not OWNER/NAME (e.g. someone/gan-editor)")
    return args


def main(argv: list[str] | None = None, api: huggingface_hub.HfApi | None = None) -> int:
    """The command; 1 with one line on stderr when there is no token or the Hub cannot be reached."""
    args = parse_args(argv)
    if args.dry_run:
        print(listing(REPO, shipped_files(REPO)))
        return 0
    token = huggingface_hub.get_token()
    if not token:
        print("deploy: no Hugging Face token: set HF_TOKEN or run `hf auth login` (or try --dry-run)", file=sys.stderr)
        return 1
    try:
        print(upload(api or huggingface_hub.HfApi(token=token), args.space, REPO, args.hardware, args.private))
    except Exception as err:  # offline, no network, a refused token or name: all end the command the same way
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"deploy: could not create or update the Space {args.space}: {type(err).__name__}: {first}",
              file=sys.stderr)
        return 1
    return 0
