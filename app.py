"""Gradio front end: live webcam + microphone, image and audio views, and the API endpoints.

This file only adapts Gradio's types to emotion_core calls and lays out the page.
"""

from __future__ import annotations

import os

import gradio as gr
import numpy as np
import pandas as pd

import emotion_core
from emotion_core.audio import load_audio
from emotion_core.images import load_image
from emotion_core.live import LiveSession, LiveState
from emotion_core.overlay import draw_faces

STREAM_EVERY = 0.1  # seconds between webcam frames sent by the browser
AUDIO_STREAM_EVERY = 0.25
STREAM_TIME_LIMIT = 300  # seconds; the stream stops and can be restarted
STREAM_CONCURRENCY = 8  # live sessions analysed at once
MAX_FILE_SIZE = "25mb"
WEBCAM_CONSTRAINTS = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}
TIMELINE_COLUMNS = ["seconds", "emotion", "channel"]


def analyze_image(path: str | None) -> tuple[np.ndarray, dict]:
    """Image file -> (annotated image, {"faces": [...]})."""
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
    return draw_faces(frame, faces), result


def analyze_audio(path: str | None) -> tuple[dict, dict]:
    """Audio file -> (scores for the bars, full result)."""
    if not path:
        raise gr.Error("No audio was given: upload a file or record from the microphone.")
    try:
        samples, rate = load_audio(path)
        result = emotion_core.analyze_speech(samples, rate)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    if not result.activity.has_speech:
        gr.Warning("No speech found in this recording.")
    return result.scores, result.to_dict()


def timeline_frame(state: LiveState) -> pd.DataFrame:
    rows = [(p.seconds, label, channel) for p in state.timeline
            for channel, label in (("face", p.face), ("voice", p.voice), ("fused", p.fused)) if label]
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def live_frame(frame: np.ndarray | None, session: LiveSession | None):
    session = session or LiveSession()
    if frame is None:
        return None, gr.skip(), gr.skip(), gr.skip(), gr.skip(), session
    state = session.add_frame(frame)
    return (draw_faces(frame, state.faces), state.face_scores or None, state.fused_scores or None,
            state.status(), timeline_frame(state), session)


def live_audio(chunk: tuple[int, np.ndarray] | None, session: LiveSession | None):
    session = session or LiveSession()
    if chunk is None:
        return gr.skip(), gr.skip(), session
    rate, samples = chunk
    state = session.add_audio(samples, rate)
    return state.voice_scores or None, state.status(), session


def reset_live(session: LiveSession | None):
    if session is not None:
        session.reset()
    empty = pd.DataFrame([], columns=TIMELINE_COLUMNS)
    return None, None, None, None, "stopped", empty, session


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Emotion reader") as demo:
        gr.Markdown("# Emotion reader\nFace and voice, read together, live. Small int8 models; "
                    "nothing you stream is stored.")
        with gr.Tab("Live"):
            session = gr.State(None)
            with gr.Row():
                webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam",
                                  webcam_options=gr.WebcamOptions(mirror=True, constraints=WEBCAM_CONSTRAINTS))
                annotated = gr.Image(label="What the face channel sees", interactive=False)
            microphone = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone")
            status = gr.Textbox(label="Reading", interactive=False)
            with gr.Row():
                face_bars = gr.Label(num_top_classes=7, label="Face")
                voice_bars = gr.Label(num_top_classes=7, label="Voice (last 3 s)")
                fused_bars = gr.Label(num_top_classes=7, label="Face + voice")
            timeline = gr.ScatterPlot(pd.DataFrame([], columns=TIMELINE_COLUMNS), x="seconds", y="emotion",
                                      color="channel", label="Timeline (last minute)")
            reset = gr.Button("Reset")
            webcam.stream(live_frame, [webcam, session], [annotated, face_bars, fused_bars, status, timeline, session],
                          stream_every=STREAM_EVERY, time_limit=STREAM_TIME_LIMIT,
                          concurrency_limit=STREAM_CONCURRENCY, api_visibility="private")
            microphone.stream(live_audio, [microphone, session], [voice_bars, status, session],
                              stream_every=AUDIO_STREAM_EVERY, time_limit=STREAM_TIME_LIMIT,
                              concurrency_limit=STREAM_CONCURRENCY, api_visibility="private")
            reset.click(reset_live, [session], [annotated, face_bars, voice_bars, fused_bars, status, timeline, session],
                        api_visibility="private")
        with gr.Tab("Image"):
            with gr.Row():
                image_in = gr.Image(sources=["upload", "webcam", "clipboard"], type="filepath", label="Image")
                image_out = gr.Image(label="Faces", interactive=False)
            image_json = gr.JSON(label="Result")
            gr.Button("Analyse image", variant="primary").click(
                analyze_image, image_in, [image_out, image_json], api_name="analyze_image")
        with gr.Tab("Audio"):
            audio_in = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech")
            audio_bars = gr.Label(num_top_classes=7, label="Voice")
            audio_json = gr.JSON(label="Result")
            gr.Button("Analyse audio", variant="primary").click(
                analyze_audio, audio_in, [audio_bars, audio_json], api_name="analyze_audio")
    return demo


demo = build_demo()

if __name__ == "__main__":
    emotion_core.load_models()
    demo.queue(default_concurrency_limit=4).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_FILE_SIZE,
    )
