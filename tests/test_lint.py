"""The project's one lint setup (pyproject.toml) holds for every Python file, and the folders import one way."""

import ast
import subprocess
import sys
from pathlib import Path

from harness import PROJECT_ROOT

# Which top-level project packages each folder may not import (the runtime needs none of the others;
# tests and benchmarks share helpers through harness/, never through tests/).
FORBIDDEN = {
    "emotion_core": {"training", "benchmarks", "tests", "harness", "app"},
    "harness": {"training", "benchmarks", "tests", "app"},
    "training": {"benchmarks", "tests", "app"},
    "benchmarks": {"tests"},
}


def test_ruff_finds_nothing():
    command = [sys.executable, "-m", "ruff", "check", "."]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def imported_packages(path: Path) -> set[str]:
    """The first dotted part of every absolute import in one file, inside functions too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imported_packages_reads_nested_imports(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("import os.path\nfrom . import x\n\ndef f():\n    from tests.conftest import FIXTURES\n")
    assert imported_packages(source) == {"os", "tests"}


def test_folders_import_only_downwards():
    wrong = [f"{path.relative_to(PROJECT_ROOT)} imports {sorted(imported_packages(path) & banned)}"
             for folder, banned in FORBIDDEN.items()
             for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
             if imported_packages(path) & banned]
    assert not wrong, "\n".join(wrong)
