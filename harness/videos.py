"""Small synthetic videos for the tests and the benchmarks, written with PyAV.

Frames show the scikit-image astronaut (one face) drifting over a grey gradient; the sound is the
committed speech fixture looped, a 440 Hz tone, digital silence, or nothing. Everything is deterministic.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.media import fixture_speech

AUDIO_RATE = 48000
CODECS = {  # container suffix -> (video codec, audio codec)
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx", "libopus"),
}


HEAD = (slice(20, 250), slice(110, 340))  # the astronaut's head and shoulders in the 512x512 picture


@lru_cache(maxsize=4)
def _face_picture(side: int) -> np.ndarray:
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut()[HEAD], (side, side), interpolation=cv2.INTER_AREA)


def sound(kind: str, start: int, count: int) -> np.ndarray:
    """``count`` mono float32 samples at AUDIO_RATE from sample ``start`` of the looped ``kind``."""
    index = np.arange(start, start + count)
    if kind == "silence":
        return np.zeros(count, dtype=np.float32)
    if kind == "tone":
        return (0.3 * np.sin(2 * np.pi * 440.0 * index / AUDIO_RATE)).astype(np.float32)
    if kind == "speech":
        speech = fixture_speech(AUDIO_RATE)
        return speech[index % speech.size]
    raise ValueError(f"unknown sound {kind!r}")


def _frame(index: int, fps: float, size: tuple[int, int], face: bool, noise: np.ndarray | None) -> np.ndarray:
    width, height = size
    ramp = np.linspace(60, 190, width, dtype=np.float32)
    frame = np.repeat(np.repeat(ramp[None, :, None], height, axis=0), 3, axis=2).astype(np.uint8)
    if face:
        side = min(height, width) * 7 // 8
        picture = _face_picture(side)
        drift = int((width - side) / 2 + (width - side) / 4 * np.sin(2 * np.pi * index / fps / 8.0))
        top = (height - side) // 2
        frame[top : top + side, drift : drift + side] = picture
    if noise is not None:
        frame = np.clip(frame.astype(np.int16) + noise[index % len(noise)], 0, 255).astype(np.uint8)
    return frame


def write_video(path: str | Path, seconds: float = 2.0, size: tuple[int, int] = (320, 240), fps: int = 15,
                sound_kind: str | None = "speech", face: bool = True, grain: float = 0.0,
                preset: str = "ultrafast") -> Path:
    """Write a test video; the codecs follow the suffix (see CODECS).

    ``grain``: noise std in grey levels; ``preset``: x264's (``veryfast`` and slower use B-frames,
    as most cameras and editors do).
    """
    import av

    path = Path(path)
    video_codec, audio_codec = CODECS[path.suffix]
    noise = None
    if grain > 0:
        rng = np.random.default_rng(0)
        noise = rng.normal(0, grain, (8, size[1], size[0], 1)).astype(np.int16)
    with av.open(str(path), "w") as container:
        video = container.add_stream(video_codec, rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        if video_codec == "libx264":
            video.options = {"preset": preset, "crf": "23"}
        audio = container.add_stream(audio_codec, rate=AUDIO_RATE, layout="mono") if sound_kind else None
        written = 0
        for index in range(int(round(seconds * fps))):
            image = av.VideoFrame.from_ndarray(_frame(index, fps, size, face, noise), format="rgb24")
            container.mux(video.encode(image))
            if audio is not None:
                due = int(round((index + 1) / fps * AUDIO_RATE))
                written = _write_audio(container, audio, sound_kind, written, due)
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    return path


def _write_audio(container, stream, kind: str, written: int, due: int, block: int = 960) -> int:
    import av

    while written + block <= due:
        samples = sound(kind, written, block)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts, frame.time_base = written, Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(frame))
        written += block
    return written


def write_turns(path: str | Path, turns: list[tuple[np.ndarray, np.ndarray]], turn_seconds: float,
                fps: int = 15, rate: int = AUDIO_RATE) -> Path:
    """An mp4 (H.264 + AAC) of ``(frame, sound)`` turns: each RGB frame held for ``turn_seconds`` while its
    mono float32 sound (``turn_seconds * rate`` samples) plays."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
        video.height, video.width = turns[0][0].shape[:2]
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=rate, layout="mono")
        for turn, (frame, samples) in enumerate(turns):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for _ in range(int(round(turn_seconds * fps))):
                container.mux(video.encode(picture))
            block = av.AudioFrame.from_ndarray(np.asarray(samples, np.float32)[None, :], format="flt", layout="mono")
            block.sample_rate, block.time_base = rate, Fraction(1, rate)
            block.pts = int(round(turn * turn_seconds * rate))
            container.mux(sound.encode(block))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))
    return path
