"""Media files through PyAV (FFmpeg's libraries, shipped in its wheel): check, open, probe, decode.

The one place that opens audio and video files: the size check, what the container says about a
file, decoded frames in file order with damaged packets skipped, the display rotation phones store,
the sound track as float samples at its own rate, and progress while a file is read. It builds on no other
module of the package, so :mod:`emotion_core.audio`, :mod:`emotion_core.video` and
:mod:`emotion_core.annotate` can all use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 500 * 1024 * 1024  # larger files are refused before they are opened
MAX_VIDEO_SIDE = 4096  # pixels; frames wider or taller are refused (4K UHD passes), so never decoded to probe

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], message)


class VideoError(ValueError):
    """A file that cannot be analysed as a video: missing, too large or long, not a video, corrupt."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a file; ``duration`` is ``None`` when it does not say."""

    name: str
    size_bytes: int
    duration: float | None
    width: int
    height: int
    frame_rate: float | None
    video_codec: str | None
    audio_codec: str | None
    audio_sample_rate: int | None = None
    rotation: int = 0  # degrees counterclockwise that the file asks players to turn the picture

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    def to_dict(self) -> dict:
        return {"name": self.name, "size_bytes": self.size_bytes, "duration_seconds": self.duration,
                "width": self.width, "height": self.height, "frame_rate": self.frame_rate,
                "video_codec": self.video_codec, "audio_codec": self.audio_codec,
                "audio_sample_rate": self.audio_sample_rate, "rotation": self.rotation}


def too_long_message(name: str, seconds: float, limit: float) -> str:
    """The refusal for a file longer than ``limit`` seconds (``seconds``: how long it is, or at least)."""
    return (f"{name} is longer than {limit / 60:g} minutes ({seconds / 60:.1f} min or more): "
            "cut it into shorter clips")


# --- opening and probing ------------------------------------------------------------------------

def check_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> Path:
    """The path, if it names a readable file of at most ``max_bytes``; else VideoError."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"no such file: {path.name}")
    size = path.stat().st_size
    if size == 0:
        raise VideoError(f"{path.name} is empty")
    if size > max_bytes:
        raise VideoError(f"{path.name} is {size / 2**20:.0f} MB; videos of at most {max_bytes / 2**20:.0f} MB "
                         "are accepted: cut or compress it first")
    return path


def open_media(path: Path):
    """Open ``path`` with PyAV for reading; VideoError when FFmpeg cannot read it as media."""
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise VideoError(f"{path.name} is not a video or audio file FFmpeg can read, or it is damaged "
                         f"({reason})") from error


def video_stream(container):
    """The container's picture stream, or ``None`` for sound only, a still image or cover art alone."""
    from av.stream import Disposition

    still_image = container.format.name == "image2" or container.format.name.endswith("_pipe")
    streams = [s for s in container.streams.video if not s.disposition & Disposition.attached_pic]
    return None if still_image or not streams else streams[0]


def container_info(path: Path, container) -> VideoInfo:
    """What an open container says about ``path``: streams, size, duration, upright frame size."""
    video = video_stream(container)
    sound = container.streams.audio[0] if container.streams.audio else None
    duration = container.duration / 1e6 if container.duration else None
    rate = (video.average_rate or video.guessed_rate) if video is not None else None
    width, height = (video.codec_context.width, video.codec_context.height) if video is not None else (0, 0)
    rotation = _first_frame_rotation(path) if video is not None and max(width, height) <= MAX_VIDEO_SIDE else 0
    if rotation % 180:
        width, height = height, width
    return VideoInfo(
        name=path.name, size_bytes=path.stat().st_size, duration=duration, width=width, height=height,
        frame_rate=float(rate) if rate else None,
        video_codec=video.codec_context.name if video is not None else None,
        audio_codec=sound.codec_context.name if sound is not None else None,
        audio_sample_rate=sound.codec_context.sample_rate if sound is not None else None,
        rotation=rotation,
    )


def probe(path: str | Path) -> VideoInfo:
    """Streams, size and duration of a media file, without decoding it (VideoError if unreadable)."""
    path = check_file(path)
    with open_media(path) as container:
        return container_info(path, container)


def stream_origin(container) -> float:
    """Seconds of the container's first timestamp; every time we report is counted from it."""
    return container.start_time / 1e6 if container.start_time is not None else 0.0


# --- decoding -----------------------------------------------------------------------------------

def decoded_frames(container, streams) -> Iterator[tuple[object, int]]:
    """Decoded frames of ``streams`` in file order, one at a time, with the byte position of their packet.

    Damaged packets are skipped (FFmpeg conceals what it can), so a partly corrupt file still reads.
    """
    import av

    for packet in container.demux(streams):
        try:
            frames = packet.decode()
        except av.InvalidDataError:
            continue
        position = packet.pos if packet.pos is not None and packet.pos >= 0 else 0
        for frame in frames:
            yield frame, position


def quarter_turns(degrees: float | None) -> int:
    """A display rotation in degrees (counterclockwise) -> quarter turns for ``np.rot90``, 0..3."""
    return int(round((degrees or 0) / 90.0)) % 4


def upright_rgb(frame, width: int, height: int) -> np.ndarray:
    """A decoded PyAV frame as ``height x width x 3`` RGB uint8, scaled and turned as players show it."""
    turns = quarter_turns(frame.rotation)
    stored = (width, height) if turns % 2 == 0 else (height, width)
    rgb = frame.to_ndarray(width=stored[0], height=stored[1], format="rgb24")
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _first_frame_rotation(path: Path) -> int:
    """The display rotation of the first video frame (phones store the picture sideways and say so)."""
    with open_media(path) as container:
        video = video_stream(container)
        for frame, _ in decoded_frames(container, [video] if video is not None else []):
            return quarter_turns(frame.rotation) * 90
    return 0


# --- sound --------------------------------------------------------------------------------------

def audio_converter():
    """FFmpeg's converter of decoded sound to planar float32, keeping each frame's rate and channels.

    No rate conversion happens here: the sound is handed over at its own rate, and the one resampler
    of the package (soxr, :mod:`emotion_core.audio`) brings it to the models' rate.
    """
    import av

    return av.AudioResampler(format="fltp")


def mono_pieces(converter, frame) -> Iterator[tuple[np.ndarray, int]]:
    """``(mono float32 samples, sample rate)`` of a decoded audio frame (``None``: flush the converter).

    Channels are averaged, as :func:`emotion_core.audio.load_audio` averages them.
    """
    for out in converter.resample(frame):
        yield out.to_ndarray().mean(axis=0, dtype=np.float32).reshape(-1), int(out.sample_rate)


def read_audio_track(path: str | Path, max_seconds: float) -> tuple[np.ndarray, int]:
    """The first audio track of any file FFmpeg reads (wav, mp3, m4a, a video...) as mono float32.

    Returns ``(samples, sample_rate)`` at the track's own rate. VideoError when the file has no
    audio or is longer than ``max_seconds``.
    """
    path = check_file(path)
    with open_media(path) as container:
        if not container.streams.audio:
            raise VideoError(f"{path.name} has no audio track")
        converter, pieces, count, rate = audio_converter(), [], 0, None
        for frame, _ in decoded_frames(container, [container.streams.audio[0]]):
            for chunk, chunk_rate in mono_pieces(converter, frame):
                pieces.append(chunk)
                count, rate = count + chunk.size, rate or chunk_rate  # the track's first rate is its rate
            if rate and count > max_seconds * rate:
                raise VideoError(too_long_message(path.name, count / rate, max_seconds))
        pieces.extend(chunk for chunk, _ in mono_pieces(converter, None))
        rate = rate or container.streams.audio[0].codec_context.sample_rate or 0
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return samples, int(rate)


# --- progress -----------------------------------------------------------------------------------

class ProgressReporter:
    """Calls ``progress`` at most once per percent; by time when the duration is known, else by bytes."""

    def __init__(self, progress: Progress | None, info: VideoInfo, verb: str = "analysing"):
        self._progress, self._info, self._verb = progress, info, verb
        self._last = -1

    def __call__(self, seconds: float, position: int) -> None:
        if self._progress is None:
            return
        if self._info.duration:
            fraction = min(seconds / self._info.duration, 1.0)
        else:
            fraction = min(position / max(self._info.size_bytes, 1), 1.0)
        if int(fraction * 100) > self._last:
            self._last = int(fraction * 100)
            total = f"/{self._info.duration:.0f}" if self._info.duration else ""
            self._progress(fraction, f"{self._verb} {self._info.name}: {seconds:.0f}{total} s")

    def done(self) -> None:
        if self._progress is not None:
            self._progress(1.0, f"{self._verb} {self._info.name}: done")
