"""An annotated copy of a video: face boxes and labels drawn on every frame, the original sound kept.

The video is decoded a second time (frame by frame, so memory stays flat), each frame gets the
boxes of the segment it falls in and a caption with the face, voice and fused readings, and is
encoded as H.264 in yuv420p (plays in every browser). The sound is copied packet for packet when
MP4 can hold it (AAC, MP3), otherwise re-encoded to AAC.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from .media import Progress, ProgressReporter, check_file, open_media, stream_origin, upright_rgb, video_stream
from .overlay import draw_caption, draw_faces
from .reading import LOUD_NOISE
from .reading import caption as reading_caption
from .video import VideoAnalysis, VideoSegment, analysis_size, scale_faces

ANNOTATED_MAX_SIDE = 1280  # larger videos are scaled down to this (720p stays as it is)
ANNOTATED_PRESET = "veryfast"  # x264 speed/size trade-off
ANNOTATED_CRF = 23  # x264 quality (lower: better, larger)
DEFAULT_FRAME_RATE = Fraction(30)
MAX_FRAME_RATE = 120
COPY_AUDIO_CODECS = ("aac", "mp3")  # copied into MP4 as they are; anything else becomes AAC


def caption(segment: VideoSegment | None) -> str:
    """One line for the bottom of a frame: ``"face happy 81% | voice - | fused uncertain"``.

    "-": no reading; each channel's caption comes from :func:`emotion_core.reading.caption`; a voice
    drowned in noise says so (``"voice uncertain (speech in loud noise)"``).
    """
    parts = []
    for channel in ("face", "voice", "fused"):
        scores = {} if segment is None else {"face": segment.face_scores, "voice": segment.voice_scores,
                                             "fused": segment.fused.scores}[channel]
        text = reading_caption(scores)
        if text and channel == "voice" and segment.voice_in_loud_noise:  # text: a segment with speech
            text = f"{text} ({LOUD_NOISE})"
        parts.append(f"{channel} {text or '-'}")
    return " | ".join(parts)


def _output_rate(video) -> Fraction:
    rate = video.average_rate or video.guessed_rate
    return Fraction(rate) if rate and 1 <= rate <= MAX_FRAME_RATE else DEFAULT_FRAME_RATE


def _add_streams(output, video, sound, size: tuple[int, int]):
    rate = _output_rate(video)
    video_out = output.add_stream("libx264", rate=rate, options={"preset": ANNOTATED_PRESET,
                                                                 "crf": str(ANNOTATED_CRF)})
    video_out.width, video_out.height, video_out.pix_fmt = size[0], size[1], "yuv420p"
    video_out.codec_context.time_base = 1 / rate
    video_out.codec_context.thread_count = 2
    if sound is None:
        return video_out, None, False
    if sound.codec_context.name in COPY_AUDIO_CODECS:
        return video_out, output.add_stream_from_template(sound), True
    sound_out = output.add_stream("aac", rate=sound.codec_context.sample_rate or 48000)
    sound_out.layout = sound.codec_context.layout.name if sound.codec_context.layout else "stereo"
    return video_out, sound_out, False


def write_annotated_video(source: str | Path, analysis: VideoAnalysis, destination: str | Path,
                          progress: Progress | None = None, max_side: int = ANNOTATED_MAX_SIDE) -> Path:
    """Write ``source`` with ``analysis`` drawn on it to ``destination`` (an .mp4); returns its path.

    A file left half-written by an error is removed.
    """
    source, destination = check_file(source), Path(destination)
    try:
        with open_media(source) as container, _open_output(destination) as output:
            _annotate(container, output, analysis, progress, max_side)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return destination


def _open_output(destination: Path):
    import av

    return av.open(str(destination), "w", format="mp4", options={"movflags": "+faststart"})


def _annotate(container, output, analysis: VideoAnalysis, progress: Progress | None, max_side: int) -> None:
    import av

    video = video_stream(container)
    video.thread_type = "AUTO"
    sound = container.streams.audio[0] if container.streams.audio else None
    size = analysis_size(analysis.info.width, analysis.info.height, max_side)  # upright, as players show it
    video_out, sound_out, copy_sound = _add_streams(output, video, sound, size)
    origin, report = stream_origin(container), ProgressReporter(progress, analysis.info, "drawing")
    last_pts = -1
    for packet in container.demux([s for s in (video, sound) if s is not None]):
        if copy_sound and packet.stream is sound:
            _copy_packet(packet, sound_out, output, origin)
            continue
        try:
            frames = packet.decode()
        except av.InvalidDataError:
            continue
        for frame in frames:
            if isinstance(frame, av.AudioFrame):
                frame.pts = None  # the encoder numbers the samples itself
                output.mux(sound_out.encode(frame))
            elif frame.time is not None and (pts := round((frame.time - origin) * _output_rate(video))) > last_pts:
                last_pts = pts  # (two input frames on one output tick: the second is dropped)
                output.mux(video_out.encode(_drawn(frame, analysis, size, frame.time - origin, pts, video_out)))
                report(frame.time - origin, packet.pos or 0)
    output.mux(video_out.encode(None))
    if sound_out is not None and not copy_sound:
        output.mux(sound_out.encode(None))
    report.done()


def _drawn(frame, analysis: VideoAnalysis, size: tuple[int, int], seconds: float, pts: int, stream):
    import av

    segment = analysis.segment_at(seconds)
    canvas = upright_rgb(frame, *size)
    if segment is not None and segment.faces:
        scale_x, scale_y = size[0] / analysis.info.width, size[1] / analysis.info.height
        canvas = draw_faces(canvas, scale_faces(list(segment.faces), scale_x, scale_y))
    canvas = draw_caption(canvas, f"{seconds:6.1f} s  {caption(segment)}")
    out = av.VideoFrame.from_ndarray(canvas, format="rgb24")
    out.pts, out.time_base = pts, stream.codec_context.time_base
    return out


def _copy_packet(packet, sound_out, output, origin: float) -> None:
    """Mux one sound packet unchanged, on the video's clock."""
    if packet.dts is None:
        return  # the demuxer's end-of-stream marker
    shift = round(origin / packet.time_base)
    if packet.pts is not None:
        packet.pts -= shift
    packet.dts -= shift
    packet.stream = sound_out
    output.mux(packet)
