"""Malformed and unusual inputs through every entry point: the functions, the API and the command line.

The corpus is ``tests/bad_inputs/manifest.json`` (written by ``python -m tests.make_bad_inputs``; the
big cases are generated once per session into a temporary folder). Each case gives a result or a
``ValueError`` whose message matches the manifest's pattern: from the API a ``gr.Error`` with that
message (never Gradio's generic "has raised an exception"), from the command line exit status 1 with
the message on stderr. The server must keep serving afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import emotion_core
from emotion_core.audio import load_audio
from emotion_core.images import load_image
from harness import FIXTURES, PROJECT_ROOT
from tests.make_bad_inputs import CORPUS_DIR, Case, cases, load_manifest, make_case

MANIFEST_CASES = load_manifest()
IDS = [case.file for case in MANIFEST_CASES]
ENDPOINTS = {"image": "/analyze_image", "audio": "/analyze_audio", "video": "/analyze_video"}
HAS_CLI = (PROJECT_ROOT / "emotion_core" / "__main__.py").is_file()


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad_inputs")


def case_path(case: Case, generated_dir: Path) -> Path:
    """The case's file: committed, or generated on first use."""
    if not case.generated:
        return CORPUS_DIR / case.file
    path = generated_dir / case.file
    if not path.exists():
        make_case(case.file, generated_dir)
    return path


def error_pattern(expect: str) -> str | None:
    """None for "result", else the regular expression the error message must match."""
    if expect == "result":
        return None
    assert expect.startswith("error: "), f"bad expectation {expect!r}"
    return expect.removeprefix("error: ")


def check_result(case: Case, faces: int | None, speech: bool | None) -> None:
    """The manifest's extra checks on a result: enough faces, speech found or not."""
    if case.min_faces is not None and faces is not None:
        assert faces >= case.min_faces, f"{case.file}: {faces} faces, expected at least {case.min_faces}"
    if case.speech is not None and speech is not None:
        assert speech == case.speech, f"{case.file}: speech {speech}, expected {case.speech}"


def test_the_manifest_is_what_the_generator_writes():
    assert [c.file for c in cases()] == IDS, "run python -m tests.make_bad_inputs"
    assert len(MANIFEST_CASES) >= 30
    for case in MANIFEST_CASES:
        assert case.generated or (CORPUS_DIR / case.file).is_file(), case.file
        for entry_point in ("function", "api", "cli"):
            error_pattern(case.expected(entry_point))
    committed = sum(path.stat().st_size for path in CORPUS_DIR.iterdir())
    assert committed < 2e6, "keep the committed corpus small: generate big files at test time"


# --- the functions ----------------------------------------------------------------------------------

def run_functions(kind: str, path: Path) -> tuple[int | None, bool | None]:
    """Every public call for this kind of file; returns (faces found, speech found)."""
    if kind == "image":
        frame = load_image(path)
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        faces = emotion_core.analyze_frame(frame)
        for face in faces:
            x, y, w, h = face.box
            assert sum(emotion_core.classify_face(frame[y : y + h, x : x + w]).values()) == pytest.approx(1, abs=1e-4)
        return len(faces), None
    if kind == "audio":
        samples, rate = load_audio(path)
        assert samples.dtype == np.float32 and samples.ndim == 1 and np.isfinite(samples).all()
        assert np.abs(samples).max(initial=0) <= 1.0
        activity = emotion_core.voice_activity(samples, rate)
        scores = emotion_core.classify_speech(samples, rate)
        assert sum(scores.values()) == pytest.approx(1, abs=1e-4)
        result = emotion_core.analyze_speech(samples, rate)
        assert result.activity == activity
        assert (sum(result.scores.values()) == pytest.approx(1, abs=1e-4)) if activity.has_speech else not result.scores
        return None, activity.has_speech
    analysis = emotion_core.analyze_video(path)
    assert analysis.segments and analysis.duration > 0
    return max(len(segment.faces) for segment in analysis.segments), analysis.has_speech


@pytest.mark.parametrize("case", MANIFEST_CASES, ids=IDS)
def test_functions(case: Case, generated_dir):
    path = case_path(case, generated_dir)
    pattern = error_pattern(case.expected("function"))
    if pattern:
        with pytest.raises(ValueError, match=pattern):
            run_functions(case.kind, path)
    else:
        check_result(case, *run_functions(case.kind, path))


def test_a_rotated_video_is_read_upright():
    """The phone video (stored sideways, display matrix 90 degrees) reads like the same video stored upright."""
    upright = emotion_core.analyze_video(CORPUS_DIR / "video_no_audio.mp4")
    turned = emotion_core.analyze_video(CORPUS_DIR / "video_rotated_90.mp4")
    first_upright, first_turned = upright.segments[0].faces, turned.segments[0].faces
    assert len(first_turned) == len(first_upright) == 1
    assert np.allclose(first_turned[0].box, first_upright[0].box, atol=4)


FRAME = np.full((120, 160, 3), 128, np.uint8)
TONE = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
ARRAY_CASES = {  # id -> (call, expected outcome)
    "frame_empty": (lambda: emotion_core.analyze_frame(np.zeros((0, 0, 3), np.uint8)), "error: outside 1"),
    "frame_float": (lambda: emotion_core.analyze_frame(FRAME.astype(np.float32)), "error: must be uint8"),
    "frame_two_channels": (lambda: emotion_core.analyze_frame(FRAME[:, :, :2]), "error: HxWx3"),
    "frame_4d": (lambda: emotion_core.analyze_frame(FRAME[None]), "error: HxWx3"),
    "frame_1x1": (lambda: emotion_core.analyze_frame(FRAME[:1, :1]), "result"),
    "frame_grey": (lambda: emotion_core.analyze_frame(FRAME[:, :, 0]), "result"),
    "frame_rgba": (lambda: emotion_core.analyze_frame(np.dstack([FRAME, FRAME[:, :, :1]])), "result"),
    "frame_not_contiguous": (lambda: emotion_core.analyze_frame(FRAME[::2, ::-1]), "result"),
    "frame_too_large": (lambda: emotion_core.analyze_frame(np.zeros((1, 9000, 3), np.uint8)), "error: outside 1"),
    "crop_empty": (lambda: emotion_core.classify_face(np.zeros((0, 5), np.uint8)), "error: empty"),
    "crop_1x1": (lambda: emotion_core.classify_face(np.zeros((1, 1), np.uint8)), "result"),
    "crop_uint16": (lambda: emotion_core.classify_face(np.zeros((48, 48), np.uint16)), "error: must be uint8"),
    "speech_empty": (lambda: emotion_core.analyze_speech(np.zeros(0, np.float32), 16000), "result"),
    "speech_one_sample": (lambda: emotion_core.classify_speech(np.ones(1, np.float32), 16000), "result"),
    "speech_nan": (lambda: emotion_core.classify_speech(np.full(16000, np.nan, np.float32), 16000), "result"),
    "speech_inf": (lambda: emotion_core.analyze_speech(np.where(TONE > 0, np.inf, -np.inf), 16000), "result"),
    "speech_clipped_float": (lambda: emotion_core.analyze_speech(TONE * 100, 16000), "result"),
    "speech_int16_stereo": (lambda: emotion_core.analyze_speech(
        np.stack([(TONE * 32767).astype(np.int16)] * 2, axis=1), 16000), "result"),
    "speech_channels_first": (lambda: emotion_core.voice_activity(np.stack([TONE, TONE]), 16000), "result"),
    "speech_int32": (lambda: emotion_core.classify_speech((TONE * 2**31).astype(np.int32), 16000), "result"),
    "speech_float64_96k": (lambda: emotion_core.classify_speech(np.zeros(96000, np.float64), 96000), "result"),
    "speech_8k": (lambda: emotion_core.analyze_speech(TONE[:8000], 8000), "result"),
    "speech_odd_rate": (lambda: emotion_core.voice_activity(TONE, 44099), "result"),
    "speech_rate_too_low": (lambda: emotion_core.voice_activity(TONE, 4000), "error: outside the supported"),
    "speech_rate_too_high": (lambda: emotion_core.classify_speech(TONE, 192000), "error: outside the supported"),
    "speech_rate_nan": (lambda: emotion_core.analyze_speech(TONE, float("nan")), "error: sample rate"),
    "speech_rate_zero": (lambda: emotion_core.analyze_speech(TONE, 0), "error: outside the supported"),
    "speech_3d": (lambda: emotion_core.analyze_speech(TONE.reshape(2, 2, -1), 16000), "error: 1-D or 2-D"),
    "speech_complex": (lambda: emotion_core.voice_activity(TONE.astype(np.complex64), 16000),
                       "error: integers or floats"),
    "speech_bool": (lambda: emotion_core.voice_activity(TONE > 0, 16000), "error: integers or floats"),
}


@pytest.mark.parametrize("call, expect", ARRAY_CASES.values(), ids=ARRAY_CASES.keys())
def test_arrays(call, expect):
    pattern = error_pattern(expect)
    if pattern:
        with pytest.raises(ValueError, match=pattern):
            call()
    else:
        call()


# --- the API --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def api_names(client) -> set[str]:
    return set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def call_api(client, kind: str, path: Path):
    """Send ``path`` to the endpoint for ``kind``; returns its JSON result (the last output)."""
    from gradio_client import handle_file

    if kind == "video":  # 2 frames a second, no annotated copy
        outputs = client.predict(handle_file(path), 2.0, False, api_name=ENDPOINTS[kind])
    else:
        outputs = client.predict(handle_file(path), api_name=ENDPOINTS[kind])
    return outputs[-1]


@pytest.mark.parametrize("case", MANIFEST_CASES, ids=IDS)
def test_api(case: Case, client, api_names, generated_dir):
    if ENDPOINTS[case.kind] not in api_names:
        pytest.skip(f"{ENDPOINTS[case.kind]} is not served yet")  # hook: runs once the video tab exists
    path = case_path(case, generated_dir)
    pattern = error_pattern(case.expected("api"))
    if pattern:
        with pytest.raises(Exception) as caught:  # gradio_client's AppError, or an upload refused
            call_api(client, case.kind, path)
        message = str(caught.value)
        assert "has not enabled verbose error reporting" not in message, f"{case.file}: a generic error, not ours"
        assert re.search(pattern, message), f"{case.file}: {message!r} does not match {pattern!r}"
        return
    result = call_api(client, case.kind, path)
    if case.kind == "image":
        check_result(case, len(result["faces"]), None)
    elif case.kind == "audio":
        check_result(case, None, result["has_speech"])
        assert not result["has_speech"] or sum(result["scores"].values()) == pytest.approx(1, abs=1e-4)
    else:
        assert result["segments"] > 0


@pytest.mark.parametrize("endpoint, message", [("/analyze_image", "No image was given"),
                                               ("/analyze_audio", "No audio was given")])
def test_api_without_a_file(client, endpoint, message):
    with pytest.raises(Exception, match=message):
        client.predict(None, api_name=endpoint)


def test_the_server_refuses_an_upload_over_the_limit(app_server):
    """Not only gradio_client's own check: the server answers 413 to a raw upload over MAX_FILE_SIZE."""
    import http.client
    import urllib.parse

    body_size = 26 * 2**20
    boundary = "bad-inputs-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    url = urllib.parse.urlsplit(app_server)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    connection.putrequest("POST", "/gradio_api/upload")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + body_size + len(tail)))
    connection.endheaders()
    try:
        connection.send(head)
        for _ in range(body_size // 2**20):
            connection.send(bytes(2**20))
        connection.send(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading once the limit is passed
    response = connection.getresponse()
    assert response.status == 413, response.read()[:200]
    connection.close()


def test_the_server_keeps_serving_after_the_corpus(client):
    import urllib.request

    from gradio_client import handle_file

    _, result = client.predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
    assert len(result["faces"]) == 1
    _, result = client.predict(handle_file(FIXTURES / "speech.wav"), api_name="/analyze_audio")
    assert result["has_speech"] is True
    with urllib.request.urlopen(client.src, timeout=10) as response:
        assert response.status == 200


# --- the command line -----------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_CLI, reason="emotion_core/__main__.py does not exist yet")  # hook for the CLI
@pytest.mark.parametrize("case", MANIFEST_CASES, ids=IDS)
def test_cli(case: Case, generated_dir, tmp_path, capsys):
    from emotion_core.__main__ import main

    path = case_path(case, generated_dir)
    report = tmp_path / "result.json"
    status = main([str(path), "--quiet", "--json", str(report)])
    _, err = capsys.readouterr()
    pattern = error_pattern(case.expected("cli"))
    if pattern:
        assert status == 1, f"{case.file}: exit status {status}, expected 1"
        assert re.search(pattern, err), f"{case.file}: {err!r} does not match {pattern!r}"
        return
    assert status == 0, f"{case.file}: exit status {status}: {err}"
    result = json.loads(report.read_text())
    if "faces" in result:
        check_result(case, len(result["faces"]), None)
    elif "has_speech" in result:
        check_result(case, None, result["has_speech"])


@pytest.mark.skipif(not HAS_CLI, reason="emotion_core/__main__.py does not exist yet")
def test_cli_process_exit_status():
    """As a real process: 0 with a result on stdout, 1 with one "error:" line on stderr."""
    command = [sys.executable, "-m", "emotion_core", "--quiet"]
    bad = subprocess.run([*command, str(CORPUS_DIR / "image_truncated.jpg")], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert re.search(r"^error: cannot read image_truncated\.jpg as an image", bad.stderr, re.MULTILINE)
    assert "Traceback" not in bad.stderr
    good = subprocess.run([*command, str(CORPUS_DIR / "image_grey_face.png")], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "face" in good.stdout and not re.search(r"^error:", good.stderr, re.MULTILINE)
