"""Late fusion of the face and voice channels, and smoothing over time.

Fusion is a weighted average of the two channels' probability vectors. A channel's weight is its
availability (0 when it has no face / no speech) times its confidence, measured as
``1 - normalised entropy`` of its scores, times a prior reliability per channel. A missing channel
therefore drops out, and a flat (unsure) channel counts for little.

Smoothing is an exponential moving average (EMA) of the probability vectors. In a live stream the
updates come at an uneven rate, so the step is taken from the time since the last update
(:func:`ema_step`): the smoothed scores then follow a change with the same time constant whether
frames arrive 10 or 3 times a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .labels import EMOTIONS, NUM_EMOTIONS, scores_to_dict
from .reading import UNCERTAIN_BELOW, is_uncertain  # noqa: F401 (kept importable from here; owned by reading)

FACE_PRIOR = 1.0  # relative trust in each channel when both are equally confident
VOICE_PRIOR = 1.0
MIN_WEIGHT = 1e-3  # a present channel never drops to exactly zero weight
SMOOTHING = 0.35  # EMA step: share of the newest estimate in the smoothed one


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


def confidence(vector: np.ndarray) -> float:
    """1 - entropy / log(classes): 1 for a one-hot vector, 0 for a uniform one."""
    p = np.clip(vector, 1e-12, 1.0)
    return float(1.0 - (-(p * np.log(p)).sum()) / np.log(NUM_EMOTIONS))


def fuse(face_scores: dict[str, float] | None, voice_scores: dict[str, float] | None,
         face_prior: float = FACE_PRIOR, voice_prior: float = VOICE_PRIOR) -> Fused:
    """Fuse the face and voice scores (either may be ``None``/empty when that channel has nothing)."""
    channels = [(as_vector(face_scores), face_prior), (as_vector(voice_scores), voice_prior)]
    weights = [0.0 if v is None else prior * max(confidence(v), MIN_WEIGHT) for v, prior in channels]
    total = sum(weights)
    if total <= 0:
        return Fused({}, 0.0, 0.0)
    mixed = sum(w * v for w, (v, _) in zip(weights, channels, strict=True) if v is not None)
    return Fused(scores_to_dict(mixed / total), weights[0] / total, weights[1] / total)


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
