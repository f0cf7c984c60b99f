"""The top-level calls: a frame or face crop to face emotions, audio to voice emotions.

Models are loaded once, on first use (or by :func:`load_models` at start-up), and shared by every
caller; the runners are thread-safe, so several users can be served at once.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from . import audio, face
from .classifier import LiteClassifier
from .labels import EMOTIONS, check_labels, scores_to_dict
from .results import Face, SpeechResult, VoiceActivity
from .weights import model_entry, resolve_weight

FACE_MODEL = "face_emotion"
VOICE_MODEL = "voice_emotion"


@cache
def load_classifier(name: str) -> LiteClassifier:
    """The LiteRT runner for manifest model ``name``, checked against EMOTIONS and its input shape."""
    entry = model_entry(name)
    check_labels(entry["labels"])
    runner = LiteClassifier(resolve_weight(name))
    if list(runner.input_shape) != list(entry["input_shape"][1:]):
        raise ValueError(f"{name}: model input {runner.input_shape} does not match the manifest {entry['input_shape']}")
    if name.startswith(VOICE_MODEL):
        _check_voice_features(entry.get("features", {}))
    return runner


def _check_voice_features(features: dict) -> None:
    # The model is only valid for the features it was trained on.
    expected = {"sample_rate": audio.SAMPLE_RATE, "n_fft": audio.N_FFT, "hop_length": audio.HOP_LENGTH,
                "win_length": audio.WIN_LENGTH, "n_mels": audio.N_MELS}
    wrong = {k: (features.get(k), v) for k, v in expected.items() if features.get(k) != v}
    if wrong:
        raise ValueError(f"voice model was trained with other features (manifest, runtime): {wrong}")


@cache
def face_blur_sigma() -> float:
    """The input blur the served face model was exported with (manifest ``preprocessing.blur_sigma``; 0 = none)."""
    return float(model_entry(FACE_MODEL).get("preprocessing", {}).get("blur_sigma", 0.0))


def load_models() -> None:
    """Load the detector and both classifiers now (e.g. at app start-up) instead of on first use."""
    face.default_detector()
    load_classifier(FACE_MODEL)
    load_classifier(VOICE_MODEL)


def classify_face(crop: np.ndarray) -> dict[str, float]:
    """Scores over EMOTIONS (summing to 1) for an already-cropped face: grey ``HxW`` or RGB ``HxWx3`` uint8."""
    crop = np.asarray(crop)
    if crop.dtype != np.uint8:
        raise ValueError(f"a face crop must be uint8, got {crop.dtype}")
    probabilities = load_classifier(FACE_MODEL).predict(face.face_model_input(crop, face_blur_sigma()))
    return scores_to_dict(probabilities)


def analyze_frame(frame: np.ndarray) -> list[Face]:
    """Every face in an RGB uint8 ``HxWx3`` frame, with its box and emotion scores; no face gives ``[]``."""
    frame = face.check_frame(frame)
    faces = []
    for box, detection_score in face.default_detector().detect(frame):
        scores = classify_face(face.crop_face(frame, box))
        faces.append(Face(box=box, scores=scores, detection_score=detection_score))
    return faces


def prepare_speech(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Any mono/stereo int or float PCM at 8-96 kHz -> 16 kHz mono float32 in [-1, 1]."""
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError, OverflowError):  # NaN, infinity, None
        raise ValueError(f"the sample rate must be a whole number of Hz, got {sample_rate!r}") from None
    return audio.resample(audio.to_mono_float(samples), rate)


def _activity(mono: np.ndarray) -> VoiceActivity:
    return VoiceActivity(audio.speech_seconds(mono), mono.size / audio.SAMPLE_RATE)


def voice_activity(samples: np.ndarray, sample_rate: int) -> VoiceActivity:
    """How many seconds of the input are speech (WebRTC VAD); ``.has_speech`` says whether to classify."""
    return _activity(prepare_speech(samples, sample_rate))


def _window_probabilities(mono: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window probabilities ``(windows, 7)``, whether each window holds speech, and its times.

    Leading and trailing silence is cut first, as it was for every training clip; the times,
    ``(windows, 2)`` start and end in seconds, still count from the start of ``mono``.
    """
    runner = load_classifier(VOICE_MODEL)
    first, stop = audio.speech_span(mono)
    starts = [first + s for s in audio.window_starts(stop - first)]
    chunks = [mono[s : min(s + audio.WINDOW_SAMPLES, stop)] for s in starts]
    probabilities = np.stack([runner.predict(audio.model_input(chunk)) for chunk in chunks])
    voiced = np.array([audio.has_speech(chunk) for chunk in chunks])
    times = np.array([(s, s + chunk.size) for s, chunk in zip(starts, chunks, strict=True)]) / audio.SAMPLE_RATE
    return probabilities, voiced, times


def _pooled(probabilities: np.ndarray, voiced: np.ndarray) -> dict[str, float]:
    """Mean of the windows with speech (of all windows when none has speech)."""
    chosen = probabilities[voiced] if voiced.any() else probabilities
    return scores_to_dict(chosen.mean(axis=0))


def classify_speech(samples: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Scores over EMOTIONS (summing to 1) for mono float32 audio of any length at 8-96 kHz.

    Long input is cut into 3 s windows 1.5 s apart; the windows with speech are averaged (all of
    them if none has speech). Empty input gives uniform scores: use :func:`voice_activity` first.
    """
    mono = prepare_speech(samples, sample_rate)
    if mono.size == 0:
        return {name: 1.0 / len(EMOTIONS) for name in EMOTIONS}
    return _pooled(*_window_probabilities(mono)[:2])


def analyze_speech(samples: np.ndarray, sample_rate: int) -> SpeechResult:
    """Voice activity plus, when there is speech, the pooled scores; no speech gives empty scores."""
    mono = prepare_speech(samples, sample_rate)
    activity = _activity(mono)
    if not activity.has_speech:
        return SpeechResult(scores={}, activity=activity)
    probabilities, voiced, times = _window_probabilities(mono)
    window_scores = tuple(scores_to_dict(p) for p in probabilities)
    window_times = tuple((float(start), float(end)) for start, end in times)
    return SpeechResult(_pooled(probabilities, voiced), activity, len(probabilities), window_scores, window_times)
