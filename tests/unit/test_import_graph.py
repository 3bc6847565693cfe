"""The import graph, measured from the code: no cycle, and layers that run one way.

Every ``.py`` file of the repository (tests included) is parsed with ``ast``; every import
counts, at module level or inside a function (an import inside a function is still a
dependency, and a cycle through one is still a cycle). Imports under ``if TYPE_CHECKING:``
never run, so they count for the layers but not for cycles.

Layers, lowest first (a module may import its own layer and those below)::

    models < states < workflows = activities = store < client = worker = signin < devtools < cli = web

``tests`` and ``bench`` may import anything. A new top-level package fails the test until it
is placed in ``LAYERS`` (e.g. a future ``web/``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS: dict[str, int] = {
    "models": 0,
    "states": 1,
    "workflows": 2,
    "activities": 2,
    "store": 2,  # the record store: activities write it, the client reads it back
    "client": 3,
    "worker": 3,
    "signin": 3,  # the sign-in service: models only; the web app and the dev stack use it
    "devtools": 4,
    "cli": 5,
    "web": 5,
}
#: may import any layer; nothing in a layer may import them
ANYTHING_GOES = {"tests", "bench"}

SKIPPED_DIRS = {".venv", ".git", "__pycache__", "node_modules", "build", "dist"}


@dataclass
class ImportGraph:
    """Modules by dotted name, and who imports whom (``runs``: outside TYPE_CHECKING)."""

    modules: dict[str, Path] = field(default_factory=dict)
    imports: dict[str, set[str]] = field(default_factory=dict)
    runs: dict[str, set[str]] = field(default_factory=dict)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*.py")
        if not any(
            part in SKIPPED_DIRS or part.startswith(".") for part in p.relative_to(root).parts[:-1]
        )
    )


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an import name lands in (its longest known prefix)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, bool]]:
    """(dotted name, runs) for every import in the module; ``runs`` is False for the ones
    under ``if TYPE_CHECKING:``."""
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        runs = id(node) not in typing_only
        if isinstance(node, ast.Import):
            found += [(alias.name, runs) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(f"{base}.{alias.name}", runs) for alias in node.names]
            found.append((base, runs))
    return found


def measure(root: Path) -> ImportGraph:
    graph = ImportGraph()
    for path in python_files(root):
        graph.modules[module_name(root, path)] = path
    for module, path in graph.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph.imports[module] = set()
        graph.runs[module] = set()
        for name, runs in imported_names(tree, module, path.name == "__init__.py"):
            target = resolve(name, graph.modules)
            if target is None or target == module:
                continue
            graph.imports[module].add(target)
            if runs:
                graph.runs[module].add(target)
    return graph


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def unknown_packages(graph: ImportGraph) -> set[str]:
    return {top(m) for m in graph.modules} - set(LAYERS) - ANYTHING_GOES


def upward_imports(graph: ImportGraph) -> list[str]:
    """Each import that runs against the layers: ``importer -> imported``."""
    wrong = []
    for module, targets in sorted(graph.imports.items()):
        if top(module) in ANYTHING_GOES or top(module) not in LAYERS:
            continue
        for target in sorted(targets):
            if top(target) in ANYTHING_GOES:
                wrong.append(f"{module} -> {target} (tests and bench are not importable)")
            elif top(target) in LAYERS and LAYERS[top(target)] > LAYERS[top(module)]:
                wrong.append(f"{module} -> {target}")
    return wrong


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return measure(ROOT)


def test_the_graph_is_measured(graph: ImportGraph) -> None:
    """Positive control: the walk sees the packages and a known function-level import."""
    assert {"models", "client", "cli", "tests", "worker"} <= {top(m) for m in graph.modules}
    assert "client.pathways" in graph.imports["cli.pathways"]
    assert "worker" in graph.imports["cli.services"]  # imported inside a command


def test_no_import_cycle(graph: ImportGraph) -> None:
    found = cycles(graph.runs)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_layers_run_one_way(graph: ImportGraph) -> None:
    wrong = upward_imports(graph)
    assert not wrong, (
        "imports against the layers (" + " < ".join(LAYERS) + "):\n" + "\n".join(wrong)
    )


def test_every_top_level_package_has_a_layer(graph: ImportGraph) -> None:
    unknown = unknown_packages(graph)
    assert not unknown, f"top-level packages with no layer: {sorted(unknown)}; add to LAYERS"


class TestTheCheckerFinds:
    """Positive controls on a small tree: each problem the tests above look for is found."""

    @staticmethod
    def tree(tmp_path: Path, files: dict[str, str]) -> ImportGraph:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return measure(tmp_path)

    def test_a_cycle_through_a_function_level_import(self, tmp_path: Path) -> None:
        graph = self.tree(
            tmp_path,
            {
                "cli/__init__.py": "",
                "cli/main.py": "from cli.audit import export\n",
                "cli/audit.py": "def export():\n    from cli import main\n",
            },
        )
        assert cycles(graph.runs) == [["cli.audit", "cli.main"]]

    def test_no_cycle_through_type_checking(self, tmp_path: Path) -> None:
        graph = self.tree(
            tmp_path,
            {
                "models/__init__.py": "",
                "models/a.py": "from models.b import B\n",
                "models/b.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from models.a import A\n",
            },
        )
        assert cycles(graph.runs) == []

    def test_an_upward_import_and_a_relative_one(self, tmp_path: Path) -> None:
        graph = self.tree(
            tmp_path,
            {
                "models/__init__.py": "",
                "models/record.py": "from client.pathways import refer\n",
                "client/__init__.py": "",
                "client/pathways.py": "from .errors import Refused\nfrom models import record\n",
                "client/errors.py": "",
                "tests/test_x.py": "from cli.main import app\n",
            },
        )
        assert upward_imports(graph) == ["models.record -> client.pathways"]
        assert "client.errors" in graph.imports["client.pathways"]

    def test_an_unknown_package(self, tmp_path: Path) -> None:
        graph = self.tree(tmp_path, {"archive/__init__.py": "", "archive/db.py": "import models\n"})
        assert unknown_packages(graph) == {"archive"}
