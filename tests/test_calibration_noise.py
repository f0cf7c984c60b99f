"""The voice channel's noise term: speech contrast falls with noise, and only low-contrast windows are softened."""

import json

import numpy as np
import pytest

from emotion_core import audio
from emotion_core.calibration import ChannelCalibration, calibrate


def speech_like_mel(rng: np.random.Generator, frames: int = 300) -> np.ndarray:
    """A log-mel whose bands switch on and off as syllables do (loud 0 dB, gaps -45 dB)."""
    on = rng.random((frames, audio.N_MELS)) < 0.5
    return np.where(on, 0.0, -45.0) + rng.normal(0.0, 2.0, (frames, audio.N_MELS))


def test_noise_filling_the_gaps_lowers_the_contrast():
    rng = np.random.default_rng(0)
    clean = speech_like_mel(rng)
    power = 10.0 ** (clean / 10.0)
    noisy = 10.0 * np.log10(power + 10.0 ** (-12.0 / 10.0))  # a noise floor 12 dB under the loud frames
    assert audio.band_contrast_db(clean) > 40.0
    assert 11.0 < audio.band_contrast_db(noisy) < 16.0  # the floor, and the loud frames' own spread
    assert audio.band_contrast_db(clean[:1]) == 0.0


def test_the_noise_term_softens_only_windows_below_the_knee():
    term = ChannelCalibration(1.2, None, contrast_knee_db=20.0, contrast_slope=0.5)
    assert term.temperatures(np.array([35.0, 20.0, 16.0])) == pytest.approx([1.2, 1.2, 1.2 * 3.0])
    sure = np.array([[0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01]] * 2)
    read = term.apply(sure, np.array([30.0, 10.0]))
    assert read[0] == pytest.approx(calibrate(sure[0], 1.2), abs=1e-6)  # a clean window: as before
    assert read[1] == pytest.approx(calibrate(sure[1], 1.2 * 6.0), abs=1e-6)  # a noisy one: much flatter
    assert read[1].max() < 0.4 < read[0].max() and read[1].argmax() == read[0].argmax()  # the top emotion stays
    assert term.apply(sure) == pytest.approx(calibrate(sure, 1.2), abs=1e-6)  # no contrasts: read as clean
    assert term.drowned(np.array([30.0, 20.0, 19.9])).tolist() == [False, False, True]
    assert not ChannelCalibration(1.2).drowned(np.array([5.0])).any()  # no term: nothing is drowned


def test_the_manifest_entry_carries_the_term():
    entry = json.loads(json.dumps({"calibration": {"temperature": 1.1, "class_bias": [0.0] * 7,
                                                   "noise": {"contrast_knee_db": 18.0, "contrast_slope": 0.25}}}))
    loaded = ChannelCalibration.from_entry(entry)
    assert (loaded.contrast_knee_db, loaded.contrast_slope) == (18.0, 0.25)
    assert ChannelCalibration.from_entry({"calibration": {"temperature": 1.1}}).contrast_knee_db is None
    with pytest.raises(ValueError):
        ChannelCalibration(1.0, None, 18.0, -0.1)
