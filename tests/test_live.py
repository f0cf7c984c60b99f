"""The live session: ring buffer, voice windows on the sample count, channel states, smoothing, sessions kept apart.

The session logic is tested with stand-in classifiers (``fake_models``) so that each case is
exact; the voice activity detector and the recordings are real. ``test_real_models_*`` run the
real models on the committed face and speech fixtures.
"""

import copy

import numpy as np
import pytest

import emotion_core.live as live
from emotion_core import EMOTIONS, Face, audio, windows
from emotion_core.audio import load_audio
from emotion_core.live import AudioRing, LiveSession, follow_faces
from harness import FIXTURES
from harness.media import microphone_speech


def peaked(label, strength=0.9):
    rest = (1 - strength) / (len(EMOTIONS) - 1)
    return {name: strength if name == label else rest for name in EMOTIONS}


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake_models(monkeypatch):
    """Stand-in classifiers: frames give ``faces``, speech gives ``voice`` (both settable)."""
    models = type("Models", (), {})()
    models.faces = [Face((200, 100, 120, 120), peaked("happy"))]
    models.voice = peaked("sad")
    models.frames = 0
    models.near = []
    models.voice_reads = 0
    models.drowned = False

    def analyze_frame(frame, small_faces=True, near=None):
        models.frames += 1
        models.near.append(near)
        return list(models.faces)

    def read_window(piece):
        models.voice_reads += 1
        models.window_sizes.append(piece.size)
        return dict(models.voice), models.drowned

    models.window_sizes = []
    monkeypatch.setattr(live, "analyze_frame", analyze_frame)
    monkeypatch.setattr(live, "read_window", read_window)
    return models


@pytest.fixture(scope="module")
def speech_48k():
    return microphone_speech(48000)


FRAME = np.zeros((480, 640, 3), dtype=np.uint8)


def feed_audio(session, clock, samples, rate=48000, chunk_seconds=0.25):
    """Stream ``samples`` in chunks as the browser does, advancing the clock in step."""
    step = int(rate * chunk_seconds)
    state = None
    for start in range(0, len(samples), step):
        clock.now += chunk_seconds
        state = session.add_audio(samples[start : start + step], rate)
    return state


def test_ring_buffer_keeps_the_last_samples_in_order():
    ring = AudioRing(1000)
    ramp = np.arange(5000, dtype=np.float32)
    start = 0
    for size in [7, 993, 1, 2500, 499, 1000]:
        ring.extend(ramp[start : start + size])
        start += size
        assert len(ring) == min(start, 1000)
        np.testing.assert_array_equal(ring.latest(300), ramp[max(start - 300, 0) : start])
    np.testing.assert_array_equal(ring.latest(5000), ramp[start - 1000 : start])
    ring.clear()
    assert len(ring) == 0 and ring.latest(10).size == 0


def test_session_ring_buffer_holds_a_few_seconds_at_16k(fake_models, speech_48k):
    clock = FakeClock()
    session = LiveSession(clock)
    feed_audio(session, clock, np.tile(speech_48k, 3))  # about 15 s at 48 kHz
    assert session.buffered_seconds == pytest.approx(live.BUFFER_SECONDS)
    # one window per hop of audio, not one per chunk; only windows with speech are classified
    read = session.voice_windows
    assert len(read) == int(session.stream_seconds / windows.WINDOW_HOP_SECONDS)
    assert fake_models.voice_reads == sum(w.has_speech for w in read) > 0.5 * len(read)


def test_speech_and_face_are_read_and_fused(fake_models, speech_48k):
    clock = FakeClock()
    session = LiveSession(clock)
    session.add_frame(FRAME)
    state = feed_audio(session, clock, speech_48k[: 48000 * 2])
    session.add_frame(FRAME)
    state = session.snapshot()
    assert state.has_face and state.has_speech
    assert max(state.voice_scores, key=state.voice_scores.get) == "sad"
    assert 0 < state.fused.face_weight < 1 and state.fused.face_weight + state.fused.voice_weight == pytest.approx(1)
    assert state.status().endswith("1 face · speech")


def test_speech_drowned_in_noise_is_said_in_the_status(fake_models, speech_48k):
    clock = FakeClock()
    session = LiveSession(clock)
    session.add_frame(FRAME)
    fake_models.drowned = True
    state = feed_audio(session, clock, speech_48k[: 48000 * 2])
    assert state.has_speech and state.in_loud_noise and state.status().endswith("1 face · speech in loud noise")
    fake_models.drowned = False
    state = feed_audio(session, clock, speech_48k[: 48000 * 2])
    assert state.has_speech and not state.in_loud_noise and state.status().endswith(" · speech")
    fake_models.drowned = True
    feed_audio(session, clock, speech_48k[: 48000 * 2])
    session.stop()
    session.start()
    assert not session.snapshot().in_loud_noise  # a stop forgets it with the audio


def test_silence_is_no_speech(fake_models):
    clock = FakeClock()
    session = LiveSession(clock)
    silence, rate = load_audio(FIXTURES / "silence.wav")
    state = feed_audio(session, clock, silence, rate)
    assert not state.has_speech and state.voice_scores == {}
    assert fake_models.voice_reads == 0  # no speech, no guess
    assert state.status() == "nothing to read · no face · no speech"


def test_no_face_leaves_the_voice_alone(fake_models, speech_48k):
    clock = FakeClock()
    session = LiveSession(clock)
    fake_models.faces = []
    feed_audio(session, clock, speech_48k[: 48000 * 2])
    state = session.add_frame(FRAME)
    assert not state.has_face and state.faces == [] and state.face_scores == {}
    assert state.fused.voice_weight == 1.0
    assert state.status() == "sad · no face · speech"


def test_a_flat_reading_is_uncertain(fake_models):
    clock = FakeClock()
    session = LiveSession(clock)
    fake_models.faces = [Face((0, 0, 50, 50), {name: 1 / len(EMOTIONS) for name in EMOTIONS})]
    state = session.add_frame(FRAME)
    assert live.reading(state.face_scores) == "uncertain"
    assert state.status().startswith("uncertain ·")


def test_channels_go_stale(fake_models, speech_48k):
    clock = FakeClock()
    session = LiveSession(clock)
    session.add_frame(FRAME)
    feed_audio(session, clock, speech_48k[: 48000 * 2])
    clock.now += live.STALE_SECONDS + 0.1  # the camera and microphone went quiet
    state = session.snapshot()
    assert not state.has_face and not state.has_speech and not state.fused.available


def test_smoothing_keeps_a_single_odd_frame_from_flipping_the_label(fake_models):
    clock = FakeClock()
    session = LiveSession(clock)
    for _ in range(20):  # two seconds of a happy face at 10 frames per second
        clock.now += 0.1
        session.add_frame(FRAME)
    fake_models.faces = [Face((205, 100, 120, 120), peaked("angry", 0.95))]
    clock.now += 0.1
    state = session.add_frame(FRAME)
    assert state.faces[0].label == "happy"  # one angry frame moves the scores, not the label
    for _ in range(10):
        clock.now += 0.1
        state = session.add_frame(FRAME)
    assert state.faces[0].label == "angry"  # a second of it does


def test_faces_are_followed_and_smoothed_separately():
    left, right = (10, 10, 100, 100), (400, 10, 100, 100)
    tracks, faces = follow_faces([], [Face(left, peaked("happy")), Face(right, peaked("sad"))], now=0.0)
    tracks, faces = follow_faces(tracks, [Face((405, 12, 100, 100), peaked("fear")),
                                          Face((12, 10, 100, 100), peaked("fear"))], now=0.1)
    assert [f.label for f in faces] == ["sad", "happy"]  # each kept its own history
    assert faces[0].scores["fear"] > peaked("sad")["fear"]
    tracks, faces = follow_faces(tracks, [Face((250, 300, 80, 80), peaked("fear"))], now=0.2)
    assert faces[0].scores == pytest.approx(peaked("fear"))  # a new face starts afresh
    tracks, _ = follow_faces(tracks, [], now=0.2 + live.STALE_SECONDS + 0.1)
    assert tracks == []


def test_two_sessions_never_share_data(fake_models, speech_48k):
    clock = FakeClock()
    first, second = LiveSession(clock), LiveSession(clock)
    first.add_frame(FRAME)
    feed_audio(first, clock, speech_48k[: 48000 * 2])
    state = second.snapshot()
    assert not state.has_face and not state.has_speech and state.faces == []
    assert second.buffered_seconds == 0 and second.timeline()[1] == []
    assert first.timeline()[1] and first.buffered_seconds > 1


def test_a_deep_copy_is_a_session_of_its_own(fake_models):
    # Gradio deep-copies a gr.State's initial value for each browser session.
    clock = FakeClock()
    session = LiveSession(clock)
    twin = copy.deepcopy(session)
    twin.add_frame(FRAME)
    assert twin.snapshot().has_face and not session.snapshot().has_face
    assert twin._lock is not session._lock


def test_timeline_keeps_the_last_minute(fake_models):
    clock = FakeClock()
    session = LiveSession(clock)
    for _ in range(800):  # 80 s at 10 frames per second
        clock.now += 0.1
        session.add_frame(FRAME)
    version, points = session.timeline()
    assert points[-1].seconds - points[0].seconds <= live.TIMELINE_SECONDS
    assert points[-1].seconds == pytest.approx(80.0, abs=live.TIMELINE_STEP_SECONDS)
    assert len(points) <= live.TIMELINE_SECONDS / live.TIMELINE_STEP_SECONDS + 1
    assert {p.face for p in points} == {"happy"} and {p.voice for p in points} == {None}
    assert version >= len(points)


def test_stop_drops_the_audio_and_reset_drops_everything(fake_models, speech_48k):
    clock = FakeClock()
    session = LiveSession(clock)
    session.add_frame(FRAME)
    feed_audio(session, clock, speech_48k[: 48000 * 2])
    session.stop()
    assert session.buffered_seconds == 0
    stopped = session.snapshot()
    assert stopped.stopped and not stopped.has_speech and stopped.status().startswith("stopped")
    assert session.timeline()[1]  # the timeline stays on screen after Stop
    frames = fake_models.frames
    assert session.add_frame(FRAME).stopped and fake_models.frames == frames  # a late frame is ignored
    session.start()
    assert session.add_frame(FRAME).has_face and fake_models.frames == frames + 1
    session.reset()
    assert session.timeline()[1] == [] and session.snapshot().seconds == 0


def test_time_limit_stops_analysis_until_start(fake_models):
    clock = FakeClock()
    session = LiveSession(clock, time_limit=10.0)
    session.add_frame(FRAME)
    clock.now += 10.5
    state = session.add_frame(FRAME)
    assert state.expired and fake_models.frames == 1 and "time limit" in state.status()
    clock.now += 1
    assert session.add_frame(FRAME).expired and fake_models.frames == 1  # stays stopped
    session.start()
    state = session.add_frame(FRAME)
    assert not state.expired and state.has_face and fake_models.frames == 2


def test_a_new_sample_rate_starts_a_new_buffer(fake_models):
    clock = FakeClock()
    session = LiveSession(clock)
    session.add_audio(np.zeros(57600, dtype=np.int16), 48000)
    assert [(w.start, w.end) for w in session.voice_windows] == [(0.0, 0.5), (0.0, 1.0)]  # 1.2 s: two partial windows
    session.add_audio(np.zeros(4410, dtype=np.int16), 44100)
    assert session.buffered_seconds < 0.3 and session.voice_windows == ()
    with pytest.raises(ValueError, match="outside"):
        session.add_audio(np.zeros(400, dtype=np.int16), 4000)


def test_windows_are_read_on_the_sample_count_on_the_audio_paths_grid(fake_models, speech_48k):
    clock = FakeClock()
    session = LiveSession(clock)
    feed_audio(session, clock, np.tile(speech_48k, 2)[: 48000 * 6])  # 6 s in 0.25 s chunks
    read = session.voice_windows
    hop = windows.WINDOW_HOP_SECONDS
    partial = [(0.0, hop * k) for k in range(1, int(audio.WINDOW_SECONDS / hop))]  # before 3 s are in
    grid = [(start / audio.SAMPLE_RATE, stop / audio.SAMPLE_RATE)
            for start, stop in windows.window_bounds(int(session.stream_seconds * audio.SAMPLE_RATE))
            if stop - start == audio.WINDOW_SAMPLES and stop % windows.HOP_SAMPLES == 0]
    assert [(w.start, w.end) for w in read] == pytest.approx(partial + grid)
    assert fake_models.window_sizes == [round((w.end - w.start) * audio.SAMPLE_RATE) for w in read if w.has_speech]


def test_a_window_with_speech_is_only_used_while_speaking_now(fake_models, speech_48k):
    clock = FakeClock()
    session = LiveSession(clock)
    talk_then_silence = np.concatenate([speech_48k[: 48000 * 2], np.zeros(48000 * 5 // 2, np.int16)])
    state = feed_audio(session, clock, talk_then_silence)
    last = session.voice_windows[-1]
    assert (last.start, last.end) == (1.0, 4.0) and last.has_speech  # its first second holds speech ...
    assert not state.has_speech and state.voice_scores == {}  # ... but nobody speaks now


def test_real_models_read_a_face_and_speech(face_photo, speech):
    pytest.importorskip("ai_edge_litert")
    clock = FakeClock()
    session = LiveSession(clock)
    state = session.add_frame(face_photo)
    assert state.has_face and len(state.faces) == 1
    samples, rate = speech
    states = [feed_audio(session, clock, samples[start : start + rate // 4], rate)
              for start in range(0, samples.size, rate // 4)]
    heard = [s for s in states if s.has_speech]
    assert heard and set(heard[-1].voice_scores) == set(EMOTIONS)
    assert sum(heard[-1].fused_scores.values()) == pytest.approx(1.0)


def test_a_frame_analysed_across_a_stop_is_dropped(fake_models, monkeypatch):
    clock = FakeClock()
    session = LiveSession(clock)

    def stopped_while_analysing(frame, small_faces=True, near=None):
        session.stop()  # the user pressed Stop while this frame was being analysed
        return list(fake_models.faces)

    monkeypatch.setattr(live, "analyze_frame", stopped_while_analysing)
    state = session.add_frame(FRAME)
    assert not state.has_face and state.stopped


def test_the_newest_frame_wins_and_stale_frames_are_dropped(fake_models):
    session = LiveSession(FakeClock())
    assert session.add_newest_frame(FRAME, 5).has_face and fake_models.frames == 1
    assert session.add_newest_frame(FRAME, 4) is None and session.add_newest_frame(FRAME, 5) is None
    assert fake_models.frames == 1  # an older or repeated number is never analysed
    assert session.add_newest_frame(FRAME, 9).has_face and fake_models.frames == 2


def test_a_frame_that_waited_behind_a_newer_one_is_dropped(fake_models, monkeypatch):
    import threading

    session = LiveSession(FakeClock())
    analysing, release, results = threading.Event(), threading.Event(), {}

    def slow_analysis(frame, small_faces=True, near=None):
        analysing.set()
        release.wait(5)
        return list(fake_models.faces)

    monkeypatch.setattr(live, "analyze_frame", slow_analysis)
    first = threading.Thread(target=lambda: results.__setitem__(1, session.add_newest_frame(FRAME, 1)))
    first.start()
    assert analysing.wait(5)  # frame 1 is being analysed; frames 2 and 3 arrive meanwhile
    waiting = threading.Thread(target=lambda: results.__setitem__(2, session.add_newest_frame(FRAME, 2)))
    waiting.start()
    newest = threading.Thread(target=lambda: results.__setitem__(3, session.add_newest_frame(FRAME, 3)))
    newest.start()
    for _ in range(50):  # until frame 3 has taken its number (it then waits for the slot too)
        if session._newest_frame == 3:
            break
        threading.Event().wait(0.02)
    release.set()
    for thread in (first, waiting, newest):
        thread.join(5)
    assert results[1].has_face and results[2] is None and results[3].has_face


def test_a_deep_copy_has_its_own_frame_slot(fake_models):
    session = LiveSession(FakeClock())
    session.add_newest_frame(FRAME, 3)
    twin = copy.deepcopy(session)
    assert twin._frame_slot is not session._frame_slot
    assert twin.add_newest_frame(FRAME, 4).has_face


def test_the_last_frames_faces_are_followed_and_the_whole_frame_searched_every_so_often(fake_models):
    clock = FakeClock()
    session = LiveSession(clock)
    boxes = [found.box for found in fake_models.faces]
    session.add_frame(FRAME)  # the first frame: a whole search
    clock.now += 0.1
    session.add_frame(FRAME)  # its faces followed
    clock.now += live.WHOLE_SEARCH_SECONDS - 0.1
    session.add_frame(FRAME)  # a whole search is due
    fake_models.faces = []
    clock.now += 0.1
    session.add_frame(FRAME)  # its faces followed: none found
    clock.now += 0.1
    session.add_frame(FRAME)  # nothing to follow
    assert fake_models.near == [[], boxes, [], boxes, []]
    fake_models.faces = [Face((10, 10, 90, 90), peaked("sad"))]
    session.add_frame(FRAME)
    session.stop()
    session.start()
    session.add_frame(FRAME)  # a stop forgets the faces
    assert fake_models.near[-2:] == [[], []]
    clock.now += 0.1
    session.add_frame(np.zeros((240, 320, 3), np.uint8))  # another size: the boxes are another frame's pixels
    clock.now += 0.1
    session.add_frame(np.zeros((240, 320, 3), np.uint8))
    assert fake_models.near[-2:] == [[], [(10, 10, 90, 90)]]


def test_a_real_session_follows_its_face_with_one_short_range_run():
    """Real detectors: the second frame of a face costs one short-range run around it, no full range."""
    from emotion_core.analysis import default_reader
    from harness.media import face_frame

    frame = face_frame()
    reader, clock = default_reader(), FakeClock()
    session = LiveSession(clock)
    assert session.add_frame(frame).has_face
    close, far = reader.close_detector.runs, reader.detector.runs
    clock.now += 0.1
    state = session.add_frame(np.roll(frame, (5, -7), axis=(0, 1)))
    assert state.has_face and (reader.close_detector.runs - close, reader.detector.runs - far) == (1, 0)


def test_real_models_say_uncertain_for_a_voice_drowned_in_noise(face_photo, speech, monkeypatch):
    """Speech under loud white noise: the voice channel's noise term leaves it "uncertain" and the fused reading
    follows the face, where without the term the voice would name an emotion with confidence."""
    pytest.importorskip("ai_edge_litert")
    import dataclasses

    from emotion_core.analysis import default_reader
    from emotion_core.reading import UNCERTAIN, reading

    samples, rate = speech
    samples = samples.astype(np.float32)
    noise = np.random.default_rng(0).normal(0.0, 0.5 * float(np.std(samples)), samples.size)
    noisy = samples + noise.astype(np.float32)  # about 6 dB under the speech

    def last_heard() -> live.LiveState:
        clock = FakeClock()
        session = LiveSession(clock)
        heard = None
        for start in range(0, noisy.size, rate // 4):
            clock.now += 0.25
            session.add_frame(face_photo)
            state = session.add_audio(noisy[start : start + rate // 4], rate)
            heard = state if state.has_speech else heard
        assert heard is not None and heard.has_face
        return heard

    served = default_reader().voice_calibration
    assert served.contrast_knee_db is not None  # the bundled manifest serves the term
    heard = last_heard()
    assert reading(heard.voice_scores) == UNCERTAIN and heard.in_loud_noise and "speech in loud noise" in heard.status()
    assert reading(heard.fused_scores) == reading(heard.face_scores) != UNCERTAIN
    monkeypatch.setattr(default_reader(), "voice_calibration", dataclasses.replace(served, contrast_knee_db=None))
    assert reading(last_heard().voice_scores) not in (None, UNCERTAIN)  # the same noise, read without the term
