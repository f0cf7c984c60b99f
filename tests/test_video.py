"""Video analysis: sampling and windowing helpers, the summary and exports, the decoder on small
generated videos (face + speech, no sound, no face, other containers, damaged files), the
annotated copy, and the app's /analyze_video endpoint."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc

import numpy as np
import pytest

from emotion_core import (
    EMOTIONS,
    Face,
    analyze_video,
    audio,
    fuse,
    media,
    summarize,
    video,
    windows,
    write_annotated_video,
)
from emotion_core.media import VideoInfo
from emotion_core.timeline import csv_columns, plot_timeline, to_csv, to_dict
from emotion_core.video import VideoAnalysis, VideoError, VideoSegment, VoiceTrack, VoiceWindow
from harness import FIXTURES
from harness.videos import write_video


def one_hot(label: str, strength: float = 0.94) -> dict[str, float]:
    rest = (1 - strength) / (len(EMOTIONS) - 1)
    return {name: strength if name == label else rest for name in EMOTIONS}


INFO = VideoInfo("clip.mp4", 1000, 4.0, 320, 240, 15.0, "h264", "aac", 48000)


def segment(start, end, face=None, voice=None, faces=()):
    face, voice = face or {}, voice or {}
    return VideoSegment(start, end, tuple(faces), face, voice, fuse(face, voice))


# --- pure helpers -------------------------------------------------------------------------------

def test_sampling_takes_the_first_frame_at_or_after_each_slot():
    times = np.arange(0, 3, 1 / 30)  # 30 fps, sampled at 2 per second
    taken, slot = [], 0
    for t in times:
        if video.is_sample_due(t, slot, 2.0):
            taken.append(round(t, 3))
            slot = video.next_slot(t, 2.0)
    assert taken == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_sampling_skips_the_slots_a_gap_in_the_video_missed():
    taken, slot = [], 0
    for t in [0.0, 0.1, 2.3, 2.4, 2.6, 3.0]:  # a variable-rate recording with a 2 s gap
        if video.is_sample_due(t, slot, 2.0):
            taken.append(t)
            slot = video.next_slot(t, 2.0)
    assert taken == [0.0, 2.3, 2.6, 3.0]


@pytest.mark.parametrize("rate", [0.0, 0.05, 11, float("nan")])
def test_sampling_rate_out_of_range_is_refused(rate):
    with pytest.raises(ValueError, match="frames_per_second"):
        video.check_frames_per_second(rate)


def test_speech_intervals_from_the_vad_mask():
    mask = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
    assert video.speech_intervals(mask, offset=1.0, frame_seconds=0.5) == ((1.5, 2.5), (3.5, 4.0), (4.5, 6.0))
    assert video.speech_intervals(np.zeros(5, bool)) == ()
    assert video.speech_intervals(np.ones(2, bool), frame_seconds=0.03) == ((0.0, 0.06),)


def test_voice_scores_come_from_the_speech_windows_around_the_middle():
    windows = (VoiceWindow(0.0, 3.0, 2.0, one_hot("sad")), VoiceWindow(1.5, 4.5, 2.0, one_hot("happy")),
               VoiceWindow(3.0, 6.0, 0.0, {}))
    speech = ((0.2, 4.0),)
    assert max(video.voice_scores_at(0.0, 0.5, windows, speech).items(), key=lambda i: i[1])[0] == "sad"
    both = video.voice_scores_at(2.0, 2.5, windows, speech)  # both windows hold 2.25 s: their mean
    assert both["sad"] == pytest.approx(both["happy"]) and sum(both.values()) == pytest.approx(1)
    assert video.voice_scores_at(5.0, 5.5, windows, speech) == {}  # no speech there
    assert video.voice_scores_at(4.1, 4.4, windows, speech) != {}  # speech ended 0.1 s before: within the margin


def test_segments_tile_the_video_and_follow_the_largest_face():
    small = Face((0, 0, 10, 10), one_hot("sad"))
    large = Face((20, 20, 50, 50), one_hot("happy"))
    samples = [(0.0, [small, large]), (0.5, []), (1.0, [small])]
    segments = video.build_segments(samples, 1.4, (), ())
    assert [(s.start, s.end) for s in segments] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.4)]
    assert segments[0].face_label == "happy" and len(segments[0].faces) == 2
    assert segments[1].face_scores == {} and not segments[1].fused.available
    assert segments[2].fused_label == "sad" and segments[2].voice_label is None


def test_analysis_size_and_boxes_back_in_full_size_pixels():
    assert video.analysis_size(1280, 720) == (640, 360)
    assert video.analysis_size(320, 240) == (320, 240)  # never enlarged
    assert video.analysis_size(1081, 1921) == (360, 640)
    face = Face((10, 20, 30, 40), one_hot("fear"))
    assert video.scale_faces([face], 2.0, 2.0)[0].box == (20, 40, 60, 80)
    assert [media.quarter_turns(d) for d in (0, 90, -90, 180, -180, 270, None)] == [0, 1, 3, 2, 2, 3, 0]


class FakeReader:
    """A reader stand-in for VoiceTrack: keeps the windows it is given, reads "angry" in each."""

    def __init__(self):
        self.pieces = []

    def read_voice_windows(self, pieces):
        self.pieces.extend(np.array(piece) for piece in pieces)
        return np.array([[one_hot("angry")[name] for name in EMOTIONS]] * len(pieces)), np.zeros(len(pieces), bool)


@pytest.mark.parametrize("seconds", [0.7, 3.0, 3.2, 7.5, 10.01])
def test_streamed_windows_are_the_whole_files_windows_in_bounded_memory(speech, seconds):
    samples, rate = speech
    n = int(seconds * audio.SAMPLE_RATE)
    sound = np.tile(samples, n // samples.size + 1)[:n]
    fake = FakeReader()
    track, rng, fed, largest = VoiceTrack(offset=0.25, reader=fake), np.random.default_rng(0), 0, 0
    while fed < n:
        size = min(int(rng.integers(100, 5000)), n - fed)
        track.feed(sound[fed : fed + size])
        fed += size
        largest = max(largest, track._buffer.size + sum(piece.size for piece in track._pieces))
    track.finish()
    bounds, pieces, voiced = windows.cut(sound)
    assert [(round((w.start - 0.25) * rate), round((w.end - 0.25) * rate)) for w in track.windows] == bounds
    assert [w.has_speech for w in track.windows] == voiced.tolist() and voiced.any()
    assert len(fake.pieces) == voiced.sum()  # only the windows with speech are classified ...
    for piece, expected in zip(fake.pieces, [p for p, v in zip(pieces, voiced, strict=True) if v], strict=True):
        np.testing.assert_array_equal(piece, expected)  # ... and each is exactly the whole file's window
    assert largest < audio.WINDOW_SAMPLES + windows.HOP_SAMPLES


def test_a_track_at_another_rate_is_resampled_as_the_audio_path_resamples(speech):
    samples, rate = speech
    at_48k = audio.resample(samples, rate, 48000)
    fake = FakeReader()
    track = VoiceTrack(reader=fake)
    for start in range(0, at_48k.size, 1024):
        track.feed(at_48k[start : start + 1024], 48000)
    track.finish()
    mono = audio.resample(at_48k, 48000)
    bounds, pieces, voiced = windows.cut(mono)
    assert [(round(w.start * rate), round(w.end * rate)) for w in track.windows] == bounds
    for piece, expected in zip(fake.pieces, [p for p, v in zip(pieces, voiced, strict=True) if v], strict=True):
        np.testing.assert_array_equal(piece, expected)


def analysis_of(segments, duration=2.0, windows=(), speech=()):
    return VideoAnalysis(INFO, 2.0, duration, tuple(segments), tuple(windows), tuple(speech))


def test_summary_gives_share_of_time_per_emotion_per_channel():
    result = analysis_of([segment(0.0, 1.0, face=one_hot("happy")),
                          segment(1.0, 1.5, face=one_hot("sad"), voice=one_hot("sad")), segment(1.5, 2.0)])
    summary = summarize(result)
    assert summary.face.seconds == pytest.approx(1.5) and summary.face.coverage == pytest.approx(0.75)
    assert summary.face.shares["happy"] == pytest.approx(2 / 3) and summary.face.dominant == "happy"
    assert sum(summary.face.shares.values()) == pytest.approx(1)
    assert summary.voice.coverage == pytest.approx(0.25) and summary.voice.dominant == "sad"
    assert summary.dominant == "happy"
    assert summarize(analysis_of([segment(0.0, 2.0)])).dominant is None


def test_csv_and_json_hold_every_segment_at_full_precision():
    result = analysis_of([segment(0.0, 1 / 3, face=one_hot("happy"), faces=[Face((1, 2, 3, 4), one_hot("happy"))]),
                          segment(1 / 3, 2.0, voice=one_hot("fear"))],
                         windows=[VoiceWindow(0, 2, 1.5, one_hot("fear"))], speech=[(0.5, 1.5)])
    rows = list(csv.DictReader(io.StringIO(to_csv(result))))
    assert list(rows[0]) == csv_columns() and len(rows) == 2
    assert float(rows[0]["end"]) == 1 / 3 and rows[0]["faces"] == "1" and rows[0]["voice_label"] == ""
    assert float(rows[1]["voice_fear"]) == pytest.approx(one_hot("fear")["fear"])
    data = json.loads(json.dumps(to_dict(result)))
    assert data["summary"]["voice"]["dominant"] == "fear" and data["speech"] == [{"start": 0.5, "end": 1.5}]
    assert data["segments"][0]["faces"][0]["box"] == {"x": 1, "y": 2, "w": 3, "h": 4}
    assert data["video"]["name"] == "clip.mp4" and len(data["voice_windows"]) == 1


def test_timeline_picture_is_a_png(tmp_path):
    result = analysis_of([segment(0.0, 1.0, face=one_hot("happy")), segment(1.0, 2.0, voice=one_hot("sad"))])
    path = plot_timeline(result, tmp_path / "timeline.png", title="clip")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_timeline(analysis_of([]), tmp_path / "empty.png")  # nothing to draw is not an error


# --- refusals (no model needed) -----------------------------------------------------------------

def test_files_that_are_not_videos_get_a_clear_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    with pytest.raises(VideoError, match="not a video or audio file FFmpeg can read"):
        analyze_video(text)
    with pytest.raises(VideoError, match="not a video .audio only."):
        analyze_video(FIXTURES / "speech.wav")
    with pytest.raises(VideoError, match="not a video"):
        analyze_video(FIXTURES / "face.jpg")
    with pytest.raises(VideoError, match="no such file"):
        analyze_video(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.webm"
    empty.touch()
    with pytest.raises(VideoError, match="is empty"):
        analyze_video(empty)


def test_truncated_file_is_refused(tmp_path):
    whole = write_video(tmp_path / "whole.mp4", seconds=1.0, size=(96, 64), fps=10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # the index (moov) is at the end
    with pytest.raises(VideoError, match="damaged"):
        analyze_video(cut)


def test_too_long_and_too_large_are_refused(tmp_path, monkeypatch):
    clip = write_video(tmp_path / "clip.mp4", seconds=2.0, size=(96, 64), fps=10, sound_kind=None)
    monkeypatch.setattr(video, "MAX_VIDEO_SECONDS", 1.0)
    with pytest.raises(VideoError, match="longer than"):
        analyze_video(clip)
    with pytest.raises(VideoError, match=r"MB; videos of at most"):
        media.check_file(clip, max_bytes=100)


# --- real decoding and models -------------------------------------------------------------------

@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    """4 s, 320x240 at 15 fps, the astronaut's face with the speech fixture as sound."""
    return write_video(tmp_path_factory.mktemp("video") / "talking.mp4", seconds=4.0)


def test_face_and_speech_are_read_over_time(talking):
    calls = []
    result = analyze_video(talking, frames_per_second=2.0, progress=lambda f, m: calls.append((f, m)))
    assert result.duration == pytest.approx(4.0, abs=0.1)
    assert len(result.segments) == 8
    assert [s.start for s in result.segments] == pytest.approx([0.5 * i for i in range(8)], abs=0.07)
    assert all(len(s.faces) == 1 and s.face_label in EMOTIONS for s in result.segments)
    assert result.has_speech and result.speech
    assert sum(s.voice_scores != {} for s in result.segments) >= 5
    both = [s for s in result.segments if s.face_scores and s.voice_scores]
    assert both and all(0 < s.fused.face_weight < 1 for s in both)
    assert result.segments[0].fused.scores == fuse(result.segments[0].face_scores,
                                                   result.segments[0].voice_scores).scores
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and "talking.mp4" in calls[-1][1]
    assert result.info.to_dict()["audio_codec"] == "aac"


def without_duration(source, destination):
    """A copy of a WebM with no duration in its header, as browsers record them (MediaRecorder)."""
    import av

    with av.open(str(source)) as original, av.open(str(destination), "w", format="webm", options={"live": "1"}) as copy:
        streams = {s.index: copy.add_stream_from_template(s) for s in original.streams}
        for packet in original.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                copy.mux(packet)
    return destination


def test_a_recording_without_duration_shows_progress_and_is_held_to_the_limit(tmp_path, monkeypatch):
    clip = without_duration(write_video(tmp_path / "a.webm", seconds=2.0), tmp_path / "recorded.webm")
    assert media.probe(clip).duration is None
    calls = []
    result = analyze_video(clip, progress=lambda f, m: calls.append(f))
    assert result.duration == pytest.approx(2.0, abs=0.1) and len(result.segments) == 4
    assert calls == sorted(calls) and calls[-1] == 1.0 and len(calls) > 3  # by bytes read
    monkeypatch.setattr(video, "MAX_VIDEO_SECONDS", 1.0)
    with pytest.raises(VideoError, match="longer than"):
        analyze_video(clip)


def test_more_frames_per_second_gives_more_segments(talking):
    assert len(analyze_video(talking, frames_per_second=5.0).segments) == 20


def test_a_video_without_sound_is_read_from_the_face(tmp_path):
    clip = write_video(tmp_path / "silent.mp4", seconds=2.0, sound_kind=None)
    result = analyze_video(clip)
    assert not result.info.has_audio and not result.has_speech and result.voice_windows == ()
    assert result.has_face
    assert all(s.fused.scores == pytest.approx(s.face_scores) for s in result.segments)


def test_a_video_without_a_face_is_read_from_the_voice(tmp_path):
    clip = write_video(tmp_path / "faceless.mp4", seconds=3.0, face=False)
    result = analyze_video(clip)
    assert not result.has_face and result.has_speech
    assert summarize(result).face.coverage == 0 and summarize(result).voice.coverage > 0.5


def test_a_silent_sound_track_gives_no_voice(tmp_path):
    result = analyze_video(write_video(tmp_path / "quiet.mkv", seconds=2.0, sound_kind="silence"))
    assert result.info.has_audio and not result.has_speech and not result.speech
    assert all(s.voice_scores == {} and s.fused.scores == pytest.approx(s.face_scores) for s in result.segments)


def test_a_tone_is_classified_in_windows_over_the_whole_track(tmp_path):
    result = analyze_video(write_video(tmp_path / "tone.mp4", seconds=5.0, sound_kind="tone"))
    starts = [w.start for w in result.voice_windows]  # as windows.window_bounds: every 0.5 s, the last 3 s
    assert starts[:5] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0], abs=0.05) and len(starts) <= 6
    assert result.voice_windows[-1].end == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize("suffix", [".webm", ".mov", ".mkv"])
def test_other_containers(tmp_path, suffix):
    result = analyze_video(write_video(tmp_path / f"clip{suffix}", seconds=2.0))
    assert len(result.segments) == 4 and result.has_face and result.info.has_audio


def test_memory_does_not_grow_with_the_length_of_the_video(tmp_path):
    """Decoding is streamed: a 4x longer video needs about the same peak memory (numpy is traced)."""
    peaks = []
    for seconds in (5, 20):
        clip = write_video(tmp_path / f"{seconds}.mp4", seconds=seconds, size=(160, 120), fps=10)
        analyze_video(clip, frames_per_second=0.5)  # warm up: models and caches outside the measure
        tracemalloc.start()
        analyze_video(clip, frames_per_second=0.5)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < peaks[0] * 1.3 + 200_000, peaks


def test_annotated_video_is_h264_with_the_sound_kept(tmp_path, talking):
    import av

    result = analyze_video(talking)
    out = write_annotated_video(talking, result, tmp_path / "annotated.mp4")
    with av.open(str(out)) as container:
        picture, sound = container.streams.video[0], container.streams.audio[0]
        assert picture.codec_context.name == "h264" and picture.codec_context.pix_fmt == "yuv420p"
        assert (picture.codec_context.width, picture.codec_context.height) == (320, 240)
        assert sound.codec_context.name == "aac"
        frames = list(container.decode(picture))
    assert len(frames) == 60
    with av.open(str(talking)) as container:
        original = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    drawn = frames[0].to_ndarray(format="rgb24").astype(int)
    x, y, w, h = result.segments[0].faces[0].box
    left_side = np.abs(drawn - original)[y + h // 4 : y + 3 * h // 4, max(x - 1, 0) : x + 2].mean()
    middle = np.abs(drawn - original)[y + h // 3 : y + 2 * h // 3, x + w // 3 : x + 2 * w // 3].mean()
    assert left_side > 40 and middle < 8, (left_side, middle)  # the box is drawn, the face left alone


def test_annotated_copy_of_a_webm_gets_its_opus_sound_as_aac(tmp_path):
    import av

    clip = write_video(tmp_path / "clip.webm", seconds=2.0)
    out = write_annotated_video(clip, analyze_video(clip), tmp_path / "clip.mp4")
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration / 1e6 == pytest.approx(2.0, abs=0.2)


def test_annotated_video_failure_leaves_no_file(tmp_path, talking):
    result = analyze_video(talking)
    broken = tmp_path / "broken.mp4"
    broken.write_text("garbage")
    with pytest.raises(VideoError):
        write_annotated_video(broken, result, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


# --- through the app ----------------------------------------------------------------------------

def test_api_analyze_video(client, talking):
    from gradio_client import handle_file

    text, table, picture, annotated, files, result = client.predict(
        handle_file(talking), 2.0, True, api_name="/analyze_video")
    assert text.startswith("Mostly ")
    assert result["dominant"] in EMOTIONS and result["segments"] == 8
    assert result["face"]["coverage"] == pytest.approx(1.0)
    assert [row[0] for row in table["data"]] == list(EMOTIONS)
    assert open(picture, "rb").read(4) == b"\x89PNG"
    video_path = annotated["video"] if isinstance(annotated, dict) else annotated
    names = sorted(str(f).rsplit("/", 1)[-1] for f in files)
    assert names == ["talking-annotated.mp4", "talking-segments.csv", "talking.json"]
    assert video_path.endswith(".mp4")
    data = json.loads(open(next(f for f in files if str(f).endswith(".json"))).read())
    assert len(data["segments"]) == 8


def test_api_analyze_video_errors_and_no_audio(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    with pytest.raises(AppError, match="not a video or audio file"):
        client.predict(handle_file(text), 2.0, False, api_name="/analyze_video")
    silent = write_video(tmp_path / "silent.mp4", seconds=2.0, sound_kind=None)
    _, _, _, annotated, files, result = client.predict(handle_file(silent), 2.0, False, api_name="/analyze_video")
    assert annotated is None and len(files) == 2
    assert result["voice"]["coverage"] == 0 and result["video"]["audio_codec"] is None


def test_a_video_whose_speech_is_mostly_drowned_in_noise_says_so():
    from emotion_core.results import mostly_in_loud_noise

    assert not mostly_in_loud_noise([]) and mostly_in_loud_noise([True, False]) and not mostly_in_loud_noise([1, 0, 0])
    heard = [VoiceWindow(0, 3, 2.0, one_hot("fear"), True), VoiceWindow(0.5, 3.5, 2.0, one_hot("fear"), True),
             VoiceWindow(1, 4, 2.0, one_hot("sad"), False), VoiceWindow(1.5, 4.5, 0.0, {}, False)]
    assert analysis_of([segment(0.0, 2.0)], windows=heard).in_loud_noise  # two of the three with speech
    clear = [heard[0], heard[2], VoiceWindow(2, 5, 2.0, one_hot("sad"), False), heard[3]]
    assert not analysis_of([segment(0.0, 2.0)], windows=clear).in_loud_noise  # one of the three with speech
    assert json.loads(json.dumps(to_dict(analysis_of([segment(0.0, 2.0)], windows=heard))))[
        "voice_windows"][0]["in_loud_noise"] is True


def test_a_tracks_windows_carry_the_readers_noise_flags(speech):
    class DrownedReader(FakeReader):  # every window it reads is drowned in noise
        def read_voice_windows(self, pieces):
            return super().read_voice_windows(pieces)[0], np.ones(len(pieces), bool)

    samples, _ = speech
    track = VoiceTrack(reader=DrownedReader())
    track.feed(samples)
    track.finish()
    assert [w.in_loud_noise for w in track.windows] == [w.has_speech for w in track.windows] and track.windows
