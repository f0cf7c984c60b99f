"""Fake webcam and microphone for the browser tests and the live benchmark, and Chromium set to use them.

The video shows two faces (the scikit-image astronaut photo and its mirror image) moving about a
grey 640x480 frame, written as raw YUV4MPEG2 (C420). Each frame carries its number as a row of
black and white blocks along the top edge, drawn symmetrically so that it survives the webcam
mirror: a page script can tell which frame an annotated image came from. The audio is espeak-ng
speech with pauses. Nothing here is committed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 640, 480
FPS = 30
VIDEO_SECONDS = 6.0
CODE_BITS = 12  # frame numbers 0..4095; the video has FPS * VIDEO_SECONDS = 180 frames
CODE_BLOCK = 16  # pixels per bit block, on the top edge
FACE_SIDE = 260  # the head-and-shoulders crop is scaled to this many pixels (BlazeFace finds both)
CHROMIUM = "/usr/bin/chromium"
SPEECH_TEXT = ("I cannot believe you did that again. [[_::_]] This is wonderful news, thank you so much! "
               "[[_::_]] Please leave me alone.")

assert FPS * VIDEO_SECONDS < 2**CODE_BITS, "frame numbers must fit in the code"


def code_columns() -> list[tuple[int, int]]:
    """Pixel column ranges of the code blocks, left half only (the right half mirrors it)."""
    return [(i * CODE_BLOCK, (i + 1) * CODE_BLOCK) for i in range(CODE_BITS)]


def draw_code(frame: np.ndarray, number: int) -> None:
    """Write ``number`` into the top ``CODE_BLOCK`` rows of an RGB frame, mirrored left-right."""
    frame[:CODE_BLOCK] = 128
    for bit, (x0, x1) in enumerate(code_columns()):
        value = 255 if number >> bit & 1 else 0
        frame[:CODE_BLOCK, x0:x1] = value
        frame[:CODE_BLOCK, frame.shape[1] - x1 : frame.shape[1] - x0] = value


def face_sprite(side: int = FACE_SIDE) -> np.ndarray:
    """The astronaut's head and shoulders, square, RGB uint8 ``side x side``."""
    import cv2
    from skimage import data

    crop = data.astronaut()[0:300, 90:390]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def video_frames(seconds: float = VIDEO_SECONDS, fps: int = FPS):
    """RGB uint8 frames: two faces (the photo and its mirror image) drifting on a grey background.

    Each frame is numbered in its top blocks; the motion makes one loop per file, so looping is smooth.
    """
    sprites = (face_sprite(), face_sprite()[:, ::-1])
    drift, span_y = WIDTH // 2 - FACE_SIDE, HEIGHT - FACE_SIDE - 2 * CODE_BLOCK
    for index in range(round(seconds * fps)):
        phase = 2 * np.pi * index / (seconds * fps)
        dx = int(drift * (0.5 + 0.5 * np.sin(phase)))
        tops = [2 * CODE_BLOCK + int(span_y * (0.5 + 0.4 * wave(2 * phase))) for wave in (np.sin, np.cos)]
        frame = np.full((HEIGHT, WIDTH, 3), 110, dtype=np.uint8)
        for sprite, x, y in zip(sprites, (dx, WIDTH - FACE_SIDE - dx), tops, strict=True):
            frame[y : y + FACE_SIDE, x : x + FACE_SIDE] = sprite
        draw_code(frame, index)
        yield frame


def rgb_to_i420(frame: np.ndarray) -> bytes:
    """BT.601 limited-range RGB -> planar Y, U, V (chroma averaged over 2x2 blocks)."""
    rgb = frame.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    h, w = y.shape

    def sub(c):
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [y, sub(u), sub(v)]
    return b"".join(np.clip(np.round(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(path: Path, seconds: float = VIDEO_SECONDS, fps: int = FPS) -> Path:
    """Write the moving-face video as YUV4MPEG2 C420 (what Chromium's fake capture reads)."""
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420\n".encode())
        for frame in video_frames(seconds, fps):
            out.write(b"FRAME\n")
            out.write(rgb_to_i420(frame))
    return path


def write_speech_wav(path: Path, text: str = SPEECH_TEXT) -> Path:
    """Speak ``text`` with espeak-ng into a 16-bit wav, followed by a second of silence."""
    import soundfile as sf

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise FileNotFoundError("espeak-ng is not installed (apt-get install espeak-ng)")
    raw = path.with_suffix(".raw.wav")
    subprocess.run([espeak, "-s", "150", "-w", str(raw), text], check=True, capture_output=True)
    samples, rate = sf.read(str(raw), dtype="int16")
    raw.unlink()
    sf.write(str(path), np.concatenate([samples, np.zeros(rate, dtype=np.int16)]), rate, subtype="PCM_16")
    return path


def chromium_args(video: Path, audio: Path) -> list[str]:
    """Flags for a headless Chromium whose webcam and microphone play the given files."""
    return [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}", f"--use-file-for-fake-audio-capture={audio}",
    ]


def launch_chromium(playwright, video: Path, audio: Path):
    """Debian's Chromium (never a downloaded one) with the fake media devices."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(video, audio))
