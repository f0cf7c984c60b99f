"""The per-voice frequency warp probe's estimate: it finds a known warp, and a tilt does not move it."""

import numpy as np

from training.voice_augment import scale_frequencies
from training.voice_warp_probe import detrended, reference_clips, set_names, warp_factor


def voice_spectrum() -> np.ndarray:
    """A smooth mean spectrum (dB per mel band) with formant-like peaks."""
    bands = np.arange(64, dtype=np.float64)
    peaks = sum(height * np.exp(-0.5 * ((bands - centre) / 2.5) ** 2)
                for centre, height in ((14, 12.0), (27, 9.0), (38, 7.0), (47, 5.0)))
    return -0.3 * bands + peaks


def test_the_warp_that_undoes_a_known_warp_is_found():
    reference = voice_spectrum()
    for factor in (0.9, 1.1):
        lowered = scale_frequencies(reference[None, :].astype(np.float32), factor)[0]  # this voice, warped
        found = warp_factor(lowered, reference)
        assert abs(found * factor - 1.0) <= 0.03  # the found factor undoes it, within a grid step
    assert warp_factor(reference, reference) == 1.0


def test_a_microphone_tilt_is_not_a_voices_size():
    reference = voice_spectrum()
    tilted = reference + 0.4 * np.arange(64) - 20.0  # a brighter microphone, another gain
    assert warp_factor(tilted, reference) == 1.0
    assert np.allclose(detrended(tilted), detrended(reference))


def test_sets_and_reference_voices():
    assert set_names({"corpus": "emovo", "split": "test"}) == ["emovo:all", "emovo:test"]
    assert set_names({"corpus": "emovo", "split": "train"}) == ["emovo:all", "emovo:dev"]
    assert set_names({"corpus": "ravdess", "split": "train"}) == []
    assert set_names({"corpus": "crema-d", "split": "val"}) == ["crema-d:val"]
    assert set_names({"corpus": "urdu", "split": "test"}) == ["urdu:all"]
    clips = ([{"corpus": "tess", "split": "train", "speaker": "a"}] * 30 + [{"corpus": "emovo", "split": "train",
             "speaker": "b"}] * 5 + [{"corpus": "ravdess", "split": "val", "speaker": "c"}] * 5)
    chosen = reference_clips(clips, per_voice=10)
    assert len(chosen) == 10 and all(clips[i]["speaker"] == "a" for i in chosen)  # training voices of its corpora
