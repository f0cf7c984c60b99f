"""Small frozen result types returned by emotion_core."""

from __future__ import annotations

from dataclasses import dataclass, field

from .labels import top_label


@dataclass(frozen=True)
class Face:
    """One detected face: its box ``(x, y, w, h)`` in pixels and scores over EMOTIONS."""

    box: tuple[int, int, int, int]
    scores: dict[str, float]
    detection_score: float = 1.0

    @property
    def label(self) -> str:
        return top_label(self.scores)

    def to_dict(self) -> dict:
        x, y, w, h = self.box
        return {
            "box": {"x": x, "y": y, "w": w, "h": h},
            "label": self.label,
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
        from .audio import MIN_SPEECH_SECONDS

        return self.speech_seconds >= MIN_SPEECH_SECONDS


@dataclass(frozen=True)
class SpeechResult:
    """Voice-channel result: scores over EMOTIONS (empty when there is no speech) and the activity."""

    scores: dict[str, float]
    activity: VoiceActivity
    windows: int = 0
    window_scores: tuple[dict[str, float], ...] = field(default=(), repr=False)

    @property
    def label(self) -> str | None:
        return top_label(self.scores) if self.scores else None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "scores": dict(self.scores),
            "has_speech": self.activity.has_speech,
            "speech_seconds": self.activity.speech_seconds,
            "duration_seconds": self.activity.total_seconds,
            "windows": self.windows,
        }
