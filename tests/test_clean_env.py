"""The Space's install: a fresh virtual environment from requirements.txt alone runs the app.

The venv is built without system site-packages, as a Space builds it (pip's cache makes repeat runs
take a minute or two), then ``app.py`` is started with it and called through gradio_client.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from harness import FIXTURES, PROJECT_ROOT
from harness.server import start_app, stop_app

REQUIREMENTS = PROJECT_ROOT / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)$")
NOT_AT_RUNTIME = {"tensorflow", "tensorflow-cpu", "keras", "librosa", "opencv-python", "opencv-python-headless"}
PIP_INSTALL_TIMEOUT = 1500  # seconds; a cold pip cache downloads ~400 MB


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_runtime() -> dict[str, str]:
    pins = {}
    for line in requirement_lines(REQUIREMENTS):
        match = PIN.match(line)
        assert match, f"requirements.txt: {line!r} is not pinned as name==version"
        pins[normalized(match[1])] = match[2]
    return pins


def test_runtime_requirements_are_pinned_and_light():
    pins = pinned_runtime()
    assert not NOT_AT_RUNTIME & set(pins), "training-only or clashing packages in requirements.txt"
    assert {"gradio", "ai-edge-litert", "mediapipe", "opencv-contrib-python", "huggingface-hub"} <= set(pins)


def test_space_front_matter_matches_the_pins():
    readme = PROJECT_ROOT / "README.md"
    front = re.match(r"^---\n(.*?)\n---\n", readme.read_text() if readme.is_file() else "", re.S)
    if front is None:
        pytest.skip("README.md has no Spaces front matter yet")
    fields = yaml.safe_load(front[1])
    assert fields["sdk"] == "gradio"
    assert str(fields["sdk_version"]) == pinned_runtime()["gradio"]
    assert fields["app_file"] == "app.py"
    assert str(fields["python_version"]) == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert fields.get("models"), "name the weights repo under models:"
    assert len(fields.get("short_description", "")) <= 60  # the Hub's limit


@pytest.fixture(scope="module")
def clean_python():
    """The python of a new venv holding requirements.txt and nothing else (1.2 GB, deleted afterwards)."""
    with tempfile.TemporaryDirectory(prefix="space-venv-") as folder:
        venv = Path(folder) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        python = venv / "bin" / "python"
        subprocess.run([str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                        "--progress-bar", "off", "-q", "-r", str(REQUIREMENTS)],
                       check=True, timeout=PIP_INSTALL_TIMEOUT)
        yield python


def installed(python: Path) -> dict[str, str]:
    listing = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                             check=True, capture_output=True, text=True).stdout
    return {normalized(name): version for name, version in (line.split("==") for line in listing.split())}


def test_clean_env_holds_the_pins_and_no_training_deps(clean_python):
    packages = installed(clean_python)
    for name, version in pinned_runtime().items():
        assert packages.get(name) == version, name
    assert not NOT_AT_RUNTIME & set(packages), sorted(NOT_AT_RUNTIME & set(packages))
    subprocess.run([str(clean_python), "-m", "pip", "check", "--disable-pip-version-check"], check=True)
    probe = ("import cv2, mediapipe.tasks.python.vision, ai_edge_litert.interpreter, av, soundfile, webrtcvad; "
             "print(cv2.__file__)")
    done = subprocess.run([str(clean_python), "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(clean_python.parent.parent)  # the venv's cv2, no other


def test_app_from_the_clean_env_answers_the_api(clean_python):
    from gradio_client import Client, handle_file

    process, url, _ = start_app({"PYTHONPATH": "", "EMOTION_WEIGHTS_REPO": ""}, python=str(clean_python))
    try:
        client = Client(url, verbose=False)
        _, result = client.predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
        assert len(result["faces"]) == 1
        assert result["faces"][0]["scores"]
    finally:
        stop_app(process)
