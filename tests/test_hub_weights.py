"""Weights from a Hub repo: download, cache, offline, and the fall-back to the bundled copies.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when it is imported, so each start of
the resolver runs in a fresh Python process, as the app would, against tests/hub_server.py on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emotion_core.face import DEFAULT_DETECTOR, SHORT_RANGE_DETECTOR
from emotion_core.weights import WEIGHTS_DIR, HubSource, file_sha256, hub_source_from_env, load_manifest, model_entry
from harness import FIXTURES, PROJECT_ROOT
from harness.server import start_app, stop_app
from tests.hub_server import HubServer

REPO_ID = "emotion-test/weights"
NAME = "face_detector"  # always in the manifest
FILE = load_manifest()["models"][NAME]["file"]
BUNDLED = WEIGHTS_DIR / FILE
FALLBACK_LINE = "using the bundled copy"

RESOLVE_SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
from emotion_core.weights import resolve_weight
for name in sys.argv[1:]:
    print(resolve_weight(name))
"""


def bundled_files() -> dict[str, bytes]:
    """Every file the manifest names, plus the manifest: what training/publish.py uploads."""
    files = {entry["file"]: (WEIGHTS_DIR / entry["file"]).read_bytes() for entry in load_manifest()["models"].values()}
    files["manifest.json"] = (WEIGHTS_DIR / "manifest.json").read_bytes()
    return files


def start(hub_url: str, hf_home: Path, revision: str, *names: str, **env: str) -> tuple[list[Path], list[str]]:
    """One app start: resolve ``names`` in a new process; returns their paths and its log lines."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "EMOTION_WEIGHTS_"))}
    child_env |= {"HF_ENDPOINT": hub_url, "HF_HOME": str(hf_home), "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                  "EMOTION_WEIGHTS_REPO": REPO_ID, "EMOTION_WEIGHTS_REVISION": revision, **env}
    done = subprocess.run([sys.executable, "-c", RESOLVE_SCRIPT, *(names or [NAME])], cwd=PROJECT_ROOT,
                          env=child_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [Path(line) for line in done.stdout.split()], done.stderr.splitlines()


def resolve_requests(hub: HubServer) -> list[tuple[str, str]]:
    return [request for request in hub.requests if "/resolve/" in request[1]]


def assert_cached_copy(path: Path, hf_home: Path) -> None:
    assert path.is_relative_to(hf_home / "hub"), path
    assert file_sha256(path) == file_sha256(BUNDLED)


def assert_one_fallback_line(log: list[str], *words: str) -> None:
    assert len(log) == 1, log
    assert FALLBACK_LINE in log[0] and NAME in log[0], log
    for word in words:
        assert word in log[0], log


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server


def test_good_download_goes_through_the_cache_and_is_verified(hub, tmp_path):
    commit = hub.add_repo(REPO_ID, bundled_files())
    names = list(load_manifest()["models"])
    paths, log = start(hub.url, tmp_path, commit, *names)
    assert log == []
    for name, path in zip(names, paths, strict=True):
        assert path.is_relative_to(tmp_path / "hub" / "models--emotion-test--weights" / "snapshots" / commit)
        assert file_sha256(path) == load_manifest()["models"][name]["sha256"]
    assert ("GET", f"/{REPO_ID}/resolve/{commit}/{FILE}") in hub.requests


@pytest.mark.parametrize("pinned", [True, False], ids=["commit", "branch"])
def test_second_start_uses_the_cache_with_the_server_gone(hub, tmp_path, pinned):
    commit = hub.add_repo(REPO_ID, bundled_files())
    revision = commit if pinned else "main"
    (first,), _ = start(hub.url, tmp_path, revision)
    url = hub.url
    hub.stop()
    (second,), log = start(url, tmp_path, revision)
    assert log == []
    assert second == first
    assert_cached_copy(second, tmp_path)


def test_corrupted_download_is_refused_deleted_and_the_bundled_copy_used(hub, tmp_path):
    files = bundled_files()
    good = files[FILE]
    files[FILE] = good[:-1] + bytes([good[-1] ^ 0xFF])
    hub.add_repo(REPO_ID, files)
    (path,), log = start(hub.url, tmp_path, "main")
    assert path == BUNDLED
    assert_one_fallback_line(log, "ChecksumError")
    cached = [p for p in (tmp_path / "hub").rglob(FILE) if p.exists()]  # exists() follows the snapshot link
    assert cached == [] and not any((tmp_path / "hub").rglob("blobs/*[0-9a-f]"))
    # The cache is not poisoned: once the Hub serves the right bytes, the next start downloads them.
    files[FILE] = good
    hub.add_repo(REPO_ID, files)
    (path,), log = start(hub.url, tmp_path, "main")
    assert log == []
    assert_cached_copy(path, tmp_path)


def test_missing_file_falls_back(hub, tmp_path):
    files = bundled_files()
    del files[FILE]
    commit = hub.add_repo(REPO_ID, files)
    (path,), log = start(hub.url, tmp_path, commit)
    assert path == BUNDLED
    assert_one_fallback_line(log, "EntryNotFound")


def test_wrong_revision_falls_back(hub, tmp_path):
    hub.add_repo(REPO_ID, bundled_files())
    (path,), log = start(hub.url, tmp_path, "0" * 40)
    assert path == BUNDLED
    assert_one_fallback_line(log, "RevisionNotFound")


def test_unreachable_hub_falls_back_at_once(hub, tmp_path):
    url = hub.url
    hub.stop()
    began = time.monotonic()
    (path,), log = start(url, tmp_path, "main")
    assert path == BUNDLED
    assert_one_fallback_line(log, "ConnectError")
    assert time.monotonic() - began < 20  # no retry back-off (hf_hub_download alone waits ~23 s)


def test_offline_mode_reads_only_the_cache(hub, tmp_path):
    commit = hub.add_repo(REPO_ID, bundled_files())
    (path,), log = start(hub.url, tmp_path, commit, HF_HUB_OFFLINE="1")
    assert path == BUNDLED
    assert_one_fallback_line(log, "HF_HUB_OFFLINE")
    assert resolve_requests(hub) == []
    start(hub.url, tmp_path, commit)  # online: fills the cache
    asked = len(resolve_requests(hub))
    (path,), log = start(hub.url, tmp_path, commit, HF_HUB_OFFLINE="1")
    assert log == []
    assert_cached_copy(path, tmp_path)
    assert len(resolve_requests(hub)) == asked


def test_hub_source_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("EMOTION_WEIGHTS_REPO", raising=False)
    assert hub_source_from_env() is None
    monkeypatch.setenv("EMOTION_WEIGHTS_REPO", "user/weights")
    monkeypatch.delenv("EMOTION_WEIGHTS_REVISION", raising=False)
    assert hub_source_from_env() == HubSource("user/weights", "main")
    monkeypatch.setenv("EMOTION_WEIGHTS_REVISION", "a" * 40)
    assert hub_source_from_env() == HubSource("user/weights", "a" * 40)


def test_the_app_loads_its_models_from_the_hub(hub, tmp_path):
    from gradio_client import Client, handle_file

    commit = hub.add_repo(REPO_ID, bundled_files())
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "EMOTION_WEIGHTS_REPO": REPO_ID, "EMOTION_WEIGHTS_REVISION": commit}
    process, url, log_path = start_app(env)
    try:
        _, result = Client(url, verbose=False).predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
    finally:
        stop_app(process)
    assert len(result["faces"]) == 1
    downloaded = {path.rsplit("/", 1)[1] for method, path in resolve_requests(hub) if method == "GET"}
    # Since issue 22 the app detects with full range, and short range where full range finds no face.
    served = (DEFAULT_DETECTOR, SHORT_RANGE_DETECTOR, "face_emotion", "voice_emotion")
    assert downloaded == {model_entry(name)["file"] for name in served}
    assert FALLBACK_LINE not in log_path.read_text()
