"""The code's shape: no import cycle among the project's modules, and no function outside tests and benchmarks
over 60 lines. Both are read from the source (ast), so nothing is imported."""
from __future__ import annotations

import ast

from conftest import REPO

PACKAGES = ("app", "common", "deploy", "draggan", "editor", "landmarks", "presets", "segmentation", "ui")
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, ast.Module]:
    """{dotted name: parsed source} of every project module outside tests and benchmarks."""
    found = {}
    for path in sorted(REPO.glob("**/*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[0] not in PACKAGES or any(p.startswith(".") for p in parts):
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The project modules `name` imports: `from pkg import sub` counts as pkg.sub when that is a module."""
    package = name if f"{name}.__init__" in known or any(k.startswith(name + ".") for k in known) else \
        name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {m for m in found if m in known and m != name}


def test_no_import_cycles():
    trees = modules()
    graph = {name: imports(name, tree, set(trees)) for name, tree in trees.items()}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [node, nxt]) if nxt in path else f"{node}->{nxt}")
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


def test_no_long_functions():
    long = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []
