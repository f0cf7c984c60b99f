"""Babble: other voices talking at once behind the speaker (a café, an open office, a family room).

One definition for the noise calibration's check (``training.voice_noise_calibration``: four TESS
talkers) and for training's babble augmentation (``training.voice_train``: training clips of other
corpora's speakers), so the check and the recipe mix voices the same way but never from the same talkers.
"""

from __future__ import annotations

import zlib

import numpy as np

BABBLE_TALKERS = 4
BABBLE_SNRS_DB = (20.0, 10.0, 5.0, 0.0)  # where babble is read: the calls experiment and its checkpoint choice


def seeded(key: str, name: str) -> np.random.Generator:
    """A generator seeded by a clip's ``key`` (its path) and a condition's ``name``: every file hears the same."""
    return np.random.default_rng([zlib.crc32(key.encode()), zlib.crc32(name.encode())])


def babble(talkers: list[np.ndarray], count: int, rng: np.random.Generator, voices: int = BABBLE_TALKERS) -> np.ndarray:
    """``count`` samples of ``voices`` voices talking at once (each a chain of random ``talkers`` clips at
    the same level), unit RMS."""
    mix = np.zeros(count)
    for _ in range(voices):
        chain: list[np.ndarray] = []
        while sum(piece.size for piece in chain) < count:
            piece = talkers[int(rng.integers(len(talkers)))]
            chain.append(piece / max(float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))), 1e-9))
        mix += np.concatenate(chain)[:count]
    return mix / max(float(np.sqrt(np.mean(mix ** 2))), 1e-12)


def add_babble(samples: np.ndarray, rng: np.random.Generator, snr_db: float, talkers: list[np.ndarray],
               voices: int = BABBLE_TALKERS) -> np.ndarray:
    """Babble of ``voices`` voices added at ``snr_db`` below the clip's mean power."""
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    noise = babble(talkers, samples.size, rng, voices) * np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (samples + noise).astype(np.float32)
