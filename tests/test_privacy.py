"""Nothing a user sends is kept, the API serves no file it should not, and weights are verified before use.

A server of its own, with Gradio's upload cache (GRADIO_TEMP_DIR) and the temp folder (TMPDIR) in
fresh folders and a cache lifetime of a few seconds (EMOTION_CACHE_MAX_AGE; 600 s in production),
so that the folders can be listed before and after the requests.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import time
import urllib.parse
from pathlib import Path

import pytest

from harness import FIXTURES, PROJECT_ROOT
from harness.server import start_app, stop_app
from tests.make_bad_inputs import CORPUS_DIR

CACHE_MAX_AGE = 4  # seconds, for this test server
MARKER = "PRIVATE-MARKER-7f3a9c"  # in the content and the names of what we send; must never reach the log


@pytest.fixture(scope="module")
def private_server(tmp_path_factory):
    """(url, cache folder, temp folder, log path) of an app whose cache lives CACHE_MAX_AGE seconds."""
    root = tmp_path_factory.mktemp("private")
    cache, temp = root / "cache", root / "tmp"
    cache.mkdir()
    temp.mkdir()
    process, url, log = start_app({"GRADIO_TEMP_DIR": str(cache), "TMPDIR": str(temp),
                                   "EMOTION_CACHE_MAX_AGE": str(CACHE_MAX_AGE)})
    yield url, cache, temp, log
    stop_app(process)


def files_in(*folders: Path) -> set[Path]:
    return {path for folder in folders for path in folder.rglob("*") if not path.is_dir()}


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def test_uploads_and_results_are_deleted(private_server, tmp_path):
    from gradio_client import Client, handle_file

    url, cache, temp, log = private_server
    before = files_in(cache, temp)
    sent = {  # endpoint -> a copy of a fixture, named with the marker
        "/analyze_image": shutil.copyfile(FIXTURES / "face.jpg", tmp_path / f"{MARKER}-face.jpg"),
        "/analyze_audio": shutil.copyfile(FIXTURES / "speech.wav", tmp_path / f"{MARKER}-speech.wav"),
    }
    client = Client(url, verbose=False)
    _, result = client.predict(handle_file(sent["/analyze_image"]), api_name="/analyze_image")
    assert len(result["faces"]) == 1
    _, result = client.predict(handle_file(sent["/analyze_audio"]), api_name="/analyze_audio")
    assert result["has_speech"]
    broken = tmp_path / f"{MARKER}-broken.jpg"
    broken.write_text(f"{MARKER} is not an image")
    with pytest.raises(Exception, match="cannot read"):
        client.predict(handle_file(broken), api_name="/analyze_image")
    if "/analyze_video" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]:
        video = shutil.copyfile(CORPUS_DIR / "video_no_audio.mp4", tmp_path / f"{MARKER}-video.mp4")
        client.predict(handle_file(video), 2.0, True, api_name="/analyze_video")

    during = files_in(cache, temp) - before
    assert any(MARKER in path.name for path in during), "the uploads were not where this test looks"
    assert wait_until(lambda: files_in(cache, temp) <= before, timeout=CACHE_MAX_AGE * 3 + 10), (
        f"left behind: {sorted(str(p) for p in files_in(cache, temp) - before)}")
    # Gradio keeps the emptied folders (named by a salted hash of the content): nothing is in them.
    assert not any(MARKER in str(path) for path in cache.rglob("*"))


def test_media_and_what_it_holds_never_reach_the_log(private_server):
    _, _, _, log = private_server
    text = log.read_text(errors="replace")
    # Error messages may name an upload (so the user knows which file failed); the content never appears.
    assert f"{MARKER} is not an image" not in text
    assert not re.search(r"[A-Za-z0-9+/]{400,}", text), "something like base64 media in the log"


TRAVERSALS = [
    "/gradio_api/file=../../etc/passwd",
    "/gradio_api/file=/etc/passwd",
    "/file=/etc/passwd",
    "/file=../../etc/passwd",
    "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/gradio_api/file=..%2f..%2f..%2fetc%2fpasswd",
    "/gradio_api/file=%2fetc%2fpasswd",
    "/gradio_api/file=//etc/passwd",
    "/gradio_api/file=/proc/self/environ",
    "/gradio_api/file={cache}/../../../../../../etc/passwd",
    "/gradio_api/file={project}/app.py",
    "/gradio_api/file=app.py",
    "/gradio_api/file=weights/manifest.json",
    "/gradio_api/file=tests/fixtures/face.jpg",
    "/static/../../../../etc/passwd",
    "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/gradio_api/file=~/.bashrc",
]


@pytest.mark.parametrize("template", TRAVERSALS)
def test_paths_outside_what_gradio_serves_are_refused(private_server, template):
    url, cache, _, _ = private_server
    path = template.format(cache=cache, project=PROJECT_ROOT)
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path)  # sent as written: no client-side normalisation of ../
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status in (400, 403, 404), (response.status, body[:200])
    assert b"root:" not in body and b"import gradio" not in body and b"sha256" not in body


def call_raw(url: str, endpoint: str, data: list) -> str:
    """POST to /gradio_api/call/<endpoint> and read the whole event stream of the answer."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request("POST", f"/gradio_api/call/{endpoint}", json.dumps({"data": data}),
                       {"Content-Type": "application/json"})
    event_id = json.loads(connection.getresponse().read())["event_id"]
    connection.request("GET", f"/gradio_api/call/{endpoint}/{event_id}")
    stream = connection.getresponse().read().decode(errors="replace")
    connection.close()
    return stream


@pytest.mark.parametrize("endpoint", ["analyze_image", "analyze_audio"])
@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../etc/passwd", "{project}/weights/manifest.json"])
def test_the_api_reads_no_file_that_was_not_uploaded(private_server, endpoint, target):
    """A FileData naming a server path is refused before the handler runs: nothing of it comes back."""
    url = private_server[0]
    path = target.format(project=PROJECT_ROOT)
    stream = call_raw(url, endpoint, [{"path": path, "meta": {"_type": "gradio.FileData"}}])
    assert "event: error" in stream
    assert "root:" not in stream and "sha256" not in stream
    assert "cannot read" not in stream and "cannot decode" not in stream, "the handler got to open the file"


def test_bundled_weights_that_fail_their_checksum_are_never_loaded(tmp_path, monkeypatch):
    from emotion_core import weights

    tampered = tmp_path / weights.model_entry("face_emotion")["file"]
    tampered.write_bytes((weights.WEIGHTS_DIR / tampered.name).read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(weights.ChecksumError, match="does not match the manifest"):
        weights._resolve.__wrapped__("face_emotion", None)  # uncached: the real function


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt", "requirements-train.txt",
                                  "requirements-batch.txt"])
def test_every_dependency_is_pinned(name):
    for line in (PROJECT_ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r "):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", line), f"{name}: {line!r} is not pinned"
