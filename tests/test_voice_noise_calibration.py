"""The noise term's fit: clips pooled as served, and a term found where noisy windows are confidently wrong."""

import numpy as np
import pytest

from emotion_core.calibration import ChannelCalibration
from emotion_core.reader import pooled
from training.voice_babble import babble
from training.voice_noise_calibration import fit, pooled_clips, with_noise_entry


def table_of(rng: np.random.Generator, clips: int = 200) -> dict:
    """Two windows a clip: clean ones (contrast 30 dB) confidently right, noisy ones (10 dB) confidently wrong."""
    labels = rng.integers(0, 7, clips)
    rows, contrast, owner = [], [], []
    for i, label in enumerate(labels):
        noisy = i % 2 == 1
        wrong = (label + 1 + rng.integers(0, 6)) % 7
        row = np.full(7, 0.1 / 6)
        row[wrong if noisy else label] = 0.9
        rows.append(row), contrast.append(10.0 if noisy else 30.0), owner.append(i)
    return {"rows": np.array(rows), "contrast": np.array(contrast), "pooled": np.ones(clips),
            "clip": np.array(owner), "label": labels}


def test_clips_are_pooled_as_the_reader_pools_them():
    rng = np.random.default_rng(0)
    rows = rng.dirichlet(np.ones(7), 5)
    voiced = np.array([True, False, True, True, False])
    table = {"rows": rows, "contrast": np.full(5, 40.0), "pooled": np.array([1.0, 0, 1, 1, 0]),
             "clip": np.array([0, 0, 0, 1, 1]), "label": np.array([0, 1])}
    calibration = ChannelCalibration(1.3, None, 17.0, 0.5)
    got = pooled_clips(table, calibration)
    for clip, members in ((0, [0, 1, 2]), (1, [3, 4])):
        expected = pooled(calibration.apply(rows[members], table["contrast"][members]), voiced[members])
        assert got[clip] == pytest.approx(np.array(list(expected.values())), abs=1e-6)


def test_the_fit_softens_the_windows_that_are_confidently_wrong():
    knee, slope, _ = fit(table_of(np.random.default_rng(1)), ChannelCalibration(1.0))
    assert slope > 0 and 10.0 < knee <= 30.0  # the noisy windows (10 dB) are under the knee, the clean ones not


def test_babble_is_several_voices_at_unit_level():
    talkers = [np.sin(np.linspace(0, 40 * k, 800)).astype(np.float32) for k in range(1, 6)]
    mix = babble(talkers, 5000, np.random.default_rng(0))
    assert mix.size == 5000 and np.sqrt(np.mean(mix ** 2)) == pytest.approx(1.0)


def test_no_term_is_fitted_where_noisy_windows_are_read_as_well_as_clean_ones():
    table = table_of(np.random.default_rng(2))
    table["rows"][1::2] = table["rows"][0::2][: table["rows"][1::2].shape[0]]  # noisy windows now read as clean ones
    table["label"][1::2] = table["label"][0::2][: table["label"][1::2].size]
    assert fit(table, ChannelCalibration(1.0))[:2] == (None, 0.0)


def test_the_noise_term_goes_beside_a_served_calibration_or_alone_where_none_was_served():
    served = {"temperature": 1.2, "class_bias": [0.1] * 7, "fit": {"script": "training/voice_calibration.py"}}
    both = ChannelCalibration.from_entry({"calibration": with_noise_entry(served, 16.0, 0.7)})
    assert (both.temperature, both.class_bias) == (1.2, (0.1,) * 7)
    assert (both.contrast_knee_db, both.contrast_slope) == (16.0, 0.7)
    alone = ChannelCalibration.from_entry({"calibration": with_noise_entry(None, 16.0, 0.7)})
    assert (alone.temperature, alone.class_bias, alone.contrast_knee_db, alone.contrast_slope) == (1.0, None, 16.0, 0.7)
    assert alone.temperatures(np.array([30.0, 6.0])).tolist() == pytest.approx([1.0, 1.0 + 0.7 * 10.0])
