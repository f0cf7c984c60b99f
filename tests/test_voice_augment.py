"""Rooms and microphones on log-mels (training.voice_augment): shapes, determinism, and the physics they claim."""

from __future__ import annotations

import numpy as np

from emotion_core.audio import N_MELS, log_mel
from training.voice_augment import (
    BAND_CENTRES_HZ,
    RoomMicSettings,
    band_limit_db,
    microphone,
    reverberate,
    room_and_microphone,
)


def speech_like_mel(seed: int = 0) -> np.ndarray:
    """A log-mel (dB) of 2 s of bursts of harmonic sound with silent gaps."""
    rng = np.random.default_rng(seed)
    t = np.arange(32000) / 16000
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))
    envelope = (np.sin(2 * np.pi * 2.0 * t) > 0.3).astype(float)
    return log_mel((0.1 * tone * envelope + 1e-4 * rng.standard_normal(t.size)).astype(np.float32))


def test_room_and_microphone_keep_shape_and_dtype_and_repeat_with_a_seed():
    mel = speech_like_mel()
    settings = RoomMicSettings(reverb_probability=1.0, microphone_probability=1.0, band_limit_probability=1.0)
    first = room_and_microphone(mel, np.random.default_rng(7), settings)
    again = room_and_microphone(mel, np.random.default_rng(7), settings)
    other = room_and_microphone(mel, np.random.default_rng(8), settings)
    assert first.shape == mel.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert room_and_microphone(mel[:0], np.random.default_rng(0), settings).shape == (0, N_MELS)


def test_switched_off_parts_leave_the_mel_unchanged():
    mel = speech_like_mel()
    off = RoomMicSettings(reverb_probability=0.0, microphone_probability=0.0)
    np.testing.assert_array_equal(room_and_microphone(mel, np.random.default_rng(0), off), mel)


def test_reverberation_fills_the_gaps_and_a_longer_room_fills_them_more():
    mel = speech_like_mel()
    gaps = mel.max(axis=1) < mel.max() - 60  # the silent frames between bursts
    assert gaps.sum() > 20
    short, long = reverberate(mel, 0.2, 0.0), reverberate(mel, 1.0, 0.0)
    assert short.shape == mel.shape and short.dtype == np.float32
    assert np.all(short >= mel - 1e-3)  # reverberation only adds energy
    assert short[gaps].mean() > mel[gaps].mean() + 10
    assert long[gaps].mean() > short[gaps].mean() + 5
    added = 10 * np.log10((10 ** (short / 10)).sum() / (10 ** (mel / 10)).sum())
    assert 2.0 < added < 3.05  # DRR 0 dB: the tail's energy equals the direct sound's (less what runs off the end)


def test_band_limit_passes_the_band_and_cuts_outside():
    response = band_limit_db(300.0, 3400.0)
    inside = (BAND_CENTRES_HZ > 300) & (BAND_CENTRES_HZ < 3400)
    assert np.all(response[inside] == 0.0)
    assert response[BAND_CENTRES_HZ > 6800].max() <= -24.0  # an octave above the edge
    assert response.min() >= -60.0


def test_a_band_limited_microphone_leaves_only_its_floor_above_the_cut():
    mel = speech_like_mel()
    settings = RoomMicSettings(eq_db=0.0, band_limit_probability=1.0, low_cut_hz=(100.0, 100.0),
                               high_cut_hz=(3000.0, 3000.0), floor_below_peak_db=(40.0, 40.0))
    heard = microphone(mel, np.random.default_rng(0), settings)
    high = BAND_CENTRES_HZ > 6000
    assert heard[:, high].std() < 1.0 < mel[:, high].std()  # only the flat floor is left up there
    assert heard.min() >= mel.max() - 40.0 - 1e-3


def test_scaling_frequencies_moves_a_harmonic_by_that_factor():
    from training.voice_augment import scale_frequencies

    t = np.arange(16000) / 16000
    mel = log_mel((0.1 * np.sin(2 * np.pi * 1500 * t)).astype(np.float32))
    for factor in (0.85, 1.0, 1.18):
        peak = BAND_CENTRES_HZ[scale_frequencies(mel, factor).mean(axis=0).argmax()]
        assert abs(peak / (1500 * factor) - 1) < 0.06  # within about a band
    assert scale_frequencies(mel, 1.1).dtype == np.float32 and scale_frequencies(mel, 1.1).shape == mel.shape
    np.testing.assert_allclose(scale_frequencies(mel, 1.0), mel, atol=1e-4)
