import pytest

from emotion_core import EMOTIONS
from emotion_core.labels import check_labels, scores_to_dict, top_label


def test_label_order_is_the_projects():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_scores_are_renormalised_and_topped():
    scores = scores_to_dict([0, 0, 0, 3, 1, 0, 0])
    assert sum(scores.values()) == pytest.approx(1.0)
    assert scores["happy"] == pytest.approx(0.75)
    assert top_label(scores) == "happy"


def test_a_model_with_other_labels_is_refused():
    with pytest.raises(ValueError, match="do not match"):
        check_labels(["happy", "sad"])
    with pytest.raises(ValueError):
        scores_to_dict([1, 2, 3])
