"""The voice channel's own calibration: what it does to scores, that the served path applies it to every
voice window, and the pieces of the script that fits and judges it (on constructed numbers)."""

import numpy as np
import pytest

from emotion_core import EMOTIONS, EmotionReader, audio, windows
from emotion_core.analysis import VOICE_MODEL, default_reader
from emotion_core.calibration import UNCALIBRATED, ChannelCalibration, calibrate
from emotion_core.weights import WEIGHTS_DIR, load_manifest
from training.voice_calibration import Condition, collapse, undone, verdict

SERVED_VOICE = WEIGHTS_DIR / "voice_emotion.tflite"
VOICE_FLOAT = WEIGHTS_DIR / "voice_emotion_float.tflite"
BIAS = (-0.1, 0.0, -0.5, 0.1, 0.0, 0.3, 0.2)


def scores(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(len(EMOTIONS)), size=rows).astype(np.float32)


def test_no_calibration_gives_the_scores_back_untouched():
    given = scores(3)
    assert UNCALIBRATED.apply(given) is given
    assert ChannelCalibration.from_entry({}) == UNCALIBRATED
    assert not UNCALIBRATED.changes_scores


def test_a_calibration_is_read_from_an_entry_and_applied_as_calibrate_does():
    calibration = ChannelCalibration.from_entry({"calibration": {"temperature": 1.5, "class_bias": list(BIAS)}})
    given = scores(4)
    calibrated = calibration.apply(given)
    assert calibrated.dtype == given.dtype
    np.testing.assert_allclose(calibrated, calibrate(given, 1.5, BIAS), rtol=1e-6)
    assert not np.allclose(calibrated, given)
    np.testing.assert_allclose(undone(calibrated, calibration), given, atol=1e-5)  # the script's inverse


@pytest.mark.parametrize("given, message", [({"temperature": 0.0}, "positive"),
                                            ({"class_bias": [0.1, 0.2]}, "one value")])
def test_a_broken_calibration_fails(given, message):
    with pytest.raises(ValueError, match=message):
        ChannelCalibration.from_entry({"calibration": given})


def test_the_served_voice_is_calibrated_on_every_window_whichever_way_the_reader_is_built(speech):
    entry = load_manifest()["models"][VOICE_MODEL]
    served = default_reader().voice_calibration
    assert served == ChannelCalibration.from_entry(entry) and served.changes_scores
    same_file = EmotionReader.with_models(voice_model=SERVED_VOICE)
    assert same_file.voice_calibration == served
    assert EmotionReader.with_models(voice_model=VOICE_FLOAT).voice_calibration == UNCALIBRATED  # another network
    mono = audio.resample(*speech)[: 2 * audio.WINDOW_SAMPLES]
    raw = np.stack([default_reader().voice_model.predict(windows.window_input(piece, same_file.voice_normalisation))
                    for piece in (mono[: audio.WINDOW_SAMPLES], mono[audio.WINDOW_SAMPLES:])])
    read = same_file.voice_probabilities([mono[: audio.WINDOW_SAMPLES], mono[audio.WINDOW_SAMPLES:]])
    np.testing.assert_allclose(read, served.apply(raw), rtol=1e-6)
    assert not np.allclose(read, raw)


def test_a_clip_reports_the_mean_of_its_calibrated_pooled_windows_only():
    probs = scores(5, seed=1)
    condition = Condition(probs, np.array([0, 0, 0, 1, 1]), np.array([1, 0, 1, 1, 1]), np.array([2, 3]))
    reported = condition.reported(1.3, np.array(BIAS))
    calibrated = calibrate(probs, 1.3, BIAS)
    np.testing.assert_allclose(reported[0], calibrated[[0, 2]].mean(axis=0))
    np.testing.assert_allclose(reported[1], calibrated[[3, 4]].mean(axis=0))
    raw_means = [probs[[0, 2]].mean(axis=0), probs[[3, 4]].mean(axis=0)]
    np.testing.assert_allclose(condition.reported(), raw_means, rtol=1e-6)


def test_collapse_counts_the_largest_share_ratio_and_the_absent_classes():
    labels = np.array([0, 0, 3, 3])
    predicted = np.eye(len(EMOTIONS))[[0, 0, 0, 2]]  # angry read 3 times out of 4, one clip as fear (absent)
    assert collapse(predicted, labels) == {"collapse_ratio": 1.5, "absent_share": 0.25}


def held(raw: float, calibrated: float, nll_change: float = -0.1) -> dict:
    return {"raw": {"uar": raw, "nll": 1.0}, "calibrated": {"uar": calibrated, "nll": 1.0 + nll_change}}


@pytest.mark.parametrize("conditions, serve", [
    ({"a": held(0.60, 0.595), "b": held(0.30, 0.33), "c": held(0.30, 0.33)}, True),   # +1.8 mean, worst -0.5
    ({"a": held(0.60, 0.575), "b": held(0.30, 0.35), "c": held(0.30, 0.34)}, False),  # one condition loses 2.5
    ({"a": held(0.60, 0.60), "b": held(0.30, 0.31), "c": held(0.30, 0.30)}, False),   # +0.33 mean: noise
    ({"a": held(0.60, 0.60, 0.1), "b": held(0.30, 0.33, 0.1), "c": held(0.30, 0.33, 0.1)}, False),  # NLL worse
])
def test_the_rule_serves_only_a_clear_held_out_gain(conditions, serve):
    assert verdict(conditions)["serve"] is serve
