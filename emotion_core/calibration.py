"""Calibration of one channel's probabilities, so that a score of 0.8 is right about 8 times in 10.

Temperature scaling divides the log-probabilities by a temperature ``T`` and renormalises: ``T > 1``
softens an over-confident channel, ``T < 1`` sharpens a timid one, and the top emotion never
changes. A per-class log-bias (the channel's *class reliability*) can then shift scores between
emotions, e.g. away from an emotion a channel names too often. The parameters are fitted on
validation data by ``training/fusion_fit.py`` and served through the manifest's ``fusion`` object.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def calibrate(probabilities: np.ndarray, temperature: float = 1.0,
              class_bias: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """``softmax(log(p) / temperature + class_bias)`` over the last axis; ``(..., k)`` in, same shape out.

    ``temperature`` must be positive; ``class_bias`` (``k`` log-weights, default none) is added after
    the scaling. With ``temperature=1`` and no bias the input comes back (renormalised).
    """
    if not temperature > 0:
        raise ValueError(f"a temperature must be positive, got {temperature}")
    logits = log_probabilities(probabilities) / temperature
    if class_bias is not None:
        logits = logits + np.asarray(class_bias, dtype=np.float64)
    return softmax(logits)


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
