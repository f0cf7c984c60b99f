"""Training-side choices of issue 17: corpus-balanced sampling and the "rooms" augmentation recipe."""

from __future__ import annotations

import numpy as np

from emotion_core.audio import N_MELS, WINDOW_FRAMES, load_audio, resample
from harness import FIXTURES
from training.voice_train import AUGMENT_PRESETS, TrainConfig, noise_profile, sampling_weights, training_example


def test_corpus_power_one_draws_every_corpus_equally_and_zero_keeps_the_old_weights():
    labels = np.array([0, 0, 1, 1, 1, 2, 0, 3])
    corpora = np.array(["crema-d"] * 5 + ["ravdess"] * 2 + ["emovo"])
    balanced = sampling_weights(labels, corpora, TrainConfig(corpus_power=1.0))
    totals = [balanced[corpora == c].sum() for c in ("crema-d", "ravdess", "emovo")]
    np.testing.assert_allclose(totals, 1 / 3)
    old = sampling_weights(labels, corpora, TrainConfig())
    counts = np.bincount(labels).astype(float)
    expected = counts[labels] ** -0.7 * np.where(corpora == "ravdess", 2.0, 1.0)
    np.testing.assert_allclose(old, expected / expected.sum())


def test_rooms_recipe_gives_a_model_input_that_repeats_with_its_seed():
    samples, rate = load_audio(FIXTURES / "speech.wav")  # training takes a clip's 16 kHz samples
    samples = resample(samples, rate)
    config, profile = TrainConfig(**AUGMENT_PRESETS["rooms"]), noise_profile()
    first = training_example(samples, np.random.default_rng(3), profile, config)
    again = training_example(samples, np.random.default_rng(3), profile, config)
    assert first.shape == (WINDOW_FRAMES, N_MELS) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert config.room_mic is not None and TrainConfig().room_mic is None  # the served recipe is unchanged
