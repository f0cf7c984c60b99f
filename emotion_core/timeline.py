"""A video's results over time: the summary, CSV and JSON exports, and the timeline picture.

Everything here reads a :class:`~emotion_core.video.VideoAnalysis`; nothing decodes or predicts.
Shares of time are measured in seconds of video (segments can differ in length). Each channel's
``label`` in the exports is the raw top emotion and its ``reading`` what the app shows
(:mod:`emotion_core.reading`: the emotion, "uncertain" or nothing).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fusion import as_vector
from .labels import EMOTIONS, scores_to_dict
from .reading import reading
from .video import VideoAnalysis, VideoSegment

CHANNELS = ("face", "voice", "fused")
CHANNEL_TITLES = {"face": "Face", "voice": "Voice", "fused": "Face + voice"}
EMOTION_COLOURS = {  # one colour per emotion, used by every picture
    "angry": "#d62728", "disgust": "#8c8c00", "fear": "#9467bd", "happy": "#f2b701",
    "sad": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#9e9e9e",
}
PLOT_SIZE_INCHES = (10.0, 5.6)
PLOT_DPI = 110


@dataclass(frozen=True)
class ChannelSummary:
    """One channel over the whole video.

    ``seconds``: time with a reading (a face / speech); ``shares``: share of that time per top
    emotion (sums to 1, empty when ``seconds`` is 0); ``mean_scores``: time-weighted mean scores.
    """

    channel: str
    seconds: float
    coverage: float
    shares: dict[str, float]
    mean_scores: dict[str, float]

    @property
    def dominant(self) -> str | None:
        """The emotion that is on top for the longest time (ties go to the earlier in EMOTIONS)."""
        if not self.shares:
            return None
        return max(EMOTIONS, key=lambda name: (self.shares.get(name, 0.0), -EMOTIONS.index(name)))

    def to_dict(self) -> dict:
        return {"channel": self.channel, "seconds": self.seconds, "coverage": self.coverage,
                "dominant": self.dominant, "shares": dict(self.shares), "mean_scores": dict(self.mean_scores)}


@dataclass(frozen=True)
class VideoSummary:
    """Per-channel summaries of a video; ``dominant`` is the fused channel's."""

    duration: float
    face: ChannelSummary
    voice: ChannelSummary
    fused: ChannelSummary

    @property
    def dominant(self) -> str | None:
        return self.fused.dominant

    def channels(self) -> tuple[ChannelSummary, ChannelSummary, ChannelSummary]:
        return self.face, self.voice, self.fused

    def to_dict(self) -> dict:
        return {"duration_seconds": self.duration, "dominant": self.dominant,
                **{summary.channel: summary.to_dict() for summary in self.channels()}}


def channel_scores(segment: VideoSegment, channel: str) -> dict[str, float]:
    """A segment's scores for ``channel`` ("face", "voice" or "fused"); empty when it has no reading."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
    return {"face": segment.face_scores, "voice": segment.voice_scores, "fused": segment.fused.scores}[channel]


def summarize_channel(segments: tuple[VideoSegment, ...], channel: str, duration: float) -> ChannelSummary:
    """Time with a reading, share of it per top emotion, and mean scores, for one channel."""
    seconds = {name: 0.0 for name in EMOTIONS}
    weighted = np.zeros(len(EMOTIONS))
    for segment in segments:
        vector = as_vector(channel_scores(segment, channel))
        if vector is None:
            continue
        length = segment.end - segment.start
        seconds[EMOTIONS[int(np.argmax(vector))]] += length
        weighted += length * vector
    total = sum(seconds.values())
    if total <= 0:
        return ChannelSummary(channel, 0.0, 0.0, {}, {})
    shares = {name: value / total for name, value in seconds.items()}
    return ChannelSummary(channel, total, total / duration if duration > 0 else 0.0, shares, scores_to_dict(weighted))


def summarize(analysis: VideoAnalysis) -> VideoSummary:
    """The summary of a whole video: per channel, how long it had a reading and what it read."""
    face, voice, fused = (summarize_channel(analysis.segments, c, analysis.duration) for c in CHANNELS)
    return VideoSummary(analysis.duration, face, voice, fused)


def segment_rows(analysis: VideoAnalysis) -> list[dict[str, object]]:
    """One flat row per segment (times in seconds, full precision; empty string: no reading)."""
    rows = []
    for segment in analysis.segments:
        row: dict[str, object] = {"start": segment.start, "end": segment.end, "faces": len(segment.faces)}
        for channel in CHANNELS:
            row[f"{channel}_label"] = getattr(segment, f"{channel}_label") or ""
            row[f"{channel}_reading"] = reading(channel_scores(segment, channel)) or ""
        row["face_weight"], row["voice_weight"] = segment.fused.face_weight, segment.fused.voice_weight
        for channel in CHANNELS:
            scores = channel_scores(segment, channel)
            row.update({f"{channel}_{name}": scores.get(name, "") for name in EMOTIONS})
        rows.append(row)
    return rows


def csv_columns() -> list[str]:
    """The CSV header, in order."""
    readings = [column for c in CHANNELS for column in (f"{c}_label", f"{c}_reading")]
    columns = ["start", "end", "faces", *readings, "face_weight", "voice_weight"]
    return columns + [f"{c}_{name}" for c in CHANNELS for name in EMOTIONS]


def to_csv(analysis: VideoAnalysis) -> str:
    """The per-segment results as CSV text (see :func:`csv_columns`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(), lineterminator="\n")
    writer.writeheader()
    writer.writerows(segment_rows(analysis))
    return buffer.getvalue()


def to_dict(analysis: VideoAnalysis) -> dict:
    """Everything as plain JSON-able data: the file, the summary, speech, voice windows and segments."""
    return {
        "video": analysis.info.to_dict(),
        "frames_per_second": analysis.frames_per_second,
        "duration_seconds": analysis.duration,
        "summary": summarize(analysis).to_dict(),
        "speech": [{"start": a, "end": b} for a, b in analysis.speech],
        "voice_windows": [{**window.to_dict(), "reading": reading(window.scores)} for window in analysis.voice_windows],
        "segments": [segment_dict(segment) for segment in analysis.segments],
    }


def segment_dict(segment: VideoSegment) -> dict:
    """A segment as JSON-able data (:meth:`VideoSegment.to_dict`), each channel with its ``reading`` too."""
    data = segment.to_dict()
    for channel in CHANNELS:
        data[channel]["reading"] = reading(channel_scores(segment, channel))
    return data


def write_csv(analysis: VideoAnalysis, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(to_csv(analysis), encoding="utf-8")
    return path


def write_json(analysis: VideoAnalysis, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(to_dict(analysis), indent=1), encoding="utf-8")
    return path


def _stacked(segments: tuple[VideoSegment, ...], channel: str) -> tuple[np.ndarray, np.ndarray]:
    """Step-plot arrays: segment edges ``(n+1,)`` and cumulative scores ``(8, n)``, NaN where no reading."""
    edges = np.array([s.start for s in segments] + [segments[-1].end])
    vectors = [as_vector(channel_scores(s, channel)) for s in segments]
    values = np.array([v if v is not None else np.full(len(EMOTIONS), np.nan) for v in vectors])
    return edges, np.vstack([np.where(np.isnan(values[:, 0]), np.nan, 0.0), np.cumsum(values.T, axis=0)])


def plot_timeline(analysis: VideoAnalysis, path: str | Path, title: str | None = None) -> Path:
    """Draw face, voice and fused scores over time (stacked, one colour per emotion) into a PNG.

    Blank stretches have no reading (no face, or no speech). Uses matplotlib's Agg backend without
    pyplot, so it is safe to call from several threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    figure = Figure(figsize=PLOT_SIZE_INCHES, dpi=PLOT_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(CHANNELS), 1, sharex=True)
    summary = summarize(analysis)
    for ax, channel, channel_summary in zip(axes, CHANNELS, summary.channels(), strict=True):
        if analysis.segments:
            edges, cumulative = _stacked(analysis.segments, channel)
            for index, name in enumerate(EMOTIONS):
                ax.stairs(cumulative[index + 1], edges, baseline=cumulative[index], fill=True,
                          color=EMOTION_COLOURS[name], linewidth=0)
        dominant = channel_summary.dominant or "no reading"
        ax.set_ylabel(CHANNEL_TITLES[channel], rotation=0, ha="right", va="center")
        ax.set_title(f"{dominant}, {channel_summary.coverage:.0%} of the time with a reading",
                     loc="right", fontsize="small")
        ax.set_ylim(0, 1)
        ax.set_yticks([0, 0.5, 1])
        ax.set_xlim(0, max(analysis.duration, 1e-3))
    axes[-1].set_xlabel("seconds")
    figure.legend(handles=[Patch(color=EMOTION_COLOURS[n], label=n) for n in EMOTIONS], loc="outside lower center",
                  ncols=len(EMOTIONS), frameon=False)
    if title:
        figure.suptitle(title, x=0.01, ha="left", fontsize="medium")
    path = Path(path)
    figure.savefig(path, format="png")
    return path
