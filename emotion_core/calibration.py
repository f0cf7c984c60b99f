"""Calibration of one channel's probabilities, so that a score of 0.8 is right about 8 times in 10.

Temperature scaling divides the log-probabilities by a temperature ``T`` and renormalises: ``T > 1``
softens an over-confident channel, ``T < 1`` sharpens a timid one, and the top emotion never
changes. A per-class log-bias (the channel's *class reliability*) can then shift scores between
emotions, e.g. away from an emotion a channel names too often. The parameters are fitted on
validation data: the fusion's by ``training/fusion_fit.py`` (the manifest's ``fusion`` object), and a
channel's own by ``training/voice_calibration.py`` (its model's manifest entry, ``calibration``:
:class:`ChannelCalibration`, applied to every reading of that channel before anyone sees it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .labels import NUM_EMOTIONS

FLOOR = 1e-6  # probabilities are floored before the log: a model's hard zero is never a certainty


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """``log`` of probability vectors ``(..., k)``, floored at FLOOR (no ``-inf``)."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), FLOOR, 1.0))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Normalised ``exp`` over the last axis, stable for large logits."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def calibrate(probabilities: np.ndarray, temperature: float | np.ndarray = 1.0,
              class_bias: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """``softmax(log(p) / temperature + class_bias)`` over the last axis; ``(..., k)`` in, same shape out.

    ``temperature`` must be positive: one for all, or one per probability vector (shape ``(...)``);
    ``class_bias`` (``k`` log-weights, default none) is added after the scaling. With ``temperature=1``
    and no bias the input comes back (renormalised).
    """
    temperature = np.asarray(temperature, dtype=np.float64)
    if not np.all(temperature > 0):
        raise ValueError(f"a temperature must be positive, got {temperature}")
    logits = log_probabilities(probabilities) / temperature[..., None]
    if class_bias is not None:
        logits = logits + np.asarray(class_bias, dtype=np.float64)
    return softmax(logits)


@dataclass(frozen=True)
class ChannelCalibration:
    """A channel's own calibration: what :func:`calibrate` does to each of its readings (a model's manifest
    ``calibration``). It belongs to the network it was fitted on, so it is looked up by the file's content."""

    temperature: float = 1.0
    class_bias: tuple[float, ...] | None = None
    # Noise: a window whose speech stands less than contrast_knee_db above its gaps
    # (:func:`emotion_core.audio.band_contrast_db`) is read at a temperature raised by contrast_slope per dB
    # below the knee, so that a voice drowned in noise says "uncertain" instead of a confident guess.
    contrast_knee_db: float | None = None
    contrast_slope: float = 0.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"a temperature must be positive, got {self.temperature}")
        if self.contrast_slope < 0:
            raise ValueError(f"a contrast slope cannot be negative, got {self.contrast_slope}")
        if self.class_bias is not None and len(self.class_bias) != NUM_EMOTIONS:
            raise ValueError(f"a class bias has one value per emotion ({NUM_EMOTIONS}), got {len(self.class_bias)}")

    @classmethod
    def from_entry(cls, entry: dict) -> ChannelCalibration:
        """A manifest entry's ``calibration`` (``temperature``, ``class_bias`` in EMOTIONS order); none: no change."""
        given = entry.get("calibration") or {}
        bias = given.get("class_bias")
        noise = given.get("noise") or {}
        knee = noise.get("contrast_knee_db")
        return cls(float(given.get("temperature", 1.0)), None if bias is None else tuple(float(b) for b in bias),
                   None if knee is None else float(knee), float(noise.get("contrast_slope", 0.0)))

    @property
    def changes_scores(self) -> bool:
        return self != UNCALIBRATED

    def temperatures(self, contrast_db: np.ndarray) -> np.ndarray:
        """The temperature for windows of speech contrast ``contrast_db`` (dB, any shape; same shape out)."""
        contrast_db = np.asarray(contrast_db, dtype=np.float64)
        if self.contrast_knee_db is None:
            return np.full(contrast_db.shape, self.temperature)
        return self.temperature * (1.0 + self.contrast_slope * np.maximum(0.0, self.contrast_knee_db - contrast_db))

    def drowned(self, contrast_db: np.ndarray) -> np.ndarray:
        """Whether windows of speech contrast ``contrast_db`` are read softened by the noise term (under its knee);
        all False without a noise term."""
        return self.temperatures(contrast_db) > self.temperature

    def apply(self, probabilities: np.ndarray, contrast_db: np.ndarray | None = None) -> np.ndarray:
        """Calibrated ``(..., k)`` probabilities in the input's dtype; without a calibration the input itself.

        ``contrast_db`` (shape ``(...)``, one per vector): each window's speech contrast, for the noise term;
        without it the windows are read as clean.
        """
        if not self.changes_scores:
            return probabilities
        temperature = self.temperature if contrast_db is None else self.temperatures(contrast_db)
        return calibrate(probabilities, temperature, self.class_bias).astype(np.asarray(probabilities).dtype)


UNCALIBRATED = ChannelCalibration()


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict[str, np.ndarray]:
    """Reliability diagram data: for each confidence bin, the mean top score, the accuracy and the count.

    ``probabilities`` ``(n, k)``, ``labels`` ``(n,)`` class indices. Empty bins have NaN means.
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    return {"confidence": mean_confidence, "accuracy": accuracy, "count": count}


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between top score and accuracy over confidence bins (0 = calibrated)."""
    table = reliability_bins(probabilities, labels, bins)
    used = table["count"] > 0
    gaps = np.abs(table["confidence"][used] - table["accuracy"][used])
    return float((gaps * table["count"][used]).sum() / max(table["count"].sum(), 1))
