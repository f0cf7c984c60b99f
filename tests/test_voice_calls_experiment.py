"""The calls experiment's babble reading (training.voice_calls_experiment): the served windows, babble added."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_core.audio import SAMPLE_RATE, resample
from emotion_core.classifier import LiteClassifier
from emotion_core.reader import pooling_mask
from emotion_core.weights import WEIGHTS_DIR
from training.voice_calls_experiment import babble_readings, check_talkers
from training.voice_data import clip_windows


@pytest.fixture(scope="module")
def one_clip_cache(speech) -> dict:
    samples, rate = speech
    samples = resample(samples, rate) if rate != SAMPLE_RATE else samples
    tess = (0.1 * np.random.default_rng(0).standard_normal(SAMPLE_RATE)).astype(np.float32)
    return {"samples": np.concatenate([samples, tess]).astype(np.float32),
            "sample_offsets": np.array([0, samples.size, samples.size + tess.size]),
            "path": np.array(["speech.wav", "tess.wav"]), "corpus": np.array(["ravdess", "tess"])}


def test_babble_far_below_the_speech_reads_as_the_clip_and_loud_babble_changes_the_reading(one_clip_cache):
    model, talkers = LiteClassifier(WEIGHTS_DIR / "voice_emotion.tflite", num_threads=1), check_talkers(one_clip_cache)
    assert len(talkers) == 1 and talkers[0].size == SAMPLE_RATE  # the TESS clips only
    inputs, voiced = clip_windows(one_clip_cache["samples"][: one_clip_cache["sample_offsets"][1]])
    clean = model.predict_batch(inputs[..., None].astype(np.float32))[pooling_mask(voiced)].mean(axis=0)
    quiet = babble_readings(model, one_clip_cache, np.array([0]), 80.0, talkers)
    loud = babble_readings(model, one_clip_cache, np.array([0]), 0.0, talkers)
    assert quiet.shape == loud.shape == (1, 7)
    np.testing.assert_allclose(quiet[0], clean, atol=0.02)
    assert np.abs(loud[0] - clean).max() > 0.05
    np.testing.assert_array_equal(loud, babble_readings(model, one_clip_cache, np.array([0]), 0.0, talkers))
