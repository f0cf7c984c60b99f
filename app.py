"""Gradio front end: live webcam + microphone, image, audio and video views, and the API endpoints.

This file only adapts Gradio's types to emotion_core calls and lays out the page.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pandas as pd

import emotion_core
from emotion_core.audio import load_audio
from emotion_core.fusion import Fused
from emotion_core.images import load_image
from emotion_core.live import LiveSession, TimelinePoint
from emotion_core.overlay import draw_faces
from emotion_core.reading import UNCERTAIN, fused_reading, reading
from emotion_core.timeline import EMOTION_COLOURS, plot_timeline, summarize, write_csv, write_json
from emotion_core.video import DEFAULT_FRAMES_PER_SECOND, MAX_FRAMES_PER_SECOND, MAX_VIDEO_SECONDS, VIDEO_SUFFIXES

FRAME_EVERY = 0.1  # seconds between webcam frames sent by the browser (fewer while one is being analysed)
AUDIO_EVERY = 0.25  # seconds of microphone audio per chunk
LIVE_TIME_LIMIT = float(os.environ.get("EMOTION_LIVE_TIME_LIMIT", "300"))  # seconds; Start goes on
STREAM_CONCURRENCY = 8  # live sessions analysed at once (each has a webcam and a microphone stream)
TIMELINE_EVERY = 1.0  # seconds between timeline redraws
LIVE_JPEG_QUALITY = 80
MAX_FILE_SIZE = "25mb"  # larger uploads are refused (HTTP 413) before any handler runs
QUEUE_MAX_SIZE = 64  # requests waiting at once, all endpoints together; more are told the queue is full
IMAGE_CONCURRENCY = 2  # /analyze_image requests run at once (the detector and models are shared)
AUDIO_CONCURRENCY = 2  # /analyze_audio requests run at once
VIDEO_CONCURRENCY = 1  # /analyze_video requests run at once: each decodes a whole file
CACHE_MAX_AGE = int(os.environ.get("EMOTION_CACHE_MAX_AGE", "600"))  # seconds uploads and results are kept
DROPPED_CHUNK_SECONDS = 30  # a live microphone chunk still unread after this was dropped by Gradio
DROPPED_CHUNK_MAX_BYTES = 200_000  # live chunks are a fraction of a second; longer recordings are not chunks
CHUNK_SWEEP_EVERY = 10.0  # seconds between sweeps of the upload cache for dropped chunks
WEBCAM_CONSTRAINTS = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}
TIMELINE_LANES = {"face": "face", "fused": "face + voice", "voice": "voice"}  # channel -> row of the plot
TIMELINE_COLUMNS = ["seconds", "channel", "emotion"]
TIMELINE_COLOURS = {**EMOTION_COLOURS, UNCERTAIN: "#555555"}  # uncertain: dark grey (neutral is mid grey)
DELETE_CACHE = (max(1, CACHE_MAX_AGE // 10), CACHE_MAX_AGE)  # (sweep every, delete older than); all at exit
VIDEO_OUTPUT_PREFIX = "emotion-video-"
VIDEO_ANALYSIS_SHARE = 0.6  # of the progress bar, when an annotated video is drawn afterwards

# Start and Stop press the webcam's and microphone's own record buttons, so one click drives both;
# Start also presses Stop when the time limit is up.
START_JS = """async (...inputs) => {
  const q = (selector) => document.querySelector(selector);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  q('#live-webcam [title="grant webcam access"] button')?.click();
  for (let waited = 0; waited < 10000 && !q("#live-webcam button.capture-button"); waited += 100) await sleep(100);
  const camera = q("#live-webcam button.capture-button");
  if (camera && !camera.querySelector('[title="stop recording"]')) camera.click();
  for (let attempt = 0; attempt < 5 && q("#live-microphone button.record-button"); attempt++) {
    // Just after the page loads, the microphone's recorder may not be loaded yet: that click fails.
    let failed = false;
    const onFailure = () => { failed = true; };
    window.addEventListener("unhandledrejection", onFailure);
    q("#live-microphone button.record-button").click();
    await sleep(1000);
    window.removeEventListener("unhandledrejection", onFailure);
    if (!failed) break;
    q("#live-microphone button.stop-button")?.click();
    await sleep(500);
  }
  clearTimeout(window.liveStopTimer);
  window.liveStopTimer = setTimeout(() => q("#live-stop")?.click(), LIMIT_MS);
  return inputs;
}"""
STOP_JS = """async (...inputs) => {
  clearTimeout(window.liveStopTimer);
  const camera = document.querySelector("#live-webcam button.capture-button");
  if (camera?.querySelector('[title="stop recording"]')) camera.click();
  document.querySelector("#live-microphone button.stop-button")?.click();
  await new Promise((resolve) => setTimeout(resolve, 300));  // let frames in flight land first
  return inputs;
}"""

_live_sessions: weakref.WeakValueDictionary[str, LiveSession] = weakref.WeakValueDictionary()


def gradio_cache_dir() -> Path:
    """Gradio's upload and result cache (GRADIO_TEMP_DIR), made if missing."""
    cache = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def cached_jpeg(frame: np.ndarray, quality: int = 90) -> str:
    """Write an RGB frame as a JPEG file of its own in Gradio's cache; returns its path.

    Given an array, Gradio names the file after its content and rewrites it in place: two users with
    the same result at once (the same photo) race, and one gets a truncated download. A file of our
    own is served as it is, and deleted with the rest of the cache (DELETE_CACHE).
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
        samples, rate = load_audio(path)
        result = emotion_core.analyze_speech(samples, rate)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    if not result.activity.has_speech:
        gr.Warning("No speech found in this recording.")
    return bars(result.scores, "no speech"), result.to_dict()


def video_output_dir() -> Path:
    """A fresh folder inside Gradio's cache: Gradio serves the results from there without copying them,
    and deletes them with the uploads (DELETE_CACHE). Empty folders left by earlier runs are removed."""
    cache = gradio_cache_dir()
    for old in cache.glob(f"{VIDEO_OUTPUT_PREFIX}*"):
        if old.is_dir() and not any(old.iterdir()):
            old.rmdir()
    return Path(tempfile.mkdtemp(prefix=VIDEO_OUTPUT_PREFIX, dir=cache))


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
    out_dir = video_output_dir()
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
                             (analysis.info.has_audio and not analysis.has_speech, "No speech found in the sound.")):
        if missing:
            gr.Warning(message)
    result = {"video": analysis.info.to_dict(), "segments": len(analysis.segments), **summary.to_dict()}
    return (video_summary_text(analysis, summary), video_shares(summary), str(picture),
            str(annotated) if annotated else None, [str(f) for f in files + ([annotated] if annotated else [])], result)


def bars(scores: dict[str, float], missing: str) -> dict:
    """Scores -> a gr.Label value headed by the reading ("uncertain" when unsure), or by ``missing``."""
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    return {"label": reading(scores) or missing,
            "confidences": [{"label": name, "confidence": value} for name, value in ranked]}


def fused_value(face_scores: dict[str, float], voice_scores: dict[str, float], fused: Fused) -> dict:
    """The fused gr.Label value: headed by the fused reading, or by the channels' disagreement
    ("face: happy · voice: sad"); when both channels count, each one's weight follows the emotions."""
    value = bars(fused.scores, "nothing to read")
    value["label"] = fused_reading(face_scores, voice_scores, fused.scores) or "nothing to read"
    if face_scores and voice_scores:
        value["confidences"] += [{"label": f"{channel} weight", "confidence": weight}
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


def live_frame(frame: np.ndarray | None, session: LiveSession, request: gr.Request):
    """A webcam frame -> annotated frame, face and fused bars, status (raw payloads: postprocess is off)."""
    remember(session, request)
    if frame is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    state = session.add_frame(frame)
    if state.paused:
        return gr.skip(), gr.skip(), gr.skip(), state.status()
    return (jpeg_image(draw_faces(frame, state.faces)),
            bars(state.face_scores, "no face"), fused_value(state.face_scores, state.voice_scores, state.fused),
            state.status())


_last_chunk_sweep = [0.0]
_chunk_sweep_lock = threading.Lock()


def remove_dropped_chunks(chunk: Path, now: float, older_than: float = DROPPED_CHUNK_SECONDS,
                          max_bytes: int = DROPPED_CHUNK_MAX_BYTES) -> int:
    """Delete microphone chunks that Gradio replaced before they were read; returns how many.

    Gradio stores each upload as ``<cache>/<hash>/<name>``. A chunk that arrives while the previous
    one is still being analysed replaces it unread, so that file would wait for the cache sweep;
    any small file with the chunk's name older than ``older_than`` seconds is such a one.
    """
    removed = 0
    for other in chunk.parent.parent.glob(f"*/{chunk.name}"):
        try:
            info = other.stat()
            if now - info.st_mtime > older_than and info.st_size <= max_bytes:
                other.unlink()
                removed += 1
        except FileNotFoundError:  # another session's sweep got there first
            continue
    return removed


def sweep_dropped_chunks(chunk: Path) -> None:
    """Run :func:`remove_dropped_chunks` at most every CHUNK_SWEEP_EVERY seconds, whoever calls."""
    now = time.time()
    with _chunk_sweep_lock:
        if now - _last_chunk_sweep[0] < CHUNK_SWEEP_EVERY:
            return
        _last_chunk_sweep[0] = now
    remove_dropped_chunks(chunk, now)


def live_audio(path: str | None, session: LiveSession, request: gr.Request):
    """A microphone chunk (a short wav Gradio uploaded) -> voice and fused bars, status; the file is deleted."""
    remember(session, request)
    if not path:
        return gr.skip(), gr.skip(), gr.skip()
    try:
        samples, rate = load_audio(path)
    except ValueError:  # unreadable, or already taken: byte-identical chunks share one cached file
        return gr.skip(), gr.skip(), gr.skip()
    finally:
        Path(path).unlink(missing_ok=True)  # nothing the user streams stays on disk
        sweep_dropped_chunks(Path(path))
    state = session.add_audio(samples, rate)
    if state.paused:
        return gr.skip(), gr.skip(), state.status()
    fused = fused_value(state.face_scores, state.voice_scores, state.fused)
    return bars(state.voice_scores, "no speech"), fused, state.status()


def live_timeline(session: LiveSession, drawn: int):
    """Redraw the timeline when it has new points (a gr.Timer calls this about once a second)."""
    version, points = session.timeline()
    if version == drawn:
        return gr.skip(), drawn
    return timeline_frame(points), version


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
    """Reset: clear the bars, the frame and the timeline (streaming goes on if it was on)."""
    session.reset()
    return None, None, None, None, "reset", timeline_frame([]), 0


def new_live_session() -> LiveSession:
    """A fresh live session for a page that just loaded."""
    return LiveSession(time_limit=LIVE_TIME_LIMIT)


def forget_live_session(request: gr.Request) -> None:
    """The tab was closed: wipe its live session now (Gradio keeps a closed tab's state for an hour)."""
    session = _live_sessions.pop(request.session_hash, None) if request.session_hash else None
    if session is not None:
        session.reset()


def build_live_tab(demo: gr.Blocks) -> None:
    """The Live tab: webcam and microphone streams, bars, status, timeline; Start, Stop, Reset."""
    limit = f"{LIVE_TIME_LIMIT / 60:g} minutes" if LIVE_TIME_LIMIT % 60 == 0 else f"{LIVE_TIME_LIMIT:g} seconds"
    gr.Markdown("Press **Start** and allow the camera and microphone (or use their own record buttons). "
                f"Streams stop after {limit}; press Start to go on. Nothing you stream is stored.")
    session = gr.State()  # a LiveSession per page, made by the private load event below
    drawn = gr.State(0)
    with gr.Row():
        webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="live-webcam",
                          webcam_options=gr.WebcamOptions(mirror=True, constraints=WEBCAM_CONSTRAINTS))
        annotated = gr.Image(label="Faces", interactive=False, elem_id="live-faces")
    with gr.Row():
        start = gr.Button("Start", variant="primary", elem_id="live-start")
        stop = gr.Button("Stop", elem_id="live-stop")
        reset = gr.Button("Reset", elem_id="live-reset")
    microphone = gr.Audio(sources=["microphone"], streaming=True, type="filepath", label="Microphone",
                          elem_id="live-microphone")
    status = gr.Textbox(label="Reading", interactive=False, elem_id="live-status")
    with gr.Row():
        face_bars = gr.Label(label="Face (largest)", elem_id="live-face-scores")
        voice_bars = gr.Label(label="Voice (last 3 s)", elem_id="live-voice-scores")
        fused_bars = gr.Label(label="Face + voice", elem_id="live-fused-scores")
    timeline = gr.ScatterPlot(timeline_frame([]), x="seconds", y="channel", color="emotion",
                              color_map=TIMELINE_COLOURS, label="Timeline (last minute)", elem_id="live-timeline")
    timer = gr.Timer(TIMELINE_EVERY)
    # postprocess=False: the functions return the browser's payloads themselves (inline JPEG, labels).
    webcam.stream(live_frame, [webcam, session], [annotated, face_bars, fused_bars, status],
                  stream_every=FRAME_EVERY, time_limit=LIVE_TIME_LIMIT, concurrency_limit=STREAM_CONCURRENCY,
                  postprocess=False, show_progress="hidden", api_visibility="private")
    microphone.stream(live_audio, [microphone, session], [voice_bars, fused_bars, status],
                      stream_every=AUDIO_EVERY, time_limit=LIVE_TIME_LIMIT, concurrency_limit=STREAM_CONCURRENCY,
                      postprocess=False, show_progress="hidden", api_visibility="private")
    timer.tick(live_timeline, [session, drawn], [timeline, drawn], show_progress="hidden",
               concurrency_limit=None, api_visibility="private")
    start.click(live_start, session, status, js=START_JS.replace("LIMIT_MS", str(int(LIVE_TIME_LIMIT * 1000))),
                api_visibility="private")
    stop.click(live_stop, session, status, js=STOP_JS, api_visibility="private")
    reset.click(live_reset, session, [annotated, face_bars, voice_bars, fused_bars, status, timeline, drawn],
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


demo = build_demo()

if __name__ == "__main__":
    emotion_core.load_models()
    demo.queue(default_concurrency_limit=4, max_size=QUEUE_MAX_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),  # loopback unless asked (Spaces asks)
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_FILE_SIZE,
    )
