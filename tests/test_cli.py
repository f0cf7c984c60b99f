"""The command line, ``python -m emotion_core FILE``, on an image, a recording and generated videos."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from emotion_core import EMOTIONS
from emotion_core.__main__ import StderrProgress, format_table, main
from harness import FIXTURES, PROJECT_ROOT
from harness.videos import write_video


@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("cli") / "talking.mp4", seconds=3.0)


def test_video_prints_segments_and_summary_and_writes_every_file(talking, tmp_path, capsys):
    outputs = {name: tmp_path / name for name in ("out.json", "out.csv", "out.mp4", "out.png")}
    code = main([str(talking), "--fps", "2", "--json", str(outputs["out.json"]), "--csv", str(outputs["out.csv"]),
                 "--annotated", str(outputs["out.mp4"]), "--timeline", str(outputs["out.png"]), "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0].split() == ["start", "end", "faces", "face", "voice", "fused"]
    assert len(lines[1 : lines.index("")]) == 6  # 3 s at 2 frames per second, then a blank line
    assert any(line.startswith("fused") for line in lines) and "segments" in lines[-1]
    data = json.loads(outputs["out.json"].read_text())
    assert len(data["segments"]) == 6 and data["summary"]["face"]["coverage"] == pytest.approx(1.0)
    assert len(list(csv.DictReader(outputs["out.csv"].open()))) == 6
    assert outputs["out.mp4"].read_bytes()[4:8] == b"ftyp"
    assert outputs["out.png"].read_bytes()[:4] == b"\x89PNG"
    assert out.err == ""  # --quiet


def test_summary_only_and_a_video_without_sound(tmp_path, capsys):
    silent = write_video(tmp_path / "silent.webm", seconds=2.0, sound_kind=None)
    assert main([str(silent), "--summary-only", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["channel", "covered", "dominant"]
    assert "the video has no audio track" in out


def test_image_prints_the_faces(tmp_path, capsys):
    assert main([str(FIXTURES / "face.jpg"), "--json", str(tmp_path / "f.json"), "--csv", str(tmp_path / "f.csv"),
                 "--annotated", str(tmp_path / "f.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["face", "x", "y", "w", "h", "emotion", "detection"] and len(lines) == 2
    assert json.loads((tmp_path / "f.json").read_text())["faces"][0]["label"] in EMOTIONS
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert main([str(FIXTURES / "no_face.jpg")]) == 0
    assert "no face found" in capsys.readouterr().out


def test_audio_prints_the_voice_scores(tmp_path, capsys):
    json_path, csv_path = tmp_path / "s.json", tmp_path / "s.csv"
    assert main([str(FIXTURES / "speech.wav"), "--json", str(json_path), "--csv", str(csv_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()  # sound and speech, the voice's reading, then a table of scores
    assert "s of speech" in lines[0] and lines[1].startswith("voice: ")
    assert lines[2].split() == ["emotion", "score"] and {line.split()[0] for line in lines[3:]} == set(EMOTIONS)
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["has_speech"] and len(result["window_scores"]) == result["windows"] == 5
    assert set(result["window_scores"][0]["scores"]) == set(EMOTIONS)
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    # 3 s windows every 0.5 s over the whole 4.93 s file, then the last 3 s.
    assert [float(r["start"]) for r in rows] == pytest.approx([0.0, 0.5, 1.0, 1.5, 4.932125 - 3.0])
    assert [float(r["start"]) for r in rows] == [w["start"] for w in result["window_scores"]]


def test_bad_input_exits_1_with_a_message(tmp_path, capsys):
    broken = tmp_path / "broken.mov"
    broken.write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(200))
    assert main([str(broken)]) == 1
    assert capsys.readouterr().err.startswith("error: broken.mov is not a video or audio file")
    assert main([str(FIXTURES / "speech.wav"), "--annotated", str(tmp_path / "x.mp4")]) == 1
    assert "for images and videos" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.mp4")]) == 1
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_progress_is_a_line_per_tenth_without_a_terminal_and_silent_when_quick():
    now = [0.0]
    stream = io.StringIO()
    progress = StderrProgress(stream, delay=2.0, clock=lambda: now[0])
    progress(0.05, "analysing a.mp4: 1/60 s")
    assert stream.getvalue() == ""  # still within the first 2 s
    now[0] = 3.0
    for step in range(1, 101):
        progress(step / 100, f"analysing a.mp4: {step * 0.6:.0f}/60 s")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # the first call after the delay, then one per tenth
    assert lines[0].startswith("  1%") and lines[1].startswith(" 10%") and lines[-1].startswith("100%")
    progress(0.0, "drawing a.mp4: 0/60 s")  # a second stage starts over
    assert stream.getvalue().splitlines()[-1].startswith("  0% drawing")


def test_table_format():
    assert format_table(["a", "bb"], [[1.234, None], ["long text", "x"]]).splitlines() == [
        "a          bb", "1.23       -", "long text  x"]


def test_python_dash_m_runs_the_command_line(talking):
    done = subprocess.run([sys.executable, "-m", "emotion_core", str(talking), "--summary-only"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line.split()[0] for line in done.stdout.splitlines()[1:4]] == ["face", "voice", "fused"]
