"""Recording-condition degradations (training.voice_conditions): each does what its constant says."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from emotion_core.audio import SAMPLE_RATE, resample
from training.voice_conditions import (
    CONDITIONS,
    MIC_GAIN_DB,
    SNR_DB,
    T60_SECONDS,
    Clip,
    condition_scores,
    degrade,
    markdown_table,
)


@pytest.fixture(scope="module")
def speech16(speech) -> np.ndarray:
    samples, rate = speech
    return resample(samples, rate) if rate != SAMPLE_RATE else samples


def power_db(samples: np.ndarray) -> float:
    return 10.0 * np.log10(np.mean(np.square(samples, dtype=np.float64)))


def band_power(samples: np.ndarray, low: float, high: float) -> float:
    frequencies, density = signal.welch(samples, fs=SAMPLE_RATE, nperseg=1024)
    return float(np.mean(density[(frequencies >= low) & (frequencies < high)]))


def test_noise_is_added_at_the_stated_snr_and_is_pink(speech16):
    noise = degrade(speech16, "noise", "clip").astype(np.float64) - speech16
    assert abs(power_db(speech16) - power_db(noise) - SNR_DB) < 0.5
    # pink: equal power per octave, i.e. the density falls 3 dB per octave (9 dB over three octaves)
    drop = 10 * np.log10(band_power(noise, 250, 500) / band_power(noise, 2000, 4000))
    assert 7.5 < drop < 10.5


def test_reverb_tail_decays_at_the_stated_t60():
    click = np.zeros(SAMPLE_RATE, dtype=np.float32)
    click[0] = 0.5
    tail = degrade(click, "reverb", "click").astype(np.float64)[1:]
    frame = SAMPLE_RATE // 50  # 20 ms frames
    energy_db = 10 * np.log10(np.add.reduceat(tail ** 2, np.arange(0, tail.size, frame)) + 1e-30)
    seconds = np.arange(energy_db.size) * frame / SAMPLE_RATE
    fitted = seconds < 0.8 * T60_SECONDS  # before the impulse response ends
    slope = np.polyfit(seconds[fitted], energy_db[fitted], 1)[0]  # dB per second
    assert abs(-60.0 / slope - T60_SECONDS) < 0.1 * T60_SECONDS
    assert energy_db[seconds > 1.05 * T60_SECONDS].max() < energy_db[0] - 80  # the room ends after T60


def test_telephone_band_removes_energy_above_3400_hz():
    noise = np.random.default_rng(3).standard_normal(2 * SAMPLE_RATE).astype(np.float32) * 0.1
    phone = degrade(noise, "telephone", "noise")
    assert phone.size == noise.size
    passband = band_power(phone, 500, 3000)
    assert band_power(phone, 3600, 8000) < passband * 10 ** (-25 / 10)
    assert band_power(phone, 4200, 8000) < passband * 10 ** (-50 / 10)
    assert band_power(phone, 0, 150) < passband * 10 ** (-25 / 10)
    assert abs(10 * np.log10(passband / band_power(noise, 500, 3000))) < 1.5  # speech band kept


def test_codec_round_trip_returns_16_khz_audio_of_nearly_the_same_length(speech16):
    coded = degrade(speech16, "codec", "speech")
    assert coded.dtype == np.float32
    assert abs(coded.size - speech16.size) <= 0.02 * SAMPLE_RATE  # within 20 ms at 16 kHz
    assert abs(power_db(coded[: speech16.size]) - power_db(speech16)) < 3.0  # the speech is still there
    assert not np.allclose(coded[: speech16.size], speech16, atol=1e-3)  # and it was really coded


def test_cheap_microphone_is_20_db_quieter_in_band_and_16_bit():
    tone = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    quiet = degrade(tone, "cheap_mic", "tone")
    assert abs(power_db(quiet[SAMPLE_RATE // 10:]) - power_db(tone) - MIC_GAIN_DB) < 0.5
    levels = quiet.astype(np.float64) * 32768
    assert np.abs(levels - np.round(levels)).max() < 1e-4  # on the 16-bit grid
    hum = (0.3 * np.sin(2 * np.pi * 50 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    assert power_db(degrade(hum, "cheap_mic", "hum")[SAMPLE_RATE // 10:]) < power_db(hum) + MIC_GAIN_DB - 20


@pytest.mark.parametrize("condition", ["noise", "reverb"])
def test_same_seed_same_audio_and_another_clip_or_seed_other_audio(speech16, condition):
    first = degrade(speech16, condition, "a.ogg", seed=0)
    assert np.array_equal(first, degrade(speech16, condition, "a.ogg", seed=0))
    assert not np.array_equal(first, degrade(speech16, condition, "b.ogg", seed=0))
    assert not np.array_equal(first, degrade(speech16, condition, "a.ogg", seed=1))


def test_every_condition_is_deterministic_and_clean_is_identity(speech16):
    short = speech16[:SAMPLE_RATE]
    assert np.array_equal(degrade(short, "clean", "x"), short)
    for condition in CONDITIONS:
        assert np.array_equal(degrade(short, condition, "x"), degrade(short, condition, "x")), condition
    with pytest.raises(ValueError, match="unknown condition"):
        degrade(short, "underwater", "x")


def test_scores_are_per_condition_per_corpus_uar_and_their_mean():
    clips = [Clip("a", 0, "ravdess"), Clip("b", 1, "ravdess"), Clip("c", 0, "crema-d"), Clip("d", 1, "crema-d")]
    predicted = {"clean": np.array([0, 1, 0, 1]), "noise": np.array([0, 0, 0, 0])}
    result = condition_scores(predicted, clips)
    assert result.uar["clean"] == {"crema-d": 1.0, "ravdess": 1.0, "mean": 1.0}
    assert result.uar["noise"]["mean"] == 0.5
    assert result.score == pytest.approx(0.75)
    table = markdown_table({"m": result})
    assert "| m | 100.0 (100.0 / 100.0) | 50.0 (50.0 / 50.0) | **75.0** |" in table
