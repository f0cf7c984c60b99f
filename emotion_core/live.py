"""One live session: webcam frames and microphone chunks in, smoothed and fused estimates out.

Each browser session owns one :class:`LiveSession`; nothing is shared between sessions, nothing is
written to disk, and :meth:`LiveSession.stop` / :meth:`LiveSession.reset` drop the audio it holds.

Face channel: every frame is analysed; faces are followed from frame to frame by box overlap and
each face's scores are smoothed over time (EMA of probabilities, :func:`~emotion_core.fusion.ema_step`),
so the label on a box does not flicker. The largest face drives the face channel.

Voice channel: the microphone arrives in chunks at the browser's own rate. They are resampled to
16 kHz as they come (:class:`StreamResampler`, seamless across chunk edges) into a ring buffer
holding the last few seconds (:class:`AudioRing`). Every VOICE_EVERY_SECONDS the voice activity
detector looks at the last second; when it holds speech, the last 3 s window is classified and
smoothed like the faces.

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
from math import gcd

import numpy as np

from . import audio
from .analysis import analyze_frame, classify_speech
from .fusion import Fused, ema_step, fuse, smooth
from .reading import main_face, reading
from .results import Face

BUFFER_SECONDS = 4.0  # the ring buffer; the voice model sees its last audio.WINDOW_SECONDS
VOICE_EVERY_SECONDS = 0.5  # classify the voice window at most this often (chunks come every 0.25 s)
RECENT_SPEECH_SECONDS = 1.0  # "speaking now": the VAD finds speech in this much of the latest audio
FACE_TIME_CONSTANT = 0.4  # seconds; EMA time constant of each face's scores
VOICE_TIME_CONSTANT = 0.75  # seconds; EMA time constant of the voice scores
STALE_SECONDS = 2.0  # a face unseen / a voice unheard for longer starts afresh, and a channel idle as long is off
TRACK_MIN_OVERLAP = 0.3  # intersection over union for a face to continue a face of the previous frame
TIMELINE_SECONDS = 60.0  # the rolling timeline keeps the last minute
TIMELINE_STEP_SECONDS = 0.25  # at most one timeline point per this much time
TIME_LIMIT_SECONDS = 300.0  # a session stops analysing after this long; start() goes on

BUFFER_SAMPLES = int(BUFFER_SECONDS * audio.SAMPLE_RATE)
RECENT_SPEECH_SAMPLES = int(RECENT_SPEECH_SECONDS * audio.SAMPLE_RATE)
assert BUFFER_SAMPLES >= audio.WINDOW_SAMPLES, "the ring buffer must hold a whole voice window"


class StreamResampler:
    """Resample a stream that arrives in chunks, giving what SciPy's ``resample_poly`` gives for the whole.

    Each output sample is computed once its polyphase filter has all the input it needs, so chunk
    edges leave no trace; the delay this adds is half the filter, under 1 ms at 48 kHz.
    """

    def __init__(self, rate_in: int, rate_out: int = audio.SAMPLE_RATE):
        if not audio.MIN_SAMPLE_RATE <= rate_in <= audio.MAX_SAMPLE_RATE:
            raise ValueError(f"sample rate {rate_in} Hz is outside the supported "
                             f"{audio.MIN_SAMPLE_RATE}-{audio.MAX_SAMPLE_RATE} Hz")
        divisor = gcd(int(rate_in), int(rate_out))
        self.rate_in, self.up, self.down = int(rate_in), rate_out // divisor, int(rate_in) // divisor
        # resample_poly's filter reaches 10 * max(up, down) upsampled samples either side.
        self._context = math.ceil(10 * max(self.up, self.down) / self.up) + 1
        self._history = np.zeros(0, dtype=np.float32)
        self._history_start = 0  # stream index of _history[0]
        self._emitted = 0  # output samples given so far

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Mono float32 input at ``rate_in`` -> the float32 output samples that are now complete."""
        if self.up == self.down:
            return np.asarray(chunk, dtype=np.float32)
        from scipy.signal import resample_poly

        self._history = np.concatenate([self._history, np.asarray(chunk, dtype=np.float32)])
        available = self._history_start + self._history.size
        last = max((available - self._context) * self.up // self.down, 0)  # outputs [0, last) are complete
        if last <= self._emitted:
            return np.zeros(0, dtype=np.float32)
        begin = self._segment_start(self._emitted)
        out = resample_poly(self._history[begin - self._history_start :], self.up, self.down)
        offset = begin * self.up // self.down  # exact: begin is a multiple of `down`
        result = out[self._emitted - offset : last - offset].astype(np.float32)
        self._emitted = last
        keep_from = self._segment_start(last)
        self._history = self._history[keep_from - self._history_start :]
        self._history_start = keep_from
        return result

    def _segment_start(self, first_output: int) -> int:
        # A multiple of `down` (so the segment's outputs line up with the stream's) at least `context`
        # input samples before output `first_output`, whose centre is at first_output * down / up.
        return max(first_output * self.down // self.up - self._context, 0) // self.down * self.down


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

    @property
    def paused(self) -> bool:
        return self.stopped or self.expired

    @property
    def fused_scores(self) -> dict[str, float]:
        return self.fused.scores

    def status(self) -> str:
        """One line: the fused reading, then what each channel has."""
        if self.expired:
            return "stopped at the time limit; press Start to go on"
        if self.stopped:
            return "stopped; press Start to go on"
        verdict = reading(self.fused_scores) or "nothing to read"
        faces = f"{len(self.faces)} face{'s' if len(self.faces) != 1 else ''}" if self.has_face else "no face"
        voice = "speech" if self.has_speech else "no speech"
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
        self.reset()

    def __deepcopy__(self, memo) -> LiveSession:
        # Gradio deep-copies each browser session's initial gr.State value: the copy is a session of
        # its own, with its own lock and buffers.
        twin = LiveSession.__new__(LiveSession)
        with self._lock:
            twin.__dict__ = {key: copy.deepcopy(value, memo) for key, value in self.__dict__.items()
                             if key not in ("_lock", "_clock")}
        twin._clock, twin._lock = self._clock, threading.Lock()
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
        self._ring = AudioRing(BUFFER_SAMPLES)
        self._resampler: StreamResampler | None = None
        self._tracks: list[_Track] = []
        self._faces: list[Face] = []
        self._face_scores: dict[str, float] = {}
        self._frame_at = self._audio_at = -math.inf
        self._voice_scores: dict[str, float] = {}
        self._voice_at = self._checked_at = -math.inf
        self._has_speech = False

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
            if not self._admit_locked(self._clock()):
                return self._snapshot_locked(self._clock())
            epoch = self._epoch
        faces = analyze_frame(frame)
        with self._lock:
            now = self._clock()
            if epoch != self._epoch:  # stopped or reset meanwhile
                return self._snapshot_locked(now)
            self._tracks, self._faces = follow_faces(self._tracks, faces, now)
            self._frame_at = now
            main = main_face(self._faces)
            self._face_scores = main.scores if main else {}
            return self._snapshot_locked(now)

    def add_audio(self, chunk: np.ndarray, sample_rate: int) -> LiveState:
        """Add a microphone chunk (any PCM, mono or ``(n, channels)``); re-read the voice when due."""
        mono = audio.to_mono_float(chunk)
        with self._lock:
            now = self._clock()
            if not self._admit_locked(now):
                return self._snapshot_locked(now)
            if self._resampler is None or self._resampler.rate_in != int(sample_rate):
                self._resampler, self._ring = StreamResampler(int(sample_rate)), AudioRing(BUFFER_SAMPLES)
            self._ring.extend(self._resampler.process(mono))
            self._audio_at = now
            due = now - self._checked_at >= VOICE_EVERY_SECONDS
            if due:
                self._checked_at = now
                window, epoch = self._ring.latest(audio.WINDOW_SAMPLES), self._epoch
        if due:
            self._read_voice(window, epoch)
        with self._lock:
            return self._snapshot_locked(self._clock())

    def _read_voice(self, window: np.ndarray, epoch: int) -> None:
        # Speech must be in the *latest* second, or an old sentence would linger for the whole window.
        speaking = audio.has_speech(window[-RECENT_SPEECH_SAMPLES:])
        scores = classify_speech(window, audio.SAMPLE_RATE) if speaking else None
        with self._lock:
            now = self._clock()
            if epoch != self._epoch:  # stopped or reset meanwhile
                return
            self._has_speech = speaking
            if scores:
                previous = self._voice_scores if now - self._voice_at <= STALE_SECONDS else None
                self._voice_scores = smooth(previous, scores, ema_step(now - self._voice_at, VOICE_TIME_CONSTANT))
                self._voice_at = now

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
                          has_face, has_speech, seconds, self._paused == "stopped", self._paused == "expired")
        if self._running_since is not None:
            self._add_point_locked(state)
        return state

    def _add_point_locked(self, state: LiveState) -> None:
        if self._timeline and state.seconds - self._timeline[-1].seconds < TIMELINE_STEP_SECONDS:
            return
        self._timeline.append(TimelinePoint(state.seconds, reading(state.face_scores),
                                            reading(state.voice_scores), reading(state.fused_scores)))
        self._timeline_version += 1
        while self._timeline[0].seconds < state.seconds - TIMELINE_SECONDS:
            self._timeline.popleft()
