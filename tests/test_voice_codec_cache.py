"""Codec copies of training clips (training.voice_codec_cache): coded, as long as their clips, apart."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_core.audio import SAMPLE_RATE, resample
from training.voice_codec_cache import BITRATES_KBPS, bitrate_of, codec_copies, load


def power_db(samples: np.ndarray) -> float:
    return 10.0 * np.log10(np.mean(np.square(samples, dtype=np.float64)) + 1e-20)


@pytest.fixture(scope="module")
def speech16(speech) -> np.ndarray:
    samples, rate = speech
    return resample(samples, rate) if rate != SAMPLE_RATE else samples


def test_clips_coded_in_one_stream_keep_their_length_and_level_and_do_not_hear_each_other(speech16):
    silence = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    coded_speech, coded_silence, coded_again = codec_copies(([speech16, silence, speech16[:8000]], 12))
    assert coded_speech.shape == speech16.shape and coded_again.shape == (8000,)
    assert coded_silence.shape == silence.shape
    assert abs(power_db(coded_speech) - power_db(speech16)) < 3.0  # the speech is still there
    assert not np.allclose(coded_speech, speech16, atol=1e-3)  # and it was really coded
    assert np.corrcoef(coded_speech, speech16)[0, 1] > 0.5  # in time with its clip
    assert power_db(coded_silence) < power_db(speech16) - 50.0  # the gap keeps the speech out of its neighbour


def test_each_clip_has_one_bitrate_from_the_list():
    rates = [bitrate_of(f"clip_{k}.wav") for k in range(200)]
    assert rates == [bitrate_of(f"clip_{k}.wav") for k in range(200)]
    assert set(rates) == set(BITRATES_KBPS)


def test_copies_made_from_another_cache_are_refused(tmp_path):
    cache = {"path": np.array(["a.wav", "b.wav", "c.wav"])}
    copies = {"index": np.array([0, 2]), "path": np.array(["a.wav", "c.wav"]), "kbps": np.array([8, 12]),
              "samples": np.arange(5, dtype=np.float32), "sample_offsets": np.array([0, 2, 5])}
    np.savez(tmp_path / "codec.npz", **copies)
    loaded = load(tmp_path / "codec.npz", cache)
    assert sorted(loaded) == [0, 2] and loaded[2].tolist() == [2.0, 3.0, 4.0]
    np.savez(tmp_path / "other.npz", **{**copies, "path": np.array(["a.wav", "b.wav"])})
    with pytest.raises(ValueError, match="another feature cache"):
        load(tmp_path / "other.npz", cache)
