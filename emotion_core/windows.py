"""The one windowing rule of the voice channel: where a recording's windows lie, what the model sees of each.

A recording of 16 kHz samples is cut into :data:`~emotion_core.audio.WINDOW_SECONDS` windows that
start every WINDOW_HOP_SECONDS on the recording's own timeline, plus a tail window that ends where
the recording ends; a recording shorter than a window is one window. The grid does not depend on
the length: the windows found in the first ``n`` samples stay the same as more arrive, which is how
the video and live paths place them while the sound is still coming. Each window is fed to the
model as :func:`window_input`: its own leading and trailing non-speech cut
(:func:`~emotion_core.speech.trim_silence`), then the log-mel, normalised and tiled. The Audio path,
the video path, the live view and training all use these functions.
"""

from __future__ import annotations

import numpy as np

from .audio import DEFAULT_NORMALISATION, SAMPLE_RATE, WINDOW_SAMPLES, log_mel, mel_to_input
from .speech import has_speech, trim_silence

WINDOW_HOP_SECONDS = 0.5  # windows start this far apart (the live view reads the voice this often)

HOP_SAMPLES = int(WINDOW_HOP_SECONDS * SAMPLE_RATE)
assert HOP_SAMPLES == WINDOW_HOP_SECONDS * SAMPLE_RATE, "the hop must be a whole number of samples"
assert WINDOW_SAMPLES % HOP_SAMPLES == 0, "a window must hold a whole number of hops"


def grid_window(index: int) -> tuple[int, int]:
    """The ``(start, stop)`` samples of window ``index`` of the grid: ``[index * hop, index * hop + window)``."""
    start = index * HOP_SAMPLES
    return start, start + WINDOW_SAMPLES


def complete_windows(n_samples: int) -> int:
    """How many grid windows the first ``n_samples`` samples hold in full."""
    return 0 if n_samples < WINDOW_SAMPLES else 1 + (n_samples - WINDOW_SAMPLES) // HOP_SAMPLES


def window_bounds(n_samples: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` samples of every window of a recording of ``n_samples`` samples, in order.

    The complete grid windows, then a tail window ``(n - window, n)`` when the last of them stops
    before the end; a recording of at most one window is the single window ``(0, n_samples)``.
    """
    count = complete_windows(n_samples)
    if count == 0:
        return [(0, int(n_samples))]
    bounds = [grid_window(index) for index in range(count)]
    if bounds[-1][1] < n_samples:
        bounds.append((int(n_samples) - WINDOW_SAMPLES, int(n_samples)))  # the tail gets a window of its own
    return bounds


def cut(mono: np.ndarray) -> tuple[list[tuple[int, int]], list[np.ndarray], np.ndarray]:
    """A 16 kHz mono recording's windows: their bounds, their samples, and which hold speech.

    Only the windows with speech count when window scores are pooled (all of them when none has).
    """
    bounds = window_bounds(mono.size)
    pieces = [mono[start:stop] for start, stop in bounds]
    return bounds, pieces, np.array([has_speech(piece) for piece in pieces], dtype=bool)


def window_mel(window: np.ndarray) -> np.ndarray:
    """16 kHz mono float32 audio of at most one window -> the log-mel of its speech, ``(frames, N_MELS)`` dB.

    The window's own leading and trailing non-speech is cut first (as every training clip was cut).
    """
    return log_mel(trim_silence(np.asarray(window, dtype=np.float32)))


def window_input(window: np.ndarray, normalisation: str = DEFAULT_NORMALISATION) -> np.ndarray:
    """16 kHz mono float32 audio of at most one window -> the voice model's ``(WINDOW_FRAMES, N_MELS)`` input.

    ``normalisation`` is the model's (manifest ``preprocessing.normalisation``, one of
    :data:`~emotion_core.audio.NORMALISATIONS`).
    """
    return mel_to_input(window_mel(window), normalisation)
