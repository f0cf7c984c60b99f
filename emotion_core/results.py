"""Small frozen result types returned by emotion_core."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .labels import top_label
from .reading import reading as reading_of
from .speech import is_enough


@dataclass(frozen=True)
class Face:
    """One detected face: its box ``(x, y, w, h)`` in pixels and scores over EMOTIONS."""

    box: tuple[int, int, int, int]
    scores: dict[str, float]
    detection_score: float = 1.0

    @property
    def label(self) -> str:
        """The top emotion, whatever its score."""
        return top_label(self.scores)

    @property
    def reading(self) -> str | None:
        """What to show: the top emotion or "uncertain" (:func:`emotion_core.reading.reading`)."""
        return reading_of(self.scores)

    def to_dict(self) -> dict:
        x, y, w, h = self.box
        return {
            "box": {"x": x, "y": y, "w": w, "h": h},
            "label": self.label,
            "reading": self.reading,
            "scores": dict(self.scores),
            "detection_score": self.detection_score,
        }


@dataclass(frozen=True)
class VoiceActivity:
    """How much of a recording is speech, as found by the voice activity detector."""

    speech_seconds: float
    total_seconds: float

    @property
    def has_speech(self) -> bool:
        return is_enough(self.speech_seconds)


def mostly_in_loud_noise(drowned: Iterable[bool]) -> bool:
    """Whether a recording's reading is mostly of speech drowned in noise: at least half of the windows it
    averages (their ``in_loud_noise`` flags) are; none gives False."""
    flags = [bool(flag) for flag in drowned]
    return bool(flags) and 2 * sum(flags) >= len(flags)


@dataclass(frozen=True)
class SpeechResult:
    """Voice-channel result: scores over EMOTIONS (empty when there is no speech) and the activity.

    With speech, ``window_scores`` holds each 3 s window's scores and ``window_times`` its
    ``(start, end)`` in seconds from the start of the recording as given
    (:func:`emotion_core.windows.window_bounds`); ``window_speech`` says which windows hold speech,
    the ones whose mean are the ``scores``. ``in_loud_noise``: most of those windows are drowned in noise
    (the voice calibration's noise term softened them, so the reading is mostly "uncertain").
    """

    scores: dict[str, float]
    activity: VoiceActivity
    windows: int = 0
    window_scores: tuple[dict[str, float], ...] = field(default=(), repr=False)
    window_times: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    window_speech: tuple[bool, ...] = field(default=(), repr=False)
    in_loud_noise: bool = False

    def __post_init__(self):
        if len(self.window_times) != len(self.window_scores):
            raise ValueError(f"{len(self.window_scores)} window scores but {len(self.window_times)} window times")
        if self.window_speech and len(self.window_speech) != len(self.window_scores):
            raise ValueError(f"{len(self.window_scores)} window scores but {len(self.window_speech)} speech flags")

    def _speech_flags(self) -> tuple[bool | None, ...]:
        return self.window_speech or (None,) * len(self.window_scores)

    @property
    def label(self) -> str | None:
        """The top emotion whatever its score; ``None`` without speech."""
        return top_label(self.scores) if self.scores else None

    @property
    def reading(self) -> str | None:
        """What to show: the top emotion, "uncertain", or ``None`` without speech."""
        return reading_of(self.scores)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "reading": self.reading,
            "scores": dict(self.scores),
            "has_speech": self.activity.has_speech,
            "speech_seconds": self.activity.speech_seconds,
            "duration_seconds": self.activity.total_seconds,
            "windows": self.windows,
            "in_loud_noise": self.in_loud_noise,
            "window_scores": [{"start": start, "end": end, "speech": speech, "scores": dict(scores)}
                              for (start, end), scores, speech
                              in zip(self.window_times, self.window_scores, self._speech_flags(), strict=True)],
        }


@dataclass(frozen=True)
class VoiceWindow:
    """One voice window (:mod:`emotion_core.windows`), ``start``/``end`` in seconds; ``scores`` empty when no speech;
    ``in_loud_noise``: its speech is drowned in noise (the voice calibration's noise term softened its scores)."""

    start: float
    end: float
    speech_seconds: float
    scores: dict[str, float]
    in_loud_noise: bool = False

    @property
    def has_speech(self) -> bool:
        return bool(self.scores)

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "speech_seconds": self.speech_seconds,
                "label": top_label(self.scores) if self.scores else None, "scores": dict(self.scores),
                "in_loud_noise": self.in_loud_noise}
