"""Proof of one path: a recording reads the same through the Audio path, a video, the live view and training.

One real speech recording of about 8.5 s (the speech fixture, then its first 2.6 s again, with 0.5 s
of silence before and after) at 48 kHz, 16-bit, goes through

(a) the Audio path: a 48 kHz WAV file, ``load_audio`` and ``emotion_core.analyze_speech``;
(b) the sound of a video: an MP4 with a still picture and that sound, ``analyze_video``;
(c) the live view: 0.25 s microphone chunks at 48 kHz int16 through ``LiveSession.add_audio``;
(d) training: ``training.voice_data``'s feature builder (cached samples, then ``clip_windows``)
    scored by the served model.

Every path must give the same windows (times) with the same speech verdicts, and the same
per-window scores within int8 tolerance (MAX_SCORE_DIFFERENCE). The video's sound is FLAC, lossless,
so that a difference would come from the path, not from a lossy codec. Measured when written: 0 for
the video, the live view's complete windows and training (the same float samples, bit for bit); up
to 0.008 for the live view's first partial windows, which the Audio path resamples as a shorter
recording (the resampler's filter sees its end).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from emotion_core import EMOTIONS, analyze_speech, analyze_video, audio, default_reader, windows
from emotion_core.labels import scores_to_dict
from emotion_core.live import LiveSession
from harness import FIXTURES
from harness.media import MIC_RATE, face_frame

MAX_SCORE_DIFFERENCE = 0.02  # per emotion, against the Audio path: five steps of the int8 output (1/256)
CHUNK_SECONDS = 0.25  # what the browser sends


def vector(scores: dict[str, float]) -> np.ndarray:
    return np.array([scores[name] for name in EMOTIONS])


@pytest.fixture(scope="module")
def recording() -> np.ndarray:
    """The recording at 48 kHz as int16, as a microphone gives it."""
    speech, rate = audio.load_audio(FIXTURES / "speech.wav")
    pause = np.zeros(rate // 2, np.float32)
    at_16k = np.concatenate([pause, speech, speech[: int(2.6 * rate)], pause])
    return (np.clip(audio.resample(at_16k, rate, MIC_RATE), -1, 1) * 32767).astype(np.int16)


@pytest.fixture(scope="module")
def wav(recording, tmp_path_factory):
    path = tmp_path_factory.mktemp("one_path") / "speech_48k.wav"
    sf.write(path, recording, MIC_RATE, subtype="PCM_16")
    return path


def write_still_video(path, sound: np.ndarray, fps: int = 2, block: int = 4096):
    """An MP4 of one still picture with ``sound`` (int16 at MIC_RATE) as lossless FLAC."""
    import av

    seconds = sound.size / MIC_RATE
    picture = face_frame()
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
        voice = container.add_stream("flac", rate=MIC_RATE, layout="mono")
        for index in range(int(np.ceil(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        for start in range(0, sound.size, block):
            frame = av.AudioFrame.from_ndarray(sound[None, start : start + block], format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = MIC_RATE, start, Fraction(1, MIC_RATE)
            container.mux(voice.encode(frame))
        container.mux(voice.encode(None))
        container.mux(video.encode(None))
    return path


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def audio_path(wav):
    samples, rate = audio.load_audio(wav)
    assert rate == MIC_RATE
    result = analyze_speech(samples, rate)
    assert result.activity.has_speech and sum(result.window_speech) >= 8
    return result


def check_same_windows(name, times, speech, scores, reference, measured):
    """``times``, speech flags and (for windows with speech) scores against the Audio path's ``reference``."""
    by_time = {tuple(np.round(t, 6)): i for i, t in enumerate(reference.window_times)}
    differences = []
    for time, has_speech, window_scores in zip(times, speech, scores, strict=True):
        index = by_time[tuple(np.round(time, 6))]  # the same window exists in the Audio path
        assert has_speech == reference.window_speech[index], (name, time)
        if has_speech:
            differences.append(np.abs(vector(window_scores) - vector(reference.window_scores[index])).max())
    measured[name] = max(differences)
    assert measured[name] <= MAX_SCORE_DIFFERENCE, (name, measured[name])


def test_one_recording_reads_the_same_through_every_path(recording, wav, audio_path, tmp_path):
    measured = {}
    times = list(audio_path.window_times)
    bounds = windows.window_bounds(int(round(audio_path.activity.total_seconds * audio.SAMPLE_RATE)))
    assert times == [(a / audio.SAMPLE_RATE, b / audio.SAMPLE_RATE) for a, b in bounds]

    # (b) the sound of a video: the very same windows, with the same verdicts and scores
    analysis = analyze_video(write_still_video(tmp_path / "still.mp4", recording))
    heard = analysis.voice_windows
    assert [(w.start, w.end) for w in heard] == pytest.approx(times, abs=1e-6)
    check_same_windows("video", [(w.start, w.end) for w in heard], [w.has_speech for w in heard],
                       [w.scores for w in heard], audio_path, measured)

    # (c) the live view: every grid window the stream completes, on the same grid
    clock = FakeClock()
    session = LiveSession(clock)
    chunk = int(CHUNK_SECONDS * MIC_RATE)
    for start in range(0, recording.size, chunk):
        clock.now += CHUNK_SECONDS
        session.add_audio(recording[start : start + chunk], MIC_RATE)
    live = [w for w in session.voice_windows if w.end - w.start == audio.WINDOW_SECONDS]
    complete = windows.complete_windows(int(round(session.stream_seconds * audio.SAMPLE_RATE)))
    assert [(w.start, w.end) for w in live] == pytest.approx(times[:complete])
    assert complete >= len(times) - 2  # all but the tail (and what the resampler still holds)
    check_same_windows("live", [(w.start, w.end) for w in live], [w.has_speech for w in live],
                       [w.scores for w in live], audio_path, measured)

    # (c') before 3 s are in, the live view reads [0, now]: what the Audio path gives for that much sound
    partial = [w for w in session.voice_windows if w.end - w.start < audio.WINDOW_SECONDS]
    assert [(w.start, w.end) for w in partial] == pytest.approx(
        [(0.0, k * windows.WINDOW_HOP_SECONDS) for k in range(1, 6)])
    for window in partial:
        short = analyze_speech(audio.to_mono_float(recording[: int(window.end * MIC_RATE)]), MIC_RATE)
        assert window.has_speech == bool(short.window_speech and short.window_speech[0]), window
        if window.has_speech:
            check_same_windows(f"live, first {window.end:g} s", [(window.start, window.end)], [True],
                               [window.scores], short, measured)

    # (d) training's feature builder, scored by the served voice channel (its network, then its calibration)
    from training.voice_data import clip_samples, clip_windows

    inputs, voiced = clip_windows(clip_samples(str(wav)))
    probabilities = default_reader().voice_calibration.apply(default_reader().voice_model.predict_batch(inputs))
    check_same_windows("training", times, voiced.tolist(), [scores_to_dict(p) for p in probabilities],
                       audio_path, measured)
    print("max score difference against the Audio path:", {k: round(float(v), 5) for k, v in measured.items()})


@pytest.mark.parametrize("normalisation", audio.NORMALISATIONS)
def test_a_training_crop_is_made_as_a_served_window(recording, monkeypatch, normalisation):
    """Without augmentation, a training example is exactly the served input of the same stretch of samples,
    with either per-window normalisation a model may be trained with."""
    from training import voice_train

    monkeypatch.setattr(voice_train, "apply_warp", lambda mel, rate, shift: mel)
    monkeypatch.setattr(voice_train, "spec_augment", lambda x, rng: x)
    config = voice_train.TrainConfig(noise_probability=0.0, normalisation=normalisation)
    samples = audio.resample(audio.to_mono_float(recording), MIC_RATE)
    for seed in range(3):
        example = voice_train.training_example(samples, np.random.default_rng(seed), None, config)
        crop = voice_train.random_crop(samples, np.random.default_rng(seed))
        assert crop.size == audio.WINDOW_SAMPLES and np.shares_memory(crop, samples)
        np.testing.assert_array_equal(example, windows.window_input(crop, normalisation))
    short = samples[: audio.SAMPLE_RATE]  # a clip shorter than a window is its own window
    np.testing.assert_array_equal(voice_train.training_example(short, np.random.default_rng(0), None, config),
                                  windows.window_input(short, normalisation))
