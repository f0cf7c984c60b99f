"""Gradio front end: live webcam + microphone, image, audio and video views, and the API endpoints.

This file only adapts Gradio's types to emotion_core calls and lays out the page.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import emotion_core
from emotion_core.audio import SAMPLE_RATE, load_audio
from emotion_core.fusion import Fused
from emotion_core.images import decode_data_url, decode_image_bytes, load_image
from emotion_core.live import LiveSession, TimelinePoint
from emotion_core.live_routes import LivePost, LiveRoutes
from emotion_core.live_view import ChannelReadings, FrameReading, frame_reading
from emotion_core.overlay import BOX_COLOUR, TEXT_COLOUR, draw_faces
from emotion_core.reading import UNCERTAIN, fused_reading, reading
from emotion_core.timeline import EMOTION_COLOURS, plot_timeline, summarize, write_csv, write_json
from emotion_core.upload_cache import FOLDER_ENV, CacheLimits, UploadCache, cache_folder, claim_folder
from emotion_core.upload_guard import UploadGuard
from emotion_core.video import DEFAULT_FRAMES_PER_SECOND, MAX_FRAMES_PER_SECOND, MAX_VIDEO_SECONDS, VIDEO_SUFFIXES

# The app's own cache folder, unless GRADIO_TEMP_DIR names one: set before Gradio is imported, which reads it then.
os.environ.setdefault(FOLDER_ENV, str(cache_folder()))
import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

FRAME_EVERY = 0.08  # seconds between webcam frames sent by the browser (fewer while two are unanswered)
# What the page sends: the preview shrunk to SEND_WIDTH pixels wide, JPEG at SEND_QUALITY (chosen on
# FER2013 PrivateTest faces in frames: benchmarks/live_downscale.py, reports/live/downscale.json).
SEND_WIDTH = 224
SEND_QUALITY = 0.75
MAX_IN_FLIGHT = 2  # unanswered frames per page (the second only while the link is slower than the server)
FRAME_STALE = 2.0  # seconds after which an unanswered frame no longer counts as in flight
BARS_EVERY = 0.5  # seconds between bar and status updates (the overlay gets every reading)
FRAME_ROUTE, AUDIO_ROUTE = "/live/frame", "/live/audio"  # the page POSTs frames and microphone chunks here
FRAME_TOKEN_CHARS = 32  # hex digits of the token a page's frames carry (128 random bits)
SNAPSHOT_QUALITY = 0.9
LIVE_PAGE = Path(__file__).resolve().parent / "ui"  # the Live preview's HTML, CSS and script
AUDIO_EVERY = 0.25  # seconds of microphone audio per chunk (the page sends what gathered while one was in flight)
MAX_CHUNK_SECONDS = 2.0  # a longer chunk is refused (the page keeps only this much while one is in flight)
LIVE_TIME_LIMIT = float(os.environ.get("EMOTION_LIVE_TIME_LIMIT", "300"))  # seconds; Start goes on
STREAM_CONCURRENCY = 8  # live frames analysed at once (all sessions together), and live requests handled at once
TIMELINE_EVERY = 1.0  # seconds between timeline redraws, while the page streams
LIVE_JPEG_QUALITY = 80  # the annotated snapshot, sent inline
MAX_FILE_SIZE = "25mb"  # larger uploads are refused (HTTP 413) before any handler runs
QUEUE_MAX_SIZE = 64  # requests waiting at once, all endpoints together; more are told the queue is full
IMAGE_CONCURRENCY = 2  # /analyze_image requests run at once (the detector and models are shared)
AUDIO_CONCURRENCY = 2  # /analyze_audio requests run at once
VIDEO_CONCURRENCY = 1  # /analyze_video requests run at once: each decodes a whole file
CACHE_LIMITS = CacheLimits.from_env()  # retention, bytes in all and per client (EMOTION_CACHE_*)
WEBCAM_CONSTRAINTS = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}
TIMELINE_LANES = {"face": "face", "fused": "face + voice", "voice": "voice"}  # channel -> row of the plot
TIMELINE_COLUMNS = ["seconds", "channel", "emotion"]
TIMELINE_COLOURS = {**EMOTION_COLOURS, UNCERTAIN: "#555555"}  # uncertain: dark grey (neutral is mid grey)
# Gradio's own sweep is kept only for its wipe at exit (it knows every file it handed out); within a day the
# cache's sweep has deleted all it would, and unlike Gradio's it spares files that running requests use.
DELETE_CACHE = (86_400, 86_400)  # (sweep every, delete older than), seconds
VIDEO_OUTPUT_PREFIX = "emotion-video-"
VIDEO_ANALYSIS_SHARE = 0.6  # of the progress bar, when an annotated video is drawn afterwards
# How often Gradio's queue looks for waiting events and for progress to send while it has none: its own
# 1 ms and 10 ms woke the server 1,100 times a second, 46 ms of CPU a second with no one connected, taken
# from the live frames' analysis (reports/live/REPORT.md). An event now starts at most this much later.
QUEUE_POLL_SECONDS = 0.01
PROGRESS_POLL_SECONDS = 0.1
BLAS_THREADS = 1  # the server's requests already run side by side on threads of their own

# Start and Stop start and stop the preview's camera and microphone (ui/live_view.js); Start also presses
# Stop when the time limit is up.
START_JS = """async (...inputs) => {
  await window.liveView?.start();
  clearTimeout(window.liveStopTimer);
  window.liveStopTimer = setTimeout(() => document.querySelector("#live-stop")?.click(), LIMIT_MS);
  return inputs;
}"""
STOP_JS = """async (...inputs) => {
  clearTimeout(window.liveStopTimer);
  await window.liveView?.stop();  // the last microphone chunk lands first
  return inputs;
}"""
SNAPSHOT_JS = "() => [window.liveView?.snapshot() ?? null]"

_live_sessions: weakref.WeakValueDictionary[str, LiveSession] = weakref.WeakValueDictionary()
_frame_tokens: weakref.WeakValueDictionary[str, LiveSession] = weakref.WeakValueDictionary()  # page token -> session
# Webcam frames and microphone chunks skip Gradio (plain POSTs: live_frame_post, live_audio_post), so this,
# not the queue's concurrency limit, caps how many frames are analysed at once.
_frame_analyses = threading.BoundedSemaphore(STREAM_CONCURRENCY)
CACHE = UploadCache(cache_folder(), CACHE_LIMITS)  # uploads and results: swept, capped, held while in use


def gradio_cache_dir() -> Path:
    """The upload and result cache Gradio and the app share (GRADIO_TEMP_DIR), made if missing."""
    CACHE.folder.mkdir(parents=True, exist_ok=True)
    return CACHE.folder


@contextlib.asynccontextmanager
async def sweep_cache(app):
    """Server lifespan: sweep the cache at start-up (what earlier runs left, crashed ones too), then every
    few seconds until the server stops."""
    report = CACHE.start()
    print(f"Cache {CACHE.folder}: {report.deleted_files} files older than {CACHE_LIMITS.max_age:g} s deleted "
          f"at start-up; {report.kept_files} kept ({report.kept_bytes / 1e6:.1f} MB); swept every "
          f"{CACHE_LIMITS.sweep_every:g} s; at most {CACHE_LIMITS.max_bytes / 1e6:g} MB, "
          f"{CACHE_LIMITS.client_max_bytes / 1e6:g} MB per client.", flush=True)
    try:
        yield
    finally:
        CACHE.stop()


def cached_jpeg(frame: np.ndarray, quality: int = 90) -> str:
    """Write an RGB frame as a JPEG file of its own in Gradio's cache; returns its path.

    Given an array, Gradio names the file after its content and rewrites it in place: two users with
    the same result at once (the same photo) race, and one gets a truncated download. A file of our
    own is served as it is, and deleted with the rest of the cache.
    """
    cache = gradio_cache_dir()
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(frame[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise gr.Error("Could not encode the annotated image.")
    handle, path = tempfile.mkstemp(prefix="emotion-faces-", suffix=".jpg", dir=cache)
    with os.fdopen(handle, "wb") as output:
        output.write(jpeg.tobytes())
    return path


def analyze_image(image: dict | str | None) -> tuple[str, dict]:
    """Image file -> (annotated image, {"faces": [...]}).

    Gradio hands over the upload undecoded (``preprocess=False``: a FileData dict), so that a broken
    or unusual file is read by load_image and gets its specific message rather than a generic error.
    """
    path = image.get("path") if isinstance(image, dict) else image
    if not path:
        raise gr.Error("No image was given: upload one, take a webcam snapshot or paste one.")
    try:
        with CACHE.hold(path):
            frame = load_image(path)
        faces = emotion_core.analyze_frame(frame)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    result = {"faces": [face.to_dict() for face in faces], "width": frame.shape[1], "height": frame.shape[0]}
    if not faces:
        gr.Warning("No face found in this image.")
    return cached_jpeg(draw_faces(frame, faces)), result


def analyze_audio(path: str | None) -> tuple[dict, dict]:
    """Audio file -> (bars headed by the reading, full result); raw payloads: postprocess is off."""
    if not path:
        raise gr.Error("No audio was given: upload a file or record from the microphone.")
    try:
        with CACHE.hold(path):
            samples, rate = load_audio(path)
        result = emotion_core.analyze_speech(samples, rate)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    if not result.activity.has_speech:
        gr.Warning("No speech found in this recording.")
    elif result.in_loud_noise:
        gr.Warning("The speech is drowned in noise: the voice cannot be read reliably here.")
    return bars(result.scores, "no speech"), result.to_dict()


def video_output_dir() -> Path:
    """A fresh folder inside the cache: Gradio serves the results from there without copying them, and
    the cache's sweep deletes them with the uploads (empty folders too)."""
    return Path(tempfile.mkdtemp(prefix=VIDEO_OUTPUT_PREFIX, dir=gradio_cache_dir()))


def video_shares(summary: emotion_core.VideoSummary) -> pd.DataFrame:
    """Share of each channel's time (with a reading) per emotion, in percent, one row per emotion."""
    rows = [[name, *(round(100 * c.shares.get(name, 0.0)) if c.shares else None for c in summary.channels())]
            for name in emotion_core.EMOTIONS]
    return pd.DataFrame(rows, columns=["emotion", "face %", "voice %", "face + voice %"])


def video_summary_text(analysis: emotion_core.VideoAnalysis, summary: emotion_core.VideoSummary) -> str:
    dominant = summary.dominant or "nothing to read"
    share = f" ({summary.fused.shares[dominant]:.0%} of the time)" if summary.dominant else ""
    return (f"Mostly {dominant}{share}. Face seen {summary.face.coverage:.0%} of the time, speech heard "
            f"{summary.voice.coverage:.0%}. {analysis.duration:.1f} s at {analysis.frames_per_second:g} frames/s.")


def analyze_video(path: str | None, frames_per_second: float = DEFAULT_FRAMES_PER_SECOND, annotate: bool = True,
                  progress=gr.Progress()):  # noqa: B008 (Gradio injects the progress tracker this way)
    """Video file -> (summary, shares table, timeline PNG, annotated video, [CSV, JSON, video], summary dict)."""
    if not path:
        raise gr.Error("No video was given: upload one or record a clip with the webcam.")
    with CACHE.hold(path):  # the video is read twice (analysis, then the annotated copy)
        out_dir = video_output_dir()
        with CACHE.hold(out_dir):
            return analyze_video_file(path, out_dir, frames_per_second, annotate, progress)


def analyze_video_file(path: str, out_dir: Path, frames_per_second: float, annotate: bool, progress):
    """:func:`analyze_video` once the upload and the results' folder are held."""
    share = VIDEO_ANALYSIS_SHARE if annotate else 1.0
    try:
        analysis = emotion_core.analyze_video(path, frames_per_second,
                                              progress=lambda f, message: progress(share * f, desc=message))
        stem = Path(analysis.info.name).stem or "video"
        annotated = None
        if annotate:
            annotated = emotion_core.write_annotated_video(
                path, analysis, out_dir / f"{stem}-annotated.mp4",
                progress=lambda f, message: progress(share + (1 - share) * f, desc=message))
    except ValueError as error:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise gr.Error(str(error)) from None
    summary = summarize(analysis)
    picture = plot_timeline(analysis, out_dir / f"{stem}-timeline.png", title=analysis.info.name)
    files = [write_csv(analysis, out_dir / f"{stem}-segments.csv"), write_json(analysis, out_dir / f"{stem}.json")]
    for missing, message in ((not analysis.has_face, "No face found in this video."),
                             (not analysis.info.has_audio, "This video has no audio track: face only."),
                             (analysis.info.has_audio and not analysis.has_speech, "No speech found in the sound."),
                             (analysis.in_loud_noise, "The speech is drowned in noise: the voice cannot be read "
                                                      "reliably here.")):
        if missing:
            gr.Warning(message)
    result = {"video": analysis.info.to_dict(), "segments": len(analysis.segments), **summary.to_dict()}
    return (video_summary_text(analysis, summary), video_shares(summary), str(picture),
            str(annotated) if annotated else None, [str(f) for f in files + ([annotated] if annotated else [])], result)


def bars(scores: dict[str, float], missing: str, digits: int | None = None) -> dict:
    """Scores -> a gr.Label value headed by the reading ("uncertain" when unsure), or by ``missing``.

    ``digits`` rounds the confidences (the live view's bars, sent several times a second).
    """
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    return {"label": reading(scores) or missing,
            "confidences": [{"label": name, "confidence": value if digits is None else round(value, digits)}
                            for name, value in ranked]}


def fused_value(face_scores: dict[str, float], voice_scores: dict[str, float], fused: Fused,
                digits: int | None = None) -> dict:
    """The fused gr.Label value: headed by the fused reading, or by the channels' disagreement
    ("face: happy · voice: sad"); when both channels count, each one's weight follows the emotions."""
    value = bars(fused.scores, "nothing to read", digits)
    value["label"] = fused_reading(face_scores, voice_scores, fused.scores) or "nothing to read"
    if face_scores and voice_scores:
        value["confidences"] += [
            {"label": f"{channel} weight", "confidence": weight if digits is None else round(weight, digits)}
            for channel, weight in (("face", fused.face_weight), ("voice", fused.voice_weight))]
    return value


def jpeg_image(frame: np.ndarray) -> dict:
    """An RGB frame -> a gr.Image value carrying the JPEG inline, so it never goes to Gradio's file cache."""
    bgr = np.ascontiguousarray(frame[:, :, ::-1])
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, LIVE_JPEG_QUALITY])
    if not ok:
        raise gr.Error("Could not encode the annotated frame.")
    return {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii"), "path": None,
            "meta": {"_type": "gradio.FileData"}}


def timeline_frame(points: list[TimelinePoint]) -> pd.DataFrame:
    """Timeline points -> one row per channel with a reading: seconds, channel, emotion (or "uncertain").

    The first rows hold every colour with no time: the plot fixes its colours when first drawn, so
    each of them must be there from the start (rows without a time are not drawn).
    """
    anchors = [(np.nan, TIMELINE_LANES["face"], name) for name in TIMELINE_COLOURS]
    rows = [(point.seconds, TIMELINE_LANES[channel], getattr(point, channel))
            for point in points for channel in TIMELINE_LANES if getattr(point, channel)]
    return pd.DataFrame(anchors + rows, columns=TIMELINE_COLUMNS).astype(
        {"seconds": float, "channel": str, "emotion": str})


def remember(session: LiveSession, request: gr.Request | None) -> None:
    """Note which browser session owns ``session``, so that closing its tab can wipe it."""
    if request is not None and request.session_hash:
        _live_sessions[request.session_hash] = session


def live_frame(jpeg: bytes, number: int, preview: tuple[int, int] | None, session: LiveSession) -> str:
    """Frame ``number`` the page sent (an encoded image) -> the reading for its overlay, as JSON.

    ``preview`` is the ``(width, height)`` of the video the page shows (boxes come back in its pixels;
    ``None``: the frame's own). A frame that a newer one overtook, that arrives stopped, or that is no
    image is answered as dropped, so the page stops waiting for it.
    """
    try:
        frame = decode_image_bytes(jpeg)
    except ValueError:
        return FrameReading(number, dropped=True).to_json()
    with _frame_analyses:
        state = session.add_newest_frame(frame, number)
    if state is None or state.paused:
        return FrameReading(number, dropped=True).to_json()
    size = (frame.shape[1], frame.shape[0])
    return frame_reading(state, number, size, preview or size).to_json()


def query_int(params: dict[str, str], name: str) -> int:
    """An integer query parameter; 0 when absent or not a number."""
    value = params.get(name, "")
    return int(value) if value.isdigit() else 0


def live_frame_post(post: LivePost) -> str:
    """``POST FRAME_ROUTE?token=&number=&width=&height=`` with the JPEG as the body -> the reading as JSON.

    The token names the page's session (its bars event tied the two); a frame of no known session is
    answered as dropped. One plain request per frame, outside Gradio: through Gradio's events or server
    functions each frame also took a JSON body with the JPEG in base64 and, on an event, the queue and
    the page's event and state handling, which on a small machine cost more than the analysis itself.
    """
    number = query_int(post.params, "number")
    session = _frame_tokens.get(post.params.get("token", ""))
    if session is None:
        return FrameReading(number, dropped=True).to_json()
    width, height = query_int(post.params, "width"), query_int(post.params, "height")
    return live_frame(post.body, number, (width, height) if width and height else None, session)


def live_audio_post(post: LivePost) -> str:
    """``POST AUDIO_ROUTE?token=&rate=`` with 16-bit little-endian mono PCM as the body -> the readings as JSON.

    The chunk goes into the token's session (never to disk); the answer is what each channel reads
    as now (:class:`ChannelReadings`), or ``{"dropped": true}`` for no known session, a stopped one,
    or a body that is not a chunk at a supported rate.
    """
    session = _frame_tokens.get(post.params.get("token", ""))
    rate, size = query_int(post.params, "rate"), len(post.body) // 2
    if session is None or not size or len(post.body) % 2 or size > MAX_CHUNK_SECONDS * rate:
        return ChannelReadings.dropped_json()
    try:
        state = session.add_audio(np.frombuffer(post.body, dtype="<i2"), rate)
    except ValueError:  # a sample rate outside what the voice path takes
        return ChannelReadings.dropped_json()
    return ChannelReadings.dropped_json() if state.paused else ChannelReadings.of(state).to_json()


def live_bars(session: LiveSession, event: gr.EventData, request: gr.Request):
    """The preview's ``bars`` event (a few times a second while it streams): the three bars and the status.

    Its data is the page's token for its frames and microphone chunks (random, made by the page): it
    names this session.
    """
    remember(session, request)
    token = (event._data or {}).get("token")
    if isinstance(token, str) and len(token) == FRAME_TOKEN_CHARS:
        _frame_tokens[token] = session
    state = session.snapshot()
    if state.paused:
        return gr.skip(), gr.skip(), gr.skip(), state.status()
    fused = fused_value(state.face_scores, state.voice_scores, state.fused, digits=3)
    return (bars(state.face_scores, "no face", digits=3), bars(state.voice_scores, "no speech", digits=3), fused,
            state.status())


def live_snapshot(image: str | None):
    """A full-size frame from the preview (a data URL) -> the frame annotated, inline (never a cached file)."""
    if not image:
        raise gr.Error("The camera is off: press Start first.")
    try:
        frame = decode_data_url(image)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return jpeg_image(draw_faces(frame, emotion_core.analyze_frame(frame)))


def live_timeline(session: LiveSession, drawn: int):
    """Redraw the timeline when it has new points (the preview's ``timeline`` event: once a second while it streams)."""
    version, points = session.timeline()
    if version == drawn:
        return gr.skip(), drawn
    return timeline_frame(points), version


LIVE_ROUTES = {FRAME_ROUTE: live_frame_post, AUDIO_ROUTE: live_audio_post}  # served by LiveRoutes, outside Gradio


def live_start(session: LiveSession, request: gr.Request) -> str:
    """Start (after START_JS pressed the record buttons): the time limit counts from now."""
    remember(session, request)
    session.start()
    return "started: reading face and voice"


def live_stop(session: LiveSession) -> str:
    """Stop (after STOP_JS stopped the recording): the session's audio is dropped."""
    session.stop()
    return session.snapshot().status()


def live_reset(session: LiveSession):
    """Reset: clear the overlay, readings, bars, snapshot and timeline (streaming goes on if it was on)."""
    session.reset()
    return json.dumps({"clear": True}), None, None, None, None, "reset", timeline_frame([]), 0


def new_live_session() -> LiveSession:
    """A fresh live session for a page that just loaded."""
    return LiveSession(time_limit=LIVE_TIME_LIMIT)


def forget_live_session(request: gr.Request) -> None:
    """The tab was closed: wipe its live session now (Gradio keeps a closed tab's state for an hour)."""
    session = _live_sessions.pop(request.session_hash, None) if request.session_hash else None
    if session is not None:
        session.reset()


def live_page_config() -> dict:
    """The settings ui/live_view.js reads (its CONFIG)."""
    colour = "rgb({}, {}, {})"
    return {"frame_every_ms": round(FRAME_EVERY * 1000), "tick_ms": 100, "max_in_flight": MAX_IN_FLIGHT,
            "stale_ms": round(FRAME_STALE * 1000), "bars_every_ms": round(BARS_EVERY * 1000),
            "timeline_every_ms": round(TIMELINE_EVERY * 1000), "token_chars": FRAME_TOKEN_CHARS,
            "frame_route": FRAME_ROUTE.lstrip("/"), "audio_route": AUDIO_ROUTE.lstrip("/"),
            "send_width": SEND_WIDTH, "send_quality": SEND_QUALITY, "snapshot_quality": SNAPSHOT_QUALITY,
            "constraints": WEBCAM_CONSTRAINTS["video"], "latencies_kept": 2000, "microphone_rate": SAMPLE_RATE,
            "chunk_seconds": AUDIO_EVERY, "max_chunk_seconds": MAX_CHUNK_SECONDS,
            "box_colour": colour.format(*BOX_COLOUR), "text_colour": colour.format(*TEXT_COLOUR),
            "missing": {"face": "no face", "voice": "no speech", "fused": "nothing to read"}}

def live_preview() -> gr.HTML:
    """The live preview: the page's own video, the overlay it draws readings on, the three readings."""
    script = (LIVE_PAGE / "live_view.js").read_text().replace("LIVE_CONFIG", json.dumps(live_page_config()))
    return gr.HTML("", html_template=(LIVE_PAGE / "live_view.html").read_text(),
                   css_template=(LIVE_PAGE / "live_view.css").read_text(), js_on_load=script,
                   elem_id="live-view", apply_default_css=False)


def build_live_tab(demo: gr.Blocks) -> None:
    """The Live tab: preview with overlay, Start/Stop/Snapshot/Reset, microphone, bars, status, timeline."""
    limit = f"{LIVE_TIME_LIMIT / 60:g} minutes" if LIVE_TIME_LIMIT % 60 == 0 else f"{LIVE_TIME_LIMIT:g} seconds"
    gr.Markdown("Press **Start** and allow the camera and microphone. "
                f"Streams stop after {limit}; press Start to go on. Nothing you stream is stored.")
    session = gr.State()  # a LiveSession per page, made by the private load event below
    drawn = gr.State(0)
    view = live_preview()
    with gr.Row(equal_height=True):
        start = gr.Button("Start", variant="primary", elem_id="live-start", min_width=70)
        stop = gr.Button("Stop", elem_id="live-stop", min_width=70)
        snap = gr.Button("Snapshot", elem_id="live-snap", min_width=70)
        reset = gr.Button("Reset", elem_id="live-reset", min_width=70)
    status = gr.Textbox(label="Reading", interactive=False, elem_id="live-status")
    with gr.Row():
        face_bars = gr.Label(label="Face (largest)", elem_id="live-face-scores")
        voice_bars = gr.Label(label="Voice (last 3 s)", elem_id="live-voice-scores")
        fused_bars = gr.Label(label="Face + voice", elem_id="live-fused-scores")
    timeline = gr.ScatterPlot(timeline_frame([]), x="seconds", y="channel", color="emotion",
                              color_map=TIMELINE_COLOURS, label="Timeline (last minute)", elem_id="live-timeline")
    snapshot = gr.Image(label="Snapshot (faces annotated)", interactive=False, elem_id="live-snapshot")
    # postprocess=False: the function returns the browser's payloads itself (labels). Frames and microphone
    # chunks go to LIVE_ROUTES (plain POSTs); while it streams, the page asks for the bars and status a few
    # times a second and for the timeline once a second.
    view.bars(live_bars, session, [face_bars, voice_bars, fused_bars, status], postprocess=False,
              show_progress="hidden", concurrency_limit=None, api_visibility="private")
    view.timeline(live_timeline, [session, drawn], [timeline, drawn], show_progress="hidden",
                  concurrency_limit=None, api_visibility="private")
    start.click(live_start, session, status, js=START_JS.replace("LIMIT_MS", str(int(LIVE_TIME_LIMIT * 1000))),
                api_visibility="private")
    stop.click(live_stop, session, status, js=STOP_JS, api_visibility="private")
    snap.click(live_snapshot, view, snapshot, js=SNAPSHOT_JS, postprocess=False, concurrency_limit=IMAGE_CONCURRENCY,
               api_visibility="private")
    reset.click(live_reset, session, [view, snapshot, face_bars, voice_bars, fused_bars, status, timeline, drawn],
                api_visibility="private")
    # Not gr.State(callable): that adds a public load endpoint to the API.
    demo.load(new_live_session, None, session, show_progress="hidden", concurrency_limit=None,
              api_visibility="private")
    demo.unload(forget_live_session)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Emotion reader", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# Emotion reader\nFace and voice, read together, live. Small int8 models; "
                    "nothing you stream is stored.")
        with gr.Tab("Live"):
            build_live_tab(demo)
        with gr.Tab("Image"):
            with gr.Row():
                image_in = gr.Image(sources=["upload", "webcam", "clipboard"], type="filepath", label="Image")
                image_out = gr.Image(label="Faces", interactive=False)
            image_json = gr.JSON(label="Result")
            gr.Button("Analyse image", variant="primary").click(
                analyze_image, image_in, [image_out, image_json], api_name="analyze_image", preprocess=False,
                concurrency_limit=IMAGE_CONCURRENCY)
        with gr.Tab("Audio"):
            audio_in = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech")
            audio_bars = gr.Label(num_top_classes=7, label="Voice")
            audio_json = gr.JSON(label="Result")
            gr.Button("Analyse audio", variant="primary").click(
                analyze_audio, audio_in, [audio_bars, audio_json], api_name="analyze_audio", postprocess=False,
                concurrency_limit=AUDIO_CONCURRENCY)
        with gr.Tab("Video"):
            with gr.Row():
                video_in = gr.Video(sources=["upload", "webcam"], include_audio=True, elem_id="video-input",
                                    label=f"Video ({', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES)}; "
                                          f"up to {MAX_VIDEO_SECONDS / 60:g} min and {MAX_FILE_SIZE.upper()})")
                video_annotated = gr.Video(label="Annotated", interactive=False, elem_id="video-annotated")
            with gr.Row():
                video_fps = gr.Slider(0.5, MAX_FRAMES_PER_SECOND, value=DEFAULT_FRAMES_PER_SECOND, step=0.5,
                                      label="Frames analysed per second")
                video_draw = gr.Checkbox(value=True, label="Draw an annotated copy (takes longer)")
            video_button = gr.Button("Analyse video", variant="primary", elem_id="video-analyse")
            video_summary = gr.Textbox(label="Summary", interactive=False, elem_id="video-summary")
            with gr.Row():
                video_timeline = gr.Image(label="Timeline", type="filepath", interactive=False,
                                          elem_id="video-timeline")
                video_table = gr.Dataframe(label="Share of time per emotion", interactive=False)
            video_files = gr.File(label="Results: CSV, JSON, annotated video", file_count="multiple",
                                  interactive=False, elem_id="video-files")
            video_json = gr.JSON(label="Summary per channel")
            video_button.click(analyze_video, [video_in, video_fps, video_draw],
                               [video_summary, video_table, video_timeline, video_annotated, video_files, video_json],
                               api_name="analyze_video", concurrency_limit=VIDEO_CONCURRENCY)
    return demo


def calm_server(blocks: gr.Blocks) -> threadpool_limits:
    """Quiet what the server does besides answering: one BLAS thread (BLAS_THREADS) in this process, and the
    polling intervals of ``blocks``' queue (made by ``blocks.queue()``) set to QUEUE_POLL_SECONDS and
    PROGRESS_POLL_SECONDS (Gradio has no public setting for them; a missing one fails loudly).

    Returns threadpoolctl's limiter (its ``restore_original_limits()`` undoes the BLAS limit).
    """
    queue = blocks._queue
    for name, seconds in (("sleep_when_free", QUEUE_POLL_SECONDS),
                          ("progress_update_sleep_when_free", PROGRESS_POLL_SECONDS)):
        if not hasattr(queue, name):
            raise AttributeError(f"Gradio's queue has no {name}: see calm_server in app.py after a Gradio update")
        setattr(queue, name, seconds)
    # The voice features' one matrix product per window woke OpenBLAS's second thread, which then spun:
    # about 5 ms of CPU per live reading for nothing (the product takes as long on one thread).
    # audio.log_mel holds BLAS to one thread around the product for every caller; the server also sets
    # it for the whole process, so requests running side by side never switch the setting back and forth.
    return threadpool_limits(BLAS_THREADS, user_api="blas")


demo = build_demo()

if __name__ == "__main__":
    claim_folder(CACHE.folder)  # fails at once, saying why, for a folder that holds someone else's files
    calm_server(demo.queue(default_concurrency_limit=4, max_size=QUEUE_MAX_SIZE))
    emotion_core.load_models()
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),  # loopback unless asked (Spaces asks)
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_FILE_SIZE,
        # every upload is charged to its client and refused past a cap before it is stored
        app_kwargs={"middleware": [Middleware(LiveRoutes, routes=LIVE_ROUTES, threads=STREAM_CONCURRENCY),
                                   Middleware(UploadGuard, cache=CACHE)], "lifespan": sweep_cache},
    )
