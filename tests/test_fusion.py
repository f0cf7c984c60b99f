"""Late fusion and smoothing on constructed cases."""

import pytest

from emotion_core import EMOTIONS, fuse, is_uncertain, smooth
from emotion_core.fusion import as_vector, confidence, ema_step


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


def test_agreeing_channels_give_the_same_reading():
    fused = fuse(one_hot("happy", 0.7), one_hot("happy", 0.7))
    assert fused.scores == pytest.approx(one_hot("happy", 0.7))


def test_priors_tilt_an_even_contest():
    fused = fuse(one_hot("angry", 0.6), one_hot("sad", 0.6), face_prior=2.0, voice_prior=1.0)
    assert fused.face_weight == pytest.approx(2 / 3)
    assert max(fused.scores, key=fused.scores.get) == "angry"


def test_weights_follow_confidence_smoothly():
    weights = [fuse(one_hot("angry", s), one_hot("sad", 0.5)).face_weight for s in (0.3, 0.5, 0.7, 0.9)]
    assert weights == sorted(weights) and weights[1] == pytest.approx(0.5)
    assert confidence(as_vector(UNIFORM)) == pytest.approx(0.0, abs=1e-9)
    assert confidence(as_vector(one_hot("fear", 1.0))) == pytest.approx(1.0, abs=1e-6)


def test_scores_that_do_not_sum_to_one_are_normalised():
    fused = fuse({"happy": 3.0, "sad": 1.0}, None)
    assert fused.scores["happy"] == pytest.approx(0.75) and sum(fused.scores.values()) == pytest.approx(1.0)
    assert not fuse({"happy": 0.0}, {}).available


def test_ema_step_depends_on_the_time_between_updates():
    assert ema_step(0.0, 0.5) == 0.0
    assert ema_step(0.5, 0.5) == pytest.approx(1 - 1 / 2.718281828, abs=1e-6)
    assert ema_step(1.0, 0.0) == 1.0
    # ten updates 0.1 s apart move the scores as far as one update 1 s later
    ten = one_hot("happy")
    for _ in range(10):
        ten = smooth(ten, one_hot("sad"), ema_step(0.1, 0.4))
    once = smooth(one_hot("happy"), one_hot("sad"), ema_step(1.0, 0.4))
    assert ten == pytest.approx(once)
