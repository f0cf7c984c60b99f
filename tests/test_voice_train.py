"""Training-side choices of issue 17: corpus-balanced sampling, the "rooms" and "calls" augmentation recipes
and the calls recipe's checkpoint criterion (validation clean and under babble)."""

from __future__ import annotations

import numpy as np

from emotion_core.audio import N_MELS, WINDOW_FRAMES, load_audio, resample
from harness import FIXTURES
from training.voice_babble import BABBLE_SNRS_DB
from training.voice_train import (
    AUGMENT_PRESETS,
    TrainConfig,
    babble_and_clean,
    babbled_validation,
    heard_on_a_call,
    noise_profile,
    sampling_weights,
    training_example,
)


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


def test_calls_recipe_hears_the_codec_copy_or_babble_and_the_other_recipes_hear_the_clip():
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    copy = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    talkers = [(0.2 * rng.standard_normal(12000)).astype(np.float32) for _ in range(5)]
    codec_only = TrainConfig(codec_probability=1.0)
    assert heard_on_a_call(clip, np.random.default_rng(1), codec_only, copy, talkers) is copy
    babble_only = TrainConfig(babble_probability=1.0, babble_snr_db=(10.0, 10.0))
    noisy = heard_on_a_call(clip, np.random.default_rng(1), babble_only, copy, talkers)
    assert noisy.shape == clip.shape and noisy.dtype == np.float32
    added = noisy - clip
    snr = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2) / np.mean(added.astype(np.float64) ** 2))
    assert abs(snr - 10.0) < 0.1
    calls = TrainConfig(**AUGMENT_PRESETS["calls"])
    assert calls.codec_probability > 0 and calls.babble_probability > 0
    for recipe in ("studio", "rooms"):  # no codec, no babble, and the generator untouched (runs repeat)
        config, drawn = TrainConfig(**AUGMENT_PRESETS[recipe]), np.random.default_rng(2)
        assert heard_on_a_call(clip, drawn, config, copy, talkers) is clip
        assert drawn.random() == np.random.default_rng(2).random()


def snr_db(clip: np.ndarray, added: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(clip.astype(np.float64) ** 2) / np.mean(added.astype(np.float64) ** 2)))


def test_babbled_validation_mixes_other_validation_speakers_at_the_snrs_in_turn_and_repeats():
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(8000)).astype(np.float32) for _ in range(3)]
    cache = {"samples": np.concatenate(clips), "sample_offsets": np.array([0, 8000, 16000, 24000]),
             "path": np.array(["a.ogg", "b.ogg", "c.ogg"]), "speaker": np.array(["ravdess_1", "crema-d_2", "tess_x"]),
             "corpus": np.array(["ravdess", "crema-d", "tess"])}
    val = np.array([0, 1, 2])
    babbled = babbled_validation(cache, val, talker_step=1)
    for turn, (clip, heard) in enumerate(zip(clips, babbled, strict=True)):
        assert heard.shape == clip.shape and heard.dtype == np.float32
        assert abs(snr_db(clip, heard - clip) - BABBLE_SNRS_DB[turn]) < 0.1
    # a RAVDESS clip hears the CREMA-D speaker only: never itself, never TESS (the experiment's babble)
    added = babbled[0] - clips[0]
    assert abs(np.corrcoef(added, clips[1])[0, 1]) > 0.99
    assert abs(np.corrcoef(babbled[1] - clips[1], clips[0])[0, 1]) > 0.99
    for again, first in zip(babbled_validation(cache, val, talker_step=1), babbled, strict=True):
        np.testing.assert_array_equal(again, first)


def test_the_calls_criterion_is_the_mean_of_clean_and_babbled_validation_and_keeps_both():
    clean, babbled = {"ravdess": 0.7, "crema-d": 0.6, "score": 0.65}, {"ravdess": 0.4, "crema-d": 0.3, "score": 0.35}
    chosen = babble_and_clean(clean, babbled)
    assert chosen["score"] == 0.5 and chosen["clean_score"] == 0.65 and chosen["babble_score"] == 0.35
    assert chosen["ravdess"] == 0.7  # the per-corpus figures stay the clean ones
