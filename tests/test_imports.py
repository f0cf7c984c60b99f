"""The modules of emotion_core import one another without a circle, and annotate uses public names only.

Imports are read from the source (every ``import``, at the top or inside a function), so an import
delayed to dodge a cycle at load time still counts as the cycle it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "emotion_core"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE


def module_name(path: Path) -> str:
    return PACKAGE if path.name == "__init__.py" else f"{PACKAGE}.{path.stem}"


def modules() -> dict[str, ast.Module]:
    """Every module of the package by dotted name, parsed."""
    return {module_name(path): ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE_DIR.glob("*.py"))}


def imported_modules(tree: ast.Module, name: str, known: set[str]) -> set[str]:
    """The package's modules that module ``name`` imports anywhere in its body."""
    found = set()
    package = name if name == PACKAGE else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = package if node.level else (node.module or "")
            if node.level and node.module:
                base = f"{package}.{node.module}"
            for alias in node.names:  # ``from . import audio`` names a module; ``from .audio import x`` does not
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    trees = modules()
    return {name: imported_modules(tree, name, set(trees)) for name, tree in trees.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or ``None`` when the graph has none (depth-first search)."""
    done, path = set(), []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return None


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "emotion_core.media" in graph["emotion_core.video"]  # ``from .media import (...)``
    assert "emotion_core.audio" in graph["emotion_core.reader"]  # ``from . import audio, face``
    assert "emotion_core.video" in graph["emotion_core.__main__"]  # only inside functions
    assert "emotion_core.speech" in graph["emotion_core.results"]  # ``from .speech import is_enough``
    assert "emotion_core.video" in graph[PACKAGE]  # the package's own __init__


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import():
    cycle_source = {
        "emotion_core.a": "from .b import thing",
        "emotion_core.b": "def late():\n    from . import c\n",
        "emotion_core.c": "from emotion_core.a import other",
    }
    known = set(cycle_source)
    graph = {name: imported_modules(ast.parse(text), name, known) for name, text in cycle_source.items()}
    assert find_cycle(graph) == ["emotion_core.a", "emotion_core.b", "emotion_core.c", "emotion_core.a"]
    assert find_cycle({"x": {"y"}, "y": set(), "z": {"x", "y"}}) is None


def test_no_module_imports_another_in_a_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_names_used(tree: ast.Module) -> list[str]:
    """Underscore names a module takes from other modules: ``from m import _x`` or ``m._x``."""
    used = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            for alias in node.names if is_private(alias.name)]
    imported_as = {alias.asname or alias.name for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom | ast.Import) for alias in node.names}
    used += [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
             and node.value.id in imported_as and is_private(node.attr)]
    return used


@pytest.mark.parametrize("source, expected", [
    ("from .video import _ProgressReporter, analysis_size", ["_ProgressReporter"]),
    ("from . import media\nmedia._first_frame_rotation(p)", ["media._first_frame_rotation"]),
    ("from .media import open_media\nimport av\nopen_media(p)\nav.open(p)", []),
])
def test_the_private_name_check_catches_both_forms(source, expected):
    assert private_names_used(ast.parse(source)) == expected


def test_annotate_imports_no_private_names():
    assert private_names_used(modules()["emotion_core.annotate"]) == []
