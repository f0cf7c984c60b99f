"""Classification metrics shared by training (checkpoint choice) and evaluation (reports)."""

from __future__ import annotations

import numpy as np

from emotion_core.labels import NUM_EMOTIONS


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int = NUM_EMOTIONS) -> np.ndarray:
    """``(classes, classes)`` int64 counts; row = true label, column = predicted label.

    A negative prediction means "no answer" (e.g. no speech found) and is left out of the matrix.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    answered = y_pred >= 0
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (y_true[answered], y_pred[answered]), 1)
    return matrix


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, float]:
    """Recall of every class that occurs in ``y_true`` (classes absent from it are left out)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {int(c): float(np.mean(y_pred[y_true == c] == c)) for c in np.unique(y_true)}


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall: the mean of the per-class recalls over the classes present."""
    recalls = per_class_recall(y_true, y_pred)
    return float(np.mean(list(recalls.values()))) if recalls else float("nan")


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of exact matches (NaN for no examples)."""
    y_true = np.asarray(y_true)
    return float(np.mean(y_true == np.asarray(y_pred))) if y_true.size else float("nan")
