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


# ----------------------------------------------------------------------------- the README's and the docs' code

import ast  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402

DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = {"README.md": README, **{f"docs/{p.name}": p.read_text() for p in DOCS}}
MAX_README_LINES = 400


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def commands(text: str) -> list[str]:
    """Every `python ...` command: lines of fenced blocks (continuations joined) and inline code."""
    fenced = [block.replace("\\\n", " ") for block in re.findall(r"```(?:bash)?\n(.*?)```", text, re.S)]
    lines = [line.strip() for block in fenced for line in block.splitlines()]
    inline = re.findall(r"`(python [^`]+)`", text)
    return [c for c in lines + inline if re.match(r"(torchrun .*?-m |python3? )", c)]


FLAGS_SOURCE = (REPO / "common" / "flags.py").read_text()  # --resume and the flags every training script takes


def command_source(command: str) -> str | None:
    """The source file a command runs (`python -m pkg.mod`, `python path.py`), None for other python commands."""
    module = re.search(r"-m (\w[\w.]*)", command)
    if module and module.group(1) not in ("pytest", "pip", "venv"):
        spec = importlib.util.find_spec(module.group(1))
        assert spec is not None, f"{command}: no module {module.group(1)}"
        origin = spec.origin if not spec.submodule_search_locations else spec.origin.replace("__init__", "__main__")
        return open(origin).read()
    script = re.match(r"python3? (\S+\.py)", command)
    if script:
        assert (REPO / script.group(1)).is_file(), f"{command}: no file {script.group(1)}"
        return (REPO / script.group(1)).read_text()
    return None


def test_readme_is_a_front_door():
    assert len(README.splitlines()) <= MAX_README_LINES
    assert "12-class" not in README and "13-class" in README
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (REPO / link).is_file(), link
    assert {f"docs/{name}" for name in ("drag.md", "segmentation.md", "performance.md")} <= set(PAGES)


def test_every_command_names_a_module_and_flags_it_has():
    checked = 0
    for page, text in PAGES.items():
        for command in commands(text):
            source = command_source(command)
            if source is None:
                continue
            for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", command):
                negated = flag.replace("--no-", "--", 1)  # argparse.BooleanOptionalAction's --no-X
                if re.match(r"python3? app\.py", command):  # app.py's flags are AppConfig's fields
                    assert negated[2:].replace("-", "_") in APP_FLAGS | {"help"}, f"{page}: {command[:80]}: no {flag}"
                    continue
                known = {f'"{flag}"', f"'{flag}'"} | ({f'"{negated}"'} if "BooleanOptionalAction" in source else set())
                if "parse_config(" in source:  # flags made from a config dataclass's fields (common/flags.py)
                    known.add(f"\n    {negated[2:].replace('-', '_')}: ")
                    source += FLAGS_SOURCE
                assert any(k in source for k in known), f"{page}: {command[:80]}: no {flag}"
            checked += 1
    assert checked >= 20


def test_every_python_block_parses_imports_and_calls_with_real_keywords():
    for page, text in PAGES.items():
        for block in python_blocks(text):
            tree = ast.parse(block)
            names = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        assert hasattr(module, alias.name), f"{page}: {node.module} has no {alias.name}"
                        names[alias.asname or alias.name] = getattr(module, alias.name)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
                    target = names[node.func.id]
                    if not callable(target):
                        continue
                    parameters = inspect.signature(target).parameters
                    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
                        continue
                    for keyword in node.keywords:
                        assert keyword.arg is None or keyword.arg in parameters, \
                            f"{page}: {node.func.id}() takes no {keyword.arg}="


# ----------------------------------------------------------------------------- the README's defaults are the code's

from dataclasses import fields  # noqa: E402

from draggan.inversion import InvertConfig  # noqa: E402
from draggan.session import DragConfig  # noqa: E402
from ui.config import AppConfig  # noqa: E402

APP_FLAGS = {f.name for f in fields(AppConfig)}


def stated(pattern: str) -> tuple[float, ...]:
    """The numbers a README sentence states (one match, or the test fails naming the sentence)."""
    found = re.findall(pattern, " ".join(README.split()))
    assert len(found) >= 1, f"the README no longer says {pattern!r}"
    assert len(set(found)) == 1, f"the README says {pattern!r} with different numbers: {found}"
    return tuple(float(x) for x in (found[0] if isinstance(found[0], tuple) else (found[0],)))


def test_the_readmes_defaults_are_the_codes():
    drag, invert, app = DragConfig(), InvertConfig(), AppConfig()
    assert stated(r"`DragConfig` \(lr ([\d.e-]+), W\+, (\d+) steps, full frames a fifth of the drag's time\)") == \
        (drag.lr, drag.max_steps) and drag.w_plus and drag.frame_share == 1 / 5
    assert stated(r"InvertConfig\(\): (\d+) projection steps, no PTI, (\d+) fit iterations") == \
        (invert.steps, invert.torgb_steps) and invert.pti_steps == 0
    assert stated(r"InvertConfig\(\): (\d+) steps \+ the ToRGB fit") == (invert.steps,)
    assert stated(r"then inverted: (\d+) steps of W\+ projection") == (invert.steps,)
    assert stated(r"Inversion, the default \((\d+) projection steps \+ (\d+) ToRGB-fit iterations\)") == \
        (invert.steps, invert.torgb_steps)
    assert stated(r"at most (\d+) drags or inversions at once and (\d+) waiting") == (app.max_drags, app.max_waiting)
    assert stated(r"(\d+) drag steps, (\d+) projection and (\d+) PTI steps per job") == \
        (app.max_drag_steps, app.max_invert_steps, app.max_pti_steps)
    assert stated(r"(\d+) PTI tunings in memory") == (app.max_tuned,)
    assert stated(r"sessions freed after (\d+) s idle") == (app.session_ttl,)
