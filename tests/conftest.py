"""Shared fixtures: committed media files, the shared datasets, and a real app server."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from harness import FIXTURES, PROJECT_ROOT
from harness.server import start_app, stop_app

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
