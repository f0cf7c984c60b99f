"""Voice window times are on the recording's own timeline, whatever silence surrounds the speech.

Windows are placed on the whole recording (emotion_core.windows) and each is trimmed of its own
silence; the times count from the start of the file, and the windows that count (with speech) lie
over the speech. Recordings are the speech fixture (speech from its first frame to 4.56 s) with 0
to 2 s of silence or low noise before and after it, read through ``analyze_speech``, the command
line and the app's ``/analyze_audio``.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from emotion_core import EMOTIONS, analyze_speech, audio, speech, windows
from harness import FIXTURES, PROJECT_ROOT

PADDING_SECONDS = (0.0, 0.3, 0.8, 2.0)
NOISE_RMS = 1e-3  # -60 dBFS: a quiet room, far below the speech
SPEECH_END = 4.56  # seconds: the fixture's last speech frame ends here
TOLERANCE = speech.FRAME_SECONDS + 1e-6  # speech is found per VAD frame


def padded(seconds: float, noise: bool) -> tuple[np.ndarray, int]:
    """The speech fixture with ``seconds`` of silence (or low noise) before and after it."""
    speech, rate = sf.read(FIXTURES / "speech.wav", dtype="float32")
    pad = int(round(seconds * rate))
    rng = np.random.default_rng(int(seconds * 10))
    lead, tail = (rng.normal(0, NOISE_RMS, pad).astype(np.float32) if noise else np.zeros(pad, np.float32)
                  for _ in range(2))
    return np.concatenate([lead, speech, tail]), rate


def write_padded(directory, seconds: float, noise: bool = True):
    samples, rate = padded(seconds, noise)
    path = directory / f"speech-{seconds:g}s-{'noise' if noise else 'silence'}.wav"
    sf.write(path, samples, rate)
    return path, samples.size / rate


def check_times(times: list[tuple[float, float]], voiced: list[bool], lead: float, duration: float) -> None:
    """The windows of windows.window_bounds, inside the recording; those with speech lie over the speech."""
    n = int(round(duration * audio.SAMPLE_RATE))
    assert times == pytest.approx([(a / audio.SAMPLE_RATE, b / audio.SAMPLE_RATE) for a, b in windows.window_bounds(n)])
    assert all(0.0 <= start < end <= duration + 1e-6 for start, end in times), times
    assert len(voiced) == len(times) and any(voiced)
    speech_start, speech_end = lead, lead + SPEECH_END
    first = times[voiced.index(True)]
    assert first[1] > speech_start + speech.MIN_SPEECH_SECONDS - TOLERANCE, (lead, first)  # not before the speech
    for (start, end), has_speech in zip(times, voiced, strict=True):
        if end <= speech_start + TOLERANCE or start >= speech_end - TOLERANCE:
            assert not has_speech, (lead, start, end)  # silence only
        if speech_start <= start and end <= speech_end:
            assert has_speech, (lead, start, end)  # speech throughout


@pytest.mark.parametrize("noise", [False, True], ids=["silence", "noise"])
@pytest.mark.parametrize("lead", (*PADDING_SECONDS, 4.0))  # 4 s: whole windows of silence before and after
def test_analyze_speech_gives_times_on_the_recordings_timeline(lead, noise):
    samples, rate = padded(lead, noise)
    result = analyze_speech(samples, rate)
    assert result.activity.has_speech and result.windows == len(result.window_times) == len(result.window_scores)
    check_times(list(result.window_times), list(result.window_speech), lead, samples.size / rate)
    if lead % windows.WINDOW_HOP_SECONDS == 0 and not noise:  # the same speech in the same windows, shifted
        reference = analyze_speech(*padded(0.0, noise))
        inside = [(a, b) for a, b in reference.window_times if b <= SPEECH_END]
        for start, end in inside:
            shifted = result.window_times.index(pytest.approx((start + lead, end + lead)))
            assert result.window_scores[shifted] == reference.window_scores[reference.window_times.index((start, end))]
    dumped = result.to_dict()["window_scores"]
    assert [(w["start"], w["end"], w["speech"]) for w in dumped] == [
        (a, b, v) for (a, b), v in zip(result.window_times, result.window_speech, strict=True)]
    assert all(set(w["scores"]) == set(EMOTIONS) for w in dumped)


def test_a_recording_without_speech_has_no_windows():
    result = analyze_speech(np.zeros(3 * audio.SAMPLE_RATE, np.float32), audio.SAMPLE_RATE)
    assert not result.activity.has_speech and result.window_times == () and result.to_dict()["window_scores"] == []


def test_window_times_and_scores_must_pair_up():
    from emotion_core.results import SpeechResult, VoiceActivity

    with pytest.raises(ValueError, match="1 window scores but 0 window times"):
        SpeechResult({}, VoiceActivity(1.0, 1.0), 1, ({},))


@pytest.mark.parametrize("lead", PADDING_SECONDS)
def test_command_line_writes_times_inside_the_recording(lead, tmp_path):
    path, duration = write_padded(tmp_path, lead)
    json_path, csv_path = tmp_path / "out.json", tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "emotion_core", str(path), "--json", str(json_path),
                           "--csv", str(csv_path)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "error" not in done.stderr and f"{duration:.1f} s of sound" in done.stdout
    read = json.loads(json_path.read_text())["window_scores"]
    times = [(w["start"], w["end"]) for w in read]
    check_times(times, [w["speech"] for w in read], lead, duration)
    rows = list(csv.DictReader(csv_path.open()))
    assert [(float(r["start"]), float(r["end"])) for r in rows] == pytest.approx(times)
    assert [r["speech"] == "True" for r in rows] == [w["speech"] for w in read]
    assert all(float(r[name]) == pytest.approx(w["scores"][name]) for r, w in zip(rows, read, strict=True)
               for name in EMOTIONS)


@pytest.mark.parametrize("lead", PADDING_SECONDS)
def test_analyze_audio_endpoint_gives_times_inside_the_recording(lead, client, tmp_path):
    from gradio_client import handle_file

    path, duration = write_padded(tmp_path, lead)
    _, result = client.predict(handle_file(path), api_name="/analyze_audio")
    assert result["has_speech"] and result["duration_seconds"] == pytest.approx(duration, abs=1e-3)
    times = [(w["start"], w["end"]) for w in result["window_scores"]]
    assert len(times) == result["windows"]
    check_times(times, [w["speech"] for w in result["window_scores"]], lead, duration)
