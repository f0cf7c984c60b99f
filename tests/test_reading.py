"""One vocabulary for a reading: the top emotion, "uncertain" or nothing, and the largest face, decided
in emotion_core.reading and said the same way by the Image, Audio and Live tabs, the command line, the
video exports and the annotated image and video.

A flat face is the real detector's face with its scores replaced by uniform ones: what is tested is
how a reading is shown, which must not hang on the model happening to be unsure of some photo. Pictures
are checked against boxes drawn with a given text (overlay.draw_boxes), "uncertain" versus the raw top
label and score that the Image tab and the command line used to draw.
"""

from __future__ import annotations

import ast
import base64
import csv
import json
import re
from dataclasses import replace

import cv2
import gradio as gr
import numpy as np
import pytest

import emotion_core
from emotion_core import EMOTIONS, Face, fusion, reading
from emotion_core.__main__ import main, speech_table
from emotion_core.annotate import caption as video_caption
from emotion_core.images import load_image
from emotion_core.media import probe
from emotion_core.overlay import draw_boxes, draw_caption, face_caption
from emotion_core.reading import UNCERTAIN, UNCERTAIN_BELOW, caption, main_face
from emotion_core.results import SpeechResult, VoiceActivity
from emotion_core.video import VideoAnalysis, VideoSegment
from harness import FIXTURES, PROJECT_ROOT
from harness.videos import write_video

FLAT = {name: 1 / len(EMOTIONS) for name in EMOTIONS}
SOURCES = sorted((PROJECT_ROOT / "emotion_core").glob("*.py")) + [PROJECT_ROOT / "app.py"]


def peaked(label: str, strength: float) -> dict[str, float]:
    rest = (1 - strength) / (len(EMOTIONS) - 1)
    return {name: strength if name == label else rest for name in EMOTIONS}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_image(FIXTURES / "face.jpg")


@pytest.fixture(scope="module")
def flat_faces(photo) -> list[Face]:
    found = emotion_core.analyze_frame(photo)
    assert len(found) == 1
    return [replace(found[0], scores=FLAT)]


def closer_to(image: np.ndarray, expected: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``image`` (decoded from a lossy file) shows ``expected`` rather than ``other``, judged
    on the pixels where the two differ (the text of the captions)."""
    differs = np.abs(expected.astype(int) - other.astype(int)).sum(axis=2) > 60
    assert differs.sum() > 50, "the two renderings should differ in their text"
    to_expected = np.abs(image.astype(int) - expected.astype(int))[differs].mean()
    to_other = np.abs(image.astype(int) - other.astype(int))[differs].mean()
    return to_expected < 0.5 * to_other


def drawn(frame: np.ndarray, faces: list[Face], text: str | None = None) -> np.ndarray:
    """``frame`` with the faces' boxes and ``text`` on each; by default the raw label and score."""
    return draw_boxes(frame, [(f.box, text or f"{f.label} {f.scores[f.label]:.0%}") for f in faces])


# --- the vocabulary itself ----------------------------------------------------------------------

def test_reading_is_the_top_emotion_uncertain_or_nothing():
    assert reading.reading(peaked("sad", UNCERTAIN_BELOW)) == "sad"  # at the threshold: sure enough
    assert reading.reading(peaked("sad", UNCERTAIN_BELOW - 0.001)) == UNCERTAIN == "uncertain"
    assert reading.reading(FLAT) == UNCERTAIN
    assert reading.reading({}) is None and reading.reading(None) is None
    assert caption(peaked("happy", 0.874)) == "happy 87%"
    assert caption(FLAT) == "uncertain" and caption({}) is None


def test_the_main_face_is_the_largest_and_the_first_of_equals():
    from emotion_core import live, video

    small, large, twin = (Face(box, FLAT) for box in [(0, 0, 10, 10), (50, 50, 40, 40), (100, 0, 40, 40)])
    assert main_face([small, large, twin]) is large
    assert main_face((twin, small, large)) is twin
    assert main_face([]) is None
    assert video.main_face is main_face and live.main_face is main_face


def test_results_keep_the_raw_label_and_add_the_reading():
    face = Face((1, 2, 3, 4), FLAT)
    assert face.label == "angry" and face.reading == "uncertain"  # label: the top emotion, whatever its score
    assert face.to_dict()["label"] == "angry" and face.to_dict()["reading"] == "uncertain"
    speech = SpeechResult(peaked("fear", 0.9), VoiceActivity(2.0, 3.0))
    assert speech.to_dict()["reading"] == speech.label == "fear"
    silent = SpeechResult({}, VoiceActivity(0.0, 3.0))
    assert silent.to_dict()["reading"] is None and silent.label is None
    assert emotion_core.is_uncertain is fusion.is_uncertain is reading.is_uncertain


def _strings(tree: ast.AST):
    """The string constants of a module that are not docstrings (f-string parts included)."""
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)
                  and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def test_one_threshold_one_word_one_main_face_everywhere():
    owner = PROJECT_ROOT / "emotion_core" / "reading.py"
    assert owner in SOURCES
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if path == owner:
            continue
        assigned = [target.id for node in ast.walk(tree) if isinstance(node, ast.Assign | ast.AnnAssign)
                    for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(target, ast.Name)]
        assert not [name for name in assigned if "UNCERTAIN" in name.upper()], path.name
        functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
        module_functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert not module_functions & {"reading", "is_uncertain", "main_face"}, path.name
        parameters = [a.arg for f in functions for a in f.args.args + f.args.kwonlyargs]
        assert not [name for name in parameters if "uncertain" in name.lower()], path.name
        assert not [text for text in _strings(tree) if re.search(r"\buncertain\b", text, re.IGNORECASE)], path.name
        area = re.search(r"box\[2\]\s*\*\s*[\w.]*box\[3\]", path.read_text(encoding="utf-8"))
        assert area is None, f"{path.name} picks the largest face itself"


# --- every place that shows a reading -----------------------------------------------------------

def test_image_tab_says_uncertain_in_its_result_and_on_the_picture(monkeypatch, photo, flat_faces):
    import app

    monkeypatch.setattr(emotion_core, "analyze_frame", lambda frame: list(flat_faces))
    picture, result = app.analyze_image({"path": str(FIXTURES / "face.jpg")})
    assert result["faces"][0]["reading"] == "uncertain" and result["faces"][0]["label"] in EMOTIONS
    shown = load_image(picture)
    assert closer_to(shown, drawn(photo, flat_faces, "uncertain"), drawn(photo, flat_faces))


def test_audio_tab_heads_its_bars_with_the_reading(monkeypatch):
    import app

    flat = SpeechResult(dict(FLAT), VoiceActivity(2.0, 3.0), windows=1, window_scores=(dict(FLAT),),
                        window_times=((0.0, 3.0),))
    monkeypatch.setattr(emotion_core, "analyze_speech", lambda samples, rate: flat)
    bars, result = app.analyze_audio(str(FIXTURES / "speech.wav"))
    assert bars["label"] == result["reading"] == "uncertain" and result["label"] == "angry"
    assert len(bars["confidences"]) == len(EMOTIONS)
    silent = SpeechResult({}, VoiceActivity(0.0, 3.0))
    monkeypatch.setattr(emotion_core, "analyze_speech", lambda samples, rate: silent)
    assert app.analyze_audio(str(FIXTURES / "silence.wav"))[0] == {"label": "no speech", "confidences": []}


def test_live_view_says_uncertain_on_the_box_the_bars_and_the_status(monkeypatch, photo, flat_faces):
    import app
    from emotion_core import live

    monkeypatch.setattr(live, "analyze_frame", lambda frame, small_faces=True, near=None: list(flat_faces))
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(photo[:, :, ::-1]))
    session = live.LiveSession()
    shown = app.live_frame(jpeg.tobytes(), 1, None, session)
    face_bars, _, fused_bars, status = app.live_bars(session, gr.EventData(None, {}), None)
    assert face_bars["label"] == fused_bars["label"] == "uncertain" and status.startswith("uncertain ·")
    overlay = json.loads(shown)  # the page draws these captions on its boxes
    assert [box[4] for box in overlay["boxes"]] == ["uncertain"] and overlay["face"] == overlay["fused"] == "uncertain"
    monkeypatch.setattr(emotion_core, "analyze_frame", lambda frame: list(flat_faces))
    picture = app.live_snapshot("data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode())  # says it too
    snapshot = cv2.imdecode(np.frombuffer(base64.b64decode(picture["url"].split(",", 1)[1]), np.uint8),
                            cv2.IMREAD_COLOR)[:, :, ::-1]
    assert closer_to(snapshot, drawn(photo, flat_faces, "uncertain"), drawn(photo, flat_faces))


def test_command_line_image_table_json_and_picture_say_uncertain(monkeypatch, tmp_path, capsys, photo, flat_faces):
    monkeypatch.setattr(emotion_core.analysis, "analyze_frame", lambda frame: list(flat_faces))
    picture, data = tmp_path / "faces.png", tmp_path / "faces.json"
    assert main([str(FIXTURES / "face.jpg"), "--annotated", str(picture), "--json", str(data)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[5] == "uncertain"  # face, x, y, w, h, emotion, detection
    assert json.loads(data.read_text())["faces"][0]["reading"] == "uncertain"
    assert np.array_equal(load_image(picture), drawn(photo, flat_faces, "uncertain"))  # PNG: lossless
    assert face_caption(flat_faces[0]) == "uncertain"


def test_command_line_audio_table_leads_with_the_reading(tmp_path, capsys):
    flat = SpeechResult(dict(FLAT), VoiceActivity(2.0, 3.0))
    assert speech_table(flat).splitlines()[0] == "voice: uncertain"
    assert speech_table(SpeechResult({}, VoiceActivity(0.0, 3.0))) == "no speech found"
    data = tmp_path / "speech.json"
    assert main([str(FIXTURES / "speech.wav"), "--json", str(data)]) == 0  # the real model
    result = json.loads(data.read_text())
    assert capsys.readouterr().out.splitlines()[1] == f"voice: {caption(result['scores'])}"
    assert result["reading"] == reading.reading(result["scores"])


def test_video_table_csv_and_json_say_what_the_scores_read(tmp_path, capsys):
    clip = write_video(tmp_path / "clip.mp4", seconds=2.0)
    out_json, out_csv = tmp_path / "clip.json", tmp_path / "clip.csv"
    assert main([str(clip), "--fps", "2", "--json", str(out_json), "--csv", str(out_csv), "--quiet"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0].splitlines()[1:]
    segments = json.loads(out_json.read_text())["segments"]
    rows = list(csv.DictReader(out_csv.open()))
    assert len(table) == len(segments) == len(rows) == 4
    for line, segment, row in zip(table, segments, rows, strict=True):
        for channel in ("face", "voice", "fused"):
            scores = segment[channel]["scores"]
            assert segment[channel]["reading"] == reading.reading(scores)
            assert row[f"{channel}_reading"] == (reading.reading(scores) or "")
            assert (caption(scores) or "-") in line
        assert segment["faces"][0]["reading"] == reading.reading(segment["faces"][0]["scores"])
    windows = json.loads(out_json.read_text())["voice_windows"]
    assert windows and all(w["reading"] == reading.reading(w["scores"]) for w in windows)


def test_annotated_video_says_uncertain_on_the_box_and_in_the_caption(tmp_path):
    import av

    clip = write_video(tmp_path / "clip.mp4", seconds=1.0)
    with av.open(str(clip)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    found = emotion_core.analyze_frame(first)
    assert len(found) == 1
    info = probe(clip)

    def analysis(faces):
        face = faces[0].scores
        segment = VideoSegment(0.0, info.duration, tuple(faces), face, {}, emotion_core.fuse(face, {}))
        return VideoAnalysis(info, 1.0, info.duration, (segment,), (), ())

    flat = [replace(found[0], scores=FLAT)]
    assert video_caption(analysis(flat).segments[0]) == "face uncertain | voice - | fused uncertain"
    out = emotion_core.write_annotated_video(clip, analysis(flat), tmp_path / "drawn.mp4")
    with av.open(str(out)) as container:
        shown = next(container.decode(video=0)).to_ndarray(format="rgb24")

    raw = f"{flat[0].label} {1 / len(EMOTIONS):.0%}"
    expected = draw_caption(drawn(first, flat, "uncertain"), "   0.0 s  face uncertain | voice - | fused uncertain")
    other = draw_caption(drawn(first, flat), f"   0.0 s  face {raw} | voice - | fused {raw}")
    strip = shown.shape[0] - 30  # the caption along the bottom, and the box's text above it: each is checked
    assert closer_to(shown[:strip], expected[:strip], other[:strip])
    assert closer_to(shown[strip:], expected[strip:], other[strip:])

