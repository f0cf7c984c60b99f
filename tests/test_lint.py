"""The project's one lint setup (pyproject.toml) holds for every Python file."""

import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def test_ruff_finds_nothing():
    command = [sys.executable, "-m", "ruff", "check", "."]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
