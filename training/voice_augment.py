"""Rooms and microphones for training: reverberation, microphone colouring and band limits on log-mels.

Training draws crops from cached log-mels (dB, ``(frames, N_MELS)``), so these act in the mel power
domain, where they are cheap and need no audio:

- :func:`reverberate`: a diffuse late reverberation tail, an exponential energy decay per mel band
  (60 dB in the band's T60; high bands decay faster), mixed at a random direct-to-reverberant ratio.
  In the power domain a room's late tail is the clean power convolved with that decay.
- :func:`microphone`: a smooth random EQ, optionally a band limit (telephone, laptop and headset
  microphones, low-bitrate codecs that drop high bands), then the microphone's own noise floor.
  A fixed EQ alone would be removed again by the runtime's per-band mean removal; it matters
  because of the floor and the band edges, which the model must learn to ignore.

- :func:`scale_frequencies`: vocal tract length perturbation, a new voice with every frequency
  (pitch and formants) scaled by one factor: a deeper or higher voice than the corpora's actors.

Gain needs no augmentation: the features remove each band's mean, so a gain change is invisible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from emotion_core.audio import FMAX, FMIN, HOP_LENGTH, N_MELS, SAMPLE_RATE, hz_to_mel, mel_to_hz

FRAME_SECONDS = HOP_LENGTH / SAMPLE_RATE
DECAY_DB = 60.0  # T60: the time the energy takes to fall by this much
BAND_CENTRES_HZ = mel_to_hz(np.linspace(hz_to_mel(FMIN), hz_to_mel(FMAX), N_MELS + 2))[1:-1]
HIGH_BAND_DECAY = 0.5  # the top band's T60 is this fraction of the bottom band's (air, soft furnishing)
ROLL_OFF_DB_PER_OCTAVE = 24.0  # outside a band limit
MAX_ATTENUATION_DB = 60.0
DB_TO_NEPER = np.float32(np.log(10.0) / 10.0)  # exp(dB * this) = power: faster than 10 ** (dB / 10)


def to_power(db: np.ndarray) -> np.ndarray:
    return np.exp(np.asarray(db, dtype=np.float32) * DB_TO_NEPER)


def to_db(power: np.ndarray) -> np.ndarray:
    return (np.log(np.maximum(power, 1e-30)) / DB_TO_NEPER).astype(np.float32)


@dataclass(frozen=True)
class RoomMicSettings:
    """Random ranges of :func:`room_and_microphone`; a probability of 0 switches that part off."""

    reverb_probability: float = 0.5
    t60_seconds: tuple[float, float] = (0.2, 1.0)
    drr_db: tuple[float, float] = (-3.0, 12.0)  # direct-to-reverberant energy ratio
    microphone_probability: float = 0.6
    eq_db: float = 6.0  # largest boost or cut of the smooth random EQ
    band_limit_probability: float = 0.4
    low_cut_hz: tuple[float, float] = (80.0, 400.0)
    high_cut_hz: tuple[float, float] = (2800.0, 7000.0)
    floor_below_peak_db: tuple[float, float] = (30.0, 60.0)  # the microphone's noise floor
    voice_scale_probability: float = 0.0  # vocal tract length perturbation (off in the first "rooms" runs)
    voice_scale: tuple[float, float] = (0.85, 1.18)


def reverberate(mel_db: np.ndarray, t60_seconds: float, drr_db: float) -> np.ndarray:
    """``(frames, N_MELS)`` dB log-mel plus a late reverberation tail of the given T60 and DRR, float32."""
    power = to_power(mel_db)
    t60 = t60_seconds * np.linspace(1.0, HIGH_BAND_DECAY, N_MELS)
    decay = 10.0 ** (-DECAY_DB / 10.0 * FRAME_SECONDS / t60)  # energy kept per frame, per band
    lags = np.arange(int(np.ceil(t60_seconds / FRAME_SECONDS)) + 1)[:, None]  # 60 dB down at the end
    kernel = np.where(lags > 0, decay[None, :] ** lags, 0.0).astype(np.float32)  # (lags, N_MELS): a unit impulse's tail
    gain = 10.0 ** (-drr_db / 10.0) / kernel.sum(axis=0)
    tail = fftconvolve(power, kernel, axes=0)[: len(power)]  # each band with its own decay
    return to_db(power + gain.astype(np.float32) * np.maximum(tail, 0.0))


def band_limit_db(low_hz: float, high_hz: float) -> np.ndarray:
    """``(N_MELS,)`` dB response of a band-pass from ``low_hz`` to ``high_hz`` with 24 dB/octave slopes."""
    below = np.log2(np.maximum(low_hz / BAND_CENTRES_HZ, 1.0))
    above = np.log2(np.maximum(BAND_CENTRES_HZ / high_hz, 1.0))
    return -np.minimum(ROLL_OFF_DB_PER_OCTAVE * (below + above), MAX_ATTENUATION_DB)


def smooth_eq_db(rng: np.random.Generator, largest_db: float) -> np.ndarray:
    """``(N_MELS,)`` random smooth EQ in dB: three cosines over the mel axis, peak magnitude ``largest_db``."""
    position = np.linspace(0.0, 1.0, N_MELS)
    curve = sum(rng.normal() * np.cos(np.pi * k * position + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3))
    return largest_db * rng.uniform(0.0, 1.0) * curve / (np.abs(curve).max() + 1e-9)


def microphone(mel_db: np.ndarray, rng: np.random.Generator, settings: RoomMicSettings) -> np.ndarray:
    """A log-mel as a random microphone hears it: EQ, perhaps a band limit, then its noise floor."""
    response = smooth_eq_db(rng, settings.eq_db)
    if rng.random() < settings.band_limit_probability:
        response = response + band_limit_db(rng.uniform(*settings.low_cut_hz), rng.uniform(*settings.high_cut_hz))
    coloured = mel_db + response
    floor_db = coloured.max() - rng.uniform(*settings.floor_below_peak_db)  # flat: white noise is flat in mel power
    return to_db(to_power(coloured) + to_power(floor_db))


def scale_frequencies(mel_db: np.ndarray, factor: float) -> np.ndarray:
    """The log-mel of the same sound with every frequency times ``factor`` (> 1: a higher, smaller voice).

    Band ``b`` takes the level found at ``centre_b / factor``, interpolated between band centres on
    the mel axis; beyond the top band the top band's level is kept.
    """
    source_mel = hz_to_mel(BAND_CENTRES_HZ / factor)
    centres_mel = hz_to_mel(BAND_CENTRES_HZ)
    position = np.interp(source_mel, centres_mel, np.arange(N_MELS))  # fractional band index
    low = np.clip(np.floor(position).astype(int), 0, N_MELS - 1)
    high, weight = np.minimum(low + 1, N_MELS - 1), (position - np.floor(position)).astype(np.float32)
    return (mel_db[:, low] * (1.0 - weight) + mel_db[:, high] * weight).astype(np.float32)


def room_and_microphone(mel_db: np.ndarray, rng: np.random.Generator, settings: RoomMicSettings) -> np.ndarray:
    """A random room then a random microphone on a clip's ``(frames, N_MELS)`` dB log-mel (same shape, float32)."""
    if len(mel_db) == 0:
        return mel_db.astype(np.float32)
    if rng.random() < settings.voice_scale_probability:
        mel_db = scale_frequencies(mel_db, rng.uniform(*settings.voice_scale))
    if rng.random() < settings.reverb_probability:
        mel_db = reverberate(mel_db, rng.uniform(*settings.t60_seconds), rng.uniform(*settings.drr_db))
    if rng.random() < settings.microphone_probability:
        mel_db = microphone(mel_db, rng, settings)
    return mel_db.astype(np.float32)
