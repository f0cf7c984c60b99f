"""One live session: webcam frames and microphone chunks in, smoothed and fused estimates out.

Each browser session owns one :class:`LiveSession`; nothing is shared between sessions, nothing is
written to disk, and :meth:`LiveSession.stop` / :meth:`LiveSession.reset` drop the audio it holds.

Face channel: every frame is analysed; faces are followed from frame to frame by box overlap and
each face's scores are smoothed over time (EMA of probabilities, :func:`~emotion_core.fusion.ema_step`),
so the label on a box does not flicker. The largest face drives the face channel. The detector looks for
the last frame's faces around their boxes first (one short-range run each), and searches the whole frame
where one is lost and at least every WHOLE_SEARCH_SECONDS.

Voice channel: the microphone arrives in chunks at the browser's own rate. They are resampled to
16 kHz as they come (soxr's stream, :func:`emotion_core.audio.stream_resampler`: exactly what the
Audio path's resampling gives for the whole) into a ring buffer holding the last few seconds
(:class:`AudioRing`). The stream is cut into the voice windows of :mod:`emotion_core.windows`, on
the sample count, not the clock: when the stream reaches the end of grid window k
(``[k * hop, k * hop + 3 s]``) that window is read as the Audio path reads it; before the first 3 s
are in, the partial window ``[0, now]`` is read at each hop mark (what the Audio path gives for a
recording that long). A window with speech is classified; when there is speech in the last
RECENT_SPEECH_SECONDS ("speaking now"), its scores are smoothed into the voice channel like the faces;
a window without speech in its last RECENT_SPEECH_SECONDS clears it, so a sentence's reading is never
carried into the next one.

A channel with nothing fresh (no face in the last frame, no speech in the last second, or no data
for STALE_SECONDS) is unavailable and drops out of the fusion. What each channel reads as (an emotion,
"uncertain" or nothing) and which face leads come from :mod:`emotion_core.reading`, as everywhere else.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from . import audio, speech, windows
from .analysis import analyze_frame, default_reader
from .fusion import Fused, ema_step, fuse, smooth
from .labels import scores_to_dict
from .reading import LOUD_NOISE, fused_reading, main_face, reading
from .results import Face, VoiceWindow

BUFFER_SECONDS = 4.0  # the ring buffer; the voice model sees its last audio.WINDOW_SECONDS
RECENT_SPEECH_SECONDS = 1.0  # "speaking now": the VAD finds speech in this much of the latest audio
FACE_TIME_CONSTANT = 0.4  # seconds; EMA time constant of each face's scores
VOICE_TIME_CONSTANT = 0.75  # seconds; EMA time constant of the voice scores
STALE_SECONDS = 2.0  # a face unseen / a voice unheard for longer starts afresh, and a channel idle as long is off
TRACK_MIN_OVERLAP = 0.3  # intersection over union for a face to continue a face of the previous frame
# The last frame's faces are followed (one short-range run around each, emotion_core.face_search.search_near)
# instead of searching the whole frame, except at least once in this long: a newcomer shows within it.
WHOLE_SEARCH_SECONDS = 1.0
TIMELINE_SECONDS = 60.0  # the rolling timeline keeps the last minute
TIMELINE_STEP_SECONDS = 0.25  # at most one timeline point per this much time
TIME_LIMIT_SECONDS = 300.0  # a session stops analysing after this long; start() goes on

BUFFER_SAMPLES = int(BUFFER_SECONDS * audio.SAMPLE_RATE)
RECENT_SPEECH_SAMPLES = int(RECENT_SPEECH_SECONDS * audio.SAMPLE_RATE)
assert BUFFER_SAMPLES >= audio.WINDOW_SAMPLES, "the ring buffer must hold a whole voice window"


def read_window(piece: np.ndarray) -> tuple[dict[str, float], bool]:
    """The served reader's scores for one 16 kHz voice window, made as every path makes them, and whether its
    speech is drowned in noise (:meth:`emotion_core.reader.EmotionReader.read_voice_windows`)."""
    probabilities, drowned = default_reader().read_voice_windows([piece])
    return scores_to_dict(probabilities[0]), bool(drowned[0])


class AudioRing:
    """The last ``capacity`` samples of a stream, in a fixed-size array."""

    def __init__(self, capacity: int):
        self._data = np.zeros(capacity, dtype=np.float32)
        self._end = 0  # next write position
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32)[-self._data.size :]
        first = min(samples.size, self._data.size - self._end)
        self._data[self._end : self._end + first] = samples[:first]
        self._data[: samples.size - first] = samples[first:]
        self._end = (self._end + samples.size) % self._data.size
        self._size = min(self._size + samples.size, self._data.size)

    def latest(self, n: int) -> np.ndarray:
        """A copy of the last ``min(n, len(self))`` samples, oldest first."""
        n = min(n, self._size)
        start = (self._end - n) % self._data.size
        if start + n <= self._data.size:
            return self._data[start : start + n].copy()
        return np.concatenate([self._data[start:], self._data[: self._end]])

    def clear(self) -> None:
        self._data[:] = 0.0
        self._end = self._size = 0


@dataclass(frozen=True)
class TimelinePoint:
    """What each channel read at one moment: an emotion, "uncertain", or ``None`` (no face / no speech)."""

    seconds: float
    face: str | None
    voice: str | None
    fused: str | None


@dataclass(frozen=True)
class LiveState:
    """A snapshot for the page: the faces of the last frame (smoothed) and the channels' readings."""

    faces: list[Face]
    face_scores: dict[str, float]
    voice_scores: dict[str, float]
    fused: Fused
    has_face: bool
    has_speech: bool
    seconds: float = 0.0
    stopped: bool = False  # by Stop: input is ignored until Start
    expired: bool = False  # by the time limit: input is ignored until Start
    in_loud_noise: bool = False  # the speech heard now is drowned in noise (its scores softened: mostly "uncertain")

    @property
    def paused(self) -> bool:
        return self.stopped or self.expired

    @property
    def fused_scores(self) -> dict[str, float]:
        return self.fused.scores

    def status(self) -> str:
        """One line: the fused reading (or the channels' disagreement), then what each channel has."""
        if self.expired:
            return "stopped at the time limit; press Start to go on"
        if self.stopped:
            return "stopped; press Start to go on"
        verdict = fused_reading(self.face_scores, self.voice_scores, self.fused_scores) or "nothing to read"
        faces = f"{len(self.faces)} face{'s' if len(self.faces) != 1 else ''}" if self.has_face else "no face"
        voice = (LOUD_NOISE if self.in_loud_noise else "speech") if self.has_speech else "no speech"
        return f"{verdict} · {faces} · {voice}"


@dataclass
class _Track:
    """One face followed over frames: its last box, smoothed scores and when it was last seen."""

    face: Face
    seen: float


def box_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def follow_faces(tracks: list[_Track], faces: list[Face], now: float,
                 time_constant: float = FACE_TIME_CONSTANT) -> tuple[list[_Track], list[Face]]:
    """Match this frame's faces to the tracks (greedy by overlap) and smooth each matched face's scores.

    Returns the tracks to keep (matched ones, and unmatched ones seen within STALE_SECONDS) and the
    frame's faces with smoothed scores, in the order given.
    """
    pairs = sorted(((box_overlap(t.face.box, f.box), i, j) for i, t in enumerate(tracks)
                    for j, f in enumerate(faces)), reverse=True)
    matched: dict[int, int] = {}  # face index -> track index
    for overlap, i, j in pairs:
        if overlap >= TRACK_MIN_OVERLAP and j not in matched and i not in matched.values():
            matched[j] = i
    smoothed, kept = [], []
    for j, found in enumerate(faces):
        track = tracks[matched[j]] if j in matched else None
        scores = found.scores
        if track is not None and now - track.seen <= STALE_SECONDS:
            scores = smooth(track.face.scores, found.scores, ema_step(now - track.seen, time_constant))
        smoothed.append(replace(found, scores=scores))
        kept.append(_Track(smoothed[-1], now))
    kept += [t for i, t in enumerate(tracks) if i not in matched.values() and now - t.seen <= STALE_SECONDS]
    return kept, smoothed


class LiveSession:
    """Thread-safe state of one streaming session (frames and audio arrive on different threads).

    ``clock`` gives seconds (monotonic); tests pass a fake one. Analysis runs outside the lock, so
    a frame and an audio chunk of the same session are analysed at the same time.
    """

    def __init__(self, clock=time.monotonic, time_limit: float = TIME_LIMIT_SECONDS):
        self._clock = clock
        self.time_limit = time_limit
        self._lock = threading.Lock()
        self._frame_slot = threading.Lock()  # one frame of this session analysed at a time
        self._newest_frame = -1  # the highest frame number add_newest_frame was given
        self.reset()

    def __deepcopy__(self, memo) -> LiveSession:
        # Gradio deep-copies each browser session's initial gr.State value: the copy is a session of
        # its own, with its own lock and buffers.
        twin = LiveSession.__new__(LiveSession)
        with self._lock:
            twin.__dict__ = {key: copy.deepcopy(value, memo) for key, value in self.__dict__.items()
                             if key not in ("_lock", "_clock", "_resampler", "_frame_slot")}
        twin._clock, twin._lock, twin._frame_slot = self._clock, threading.Lock(), threading.Lock()
        twin._restart_stream_locked(twin._rate)  # soxr's state cannot be copied: the twin's microphone starts afresh
        return twin

    def reset(self) -> None:
        """Forget everything: audio, faces, scores and the timeline (which starts again at 0 s)."""
        with self._lock:
            self._origin = self._clock()
            self._timeline: deque[TimelinePoint] = deque()
            self._timeline_version = 0
            self._paused: str | None = None  # None, "stopped" or "expired"
            self._stop_locked()

    def start(self) -> None:
        """(Re)start the time limit; the timeline and scores carry on."""
        with self._lock:
            self._paused = None
            self._start_locked(self._clock())

    def _start_locked(self, now: float) -> None:
        self._running_since = now
        if not self._timeline:
            self._origin = now  # a new timeline starts at 0 s

    def stop(self) -> None:
        """Stop until :meth:`start`: drop the audio and the face tracks; the timeline stays on screen.

        Input that still arrives (frames in flight) is ignored, so a stopped session stays stopped.
        """
        with self._lock:
            self._paused = "stopped"
            self._stop_locked()

    def _stop_locked(self) -> None:
        self._epoch = getattr(self, "_epoch", 0) + 1  # results of analyses begun before this are dropped
        self._running_since: float | None = None
        self._tracks: list[_Track] = []
        self._faces: list[Face] = []
        self._searched_at = -math.inf  # when a frame was last searched whole
        self._faces_frame: tuple[int, ...] = ()  # the (height, width) of the frame self._faces were found in
        self._face_scores: dict[str, float] = {}
        self._frame_at = self._audio_at = -math.inf
        self._voice_scores: dict[str, float] = {}
        self._voice_at = -math.inf
        self._has_speech = False
        self._restart_stream_locked(None)

    def _restart_stream_locked(self, sample_rate: int | None) -> None:
        # A new microphone stream: its 16 kHz samples are counted from 0, and so are its windows.
        self._rate = sample_rate
        self._resampler = audio.stream_resampler(sample_rate) if sample_rate not in (None, audio.SAMPLE_RATE) else None
        self._ring = AudioRing(BUFFER_SAMPLES)
        self._count = 0  # 16 kHz samples of the stream so far
        self._marks = 0  # hop marks (multiples of windows.HOP_SAMPLES) whose window has been taken
        self._windows: deque[VoiceWindow] = deque()

    def _admit_locked(self, now: float) -> bool:
        """Whether to analyse new input now; starts the clock on the first input and enforces the limit."""
        if self._paused:
            return False
        if self._running_since is None:
            self._start_locked(now)
        if now - self._running_since >= self.time_limit:
            self._stop_locked()
            self._paused = "expired"
            return False
        return True

    def add_frame(self, frame: np.ndarray) -> LiveState:
        """Analyse one RGB uint8 frame: every face, with its smoothed scores."""
        with self._lock:
            started = self._clock()
            if not self._admit_locked(started):
                return self._snapshot_locked(self._clock())
            epoch = self._epoch
            frame_size = np.shape(frame)[:2]
            near = self._faces_to_follow_locked(started, frame_size)
        faces = analyze_frame(frame, small_faces=False, near=near)  # webcam faces are large: short range first
        with self._lock:
            now = self._clock()
            if epoch != self._epoch:  # stopped or reset meanwhile
                return self._snapshot_locked(now)
            if not near:
                self._searched_at = started
            self._faces_frame = frame_size
            self._tracks, self._faces = follow_faces(self._tracks, faces, now)
            self._frame_at = now
            main = main_face(self._faces)
            self._face_scores = main.scores if main else {}
            return self._snapshot_locked(now)

    def _faces_to_follow_locked(self, now: float, frame_size: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
        """The last frame's face boxes to look for around them, or none when a whole-frame search is due
        (or the frame's size changed: the boxes would be in another frame's pixels)."""
        if now - self._searched_at >= WHOLE_SEARCH_SECONDS or frame_size != self._faces_frame:
            return []
        return [found.box for found in self._faces]

    def add_newest_frame(self, frame: np.ndarray, number: int) -> LiveState | None:
        """Analyse frame ``number`` unless a newer one came first; ``None`` when it is dropped as stale.

        Frames of one session are analysed one at a time; a frame that waited while another was
        analysed is dropped if a newer one arrived meanwhile, so only the newest waits and a slow
        link or a busy server never builds a backlog. Numbers grow with each frame a page sends.
        """
        with self._lock:
            if number <= self._newest_frame:
                return None
            self._newest_frame = number
        with self._frame_slot:
            with self._lock:
                if number != self._newest_frame:
                    return None
            return self.add_frame(frame)

    def add_audio(self, chunk: np.ndarray, sample_rate: int) -> LiveState:
        """Add a microphone chunk (any PCM, mono or ``(n, channels)``); read the voice windows it completes."""
        mono = audio.to_mono_float(chunk)
        with self._lock:
            now = self._clock()
            if not self._admit_locked(now):
                return self._snapshot_locked(now)
            if int(sample_rate) != self._rate:
                self._restart_stream_locked(audio.check_sample_rate(sample_rate))
            fresh = self._resampler.resample_chunk(mono) if self._resampler is not None else mono
            self._ring.extend(fresh)
            self._count += fresh.size
            self._audio_at = now
            due, epoch = self._due_windows_locked(), self._epoch
        if due:
            self._read_voice(due, epoch)
        with self._lock:
            return self._snapshot_locked(self._clock())

    def _due_windows_locked(self) -> list[tuple[int, int, np.ndarray]]:
        """``(start, stop, samples)`` of the windows whose end the stream has reached since the last call.

        A mark m (a multiple of the hop) ends grid window ``[m - 3 s, m]``, or the partial ``[0, m]``
        while m is under a window. Windows no longer in the ring (a chunk over a second) are skipped.
        """
        due = []
        while (self._marks + 1) * windows.HOP_SAMPLES <= self._count:
            self._marks += 1
            stop = self._marks * windows.HOP_SAMPLES
            start = max(stop - audio.WINDOW_SAMPLES, 0)
            if self._count - start <= len(self._ring):
                due.append((start, stop, self._ring.latest(self._count - start)[: stop - start]))
        return due

    def _read_voice(self, due: list[tuple[int, int, np.ndarray]], epoch: int) -> None:
        read = []
        for start, stop, piece in due:
            frames = speech.speech_frames(piece)
            seconds = speech.seconds_of(frames)
            scores, drowned = read_window(piece) if speech.is_enough(seconds) else ({}, False)
            # Speech must be in the *latest* second, or an old sentence would linger for the whole window.
            speaking = speech.has_speech(piece[-RECENT_SPEECH_SAMPLES:])
            read.append((VoiceWindow(start / audio.SAMPLE_RATE, stop / audio.SAMPLE_RATE, seconds, scores, drowned),
                         speaking))
        with self._lock:
            if epoch != self._epoch:  # stopped or reset meanwhile
                return
            for window, speaking in read:
                self._add_window_locked(window, speaking, self._clock())

    def _add_window_locked(self, window: VoiceWindow, speaking: bool, now: float) -> None:
        self._windows.append(window)
        while self._windows[0].end < window.end - TIMELINE_SECONDS:
            self._windows.popleft()
        self._has_speech = speaking
        if not speaking:  # a pause ends the sentence: the next one is not smoothed with this one's reading
            self._voice_scores = {}
        elif window.scores:
            previous = self._voice_scores if now - self._voice_at <= STALE_SECONDS else None
            self._voice_scores = smooth(previous, window.scores, ema_step(now - self._voice_at, VOICE_TIME_CONSTANT))
            self._voice_at = now

    @property
    def stream_seconds(self) -> float:
        """Seconds of 16 kHz microphone audio since the stream began (what the resampler has given so far)."""
        with self._lock:
            return self._count / audio.SAMPLE_RATE

    @property
    def voice_windows(self) -> tuple[VoiceWindow, ...]:
        """The voice windows read in the last minute of the stream, as read (before smoothing).

        ``start``/``end`` are seconds of microphone audio since the stream began (Start, Reset or a
        new sample rate); ``scores`` are empty for a window without speech.
        """
        with self._lock:
            return tuple(self._windows)

    @property
    def buffered_seconds(self) -> float:
        """Seconds of microphone audio held (at most BUFFER_SECONDS)."""
        with self._lock:
            return len(self._ring) / audio.SAMPLE_RATE

    def snapshot(self) -> LiveState:
        with self._lock:
            return self._snapshot_locked(self._clock())

    def timeline(self) -> tuple[int, list[TimelinePoint]]:
        """A version number (it grows when a point is added) and the points of the last minute."""
        with self._lock:
            return self._timeline_version, list(self._timeline)

    def _snapshot_locked(self, now: float) -> LiveState:
        has_face = bool(self._faces) and now - self._frame_at <= STALE_SECONDS
        has_speech = self._has_speech and now - self._audio_at <= STALE_SECONDS
        face_scores = self._face_scores if has_face else {}
        voice_scores = self._voice_scores if has_speech else {}
        fused = fuse(face_scores, voice_scores)
        seconds = now - self._origin
        state = LiveState(list(self._faces) if has_face else [], dict(face_scores), dict(voice_scores), fused,
                          has_face, has_speech, seconds, self._paused == "stopped", self._paused == "expired",
                          has_speech and self._last_read_in_loud_noise_locked())
        if self._running_since is not None:
            self._add_point_locked(state)
        return state

    def _last_read_in_loud_noise_locked(self) -> bool:
        """Whether the last window the voice model read was drowned in noise."""
        return next((window.in_loud_noise for window in reversed(self._windows) if window.scores), False)

    def _add_point_locked(self, state: LiveState) -> None:
        if self._timeline and state.seconds - self._timeline[-1].seconds < TIMELINE_STEP_SECONDS:
            return
        self._timeline.append(TimelinePoint(state.seconds, reading(state.face_scores),
                                            reading(state.voice_scores), reading(state.fused_scores)))
        self._timeline_version += 1
        while self._timeline[0].seconds < state.seconds - TIMELINE_SECONDS:
            self._timeline.popleft()
