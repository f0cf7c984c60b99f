"""The committed fixtures as live inputs: the speech recording at a microphone's rate, the face photo in a frame."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from harness import FIXTURES

MIC_RATE = 48000  # what browsers record at
FRAME_SIZE = (320, 240)  # width, height of the frame that holds the face photo
FACE_BOX = (60, 20, 200)  # left, top, side in pixels of the photo inside that frame


@lru_cache(maxsize=4)
def fixture_speech(rate: int = MIC_RATE) -> np.ndarray:
    """The committed speech recording, mono float32 in [-1, 1] at ``rate`` Hz (read-only, cached)."""
    from emotion_core.audio import load_audio, resample

    samples, native = load_audio(FIXTURES / "speech.wav")
    speech = resample(samples, native, rate)
    speech.flags.writeable = False
    return speech


def microphone_speech(rate: int = MIC_RATE) -> np.ndarray:
    """The speech recording as Gradio's microphone hands it over: int16 samples at ``rate`` Hz."""
    return (fixture_speech(rate) * 32767).astype(np.int16)


def face_frame() -> np.ndarray:
    """A grey FRAME_SIZE RGB uint8 frame with the committed face photo scaled into FACE_BOX."""
    import cv2

    from emotion_core.images import load_image

    width, height = FRAME_SIZE
    left, top, side = FACE_BOX
    frame = np.full((height, width, 3), 100, np.uint8)
    frame[top : top + side, left : left + side] = cv2.resize(load_image(FIXTURES / "face.jpg"), (side, side))
    return frame
