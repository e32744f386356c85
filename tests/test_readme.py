"""The README is the front door: its test command is what CI runs, and the files it shows exist."""
import re

from conftest import REPO

README = (REPO / "README.md").read_text()


def fenced_commands(text: str) -> list[str]:
    return [line.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]


def test_ci_runs_exactly_the_readme_test_command():
    test_commands = [c for c in fenced_commands(README) if "pytest" in c]
    assert len(test_commands) == 1, test_commands
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert test_commands[0] in ci_lines


def test_spaces_front_matter_points_at_the_app():
    front = README.split("---")[1]
    assert "sdk: gradio" in front and "app_file: app.py" in front
    assert (REPO / "app.py").is_file()


def test_every_linked_picture_exists():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert pictures
    for path in pictures:
        assert (REPO / path).is_file(), path
