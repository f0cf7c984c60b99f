"""The top-level calls: a frame or face crop to face emotions, audio to voice emotions.

Each call is the same call on one cached default :class:`~emotion_core.reader.EmotionReader`, built
from the bundled manifest on first use (or by :func:`load_models` at start-up) and shared by every
caller; it is thread-safe, so several users can be served at once. To try other model files, build
a reader of your own (``EmotionReader.from_manifest`` / ``EmotionReader.with_models``).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .classifier import LiteClassifier
from .reader import FACE_MODEL, VOICE_MODEL, EmotionReader, checked_classifier, prepare_speech
from .results import Face, SpeechResult, VoiceActivity
from .weights import model_entry, resolve_weight

__all__ = ["FACE_MODEL", "VOICE_MODEL", "analyze_frame", "analyze_speech", "classify_face", "classify_speech",
           "default_reader", "face_blur_sigma", "load_classifier", "load_models", "prepare_speech", "voice_activity"]


@cache
def default_reader() -> EmotionReader:
    """The reader of the bundled manifest's models (from the Hub when configured), built once and shared."""
    return EmotionReader.from_manifest()


@cache
def load_classifier(name: str) -> LiteClassifier:
    """The checked LiteRT runner of manifest model ``name``; the served two are the default reader's own."""
    served = {FACE_MODEL: default_reader().face_model, VOICE_MODEL: default_reader().voice_model}
    if name in served:
        return served[name]
    return checked_classifier(resolve_weight(name), model_entry(name), voice=name.startswith(VOICE_MODEL))


def face_blur_sigma() -> float:
    """The input blur the served face model was exported with (manifest ``preprocessing.blur_sigma``; 0 = none)."""
    return default_reader().face_blur_sigma


def load_models() -> None:
    """Load the detector and both classifiers now (e.g. at app start-up) instead of on first use."""
    default_reader().load()


def classify_face(crop: np.ndarray) -> dict[str, float]:
    """Scores over EMOTIONS (summing to 1) for an already-cropped face: grey ``HxW`` or RGB ``HxWx3`` uint8."""
    return default_reader().classify_face(crop)


def analyze_frame(frame: np.ndarray, *, small_faces: bool = True,
                  near: list[tuple[int, int, int, int]] | None = None) -> list[Face]:
    """Every face in an RGB uint8 ``HxWx3`` frame, with its box and emotion scores; no face gives ``[]``.

    ``small_faces`` (the default, for files): full range, with its tiled search for small faces where the
    whole-frame pass found no face or only small ones. ``False`` (the live view): short range first, and
    full range once, without tiles, only where short range sees no large face; ``near`` then gives the
    boxes of the stream's last faces, followed with one short-range run each where all are found again.
    """
    return default_reader().analyze_frame(frame, small_faces=small_faces, near=near)


def voice_activity(samples: np.ndarray, sample_rate: int) -> VoiceActivity:
    """How many seconds of the input are speech (WebRTC VAD); ``.has_speech`` says whether to classify."""
    return default_reader().voice_activity(samples, sample_rate)


def classify_speech(samples: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Scores over EMOTIONS (summing to 1) for mono float32 audio of any length at 8-96 kHz.

    Input is cut into 3 s windows 0.5 s apart (:mod:`emotion_core.windows`); the windows with speech
    are averaged (all of them if none has speech). Empty input gives uniform scores: use
    :func:`voice_activity` first.
    """
    return default_reader().classify_speech(samples, sample_rate)


def analyze_speech(samples: np.ndarray, sample_rate: int) -> SpeechResult:
    """Voice activity plus, when there is speech, the pooled scores; no speech gives empty scores."""
    return default_reader().analyze_speech(samples, sample_rate)
