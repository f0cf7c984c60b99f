"""The per-voice frequency warp probe's estimate: it finds a known warp, and a tilt does not move it."""

import numpy as np
import pytest

from training.voice_augment import scale_frequencies
from training.voice_warp_probe import detrended, probe_sets, reference_clips, warp_factor


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
    sets = probe_sets([{"corpus": "emovo", "split": "test"}, {"corpus": "emovo", "split": "train"},
                       {"corpus": "ravdess", "split": "train"}, {"corpus": "crema-d", "split": "val"},
                       {"corpus": "urdu", "split": "test"}])
    assert {name: members for name, members in sets.items() if members} == {
        "emovo:all": [0, 1], "emovo:test": [0], "emovo:dev": [1], "crema-d:val": [3], "urdu:all": [4]}
    clips = ([{"corpus": "tess", "split": "train", "speaker": "a"}] * 30 + [{"corpus": "emovo", "split": "train",
             "speaker": "b"}] * 5 + [{"corpus": "ravdess", "split": "val", "speaker": "c"}] * 5)
    chosen = reference_clips(clips, per_voice=10)
    assert len(chosen) == 10 and all(clips[i]["speaker"] == "a" for i in chosen)  # training voices of its corpora


def synthetic_vowel(formants, f0: float = 120.0, seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    """A glottal pulse train through three resonators (bandwidths 80-120 Hz)."""
    from scipy.signal import lfilter

    signal = np.zeros(int(rate * seconds))
    signal[:: int(rate // f0)] = 1.0
    for frequency, bandwidth in zip(formants, (80.0, 90.0, 120.0), strict=True):
        radius = np.exp(-np.pi * bandwidth / rate)
        signal = lfilter([1.0], [1.0, -2 * radius * np.cos(2 * np.pi * frequency / rate), radius ** 2], signal)
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)


def test_a_vowels_formants_are_found():
    from training.voice_warp_probe import clip_formants

    found = clip_formants(synthetic_vowel((700.0, 1200.0, 2600.0)))
    assert len(found) > 50
    assert np.allclose(np.median(found, axis=0), (700.0, 1200.0, 2600.0), rtol=0.05)
    assert len(clip_formants(np.zeros(16000, np.float32))) == 0  # silence has no voiced frame


def test_a_voice_is_warped_to_the_nearer_kind_of_training_voice():
    from training.voice_warp_probe import FORMANT_FACTORS, formant_factor, formant_groups

    low, high = np.array([500.0, 1500.0, 2500.0]), np.array([600.0, 1750.0, 2950.0])
    groups = formant_groups(np.stack([low * 0.98, low * 1.02, high * 0.98, high * 1.02]))
    assert np.allclose(np.sort(groups[:, 0]), (500.0, 600.0), rtol=0.02)
    assert formant_factor(high * 1.1, groups) == pytest.approx(1 / 1.1, rel=0.02)  # lowered to the higher group
    assert formant_factor(low, groups) == pytest.approx(1.0, abs=0.01)
    assert formant_factor(low * 0.5, groups) == FORMANT_FACTORS[1]  # never beyond the limits


def test_averaged_warps_read_the_mean_of_the_model_outputs():
    """The averaging arm feeds the model each warp of a window and averages its outputs before calibrating."""
    from emotion_core.calibration import ChannelCalibration
    from training.voice_warp_probe import AVERAGE_FACTORS, clip_reading, clip_scores, warped_input

    class UpperBandModel:  # its first class's score: the share of the window's energy above band 30
        def predict(self, window: np.ndarray) -> np.ndarray:
            energy = np.square(window).sum(axis=0).ravel()
            share = float(energy[31:].sum() / energy.sum())
            return np.array([share, 1 - share, 0, 0, 0, 0, 0], dtype=np.float32)

    bands = np.arange(64)
    peak = 30.0 * np.exp(-0.5 * ((bands - 31.0) / 1.5) ** 2)  # a resonance near the model's boundary
    mel = np.stack([peak if frame % 2 else np.zeros(64) for frame in range(301)]).astype(np.float32)
    model, as_is, voiced = UpperBandModel(), ChannelCalibration(), np.array([True])
    shares = [float(model.predict(warped_input(mel, factor))[0]) for factor in AVERAGE_FACTORS]
    assert shares[0] < 0.4 and shares[2] > 0.8  # lowered, the resonance falls below the boundary; raised, above
    averaged = clip_scores(model, as_is, [mel], voiced, AVERAGE_FACTORS)
    assert averaged["angry"] == pytest.approx(np.mean(shares), abs=1e-5)
    assert clip_scores(model, as_is, [mel], voiced, (1.0,))["angry"] == pytest.approx(shares[1], abs=1e-5)
    assert clip_reading(model, as_is, [mel], voiced, AVERAGE_FACTORS) == (0 if np.mean(shares) > 0.5 else 1)
