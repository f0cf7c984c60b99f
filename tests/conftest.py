"""Shared fixtures: committed media files, the shared datasets, and a real app server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TESTS_DIR = Path(__file__).resolve().parent
FIXTURES = TESTS_DIR / "fixtures"
PROJECT_ROOT = TESTS_DIR.parent
DATA_DIR = Path(os.environ.get("EMOTION_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.skip(f"datasets not found at {DATA_DIR} (set EMOTION_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def face_photo() -> np.ndarray:
    from emotion_core.images import load_image

    return load_image(FIXTURES / "face.jpg")


@pytest.fixture(scope="session")
def speech() -> tuple[np.ndarray, int]:
    from emotion_core.audio import load_audio

    return load_audio(FIXTURES / "speech.wav")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"app did not answer at {url} within {timeout:.0f} s")


def start_app(extra_env: dict[str, str] | None = None, python: str = sys.executable):
    """Start ``python app.py`` on a free loopback port; returns (process, url, log path)."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", **(extra_env or {})}
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"emotion-app-{port}.log"
    log = open(log_path, "w")
    process = subprocess.Popen([python, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(url, process)
    except Exception:
        process.kill()
        raise RuntimeError(f"app failed to start; log:\n{log_path.read_text()[-3000:]}") from None
    return process, url, log_path


def stop_app(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop an app started by :func:`start_app`: SIGTERM, then SIGKILL if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def app_server():
    """The real app, started once for the session on 127.0.0.1: yields its URL."""
    process, url, _ = start_app()
    yield url
    stop_app(process)


@pytest.fixture(scope="session")
def client(app_server):
    from gradio_client import Client

    return Client(app_server, verbose=False)
