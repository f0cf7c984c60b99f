"""Video files: frame sampling, and face + voice emotions over time.

Files are opened and decoded by :mod:`emotion_core.media`. A file is read once, packet by
packet, in presentation order: video frames are sampled at ``frames_per_second`` and every face in
them classified; the sound is decoded at its own rate, resampled to 16 kHz as it arrives (soxr, as
everywhere) and cut into the voice windows of :mod:`emotion_core.windows` (3 s, 0.5 s apart, on the
same timeline as the Audio path's); each window is read exactly as the Audio path reads it, speech
by the one definition of :mod:`emotion_core.speech`. Only the current window is held, so memory does
not grow with the length of the video; what is kept is the result (a few hundred bytes per segment).

Each sampled frame starts a *segment* that lasts until the next one; a segment's voice scores are
the mean of the speech windows centred in it (:func:`voice_windows_at`), and its fused scores come
from :func:`emotion_core.fusion.fuse`, as in the live view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from . import audio, speech, windows
from .analysis import analyze_frame, default_reader
from .classifier import check_threads
from .fusion import Fused, as_vector, fuse
from .labels import scores_to_dict, top_label
from .media import (
    MAX_VIDEO_SIDE,
    Progress,
    ProgressReporter,
    VideoError,
    VideoInfo,
    audio_converter,
    check_file,
    container_info,
    decoded_frames,
    mono_pieces,
    open_media,
    quarter_turns,
    stream_origin,
    too_long_message,
    upright_rgb,
    video_stream,
)
from .reading import main_face
from .results import Face, VoiceWindow, mostly_in_loud_noise

MAX_VIDEO_SECONDS = 600.0  # 10 minutes; longer files are refused
DEFAULT_FRAMES_PER_SECOND = 2.0  # sampled frames per second of video
MIN_FRAMES_PER_SECOND, MAX_FRAMES_PER_SECOND = 0.1, 10.0
DECODE_THREADS = 2  # FFmpeg frame threads for the video decoder (1: none, decoding runs in the caller's thread)
ANALYSIS_MAX_SIDE = 640  # sampled frames are scaled down to this before detection (full range sees 192x192 tiles)
SKIP_NONREF_UP_TO = 0.5  # sampling at most this share of the frames lets the decoder skip unreferenced ones
SPEECH_MARGIN_SECONDS = 0.25  # a segment has voice when speech is found within this much of it
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")  # what the app offers; any FFmpeg format is read

_TIME_EPSILON = 1e-6  # seconds; absorbs rounding in timestamps


@dataclass(frozen=True)
class VideoSegment:
    """The video from ``start`` to ``end`` seconds, read from the frame sampled at ``start``.

    ``face_scores`` are the largest face's (empty: no face); ``voice_scores`` empty: no speech;
    ``voice_in_loud_noise``: most of the voice windows read for the segment are drowned in noise.
    """

    start: float
    end: float
    faces: tuple[Face, ...]
    face_scores: dict[str, float]
    voice_scores: dict[str, float]
    fused: Fused
    voice_in_loud_noise: bool = False

    @property
    def face_label(self) -> str | None:
        return top_label(self.face_scores) if self.face_scores else None

    @property
    def voice_label(self) -> str | None:
        return top_label(self.voice_scores) if self.voice_scores else None

    @property
    def fused_label(self) -> str | None:
        return top_label(self.fused.scores) if self.fused.available else None

    def to_dict(self) -> dict:
        return {
            "start": self.start, "end": self.end, "faces": [face.to_dict() for face in self.faces],
            "face": {"label": self.face_label, "scores": dict(self.face_scores)},
            "voice": {"label": self.voice_label, "scores": dict(self.voice_scores),
                      "in_loud_noise": self.voice_in_loud_noise},
            "fused": {"label": self.fused_label, "scores": dict(self.fused.scores),
                      "face_weight": self.fused.face_weight, "voice_weight": self.fused.voice_weight},
        }


@dataclass(frozen=True)
class VideoAnalysis:
    """Everything read from one video: per-segment results, the voice windows and the speech found."""

    info: VideoInfo
    frames_per_second: float
    duration: float
    segments: tuple[VideoSegment, ...]
    voice_windows: tuple[VoiceWindow, ...] = field(default=(), repr=False)
    speech: tuple[tuple[float, float], ...] = field(default=(), repr=False)  # (start, end) seconds

    @property
    def has_face(self) -> bool:
        return any(segment.faces for segment in self.segments)

    @property
    def has_speech(self) -> bool:
        return any(window.has_speech for window in self.voice_windows)

    @property
    def in_loud_noise(self) -> bool:
        """Whether most of the windows with speech are drowned in noise (their readings mostly "uncertain")."""
        return mostly_in_loud_noise(window.in_loud_noise for window in self.voice_windows if window.has_speech)

    @cached_property
    def _starts(self) -> np.ndarray:
        return np.array([segment.start for segment in self.segments])

    def segment_at(self, seconds: float) -> VideoSegment | None:
        """The segment holding time ``seconds`` (the last one started at or before it)."""
        index = int(np.searchsorted(self._starts, seconds + _TIME_EPSILON, side="right")) - 1
        return self.segments[index] if index >= 0 else None


# --- pure helpers -------------------------------------------------------------------------------

def check_frames_per_second(frames_per_second: float) -> float:
    """The sampling rate as a float, or ValueError when outside MIN..MAX_FRAMES_PER_SECOND."""
    rate = float(frames_per_second)
    if not MIN_FRAMES_PER_SECOND <= rate <= MAX_FRAMES_PER_SECOND:
        raise ValueError(f"frames_per_second must be between {MIN_FRAMES_PER_SECOND} and "
                         f"{MAX_FRAMES_PER_SECOND}, got {frames_per_second}")
    return rate


def is_sample_due(seconds: float, slot: int, frames_per_second: float) -> bool:
    """Whether a frame at ``seconds`` is due for sampling: it is at or after slot ``slot``'s time."""
    return seconds + _TIME_EPSILON >= slot / frames_per_second


def next_slot(seconds: float, frames_per_second: float) -> int:
    """Index of the first sampling slot after a frame sampled at ``seconds`` (skips slots a gap missed)."""
    return int(math.floor((seconds + _TIME_EPSILON) * frames_per_second)) + 1


def speech_intervals(voiced: np.ndarray, offset: float = 0.0,
                     frame_seconds: float = speech.FRAME_SECONDS) -> tuple[tuple[float, float], ...]:
    """Runs of True in a per-VAD-frame mask -> ``((start, end), ...)`` in seconds from ``offset``."""
    voiced = np.asarray(voiced, dtype=bool)
    if not voiced.any():
        return ()
    edges = np.flatnonzero(np.diff(np.concatenate([[False], voiced, [False]]).astype(np.int8)))
    return tuple((offset + float(a) * frame_seconds, offset + float(b) * frame_seconds)
                 for a, b in zip(edges[::2], edges[1::2], strict=True))


def voice_windows_at(start: float, end: float, windows: tuple[VoiceWindow, ...] | list[VoiceWindow],
                     speech: tuple[tuple[float, float], ...],
                     margin: float = SPEECH_MARGIN_SECONDS) -> list[VoiceWindow]:
    """The speech windows that speak for the span ``start..end``: those centred in it.

    When no speech window has its centre in the span, the speech windows overlapping it whose
    centres are nearest its middle are used. A 3 s window reaches 1.5 s either side of its centre, so
    taking the windows centred on the segment, rather than every window that touches it, keeps a
    voice heard seconds away (another sentence, another emotion) out of the segment. None when the
    VAD found no speech within ``margin`` seconds of the span, or no speech window overlaps it.
    """
    if not any(a < end + margin and b > start - margin for a, b in speech):
        return []
    overlapping = [w for w in windows if w.has_speech and w.start < end and w.end > start]
    if not overlapping:
        return []
    middle = (start + end) / 2.0
    offsets = [abs((w.start + w.end) / 2.0 - middle) for w in overlapping]
    centred = [w for w in overlapping if start - _TIME_EPSILON <= (w.start + w.end) / 2.0 < end - _TIME_EPSILON]
    return centred or [w for w, off in zip(overlapping, offsets, strict=True) if off <= min(offsets) + _TIME_EPSILON]


def voice_scores_at(start: float, end: float, windows: tuple[VoiceWindow, ...] | list[VoiceWindow],
                    speech: tuple[tuple[float, float], ...], margin: float = SPEECH_MARGIN_SECONDS) -> dict[str, float]:
    """Voice scores for the span ``start..end``: the mean of :func:`voice_windows_at` (empty: no speech)."""
    return mean_scores(voice_windows_at(start, end, windows, speech, margin))


def mean_scores(windows: list[VoiceWindow]) -> dict[str, float]:
    """The mean of the windows' scores; empty for no windows."""
    return scores_to_dict(np.mean([as_vector(w.scores) for w in windows], axis=0)) if windows else {}


def analysis_size(width: int, height: int, max_side: int = ANALYSIS_MAX_SIDE) -> tuple[int, int]:
    """The ``(width, height)`` a frame is analysed at: scaled to fit ``max_side``, never enlarged, even."""
    scale = min(1.0, max_side / max(width, height, 1))
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def scale_faces(faces: list[Face], scale_x: float, scale_y: float) -> list[Face]:
    """Faces found in a resized frame, with their boxes mapped back to the original frame's pixels."""
    return [replace(face, box=(int(round(face.box[0] * scale_x)), int(round(face.box[1] * scale_y)),
                               int(round(face.box[2] * scale_x)), int(round(face.box[3] * scale_y))))
            for face in faces]


def build_segments(samples: list[tuple[float, list[Face]]], duration: float, windows: tuple[VoiceWindow, ...],
                   speech: tuple[tuple[float, float], ...]) -> tuple[VideoSegment, ...]:
    """Sampled frames ``[(seconds, faces), ...]`` (in time order) -> segments that tile 0..duration."""
    segments = []
    for index, (start, faces) in enumerate(samples):
        end = samples[index + 1][0] if index + 1 < len(samples) else max(duration, start)
        main = main_face(faces)
        face_scores = dict(main.scores) if main else {}
        heard = voice_windows_at(start, end, windows, speech)
        voice_scores = mean_scores(heard)
        segments.append(VideoSegment(start, end, tuple(faces), face_scores, voice_scores,
                                     fuse(face_scores, voice_scores),
                                     mostly_in_loud_noise(window.in_loud_noise for window in heard)))
    return tuple(segments)


def check_video(info: VideoInfo) -> VideoInfo:
    """Refuse, with a message saying what to do, a file that is not a video or is too long or large."""
    if not info.has_video:
        what = "audio only" if info.has_audio else "no video or audio track"
        raise VideoError(f"{info.name} is not a video ({what}): analyse sound with analyze_speech, "
                         "images with analyze_frame")
    if info.duration is not None and info.duration > MAX_VIDEO_SECONDS + _TIME_EPSILON:
        raise VideoError(too_long_message(info.name, info.duration, MAX_VIDEO_SECONDS))
    if max(info.width, info.height) > MAX_VIDEO_SIDE:
        raise VideoError(f"{info.name} is {info.width}x{info.height}; videos of at most {MAX_VIDEO_SIDE} "
                         "pixels a side are accepted")
    return info


# --- the sound track ----------------------------------------------------------------------------

class VoiceTrack:
    """Sound arriving in pieces -> the voice windows, read as the Audio path reads them, in bounded memory.

    Pieces at any rate are resampled to 16 kHz as they come (:func:`emotion_core.audio.stream_resampler`,
    which gives exactly what the Audio path's whole-signal resampling gives). Each grid window of
    :func:`emotion_core.windows.window_bounds` is read as soon as its samples are in; :meth:`finish`
    reads the tail window (or the one short window). Only the samples from the last window's start
    onwards are held. Call :meth:`feed` in order, then :meth:`finish` once.
    """

    def __init__(self, offset: float = 0.0, reader=None):
        self.offset = offset  # seconds of the first sample on the video's clock
        self.windows: list[VoiceWindow] = []
        self._reader = reader
        self._resampler = None
        self._rate: int | None = None
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # sample index of _buffer[0]
        self._pieces: list[np.ndarray] = []  # fed since the buffer was last assembled
        self._seen = 0  # 16 kHz samples so far
        self._speech: list[tuple[float, float]] = []  # speech intervals found by each window

    def feed(self, samples: np.ndarray, sample_rate: int = audio.SAMPLE_RATE) -> None:
        """Append mono float32 samples at ``sample_rate`` Hz (one rate for the whole track)."""
        if self._rate is None:
            self._rate = int(sample_rate)
            if self._rate != audio.SAMPLE_RATE:
                self._resampler = audio.stream_resampler(self._rate)
        samples = np.asarray(samples, dtype=np.float32)
        self._add(self._resampler.resample_chunk(samples) if self._resampler is not None else samples)

    def _add(self, samples: np.ndarray) -> None:
        self._pieces.append(samples)
        self._seen += samples.size
        done = len(self.windows)
        if windows.complete_windows(self._seen) <= done:
            return
        self._assemble()
        for index in range(done, windows.complete_windows(self._seen)):
            self._read(*windows.grid_window(index))
        keep_from = max(self._buffer_start, windows.grid_window(len(self.windows) - 1)[0])  # the tail may need it
        self._buffer = self._buffer[keep_from - self._buffer_start :]
        self._buffer_start = keep_from

    def _assemble(self) -> None:
        self._buffer = np.concatenate([self._buffer, *self._pieces])
        self._pieces.clear()

    def finish(self) -> None:
        """Flush the resampler and read the windows left: the tail, or the whole track when shorter than a window."""
        if self._resampler is not None:
            self._add(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        self._assemble()
        if self._seen > 0:
            for start, stop in windows.window_bounds(self._seen)[len(self.windows) :]:
                self._read(start, stop)
        self._buffer = np.zeros(0, dtype=np.float32)

    def speech(self) -> tuple[tuple[float, float], ...]:
        """Where the windows found speech, as merged ``(start, end)`` seconds on the video's clock."""
        merged: list[tuple[float, float]] = []
        for start, end in sorted(self._speech):
            if merged and start <= merged[-1][1] + _TIME_EPSILON:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return tuple(merged)

    def _read(self, start: int, stop: int) -> None:
        piece = self._buffer[start - self._buffer_start : stop - self._buffer_start]
        frames = speech.speech_frames(piece)
        seconds, begins = speech.seconds_of(frames), self.offset + start / audio.SAMPLE_RATE
        self._speech.extend(speech_intervals(frames, begins))
        scores, drowned = {}, False
        if speech.is_enough(seconds):  # speech.has_speech(piece), without finding the speech twice
            reader = self._reader or default_reader()
            probabilities, flags = reader.read_voice_windows([piece])
            scores, drowned = scores_to_dict(probabilities[0]), bool(flags[0])
        self.windows.append(VoiceWindow(begins, self.offset + stop / audio.SAMPLE_RATE, seconds, scores, drowned))


# --- the analysis -------------------------------------------------------------------------------

def analyze_video(path: str | Path, frames_per_second: float = DEFAULT_FRAMES_PER_SECOND,
                  progress: Progress | None = None, *, decode_threads: int = DECODE_THREADS) -> VideoAnalysis:
    """Face, voice and fused emotions over a video file, read once in a single streaming pass.

    ``frames_per_second`` frames are sampled per second of video and every face in them classified;
    the sound track (if any) is classified in the voice windows that hold speech. ``progress`` is
    called as ``progress(fraction, message)`` at most once per percent. Raises :class:`VideoError`
    (a ``ValueError``) for files that are missing, too large, too long, not a video or unreadable.
    A video with no face or no sound is not an error: those segments just have empty scores.
    ``decode_threads``: FFmpeg threads for the video decoder; 1 decodes in the calling thread (what a
    batch worker, one per core, wants), more decode ahead of it on other cores.
    """
    rate = check_frames_per_second(frames_per_second)
    threads = check_threads(decode_threads, "decode_threads")
    path = check_file(path)
    with open_media(path) as container:
        info = check_video(container_info(path, container))
        report = ProgressReporter(progress, info)
        samples, track, video_end = _read(container, info, rate, report, threads)
    report.done()
    if not samples:
        raise VideoError(f"{info.name}: no video frame could be decoded (the file may be damaged)")
    windows = tuple(track.windows) if track else ()
    speech = track.speech() if track else ()
    return VideoAnalysis(info, rate, video_end, build_segments(samples, video_end, windows, speech), windows, speech)


def _read(container, info: VideoInfo, rate: float, report: ProgressReporter, decode_threads: int):
    """The single decoding pass: sampled frames with their faces, the voice track, and the video's end."""
    import av

    video = video_stream(container)
    _configure_decoder(video, rate, info.frame_rate, decode_threads)
    sound = container.streams.audio[0] if info.has_audio else None
    origin = stream_origin(container)
    frame_seconds = 1.0 / info.frame_rate if info.frame_rate else 0.0
    converter = audio_converter() if sound is not None else None
    samples: list[tuple[float, list[Face]]] = []
    track: VoiceTrack | None = None
    slot, video_end = 0, 0.0
    for frame, position in decoded_frames(container, [s for s in (video, sound) if s is not None]):
        if frame.time is None:
            continue
        seconds = frame.time - origin
        if isinstance(frame, av.VideoFrame):
            if seconds > MAX_VIDEO_SECONDS:
                raise VideoError(too_long_message(info.name, seconds, MAX_VIDEO_SECONDS))
            video_end = max(video_end, seconds + frame_seconds)
            if is_sample_due(seconds, slot, rate):
                if seconds - slot / rate > 0.5 / rate:  # skipping frames made us late: decode them all
                    video.codec_context.skip_frame = "DEFAULT"
                samples.append((max(seconds, 0.0), _faces_in(frame)))
                slot = next_slot(seconds, rate)
            report(seconds, position)
        else:
            track = track or VoiceTrack(max(seconds, 0.0))
            for piece, piece_rate in mono_pieces(converter, frame):
                track.feed(piece, piece_rate)
    if track is not None:
        for piece, piece_rate in mono_pieces(converter, None):
            track.feed(piece, piece_rate)
        track.finish()
    return samples, track, video_end


def _configure_decoder(video, rate: float, frame_rate: float | None, threads: int = DECODE_THREADS) -> None:
    """Set up a PyAV video stream before its first packet: ``threads`` decoder threads, and skipping
    the frames nothing refers to when ``rate`` samples few enough of the ``frame_rate`` frames."""
    video.thread_type = "AUTO" if threads > 1 else "NONE"
    video.codec_context.thread_count = threads
    if frame_rate and rate <= SKIP_NONREF_UP_TO * frame_rate:
        # Frames no other frame refers to (most B-frames) are not needed to decode the rest.
        video.codec_context.skip_frame = "NONREF"


def _faces_in(frame) -> list[Face]:
    """Every face in a decoded frame, analysed upright at ANALYSIS_MAX_SIDE; boxes in upright full-size pixels."""
    full = (frame.width, frame.height) if quarter_turns(frame.rotation) % 2 == 0 else (frame.height, frame.width)
    width, height = analysis_size(*full)
    faces = analyze_frame(upright_rgb(frame, width, height))
    return scale_faces(faces, full[0] / width, full[1] / height)
