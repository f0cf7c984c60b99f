"""The one definition of speech (emotion_core.speech): VAD, level independence, noise gate, trimming."""

import numpy as np
import pytest
import soundfile as sf

from emotion_core import audio, speech
from harness import FIXTURES


@pytest.fixture
def speech_clip(speech):
    """conftest's ``speech`` recording, under a name that leaves ``speech`` to the module under test."""
    return speech


def test_empty_audio_holds_no_speech():
    empty = np.zeros(0, np.float32)
    assert speech.speech_seconds(empty) == 0.0 and not speech.has_speech(empty)
    assert speech.speech_frames(empty).shape == (0,) and speech.trim_silence(empty).size == 0


def test_voice_activity_tells_speech_from_silence(speech_clip):
    samples, _ = speech_clip
    assert speech.speech_seconds(samples) > 1.5
    silence, _ = sf.read(FIXTURES / "silence.wav", dtype="float32")
    assert speech.speech_seconds(silence) == 0.0
    noise = np.random.default_rng(1).normal(0, 1e-4, audio.SAMPLE_RATE).astype(np.float32)
    assert speech.speech_seconds(noise) < speech.MIN_SPEECH_SECONDS


def at_peak_level(samples: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """``samples`` scaled so that the loudest VAD frame sits at ``peak_dbfs``."""
    gain = 10.0 ** ((peak_dbfs - speech.frame_levels_dbfs(samples).max()) / 20.0)
    return (samples * gain).astype(np.float32)


def steady_noises(seconds: float = 4.0) -> dict[str, np.ndarray]:
    """Unit-RMS noises that are not speech: white hiss and mains hum with harmonics."""
    rng, t = np.random.default_rng(3), np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    hum = np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t) + 0.3 * np.sin(2 * np.pi * 250 * t)
    noises = {"white": rng.standard_normal(t.size), "hum": hum}
    return {name: (x / np.sqrt(np.mean(x**2))).astype(np.float32) for name, x in noises.items()}


def test_speech_is_found_at_any_microphone_level(speech_clip):
    samples, _ = speech_clip
    found = [speech.speech_seconds(at_peak_level(samples, peak)) for peak in (-6.0, -30.0, -55.0)]
    assert found[0] > 3.0 and found == pytest.approx([found[0]] * 3, abs=0.1)
    # the bare VAD misses much of the soft voice: why each piece of audio is heard at a reference level
    bare = [speech.seconds_of(speech.webrtc_speech(at_peak_level(samples, peak))) for peak in (-6.0, -55.0)]
    assert bare[1] < 0.75 * bare[0]


def test_loud_steady_noise_is_not_speech():
    for name, noise in steady_noises().items():
        for level_dbfs in (-40.0, -20.0):
            assert not speech.has_speech(noise * 10.0 ** (level_dbfs / 20.0)), (name, level_dbfs)
        assert speech.webrtc_speech(noise * 0.1).mean() > 0.5, "the bare VAD does call it speech"


def test_speech_over_steady_noise_is_still_speech(speech_clip):
    samples, _ = speech_clip
    speech_part = at_peak_level(samples, -20.0)
    noisy = speech_part + steady_noises(samples.size / audio.SAMPLE_RATE)["white"][: samples.size] * 10 ** (-40 / 20)
    assert speech.speech_seconds(noisy) > 0.5 * speech.speech_seconds(speech_part) > 0.5


def test_a_recording_quieter_than_the_floor_holds_no_speech(speech_clip):
    samples, _ = speech_clip
    assert not speech.has_speech(at_peak_level(samples, speech.SPEECH_MIN_PEAK_DBFS - 5.0))


def test_trimming_cuts_the_silence_around_the_speech_without_the_noise_gate(speech_clip):
    samples, rate = speech_clip
    spans = []
    for lead_frames in (20, 40):  # 0.6 s and 1.2 s of silence before, 0.5 s after
        lead = lead_frames * speech.FRAME_SAMPLES
        padded = np.concatenate([np.zeros(lead, np.float32), samples, np.zeros(rate // 2, np.float32)])
        start, stop = speech.speech_span(padded)
        assert 0 < start <= lead and samples.size - rate // 2 < stop - lead <= samples.size
        assert speech.trim_silence(padded).size == stop - start < padded.size
        spans.append((start - lead, stop - lead))
    assert spans[0] == spans[1]  # the same cut, wherever the speech lies
    silence = np.zeros(rate, np.float32)
    assert speech.speech_span(silence) == (0, rate) and speech.trim_silence(silence).size == rate
    # trimming keeps quiet frames the noise gate would drop: it uses the VAD alone
    assert speech.level_independent_vad(samples).sum() >= speech.speech_frames(samples).sum()


def test_has_speech_is_speech_seconds_against_one_threshold(speech_clip):
    samples, _ = speech_clip
    seconds = speech.speech_seconds(samples)
    assert speech.has_speech(samples) == speech.is_enough(seconds) is True
    assert speech.seconds_of(speech.speech_frames(samples)) == seconds
    assert not speech.is_enough(speech.MIN_SPEECH_SECONDS - 0.01) and speech.is_enough(speech.MIN_SPEECH_SECONDS)
