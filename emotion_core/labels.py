"""The one label space shared by the face and voice channels."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EMOTION_INDEX: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}
NUM_EMOTIONS = len(EMOTIONS)


def scores_to_dict(probabilities) -> dict[str, float]:
    """Map a length-7 probability vector (in EMOTIONS order) to ``{emotion: probability}``.

    The vector is renormalised so the values always sum to 1, whatever rounding the model did.
    """
    values = [max(float(p), 0.0) for p in probabilities]
    if len(values) != NUM_EMOTIONS:
        raise ValueError(f"expected {NUM_EMOTIONS} scores, got {len(values)}")
    total = sum(values)
    if total <= 0.0:
        return {name: 1.0 / NUM_EMOTIONS for name in EMOTIONS}
    return {name: value / total for name, value in zip(EMOTIONS, values, strict=True)}


def top_label(scores: dict[str, float]) -> str:
    """The emotion with the highest score (ties go to the earlier emotion in EMOTIONS)."""
    return max(EMOTIONS, key=lambda name: (scores.get(name, 0.0), -EMOTION_INDEX[name]))


def check_labels(labels) -> None:
    """Raise if a model's label list is not exactly EMOTIONS, in order."""
    if tuple(labels) != EMOTIONS:
        raise ValueError(f"model labels {tuple(labels)} do not match EMOTIONS {EMOTIONS}")
