"""The functionals experiment's own steps (issue 17): per-speaker standardisation, the neutral-heavy
reference, the fusion with the CNN's scores, the choice rule."""

from __future__ import annotations

import numpy as np

from emotion_core.labels import EMOTION_INDEX
from training.voice_functionals import (
    Prior,
    choice_score,
    fused,
    neutral_heavy,
    standardise_global,
    standardise_per_speaker,
)

NEUTRAL, ANGRY = EMOTION_INDEX["neutral"], EMOTION_INDEX["angry"]


def two_speakers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    speakers = np.array(["a"] * 40 + ["b"] * 30)
    features = np.concatenate([rng.normal(5.0, 2.0, (40, 3)), rng.normal(-3.0, 0.5, (30, 3))])
    labels = np.array(([NEUTRAL] * 10 + [ANGRY] * 30) + ([NEUTRAL] * 20 + [ANGRY] * 10))
    return features, speakers, labels


def test_per_speaker_standardisation_uses_each_speakers_reference_rows():
    features, speakers, labels = two_speakers()
    out = standardise_per_speaker(features, speakers, np.ones(len(labels), dtype=bool))
    for speaker in ("a", "b"):
        rows = out[speakers == speaker]
        np.testing.assert_allclose(rows.mean(0), 0.0, atol=1e-9)
        np.testing.assert_allclose(rows.std(0), 1.0, atol=1e-6)
    reference = labels == NEUTRAL  # statistics of the neutral clips only: they, not all rows, are centred
    out = standardise_per_speaker(features, speakers, reference)
    for speaker in ("a", "b"):
        np.testing.assert_allclose(out[(speakers == speaker) & reference].mean(0), 0.0, atol=1e-9)
    assert abs(out[(speakers == "a") & ~reference].mean()) > 1e-3


def test_a_speaker_without_reference_rows_is_standardised_over_all_its_rows():
    features, speakers, labels = two_speakers()
    out = standardise_per_speaker(features, speakers, speakers == "a")
    np.testing.assert_allclose(out[speakers == "b"].mean(0), 0.0, atol=1e-9)


def test_global_standardisation_uses_the_training_rows_only():
    features, _, _ = two_speakers()
    train = np.arange(40)
    out = standardise_global(features, train)
    np.testing.assert_allclose(out[train].mean(0), 0.0, atol=1e-9)
    assert out[40:].mean() < -1.0  # the other speaker is far from the training rows' mean


def test_neutral_heavy_keeps_every_neutral_clip_and_as_many_others():
    _, speakers, labels = two_speakers()
    chosen = neutral_heavy(labels, speakers, np.random.default_rng(0))
    for speaker, neutral_count, other_available in (("a", 10, 30), ("b", 20, 10)):
        rows = speakers == speaker
        assert (chosen & rows & (labels == NEUTRAL)).sum() == neutral_count
        assert (chosen & rows & (labels != NEUTRAL)).sum() == min(neutral_count, other_available)
    short = neutral_heavy(labels, speakers, np.random.default_rng(0), clips=5)
    assert [(short & (speakers == s)).sum() for s in ("a", "b")] == [5, 5]


def test_fusion_weight_zero_is_the_cnn_and_no_speech_is_no_answer():
    cnn = np.full((3, 7), 0.01)
    cnn[0, ANGRY] = cnn[1, NEUTRAL] = 0.9
    cnn[2] = np.nan
    functionals = np.log(np.full((3, 7), 0.01))
    functionals[:, NEUTRAL] = np.log(0.99)
    assert fused(cnn, functionals, 0.0).tolist() == [ANGRY, NEUTRAL, -1]
    assert fused(cnn, functionals, 4.0).tolist() == [NEUTRAL, NEUTRAL, -1]


def test_choice_weighs_validation_and_the_never_heard_dev_set_alike():
    assert choice_score(60.0, 40.0) == choice_score(40.0, 60.0) == 50.0


def test_a_speaker_without_neutral_clips_keeps_all_its_rows_and_the_prior_fills_an_empty_reference():
    features, speakers, labels = two_speakers()
    labels = np.where(speakers == "b", ANGRY, labels)
    chosen = neutral_heavy(labels, speakers, np.random.default_rng(0))
    assert chosen[speakers == "b"].all()
    prior = Prior(np.zeros(3), np.full(3, 4.0), clips=0)
    out = standardise_per_speaker(features, speakers, labels == NEUTRAL, prior)
    np.testing.assert_allclose(out[speakers == "b"], features[speakers == "b"] / 2.0, rtol=1e-6)
    np.testing.assert_allclose(out[(speakers == "a") & (labels == NEUTRAL)].mean(0), 0.0, atol=1e-9)
