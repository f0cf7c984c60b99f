"""Audio features against librosa, resampling, windowing and voice activity on real recordings."""

import librosa
import numpy as np
import pytest
import soundfile as sf

from emotion_core import audio
from harness import FIXTURES


def test_log_mel_matches_librosa(speech):
    samples, rate = speech
    ours = audio.log_mel(samples)
    mel = librosa.feature.melspectrogram(
        y=samples, sr=rate, n_fft=audio.N_FFT, win_length=audio.WIN_LENGTH, hop_length=audio.HOP_LENGTH,
        n_mels=audio.N_MELS, fmin=audio.FMIN, fmax=audio.FMAX, power=2.0, pad_mode="constant")
    reference = librosa.power_to_db(mel, ref=1.0, amin=audio.LOG_FLOOR, top_db=None).T
    assert ours.shape == reference.shape == (1 + samples.size // audio.HOP_LENGTH, audio.N_MELS)
    assert np.abs(ours - reference).max() < 0.01  # dB


def test_one_window_gives_the_model_shape():
    samples = np.random.default_rng(0).normal(0, 0.1, audio.WINDOW_SAMPLES).astype(np.float32)
    assert audio.log_mel(samples).shape == (audio.WINDOW_FRAMES, audio.N_MELS)
    short = audio.model_input(samples[:8000])
    assert short.shape == (audio.WINDOW_FRAMES, audio.N_MELS) and short.dtype == np.float32
    assert np.allclose(short[:51], short[51:102])  # short speech is tiled, not zero padded


def test_empty_audio_gives_empty_features():
    assert audio.log_mel(np.zeros(0, np.float32)).shape == (0, audio.N_MELS)
    assert audio.speech_seconds(np.zeros(0, np.float32)) == 0.0


def test_resampling_keeps_a_tone_and_refuses_odd_rates():
    rate = 44100
    tone = np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    out = audio.resample(tone, rate)
    assert out.size == audio.SAMPLE_RATE
    peak = np.argmax(np.abs(np.fft.rfft(out))) * audio.SAMPLE_RATE / out.size
    assert peak == pytest.approx(440, abs=2)
    with pytest.raises(ValueError, match="outside"):
        audio.resample(tone, 4000)


def test_pcm_of_any_type_becomes_mono_float():
    stereo16 = np.stack([np.full(100, 16384, np.int16), np.zeros(100, np.int16)], axis=1)
    mono = audio.to_mono_float(stereo16)
    assert mono.dtype == np.float32 and mono.shape == (100,)
    assert mono[0] == pytest.approx(0.25)
    assert np.isfinite(audio.to_mono_float(np.array([np.nan, np.inf, -np.inf, 2.0]))).all()


def test_voice_activity_tells_speech_from_silence(speech):
    samples, _ = speech
    assert audio.speech_seconds(samples) > 1.5
    silence, _ = sf.read(FIXTURES / "silence.wav", dtype="float32")
    assert audio.speech_seconds(silence) == 0.0
    noise = np.random.default_rng(1).normal(0, 1e-4, audio.SAMPLE_RATE).astype(np.float32)
    assert audio.speech_seconds(noise) < audio.MIN_SPEECH_SECONDS


def at_peak_level(samples: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """``samples`` scaled so that the loudest VAD frame sits at ``peak_dbfs``."""
    gain = 10.0 ** ((peak_dbfs - audio.frame_levels_dbfs(samples).max()) / 20.0)
    return (samples * gain).astype(np.float32)


def steady_noises(seconds: float = 4.0) -> dict[str, np.ndarray]:
    """Unit-RMS noises that are not speech: white hiss and mains hum with harmonics."""
    rng, t = np.random.default_rng(3), np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    hum = np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t) + 0.3 * np.sin(2 * np.pi * 250 * t)
    noises = {"white": rng.standard_normal(t.size), "hum": hum}
    return {name: (x / np.sqrt(np.mean(x**2))).astype(np.float32) for name, x in noises.items()}


def test_speech_is_found_at_any_microphone_level(speech):
    samples, _ = speech
    found = [audio.speech_seconds(at_peak_level(samples, peak)) for peak in (-6.0, -30.0, -55.0)]
    assert found[0] > 3.0 and found == pytest.approx([found[0]] * 3, abs=0.1)
    # the plain frame-by-frame VAD (the video stream's) misses the soft voice: why recordings are normalised
    plain_seconds = audio.voiced_frames(at_peak_level(samples, -55.0)).sum() * audio.VAD_FRAME_MS / 1000
    assert plain_seconds < audio.MIN_SPEECH_SECONDS


def test_loud_steady_noise_is_not_speech():
    for name, noise in steady_noises().items():
        for level_dbfs in (-40.0, -20.0):
            assert not audio.has_speech(noise * 10.0 ** (level_dbfs / 20.0)), (name, level_dbfs)
        assert audio.webrtc_speech(noise * 0.1).mean() > 0.5, "the bare VAD does call it speech"


def test_speech_over_steady_noise_is_still_speech(speech):
    samples, _ = speech
    speech_part = at_peak_level(samples, -20.0)
    noisy = speech_part + steady_noises(samples.size / audio.SAMPLE_RATE)["white"][: samples.size] * 10 ** (-40 / 20)
    assert audio.speech_seconds(noisy) > 0.5 * audio.speech_seconds(speech_part) > 0.5


def test_a_recording_quieter_than_the_floor_holds_no_speech(speech):
    samples, _ = speech
    assert not audio.has_speech(at_peak_level(samples, audio.SPEECH_MIN_PEAK_DBFS - 5.0))


def test_windows_cover_long_input():
    starts = audio.window_starts(10 * audio.SAMPLE_RATE)
    assert starts[0] == 0 and starts[-1] + audio.WINDOW_SAMPLES == 10 * audio.SAMPLE_RATE
    assert audio.window_starts(100) == [0]


def test_mel_filters_are_librosas():
    reference = librosa.filters.mel(sr=audio.SAMPLE_RATE, n_fft=audio.N_FFT, n_mels=audio.N_MELS,
                                    fmin=audio.FMIN, fmax=audio.FMAX)
    assert np.abs(audio.mel_filterbank() - reference).max() < 1e-6
