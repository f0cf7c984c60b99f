"""The one windowing rule (emotion_core.windows): where windows lie, what the model sees of each."""

import numpy as np
import pytest

from emotion_core import audio, speech, windows

HOP, WINDOW = windows.HOP_SAMPLES, audio.WINDOW_SAMPLES


def test_windows_start_every_hop_with_a_tail_window_ending_at_the_end():
    n = 10 * audio.SAMPLE_RATE + 123
    bounds = windows.window_bounds(n)
    assert bounds[0] == (0, WINDOW) and bounds[-1] == (n - WINDOW, n)
    assert [start for start, _ in bounds[:-1]] == list(range(0, n - WINDOW + 1, HOP))
    assert all(stop - start == WINDOW for start, stop in bounds)
    assert len(bounds) == 1 + (n - WINDOW) // HOP + 1


@pytest.mark.parametrize("n", [0, 1, 100, WINDOW - 1, WINDOW])
def test_a_recording_of_at_most_one_window_is_one_window(n):
    assert windows.window_bounds(n) == [(0, n)]


def test_no_tail_window_when_the_grid_ends_at_the_end():
    n = WINDOW + 4 * HOP
    assert windows.window_bounds(n) == [windows.grid_window(k) for k in range(5)]


def test_the_grid_does_not_depend_on_the_length():
    """What streaming relies on: the complete windows of the first n samples never move as more arrive."""
    for n in range(WINDOW, WINDOW + 7 * HOP, 997):
        count = windows.complete_windows(n)
        assert windows.window_bounds(n)[:count] == windows.window_bounds(n + 5 * HOP)[:count]
        assert windows.grid_window(count - 1)[1] <= n < windows.grid_window(count)[1]
    assert windows.complete_windows(WINDOW - 1) == 0


@pytest.fixture
def recording(speech):
    """conftest's ``speech`` recording, under a name that leaves ``speech`` to the module."""
    return speech


def test_a_window_is_read_trimmed_of_its_own_silence(recording):
    samples, rate = recording
    piece = np.concatenate([np.zeros(rate // 2, np.float32), samples[: 2 * rate]])
    start, stop = speech.speech_span(piece)
    assert start > 0  # there is silence to cut
    served = windows.window_input(piece)
    assert served.shape == (audio.WINDOW_FRAMES, audio.N_MELS) and served.dtype == np.float32
    np.testing.assert_array_equal(served, audio.mel_to_input(audio.log_mel(piece[start:stop])))
    assert not np.array_equal(served, audio.mel_to_input(audio.log_mel(piece)))


def test_cut_gives_each_windows_samples_and_whether_it_holds_speech(recording):
    samples, rate = recording
    mono = np.concatenate([samples, np.zeros(4 * rate, np.float32)])  # speech, then 4 s of silence
    bounds, pieces, voiced = windows.cut(mono)
    assert bounds == windows.window_bounds(mono.size)
    assert all(np.array_equal(piece, mono[a:b]) for piece, (a, b) in zip(pieces, bounds, strict=True))
    assert voiced.tolist() == [speech.has_speech(piece) for piece in pieces]
    assert voiced[0] and not voiced[-1]
