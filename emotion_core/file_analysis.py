"""Any media file -> its emotions over time and a summary: the command line's analysis, as data.

:func:`media_kind` is the rule ``python -m emotion_core FILE`` uses to tell an image, a recording and
a video apart, and :func:`analyze_file` reads and analyses each kind exactly as that command does.
Whatever the kind, the result is a series of :class:`~emotion_core.video.VideoSegment`: an image is
one moment (a single segment at 0 s), a recording is its 3 s voice windows, a video its sampled
frames. The batch command (:mod:`emotion_core.batch`) turns these into table rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .fusion import fuse
from .reading import main_face
from .results import Face, SpeechResult
from .timeline import ChannelSummary, summarize, summarize_channel
from .video import DECODE_THREADS, Progress, VideoAnalysis, VideoSegment

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class FileAnalysis:
    """One file's segments and its summary.

    ``duration``: seconds of media (0 for an image). ``fused``: the fused channel over the whole
    file (``.dominant``, ``.shares`` of time per emotion; for a recording, of its voice windows).
    ``face_coverage`` / ``voice_coverage``: share of the time with a face / with speech, ``None``
    where the file has no such channel (an image has no sound, a recording no picture).
    """

    kind: str
    duration: float
    segments: tuple[VideoSegment, ...]
    fused: ChannelSummary
    face_coverage: float | None
    voice_coverage: float | None

    @property
    def dominant(self) -> str | None:
        return self.fused.dominant


def media_kind(path: Path) -> str:
    """"image", "audio" or "video", from the suffix for images and from the streams otherwise."""
    from .media import probe

    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    info = probe(path)
    if info.has_video:
        return "video"
    if info.has_audio:
        return "audio"
    raise ValueError(f"{path.name} has neither a picture nor sound that FFmpeg can read")


def image_analysis(faces: list[Face]) -> FileAnalysis:
    """The faces found in a picture -> one segment at 0 s that follows the largest face."""
    main = main_face(faces)
    face_scores = dict(main.scores) if main else {}
    segment = VideoSegment(0.0, 0.0, tuple(faces), face_scores, {}, fuse(face_scores, {}))
    # A picture is a single moment: its shares are those of one unit of time.
    fused = summarize_channel((replace(segment, end=1.0),), "fused", 1.0)
    return FileAnalysis("image", 0.0, (segment,), fused, 1.0 if faces else 0.0, None)


def recording_analysis(samples: np.ndarray, sample_rate: int, result: SpeechResult) -> FileAnalysis:
    """A recording as read and its :func:`~emotion_core.analyze_speech` result -> one segment per voice window."""
    times = result.window_times
    segments = tuple(VideoSegment(start, end, (), {}, dict(scores), fuse({}, scores))
                     for (start, end), scores in zip(times, result.window_scores, strict=True))
    windows_seconds = sum(s.end - s.start for s in segments)
    fused = summarize_channel(segments, "fused", windows_seconds)
    activity = result.activity
    speech = activity.speech_seconds / activity.total_seconds if activity.has_speech and activity.total_seconds else 0.0
    return FileAnalysis("audio", result.activity.total_seconds, segments, fused, None, speech)


def video_analysis(analysis: VideoAnalysis) -> FileAnalysis:
    """A video's :class:`~emotion_core.video.VideoAnalysis` with its summary."""
    summary = summarize(analysis)
    voice = summary.voice.coverage if analysis.info.has_audio else None
    return FileAnalysis("video", analysis.duration, analysis.segments, summary.fused, summary.face.coverage, voice)


def analyze_file(path: str | Path, frames_per_second: float | None = None,
                 progress: Progress | None = None, *, decode_threads: int = DECODE_THREADS) -> FileAnalysis:
    """Read and analyse an image, a recording or a video as ``python -m emotion_core FILE`` does.

    ``frames_per_second``: video frames sampled per second (default: the command line's);
    ``decode_threads``: the video decoder's threads (:func:`~emotion_core.video.analyze_video`). Raises
    ``ValueError`` (or ``OSError``) with the command line's message for a file it cannot analyse.
    """
    from .analysis import analyze_frame, analyze_speech
    from .audio import load_audio
    from .images import load_image
    from .video import DEFAULT_FRAMES_PER_SECOND, analyze_video

    path = Path(path)
    kind = media_kind(path)
    if kind == "image":
        return image_analysis(analyze_frame(load_image(path)))
    if kind == "audio":
        samples, rate = load_audio(path)
        return recording_analysis(samples, rate, analyze_speech(samples, rate))
    rate = DEFAULT_FRAMES_PER_SECOND if frames_per_second is None else frames_per_second
    return video_analysis(analyze_video(path, rate, progress=progress, decode_threads=decode_threads))
