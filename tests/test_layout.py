"""The package's shape: the import paths users were given stay, and no module imports
itself back through another (a cycle makes the import order matter and hides a layer
that reaches up into the one above it)."""

from __future__ import annotations

import ast
import graphlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "search"

PUBLIC = [  # (module, names) as README and the docs give them to users
    ("search", ["run_search", "SearchResult", "SpecError"]),
    ("search.run", ["main"]),
    ("search.compare", []),
    ("search.predict", ["load_predictor"]),
    ("search.reproduce", ["main"]),
    ("search.sync", ["main"]),
    ("search.api", ["run_search", "SearchResult"]),
    ("search.errors", ["SpecError"]),
    ("search.data", ["Task", "Splits", "TaskOptions", "get_task"]),
    ("search.models", ["register_model"]),
]


@pytest.mark.parametrize(("module", "names"), PUBLIC, ids=[m for m, _ in PUBLIC])
def test_the_documented_import_paths_stay(module, names):
    imported = importlib.import_module(module)
    missing = [name for name in names if not hasattr(imported, name)]
    assert not missing, f"{module} lost {missing}"


@pytest.mark.parametrize("command", ["search.run", "search.compare", "search.predict", "search.reproduce",
                                     "search.sync", "search.schema"])
def test_the_documented_commands_answer_help(command, tmp_path):
    done = subprocess.run([sys.executable, "-m", command, "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**_env(), "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def platform_imports() -> dict[str, set[str]]:
    """Each module of search/ -> the modules of search/ it imports, at its top or inside a
    function alike (a function's import is a cycle waiting for its first call)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    found.add(target if target in modules else base)
        graph[name] = {target for target in found if target in modules and target != name}
    return graph


def test_every_layer_is_a_package_of_the_installed_distribution():
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {module_name(init) for init in PACKAGE.rglob("__init__.py")}
    assert folders <= listed, f"pyproject's packages leave out {sorted(folders - listed)}: a wheel would lack them"


def test_the_import_graph_has_no_cycle():
    graph = platform_imports()
    assert len(graph) > 50 and graph["search.tuning.pipeline"], "the graph was not read"
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")


def test_the_cycle_check_finds_a_cycle():
    graph = platform_imports()
    graph["search.space.spec"].add("search.tuning.pipeline")  # a layer reaching up into the one above
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(graph).static_order())
