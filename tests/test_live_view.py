"""The live view's answer to a frame: decoding what the page sends, the reading it gets back, the snapshot.

The page sends a small mirrored JPEG of its preview as a data URL with the frame's number and the
preview's size (ui/live_view.js); it gets back a few hundred bytes of JSON: boxes in the preview's
pixels with their captions, and the three readings. Real detector and models on the committed face.
"""

from __future__ import annotations

import base64
import json
import threading

import cv2
import gradio as gr
import numpy as np
import pytest

from emotion_core import EMOTIONS, Face
from emotion_core.images import MAX_DATA_URL_CHARS, decode_data_url
from emotion_core.live import LiveSession
from emotion_core.live_routes import LivePost
from emotion_core.live_view import FrameReading, frame_reading, scale_box
from emotion_core.overlay import face_caption
from emotion_core.reading import caption

MAX_READING_BYTES = 400  # "a few hundred bytes" for two faces and three readings


def data_url(frame: np.ndarray, quality: int = 75) -> str:
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(frame[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def small(frame: np.ndarray, width: int) -> np.ndarray:
    height = round(frame.shape[0] * width / frame.shape[1])
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def test_a_data_url_decodes_to_the_frame(face_photo):
    decoded = decode_data_url(data_url(face_photo, 95))
    assert decoded.shape == face_photo.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - face_photo).mean() < 4  # JPEG at quality 95: close, not equal


@pytest.mark.parametrize("bad", [None, "", "http://example.com/a.jpg", "data:text/plain;base64,aGk=",
                                 "data:image/jpeg;base64,not base64!", "data:image/png;base64,aGVsbG8="])
def test_anything_else_is_refused_with_a_value_error(bad):
    with pytest.raises(ValueError):
        decode_data_url(bad)


def test_an_oversized_data_url_is_refused_before_decoding():
    with pytest.raises(ValueError, match="at most"):
        decode_data_url("data:image/jpeg;base64," + "A" * MAX_DATA_URL_CHARS)


def test_boxes_are_scaled_to_the_preview():
    assert scale_box((10, 20, 30, 40), 640 / 224, 480 / 168) == (29, 57, 86, 114)


def test_a_reading_is_a_few_hundred_bytes_and_says_what_the_boxes_say():
    happy = {name: 0.9 if name == "happy" else 0.1 / 6 for name in EMOTIONS}
    flat = {name: 1 / len(EMOTIONS) for name in EMOTIONS}
    session = LiveSession()
    state = session.snapshot()
    state = type(state)([Face((10, 20, 50, 50), happy, 0.9), Face((120, 30, 40, 40), flat, 0.8)], happy, flat,
                        state.fused, True, True)
    reading = frame_reading(state, 7, (224, 168), (640, 480))
    assert [b.caption for b in reading.boxes] == ["happy 90%", "uncertain"]
    assert reading.boxes[0].box == scale_box((10, 20, 50, 50), 640 / 224, 480 / 168)
    assert (reading.face, reading.voice) == (caption(happy), "uncertain")
    text = reading.to_json()
    assert len(text.encode()) < MAX_READING_BYTES and " " not in text.replace("happy 90%", "")
    assert json.loads(text) == {"number": 7, "size": [640, 480], "boxes": [[*reading.boxes[0].box, "happy 90%"],
                                                                             [*reading.boxes[1].box, "uncertain"]],
                                "face": "happy 90%", "voice": "uncertain", "fused": reading.fused}
    assert json.loads(FrameReading(8, dropped=True).to_json()) == {"number": 8, "dropped": True}


def jpeg(frame: np.ndarray, quality: int = 75) -> bytes:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(frame[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def test_the_live_frame_handler_reads_a_small_frame_into_preview_pixels(face_photo):
    import app

    full = cv2.resize(face_photo, (640, 480))
    sent = jpeg(small(full, app.SEND_WIDTH))
    session = LiveSession()
    reading = json.loads(app.live_frame(sent, 1, (640, 480), session))
    assert reading["number"] == 1 and reading["size"] == [640, 480] and len(reading["boxes"]) == 1
    [x, y, w, h, text] = reading["boxes"][0]
    faces = LiveSession().add_frame(full).faces  # the same face read on the full frame
    fx, fy, fw, fh = faces[0].box
    assert abs(x - fx) < 0.1 * fw and abs(y - fy) < 0.1 * fh and abs(w - fw) < 0.15 * fw
    assert text == face_caption(Face((x, y, w, h), session.snapshot().face_scores))

    # The bars and status come through the page's bars event, rounded for the wire.
    face_bars, voice_bars, fused_bars, status = app.live_bars(session, gr.EventData(None, {}), None)
    assert face_bars["label"] in {*EMOTIONS, "uncertain"} and status.endswith("1 face · no speech")
    assert voice_bars == {"label": "no speech", "confidences": []} and fused_bars["label"]
    assert all(round(c["confidence"], 3) == c["confidence"] for c in face_bars["confidences"])

    # Without the preview's size, boxes are in the frame's pixels; an older number, or a broken image, is dropped.
    later = json.loads(app.live_frame(sent, 2, None, session))
    assert later["number"] == 2 and later["size"] == [app.SEND_WIDTH, 168]
    for number, body in ((2, sent), (3, b"\xff\xd8 not a jpeg")):
        assert json.loads(app.live_frame(body, number, None, session)) == {"number": number, "dropped": True}


def params(**values) -> dict[str, str]:
    return {name: str(value) for name, value in values.items()}


def test_frames_and_chunks_go_to_the_session_the_bars_event_named(face_photo, speech):
    import app

    [preview] = [b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "live-view"]
    assert not preview.server_fns  # frames and chunks are plain POSTs (LIVE_ROUTES), not Gradio calls
    events = {t[1] for d in app.demo.config["dependencies"] for t in d["targets"] if t[0] == preview._id}
    assert events == {"bars", "timeline"}
    assert set(app.LIVE_ROUTES) == {app.FRAME_ROUTE, app.AUDIO_ROUTE}

    session, token = LiveSession(), "0123456789abcdef" * 2
    frame = jpeg(small(face_photo, app.SEND_WIDTH))
    samples, rate = speech
    chunk = (np.clip(samples[: rate // 4], -1, 1) * 32767).astype("<i2").tobytes()
    first = LivePost(frame, params(token=token, number=1, width=640, height=480))
    assert json.loads(app.live_frame_post(first)) == {"number": 1, "dropped": True}  # no session named yet
    assert json.loads(app.live_audio_post(LivePost(chunk, params(token=token, rate=rate)))) == {"dropped": True}
    face_bars, _, _, status = app.live_bars(session, gr.EventData(None, {"token": token}), None)
    assert face_bars["label"] == "no face" and status

    reading = json.loads(app.live_frame_post(LivePost(frame, params(token=token, number=2, width=640, height=480))))
    assert reading["number"] == 2 and reading["size"] == [640, 480] and len(reading["boxes"]) == 1
    heard = json.loads(app.live_audio_post(LivePost(chunk, params(token=token, rate=rate))))
    assert set(heard) == {"face", "voice", "fused"} and heard["face"] == reading["face"]
    assert session.stream_seconds == pytest.approx(0.25, abs=0.01)  # the chunk went into this session
    face_bars, _, _, status = app.live_bars(session, gr.EventData(None, {"token": token}), None)
    assert face_bars["label"] in {*EMOTIONS, "uncertain"} and status.endswith("1 face · no speech")

    wrong = "f" * app.FRAME_TOKEN_CHARS
    assert json.loads(app.live_frame_post(LivePost(frame, params(token=wrong, number=3)))) == {
        "number": 3, "dropped": True}
    for body, query in ((chunk, params(token=wrong, rate=rate)), (chunk[:-1], params(token=token, rate=rate)),
                        (chunk, params(token=token, rate=1)), (chunk * 9, params(token=token, rate=rate))):
        assert json.loads(app.live_audio_post(LivePost(body, query))) == {"dropped": True}, query
    assert session.stream_seconds == pytest.approx(0.25, abs=0.01)


def test_live_routes_answer_their_posts_on_threads_of_their_own_and_pass_the_rest_on():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from emotion_core.live_routes import LiveRoutes

    seen = []

    def echo(post: LivePost) -> str:
        seen.append(threading.current_thread().name)
        return json.dumps({"bytes": len(post.body), **post.params})

    everything = Route("/{path:path}", lambda request: PlainTextResponse("inner"), methods=["GET", "POST"])
    inner = Starlette(routes=[everything])
    with TestClient(LiveRoutes(inner, {"/live/frame": echo}, threads=2, max_bytes=1000)) as client:
        answer = client.post("/live/frame?token=ab&number=7", content=b"x" * 10)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert answer.headers["server-timing"].startswith("handler;dur=")  # the page can split a frame's time
        assert answer.json() == {"bytes": 10, "token": "ab", "number": "7"}
        assert seen[0] != threading.main_thread().name and "loop" not in seen[0].lower()  # a worker thread
        assert client.get("/live/frame").text == client.post("/other", content=b"x").text == "inner"
        assert client.post("/live/frame", content=b"x" * 1001).status_code == 413 and len(seen) == 1


def test_at_most_the_stream_limit_of_frames_are_analysed_at_once(face_photo):
    import app

    sent = jpeg(small(face_photo, app.SEND_WIDTH))
    app.live_frame(sent, 1, None, LiveSession())  # models loaded: a frame now takes well under a second
    answers = []
    worker = threading.Thread(target=lambda: answers.append(app.live_frame(sent, 1, None, LiveSession())))
    for _ in range(app.STREAM_CONCURRENCY):  # every slot taken by other sessions' frames
        app._frame_analyses.acquire()
    try:
        worker.start()
        worker.join(3.0)
        assert not answers  # waits for a slot
    finally:
        for _ in range(app.STREAM_CONCURRENCY):
            app._frame_analyses.release()
    worker.join(60)
    assert len(json.loads(answers[0])["boxes"]) == 1


def test_a_snapshot_is_the_frame_annotated_inline(face_photo):
    import app

    picture = app.live_snapshot(data_url(face_photo, 90))
    assert picture["path"] is None and picture["url"].startswith("data:image/jpeg;base64,")
    annotated = decode_data_url(picture["url"])
    assert annotated.shape == face_photo.shape and np.abs(annotated.astype(int) - face_photo).max() > 100
    with pytest.raises(Exception, match="camera is off"):
        app.live_snapshot(None)


def test_the_server_polls_its_queue_calmly_and_keeps_blas_to_one_thread():
    from threadpoolctl import threadpool_info

    import app

    blocks = gr.Blocks()
    with blocks:
        gr.Markdown("calm")
    limiter = app.calm_server(blocks.queue())
    try:
        queue = blocks._queue
        assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (app.QUEUE_POLL_SECONDS,
                                                                                 app.PROGRESS_POLL_SECONDS)
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and set(blas) == {app.BLAS_THREADS}  # numpy's OpenBLAS is loaded: the limit reached it
    finally:
        limiter.restore_original_limits()
