"""One live session: webcam frames and microphone chunks in, smoothed and fused estimates out.

Each browser session owns one :class:`LiveSession`; nothing is shared between sessions and nothing
is written to disk. The microphone arrives in chunks at the browser's own rate; the session keeps
the last few seconds at 16 kHz in a ring buffer and classifies that sliding window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from . import audio
from .analysis import analyze_frame, classify_speech, prepare_speech
from .fusion import fuse, is_uncertain, smooth
from .labels import top_label
from .results import Face

BUFFER_SECONDS = audio.WINDOW_SECONDS  # the voice window: the last 3 s of the microphone
VOICE_EVERY_SECONDS = 0.25  # classify the window at most this often
TIMELINE_SECONDS = 60.0  # the rolling timeline keeps the last minute


@dataclass(frozen=True)
class TimelinePoint:
    """What each channel read at one moment (``None``: no face / no speech)."""

    seconds: float
    face: str | None
    voice: str | None
    fused: str | None


@dataclass(frozen=True)
class LiveState:
    """A snapshot for the page: faces in the last frame and the smoothed channel scores."""

    faces: list[Face]
    face_scores: dict[str, float]
    voice_scores: dict[str, float]
    fused_scores: dict[str, float]
    has_face: bool
    has_speech: bool
    timeline: list[TimelinePoint] = field(default_factory=list)

    def status(self) -> str:
        """One line: which channels have something, and whether the fused reading is sure."""
        parts = ["face" if self.has_face else "no face", "speech" if self.has_speech else "no speech"]
        if not self.fused_scores:
            verdict = "nothing to read"
        elif is_uncertain(self.fused_scores):
            verdict = "uncertain"
        else:
            verdict = top_label(self.fused_scores)
        return f"{verdict} ({', '.join(parts)})"


class LiveSession:
    """Thread-safe state of one streaming session (frames and audio arrive on different threads)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._started = self._clock()
            self._buffer = np.zeros(0, dtype=np.float32)
            self._last_voice_at = -np.inf
            self._faces: list[Face] = []
            self._face_scores: dict[str, float] = {}
            self._voice_scores: dict[str, float] = {}
            self._has_face = False
            self._has_speech = False
            self._timeline: deque[TimelinePoint] = deque()

    def add_frame(self, frame: np.ndarray) -> LiveState:
        """Analyse one RGB frame; the largest face drives the face channel."""
        faces = analyze_frame(frame)
        with self._lock:
            self._faces = faces
            self._has_face = bool(faces)
            if faces:
                main = max(faces, key=lambda f: f.box[2] * f.box[3])
                self._face_scores = smooth(self._face_scores, main.scores)
            return self._snapshot_locked()

    def add_audio(self, chunk: np.ndarray, sample_rate: int) -> LiveState:
        """Append a microphone chunk; re-classify the last 3 s when due."""
        mono = prepare_speech(chunk, sample_rate)
        with self._lock:
            self._buffer = np.concatenate([self._buffer, mono])[-audio.WINDOW_SAMPLES:]
            window = self._buffer.copy()
            due = self._clock() - self._last_voice_at >= VOICE_EVERY_SECONDS
            if due:
                self._last_voice_at = self._clock()
        if due:
            # Speech must fill part of the *recent* audio, or an old sentence would linger for 3 s.
            recent = window[-audio.SAMPLE_RATE :]
            has_speech = audio.speech_seconds(recent) >= audio.MIN_SPEECH_SECONDS
            scores = classify_speech(window, audio.SAMPLE_RATE) if has_speech else None
            with self._lock:
                self._has_speech = has_speech
                if scores:
                    self._voice_scores = smooth(self._voice_scores, scores)
        with self._lock:
            return self._snapshot_locked()

    def snapshot(self) -> LiveState:
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> LiveState:
        face_scores = self._face_scores if self._has_face else {}
        voice_scores = self._voice_scores if self._has_speech else {}
        fused = fuse(face_scores, voice_scores).scores
        now = self._clock() - self._started
        self._timeline.append(TimelinePoint(
            now,
            top_label(face_scores) if face_scores else None,
            top_label(voice_scores) if voice_scores else None,
            top_label(fused) if fused else None,
        ))
        while self._timeline and self._timeline[0].seconds < now - TIMELINE_SECONDS:
            self._timeline.popleft()
        return LiveState(list(self._faces), dict(face_scores), dict(voice_scores), fused,
                         self._has_face, self._has_speech, list(self._timeline))
