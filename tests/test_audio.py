"""Audio features against librosa, loading and resampling on real recordings.

What counts as speech is tested in test_speech.py, where windows lie in test_windows.py.
"""

from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.fft
import soundfile as sf

from emotion_core import audio


def test_log_mel_matches_librosa(speech):
    samples, rate = speech
    ours = audio.log_mel(samples)
    mel = librosa.feature.melspectrogram(
        y=samples, sr=rate, n_fft=audio.N_FFT, win_length=audio.WIN_LENGTH, hop_length=audio.HOP_LENGTH,
        n_mels=audio.N_MELS, fmin=audio.FMIN, fmax=audio.FMAX, power=2.0, pad_mode="constant")
    reference = librosa.power_to_db(mel, ref=1.0, amin=audio.LOG_FLOOR, top_db=None).T
    assert ours.shape == reference.shape == (1 + samples.size // audio.HOP_LENGTH, audio.N_MELS)
    assert np.abs(ours - reference).max() < 0.01  # dB


def test_the_mel_product_runs_on_one_blas_thread_and_leaves_the_setting_as_it_was(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:  # numpy's own OpenBLAS, the one its matrix product calls
        return {pool["num_threads"] for pool in threadpool_info()
                if pool["user_api"] == "blas" and "numpy" in Path(pool["filepath"]).parent.name}

    seen = []
    filterbank = audio.mel_filterbank

    def recording_filterbank():
        seen.append(blas_threads())
        return filterbank()

    monkeypatch.setattr(audio, "mel_filterbank", recording_filterbank)
    samples = np.random.default_rng(1).normal(0, 0.1, audio.WINDOW_SAMPLES).astype(np.float32)
    with threadpool_limits(2, user_api="blas"):  # as on a two-core machine, whatever this one has
        audio.log_mel(samples)
        assert seen == [{1}]  # the product ran on one thread
        assert blas_threads() == {2}


def test_one_window_gives_the_model_shape():
    samples = np.random.default_rng(0).normal(0, 0.1, audio.WINDOW_SAMPLES).astype(np.float32)
    assert audio.log_mel(samples).shape == (audio.WINDOW_FRAMES, audio.N_MELS)
    short = audio.mel_to_input(audio.log_mel(samples[:8000]))
    assert short.shape == (audio.WINDOW_FRAMES, audio.N_MELS) and short.dtype == np.float32
    assert np.allclose(short[:51], short[51:102])  # short speech is tiled, not zero padded


def test_empty_audio_gives_empty_features():
    assert audio.log_mel(np.zeros(0, np.float32)).shape == (0, audio.N_MELS)


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


def test_mel_filters_are_librosas():
    reference = librosa.filters.mel(sr=audio.SAMPLE_RATE, n_fft=audio.N_FFT, n_mels=audio.N_MELS,
                                    fmin=audio.FMIN, fmax=audio.FMAX)
    assert np.abs(audio.mel_filterbank() - reference).max() < 1e-6


@pytest.mark.parametrize("rate", [48000, 44100, 22050, 8000, 96000])
def test_the_stream_resampler_gives_exactly_the_whole_signal_resampling(rate):
    x = np.random.default_rng(rate).normal(0, 0.3, rate * 2).astype(np.float32)
    whole = audio.resample(x, rate)
    stream, pieces, start = audio.stream_resampler(rate), [], 0
    for size in np.random.default_rng(0).integers(1, rate // 4, 400):
        pieces.append(stream.resample_chunk(x[start : start + size]))
        start += size
        if start >= x.size:
            break
    held_back = whole.size - sum(piece.size for piece in pieces)
    assert 0 <= held_back < 0.05 * audio.SAMPLE_RATE  # what waits for the right half of its filter
    pieces.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert whole.size == pytest.approx(x.size * audio.SAMPLE_RATE / rate, abs=1)


def test_decoders_hand_over_samples_at_the_files_own_rate(tmp_path, speech):
    import av

    samples, rate = speech
    at_48k = audio.resample(samples, rate, 48000)
    path = tmp_path / "speech.mka"  # Matroska: read by FFmpeg, not libsndfile
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray((at_48k * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = 48000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    decoded, decoded_rate = audio.load_audio(path)
    assert decoded_rate == 48000 and decoded.size == at_48k.size
    np.testing.assert_allclose(decoded, at_48k, atol=1e-4)  # no resampling on the way: the same samples
    sf.write(tmp_path / "high.wav", audio.resample(samples, rate, 48000)[:48000], 48000)
    sf.write(tmp_path / "too_high.wav", np.zeros(192000, np.float32), 192000)
    assert audio.load_audio(tmp_path / "high.wav")[1] == 48000
    too_high, too_high_rate = audio.load_audio(tmp_path / "too_high.wav")  # outside the API's rates: brought to 16 kHz
    assert too_high_rate == audio.SAMPLE_RATE and too_high.size == audio.SAMPLE_RATE


# Two bands, four frames (dB). Frame levels (mean dB over the bands): -2, -6, -60, -3 dB, so with
# 30 dB of range the -60 dB frame is a pause and is left out of the band statistics.
PAUSED = np.array([[0.0, -4.0], [-10.0, -2.0], [-60.0, -60.0], [-6.0, 0.0]], dtype=np.float32)


def test_active_frames_leave_out_what_lies_far_below_the_loudest_frame():
    assert audio.active_frames(PAUSED).tolist() == [True, True, False, True]
    assert audio.active_frames(PAUSED, range_db=58.0).all() and not audio.active_frames(PAUSED, range_db=57.9).all()
    assert audio.active_frames(np.zeros((0, 2), np.float32)).shape == (0,)


def test_band_standardisation_by_hand():
    out = audio.standardize_bands(PAUSED)
    # Band 0 on the active frames 0, -10, -6: mean -16/3, variance (16^2 + 14^2 + 2^2) / 9 / 3 = 456/27.
    band0 = (np.array([0.0, -10.0, -60.0, -6.0]) + 16.0 / 3.0) / np.sqrt(456.0 / 27.0)
    # Band 1 on -4, -2, 0: mean -2, std sqrt(8/3) = 1.63 dB, below the 3 dB floor, so divided by 3.
    band1 = (np.array([-4.0, -2.0, -60.0, 0.0]) + 2.0) / audio.BAND_STD_FLOOR_DB
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.stack([band0, band1], axis=1), rtol=1e-5)
    assert audio.standardize_bands(np.zeros((0, 2), np.float32)).shape == (0, 2)


def test_band_standardisation_removes_a_channel_gain_and_spread_per_band(speech):
    mel = audio.log_mel(speech[0][: audio.WINDOW_SAMPLES])
    np.testing.assert_allclose(audio.standardize_bands(mel + 12.0), audio.standardize_bands(mel), atol=1e-4)  # gain
    tilt = np.linspace(-12.0, 6.0, audio.N_MELS, dtype=np.float32)  # a microphone's colouring
    np.testing.assert_allclose(audio.standardize_bands(mel + tilt), audio.standardize_bands(mel), atol=1e-4)
    standard = audio.standardize_bands(mel)[audio.active_frames(mel)]
    np.testing.assert_allclose(standard.mean(axis=0), 0.0, atol=1e-4)
    assert np.all(standard.std(axis=0) <= 1.0 + 1e-4)  # 1 exactly unless the band's spread was floored


def test_the_normalisation_is_chosen_by_name():
    mel = np.random.default_rng(0).normal(-40.0, 10.0, (50, audio.N_MELS)).astype(np.float32)
    assert audio.DEFAULT_NORMALISATION == "band_mean"  # what every model before this one was trained with
    np.testing.assert_array_equal(audio.mel_to_input(mel), audio.fit_to_window(audio.normalize_features(mel)))
    np.testing.assert_array_equal(audio.mel_to_input(mel, "band_mean_var"),
                                  audio.fit_to_window(audio.standardize_bands(mel)))
    with pytest.raises(ValueError, match="band_mean_var"):
        audio.normalized(mel, "cepstral")
    assert "mfcc_deltas" in audio.NORMALISATIONS


def test_mfcc_input_is_cepstra_with_their_time_differences():
    """The MFCC input: N_MFCC DCT coefficients of the band-mean log-mel, then their first and second
    differences, each at unit spread, one zero column; it is blind to a microphone's fixed colouring."""
    rng = np.random.default_rng(1)
    mel = rng.normal(-40.0, 10.0, (120, audio.N_MELS)).astype(np.float32)
    mfcc = audio.normalized(mel, "mfcc_deltas")
    n = audio.N_MFCC
    assert mfcc.shape == mel.shape and mfcc.dtype == np.float32
    cepstra = scipy.fft.dct(audio.normalize_features(mel), norm="ortho", axis=1)[:, :n]
    np.testing.assert_allclose(mfcc[:, :n], cepstra / (cepstra.std() + 1e-3), rtol=1e-5, atol=1e-5)
    delta = np.gradient(cepstra, axis=0)
    np.testing.assert_allclose(mfcc[:, n : 2 * n], delta / (delta.std() + 1e-3), rtol=1e-4, atol=1e-4)
    for block in (mfcc[:, :n], mfcc[:, n : 2 * n], mfcc[:, 2 * n : 3 * n]):
        assert abs(float(block.std()) - 1.0) < 0.01
    assert not mfcc[:, 3 * n :].any()
    tilt = np.linspace(-12.0, 6.0, audio.N_MELS, dtype=np.float32)
    np.testing.assert_allclose(audio.normalized(mel + tilt, "mfcc_deltas"), mfcc, atol=1e-4)
    assert audio.mel_to_input(mel[:40], "mfcc_deltas").shape == (audio.WINDOW_FRAMES, audio.N_MELS)
    assert not audio.time_difference(mel[:1]).any()  # one frame has no change
