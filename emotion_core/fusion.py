"""Late fusion of the face and voice channels, and smoothing over time.

Each channel's probabilities are first calibrated (:mod:`emotion_core.calibration`: a temperature
and optionally a per-class reliability, fitted on validation pairs so that a confident voice means
the same on a new speaker as on a known one). The two calibrated vectors are then pooled, by one of
two methods (:data:`METHODS`):

- ``"log_linear"``: a product of experts, ``p ∝ face ** face_prior * voice ** voice_prior``. Two
  channels that agree reinforce each other; a channel that is unsure (flat) changes little.
- ``"weighted_mean"``: ``(w_face * face + w_voice * voice) / (w_face + w_voice)``, each ``w`` the
  channel's prior times its confidence (``1 - normalised entropy``).

The parameters are a :class:`FusionSettings`, read from the weights manifest's ``fusion`` object
(fitted by ``training/fusion_fit.py``, which keeps the method that measured better on validation);
:func:`fuse` uses the served ones unless given others. A missing channel (no face, no speech) drops
out: the other channel's scores are the fused scores, unchanged. ``Fused.face_weight`` and
``voice_weight`` say how much each channel counted: its prior times the confidence of its
calibrated scores, as a share of both.

Smoothing is an exponential moving average (EMA) of the probability vectors. In a live stream the
updates come at an uneven rate, so the step is taken from the time since the last update
(:func:`ema_step`): the smoothed scores then follow a change with the same time constant whether
frames arrive 10 or 3 times a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from functools import cache

import numpy as np

from .calibration import calibrate, log_probabilities, softmax
from .labels import EMOTIONS, NUM_EMOTIONS, scores_to_dict
from .reading import UNCERTAIN_BELOW, is_uncertain  # noqa: F401 (kept importable from here; owned by reading)
from .weights import load_manifest

FACE_PRIOR = 1.0  # hand-set defaults: relative trust in each channel when both are equally confident
VOICE_PRIOR = 1.0
METHODS = ("weighted_mean", "log_linear")
PROVENANCE_KEY = "fit"  # the manifest's record of what the parameters were fitted on (not a setting)
MIN_WEIGHT = 1e-3  # a present channel never drops to exactly zero weight
SMOOTHING = 0.35  # EMA step: share of the newest estimate in the smoothed one


@dataclass(frozen=True)
class FusionSettings:
    """How :func:`fuse` pools the channels (a manifest's ``fusion`` object; defaults: the hand-set fusion).

    ``*_prior``: trust in each channel (mixing weight, or exponent for ``log_linear``);
    ``*_temperature`` and ``*_class_bias`` (7 log-weights in EMOTIONS order, or ``None``): each
    channel's calibration (:func:`emotion_core.calibration.calibrate`).
    """

    method: str = "weighted_mean"
    face_prior: float = FACE_PRIOR
    voice_prior: float = VOICE_PRIOR
    face_temperature: float = 1.0
    voice_temperature: float = 1.0
    face_class_bias: tuple[float, ...] | None = None
    voice_class_bias: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown fusion method {self.method!r}; known: {', '.join(METHODS)}")
        if min(self.face_prior, self.voice_prior) < 0 or min(self.face_temperature, self.voice_temperature) <= 0:
            raise ValueError(f"fusion priors must be >= 0 and temperatures > 0: {self}")
        for bias in (self.face_class_bias, self.voice_class_bias):
            if bias is not None and len(bias) != NUM_EMOTIONS:
                raise ValueError(f"a class bias has one value per emotion ({NUM_EMOTIONS}), got {len(bias)}")

    @classmethod
    def from_manifest(cls, manifest: dict) -> FusionSettings:
        """The manifest's ``fusion`` settings; absent ones keep the hand-set defaults, unknown ones fail."""
        given = {k: v for k, v in manifest.get("fusion", {}).items() if k != PROVENANCE_KEY}
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fusion settings in the manifest: {sorted(unknown)}")
        return cls(**{name: _setting(name, value) for name, value in given.items()})

    def to_manifest(self) -> dict:
        """The settings as the manifest's ``fusion`` object stores them (biases as lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


def _setting(name: str, value: object) -> object:
    if name == "method":
        return str(value)
    if name.endswith("class_bias"):
        return None if value is None else tuple(float(v) for v in value)
    return float(value)


HAND_SET = FusionSettings()  # the fusion before any fitting: weighted mean, no calibration, equal priors


@cache
def served_settings() -> FusionSettings:
    """The bundled manifest's fusion settings: what the app and the default reader fuse with."""
    return FusionSettings.from_manifest(load_manifest())


@dataclass(frozen=True)
class Fused:
    """The fused estimate and the weight each channel got (weights sum to 1 when any is present)."""

    scores: dict[str, float]
    face_weight: float
    voice_weight: float

    @property
    def available(self) -> bool:
        return bool(self.scores)


def as_vector(scores: dict[str, float] | None) -> np.ndarray | None:
    """``{emotion: p}`` -> probability vector in EMOTIONS order; ``None``/empty stays ``None``."""
    if not scores:
        return None
    vector = np.array([max(float(scores.get(name, 0.0)), 0.0) for name in EMOTIONS], dtype=np.float64)
    total = vector.sum()
    return vector / total if total > 0 else None


def confidences(vectors: np.ndarray) -> np.ndarray:
    """1 - entropy / log(classes) over the last axis of ``(..., k)`` probabilities: 1 one-hot, 0 uniform."""
    p = np.clip(np.asarray(vectors, dtype=np.float64), 1e-12, 1.0)
    return 1.0 - (-(p * np.log(p)).sum(axis=-1)) / np.log(NUM_EMOTIONS)


def confidence(vector: np.ndarray) -> float:
    """:func:`confidences` of one probability vector."""
    return float(confidences(vector))


def log_linear_pool(vectors: list[np.ndarray], exponents: list[float]) -> np.ndarray:
    """Product of experts: ``softmax(sum(exponent * log(vector)))``; exponents of 1 multiply the vectors."""
    return softmax(sum(a * log_probabilities(v) for v, a in zip(vectors, exponents, strict=True)))


def pool(face: np.ndarray, voice: np.ndarray, settings: FusionSettings) -> tuple[np.ndarray, np.ndarray]:
    """Face and voice probabilities ``(..., 7)`` (both present) -> fused ``(..., 7)`` and the face's weight ``(...)``.

    Pure and batched: training fits the settings with the very function the app serves.
    """
    face = calibrate(face, settings.face_temperature, settings.face_class_bias)
    voice = calibrate(voice, settings.voice_temperature, settings.voice_class_bias)
    face_weight = settings.face_prior * np.maximum(confidences(face), MIN_WEIGHT)
    voice_weight = settings.voice_prior * np.maximum(confidences(voice), MIN_WEIGHT)
    total = face_weight + voice_weight
    share = np.divide(face_weight, total, out=np.full_like(total, 0.5), where=total > 0)
    if settings.method == "log_linear":
        return log_linear_pool([face, voice], [settings.face_prior, settings.voice_prior]), share
    return share[..., None] * face + (1.0 - share[..., None]) * voice, share


def fuse(face_scores: dict[str, float] | None, voice_scores: dict[str, float] | None,
         face_prior: float | None = None, voice_prior: float | None = None, *,
         settings: FusionSettings | None = None) -> Fused:
    """Fuse the face and voice scores (either may be ``None``/empty when that channel has nothing).

    ``settings`` default to the served ones (:func:`served_settings`); ``face_prior`` /
    ``voice_prior``, when given, replace its priors. A channel alone is the fused reading, unchanged.
    """
    settings = served_settings() if settings is None else settings
    priors = {k: v for k, v in (("face_prior", face_prior), ("voice_prior", voice_prior)) if v is not None}
    settings = replace(settings, **priors) if priors else settings
    face, voice = as_vector(face_scores), as_vector(voice_scores)
    if face is None or voice is None:
        alone = face if voice is None else voice
        if alone is None:
            return Fused({}, 0.0, 0.0)
        return Fused(scores_to_dict(alone), float(voice is None), float(face is None))
    if settings.face_prior + settings.voice_prior <= 0:
        return Fused({}, 0.0, 0.0)
    scores, share = pool(face, voice, settings)
    return Fused(scores_to_dict(scores), float(share), 1.0 - float(share))


def smooth(previous: dict[str, float] | None, current: dict[str, float] | None,
           step: float = SMOOTHING) -> dict[str, float]:
    """Exponential moving average of probabilities: ``(1 - step) * previous + step * current``.

    A missing ``current`` keeps ``previous``; a missing ``previous`` starts from ``current``.
    """
    old, new = as_vector(previous), as_vector(current)
    if new is None:
        return dict(previous) if previous else {}
    if old is None:
        return scores_to_dict(new)
    return scores_to_dict((1.0 - step) * old + step * new)


def ema_step(seconds: float, time_constant: float) -> float:
    """The EMA step for an update ``seconds`` after the previous one: ``1 - exp(-seconds / time_constant)``.

    After one time constant without change the smoothed scores have moved 63 % of the way to the
    new ones. A non-positive gap gives 0 (no move); a non-positive time constant gives 1 (no smoothing).
    """
    if time_constant <= 0:
        return 1.0
    return 1.0 - math.exp(-max(seconds, 0.0) / time_constant)
