"""The real app, started as `python app.py`, called through gradio_client like a user would."""

import socket
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from emotion_core import EMOTIONS
from emotion_core.reading import reading
from harness import FIXTURES
from harness.server import start_app, stop_app

TCP_LISTEN = "0A"  # the LISTEN state in /proc/net/tcp


def test_analyze_image_finds_the_face(client):
    annotated, result = client.predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
    assert len(result["faces"]) == 1
    found = result["faces"][0]
    assert found["label"] in EMOTIONS and found["reading"] == reading(found["scores"])
    assert set(found["scores"]) == set(EMOTIONS)
    assert sum(found["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert found["box"]["w"] > 20 and found["box"]["h"] > 20
    assert annotated  # an annotated image came back


def test_analyze_image_without_face_returns_no_faces(client):
    _, result = client.predict(handle_file(FIXTURES / "no_face.jpg"), api_name="/analyze_image")
    assert result["faces"] == []


def test_analyze_audio_reads_speech(client):
    bars, result = client.predict(handle_file(FIXTURES / "speech.wav"), api_name="/analyze_audio")
    assert result["has_speech"] is True
    assert result["label"] in EMOTIONS
    assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert bars["label"] == result["reading"] in {*EMOTIONS, "uncertain"}  # the bars are headed by the reading


def test_analyze_audio_says_when_the_speech_is_drowned_in_noise(client, tmp_path):
    import soundfile

    from emotion_core import audio

    samples, rate = audio.load_audio(FIXTURES / "speech.wav")
    noise = np.random.default_rng(0).normal(0.0, 0.5 * float(np.std(samples)), samples.size)
    soundfile.write(tmp_path / "noisy.wav", (samples + noise).astype(np.float32), rate)
    _, noisy = client.predict(handle_file(tmp_path / "noisy.wav"), api_name="/analyze_audio")
    _, clean = client.predict(handle_file(FIXTURES / "speech.wav"), api_name="/analyze_audio")
    assert noisy["has_speech"] and noisy["in_loud_noise"] is True and noisy["reading"] == "uncertain"
    assert clean["in_loud_noise"] is False


def test_analyze_audio_says_no_speech_for_silence(client):
    bars, result = client.predict(handle_file(FIXTURES / "silence.wav"), api_name="/analyze_audio")
    assert result["has_speech"] is False
    assert result["scores"] == {} and result["reading"] is None and bars["label"] == "no speech"


def test_bad_files_get_a_clear_error_and_the_server_keeps_serving(client, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not an image")
    with pytest.raises(AppError, match="cannot read broken.jpg as an image"):
        client.predict(handle_file(broken), api_name="/analyze_image")
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(AppError, match="cannot decode audio|FFmpeg can read"):
        client.predict(handle_file(noise), api_name="/analyze_audio")
    _, result = client.predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
    assert len(result["faces"]) == 1


def test_the_api_lists_only_the_three_analyse_endpoints(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert sorted(api["named_endpoints"]) == ["/analyze_audio", "/analyze_image", "/analyze_video"]
    assert not api["unnamed_endpoints"]


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (Linux /proc/net, IPv4 and IPv6)."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == TCP_LISTEN and int(port_hex, 16) == port:
                raw = bytes.fromhex(address)  # stored as 32-bit words in host (little-endian) order
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, words))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_the_app_listens_on_loopback_unless_told_otherwise():
    process, url, _ = start_app({"GRADIO_SERVER_NAME": None})
    try:
        addresses = listening_addresses(urlsplit(url).port)
    finally:
        stop_app(process)
    assert addresses == {"127.0.0.1"}
