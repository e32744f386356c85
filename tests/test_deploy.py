"""`python -m deploy OWNER/NAME`: what goes to the Space, the dry run, and the Hub calls (with a fake HfApi)."""
import json
import os
import subprocess
import sys

import huggingface_hub
import pytest

from conftest import REPO
from deploy import __main__ as cli
from deploy import space

OFFLINE_NO_TOKEN = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}


def run_deploy(*args: str, tmp_path, **env) -> subprocess.CompletedProcess:
    """The command in a fresh process with no saved login (HF_HOME in tmp) and the Hub offline."""
    env = {**OFFLINE_NO_TOKEN, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "deploy", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_dry_run_lists_what_the_space_needs_offline_without_a_token(tmp_path):
    done = run_deploy("someone/gan-editor", "--dry-run", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    *rows, total = [line.split("  ", 1) for line in done.stdout.strip().splitlines()]
    listed = {path: int(size) for size, path in rows}
    weights = json.loads((REPO / "segmentation/weights/models.json").read_text())["models"].values()
    for needed in ["app.py", "requirements.txt", "README.md", "packages.txt",
                   *(f"segmentation/weights/{m['file']}" for m in weights)]:
        assert needed in listed, needed
    assert not [p for p in listed if p.startswith(("tests/", ".git", "runs/", "checkpoints/", ".venv/", "deploy/"))
                or "__pycache__" in p]
    assert all(listed[p] == (REPO / p).stat().st_size for p in listed)
    assert int(total[0]) == sum(listed.values()) < 100_000_000
    assert total[1].startswith("total")


def test_every_module_the_app_imports_is_shipped():
    script = ("import sys, app\n"
              f"repo = {str(REPO)!r}\n"
              "print('\\n'.join(m.__file__ for m in list(sys.modules.values()) "
              "if getattr(m, '__file__', None) and m.__file__.startswith(repo) "
              "and not m.__file__.startswith(sys.prefix)))\n")  # the venv may live in the checkout
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    imported = {os.path.relpath(f, REPO).replace(os.sep, "/") for f in done.stdout.split()}
    assert imported and imported <= set(space.shipped_files(REPO)), imported - set(space.shipped_files(REPO))


def test_the_users_checkpoints_runs_caches_and_tests_stay_home(tmp_path):
    for path in [*space.NEEDED_FILES, "ui/tab.py", "ui/__pycache__/tab.cpython-311.pyc", "ui/.tab.py.swp",
                 "segmentation/weights/ce.safetensors", "segmentation/runs/a/last.pt", "checkpoints/mine.pkl",
                 "draggan/checkpoints/mine.pkl", "tests/test_x.py", "runs/painter/last.pt", ".git/config",
                 ".venv/bin/python", "benchmarks/bench.py", "draggan/weights/facades-128.resume.pt"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    assert space.shipped_files(tmp_path) == [*space.NEEDED_FILES, "segmentation/weights/ce.safetensors", "ui/tab.py"]
    (tmp_path / "packages.txt").unlink()
    with pytest.raises(FileNotFoundError, match="packages.txt"):
        space.shipped_files(tmp_path)


class FakeHub:
    """Records the HfApi calls the command makes, in order; `fail` makes create_repo raise it."""

    def __init__(self, fail: Exception | None = None):
        self.calls, self.fail = [], fail

    def __getattr__(self, name):
        def call(*args, **kwargs):
            if self.fail is not None:
                raise self.fail
            self.calls.append((name, args, kwargs))
        return call


def test_upload_creates_the_space_then_sends_the_shipped_files(monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    hub = FakeHub()
    assert cli.main(["someone/gan-editor", "--hardware", "zero-a10g", "--private"], api=hub) == 0
    names = [name for name, _, _ in hub.calls]
    assert names == ["create_repo", "request_space_hardware", "update_repo_settings", "upload_folder"]
    _, args, create = hub.calls[0]
    assert args == ("someone/gan-editor",)
    assert create | {"repo_type": "space", "space_sdk": "gradio", "exist_ok": True, "private": True} == create
    assert hub.calls[1][1] == ("someone/gan-editor", "zero-a10g")
    upload = hub.calls[3][2]
    assert upload["repo_type"] == "space" and upload["folder_path"] == REPO
    assert upload["allow_patterns"] == space.shipped_files(REPO)
    assert capsys.readouterr().out.strip() == "https://huggingface.co/spaces/someone/gan-editor"


def test_a_plain_update_keeps_the_hardware_and_visibility(monkeypatch):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    hub = FakeHub()
    assert cli.main(["someone/gan-editor"], api=hub) == 0
    assert [name for name, _, _ in hub.calls] == ["create_repo", "upload_folder"]
    assert hub.calls[0][2]["space_hardware"] is None and hub.calls[0][2]["private"] is None


def test_no_token_is_one_line_and_status_1(monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert cli.main(["someone/gan-editor"], api=FakeHub()) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "HF_TOKEN" in err


def test_an_unreachable_hub_is_one_line_and_status_1(monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    assert cli.main(["someone/gan-editor"], api=FakeHub(ConnectionError("Name or service not known\nmore"))) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "someone/gan-editor" in err and "ConnectionError" in err


def test_the_real_command_offline_stops_at_the_hub_call(tmp_path):
    done = run_deploy("someone/gan-editor", tmp_path=tmp_path, HF_TOKEN="hf_not_a_real_token")
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "offline" in done.stderr.lower()
    done = run_deploy("someone/gan-editor", tmp_path=tmp_path)
    assert done.returncode == 1 and "HF_TOKEN" in done.stderr


def test_a_name_that_is_not_owner_slash_name_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["gan-editor", "--dry-run"])
    assert exit_.value.code == 2 and "OWNER/NAME" in capsys.readouterr().err
