"""The speech-embedding experiment's own steps (issue 17): pooling, and the front end's windowing where
the wheel's model files have been fetched (``python -m training.voice_speech_embedding fetch``)."""

from __future__ import annotations

import numpy as np
import pytest

from training.voice_speech_embedding import MODEL_DIR, MODELS, STEP_FRAMES, clip_embeddings, pooled


def test_pooling_is_the_mean_then_the_deviation_of_each_dimension():
    embeddings = np.array([[1.0, 4.0], [3.0, 4.0], [5.0, 4.0]])
    np.testing.assert_allclose(pooled(embeddings), [3.0, 4.0, np.sqrt(8 / 3), 0.0])


fetched = pytest.mark.skipif(not all((MODEL_DIR / name).exists() for name in MODELS),
                             reason="the wheel's model files are not fetched")


@fetched
def test_one_embedding_every_80_ms_and_at_least_one_for_a_short_clip():
    rng = np.random.default_rng(0)
    two_seconds = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    longer = clip_embeddings(np.concatenate([two_seconds, two_seconds[:16000]]))
    shorter = clip_embeddings(two_seconds)
    assert shorter.shape[1] == longer.shape[1] == 96
    assert longer.shape[0] - shorter.shape[0] == pytest.approx(1.0 / (STEP_FRAMES * 0.01), abs=1)
    assert len(clip_embeddings(two_seconds[:2000])) >= 1  # an eighth of a second still gives one
    assert np.isfinite(longer).all()
