"""Late fusion and smoothing on constructed cases."""

import pytest

from emotion_core import EMOTIONS, fuse, is_uncertain, smooth


def one_hot(label, strength=0.94):
    rest = (1 - strength) / (len(EMOTIONS) - 1)
    return {name: strength if name == label else rest for name in EMOTIONS}


UNIFORM = {name: 1 / len(EMOTIONS) for name in EMOTIONS}


def test_no_face_means_voice_only():
    fused = fuse(None, one_hot("sad"))
    assert fused.voice_weight == 1.0 and fused.face_weight == 0.0
    assert max(fused.scores, key=fused.scores.get) == "sad"


def test_silence_means_face_only():
    fused = fuse(one_hot("happy"), {})
    assert fused.face_weight == 1.0
    assert fused.scores == pytest.approx(one_hot("happy"))


def test_nothing_gives_nothing():
    assert not fuse(None, None).available


def test_the_confident_channel_wins():
    fused = fuse(one_hot("angry", 0.9), one_hot("happy", 0.3))
    assert fused.face_weight > fused.voice_weight
    assert max(fused.scores, key=fused.scores.get) == "angry"
    flat = fuse(UNIFORM, one_hot("fear"))
    assert flat.voice_weight > 0.99


def test_fused_scores_sum_to_one():
    fused = fuse(one_hot("angry", 0.6), one_hot("sad", 0.6))
    assert sum(fused.scores.values()) == pytest.approx(1.0)
    assert fused.face_weight == pytest.approx(0.5)


def test_smoothing_moves_part_way_and_holds_without_news():
    first = smooth(None, one_hot("happy"))
    assert first == pytest.approx(one_hot("happy"))
    moved = smooth(first, one_hot("sad"))
    assert moved["happy"] > moved["sad"] > one_hot("happy")["sad"]
    assert smooth(moved, None) == moved


def test_uncertainty():
    assert is_uncertain(UNIFORM)
    assert is_uncertain({})
    assert not is_uncertain(one_hot("surprise", 0.8))
