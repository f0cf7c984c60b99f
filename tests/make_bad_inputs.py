"""The bad-input corpus: malformed and unusual images, recordings and videos, with what each should give.

``python -m tests.make_bad_inputs`` rewrites ``tests/bad_inputs/`` (the small files, committed) and
its ``manifest.json``. The big cases (huge images, recordings and videos past the limits, an upload
over the size limit) are listed in the manifest with ``"generated": true`` and made at test time by
:func:`make_case`, so they never enter git.

Each case expects either ``"result"`` (analysed without error) or ``"error: <pattern>"``: the call
raises ``ValueError`` (through the API: a ``gr.Error``; from the command line: exit status 1) whose
message matches the regular expression ``<pattern>``. ``expect_api`` / ``expect_cli`` override the
expectation for one entry point where they legitimately differ (e.g. the upload size limit).
Everything is deterministic: the sources are the committed face photo and speech recording.
"""

from __future__ import annotations

import io
import json
import shutil
import wave
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "bad_inputs"
MANIFEST = CORPUS_DIR / "manifest.json"
FACE_JPEG = HERE / "fixtures" / "face.jpg"
SPEECH_WAV = HERE / "fixtures" / "speech.wav"
FACE_SIDE = 160  # committed images are this size, to keep the corpus small
VIDEO_SIZE = (160, 120)
VIDEO_FPS = 10

CANNOT_READ_IMAGE = "error: cannot read .* as an image"
CANNOT_DECODE_AUDIO = "error: cannot decode audio file"
NOT_MEDIA = "error: not a video or audio file FFmpeg can read"


@dataclass(frozen=True)
class Case:
    """One input file: its kind (image, audio or video), expected outcome and why it is in the corpus."""

    file: str
    kind: str
    expect: str
    why: str
    generated: bool = False
    expect_api: str | None = None
    expect_cli: str | None = None
    min_faces: int | None = None  # a result must find at least this many faces (in some frame, for videos)
    speech: bool | None = None  # a result must (True) or must not (False) find speech

    def expected(self, entry_point: str) -> str:
        """The expectation for ``entry_point``: "function", "api" or "cli"."""
        override = {"api": self.expect_api, "cli": self.expect_cli}.get(entry_point)
        return override or self.expect


# --- sources -------------------------------------------------------------------------------------

def face_picture(side: int = FACE_SIDE):
    from PIL import Image

    with Image.open(FACE_JPEG) as image:
        return image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)


def speech(rate: int = 16000, seconds: float = 2.0) -> np.ndarray:
    """The committed speech recording (its first ``seconds``) as mono float32 at ``rate`` Hz."""
    import soundfile as sf

    from emotion_core.audio import resample

    samples, source_rate = sf.read(SPEECH_WAV, dtype="float32")
    samples = samples[: int(seconds * source_rate)]
    if rate != source_rate:
        samples = resample(samples, source_rate, rate)
    return samples


def jpeg_bytes(image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, **options)
    return buffer.getvalue()


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def write_wav(path: Path, samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> None:
    import soundfile as sf

    sf.write(path, samples, rate, subtype=subtype, format="WAV")


def encode_audio(path: Path, samples: np.ndarray, rate: int, codec: str, container: str | None = None) -> None:
    """Mono float32 ``samples`` -> ``path`` in ``codec`` through PyAV."""
    import av

    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout="mono")
        frame_size = 1024
        for start in range(0, samples.size, frame_size):
            block = samples[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(block[None, :].astype(np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))


def write_video(path: Path, seconds: float = 2.0, size: tuple[int, int] = VIDEO_SIZE, fps: int = VIDEO_FPS,
                sound: bool = True, frames: bool = True, rotation: int = 0, codec: str = "libx264",
                audio_codec: str = "aac", faststart: bool = False, container: str | None = None) -> None:
    """A short video of the face photo on grey, with the speech recording as sound (48 kHz)."""
    import av

    picture = np.asarray(face_picture(min(size)))
    if rotation:  # store the picture turned so that applying the display rotation shows it upright
        picture = np.rot90(picture, k=-rotation // 90)  # clockwise; players turn it back counter-clockwise
    width, height = (size[1], size[0]) if rotation in (90, 270) else size
    canvas = np.full((height, width, 3), 128, dtype=np.uint8)
    top, left = (height - picture.shape[0]) // 2, (width - picture.shape[1]) // 2
    canvas[top : top + picture.shape[0], left : left + picture.shape[1]] = picture
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=container, options=options) as output:
        video = output.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "crf": "30"}
        if rotation:
            video.set_display_rotation(rotation)
        voice = output.add_stream(audio_codec, rate=48000, layout="mono") if sound else None
        sound_samples = speech(48000, seconds) if sound else None
        for _ in range(int(seconds * fps) if frames else 0):
            output.mux(video.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")))
        output.mux(video.encode(None))
        if voice is not None:
            for start in range(0, sound_samples.size, 1024):
                block = sound_samples[start : start + 1024][None, :]
                frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
                output.mux(voice.encode(frame))
            output.mux(voice.encode(None))


# --- makers: one per case; each writes its file at ``path`` ----------------------------------------

def _save(image_mode: str, fmt: str = "PNG") -> Callable[[Path], None]:
    def make(path: Path) -> None:
        from PIL import Image

        picture = face_picture()
        if image_mode == "RGBA":
            alpha = np.full((FACE_SIDE, FACE_SIDE), 255, np.uint8)
            alpha[:, : FACE_SIDE // 8] = 0  # a transparent strip
            picture = picture.convert("RGBA")
            picture.putalpha(Image.fromarray(alpha))
        elif image_mode == "P":
            picture = picture.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        elif image_mode == "I;16":
            grey = np.asarray(picture.convert("L"), dtype=np.uint16) * 257
            picture = Image.fromarray(grey)
        elif image_mode != "RGB":
            picture = picture.convert(image_mode)
        picture.save(path, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return make


def _bytes(data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data() if callable(data) else data)


def _truncated(make: Callable[[Path], None], keep: float) -> Callable[[Path], None]:
    def truncate(path: Path) -> None:
        make(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
    return truncate


def _corrupted(make: Callable[[Path], None], start: float, length: int) -> Callable[[Path], None]:
    """Overwrite ``length`` bytes from ``start`` (a share of the file) with deterministic noise."""
    def corrupt(path: Path) -> None:
        make(path)
        data = bytearray(path.read_bytes())
        offset = int(len(data) * start)
        noise = np.random.default_rng(8).integers(0, 256, length, dtype=np.uint8).tobytes()
        data[offset : offset + length] = noise[: len(data) - offset]
        path.write_bytes(bytes(data))
    return corrupt


def _face_jpeg(path: Path) -> None:
    path.write_bytes(jpeg_bytes(face_picture()))


def _exif_rotated(path: Path) -> None:
    """The face stored lying on its side, with EXIF orientation 6 saying "turn 90 degrees clockwise"."""
    from PIL import Image

    picture = face_picture().transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path.write_bytes(jpeg_bytes(picture, exif=exif.tobytes()))


def _gif(path: Path) -> None:
    picture = face_picture()
    from PIL import Image

    frames = [picture.convert("P", palette=Image.Palette.ADAPTIVE),
              picture.transpose(Image.Transpose.FLIP_TOP_BOTTOM).convert("P", palette=Image.Palette.ADAPTIVE)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def _flat_png(width: int, height: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        from PIL import Image

        Image.new("RGB", (width, height), (90, 120, 150)).save(path, "PNG")
    return make


def _bomb_png(path: Path, side: int = 30000) -> None:
    """A PNG whose header claims ``side`` x ``side`` pixels (0.9 gigapixel) but holds almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _svg(path: Path) -> None:
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
                    '<circle cx="32" cy="32" r="30" fill="gold"/></svg>')


def _wav(samples: Callable[[], np.ndarray], rate: int, subtype: str = "PCM_16",
         channels: int = 1) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        data = samples()
        if channels > 1:  # each channel a little different, as a real stereo recording
            data = np.stack([data * (1.0 - 0.1 * c) for c in range(channels)], axis=1)
        write_wav(path, data, rate, subtype)
    return make


def _nan_inf_wav(path: Path) -> None:
    samples = speech(16000, 1.5).copy()
    samples[::50] = np.nan
    samples[7::101] = np.inf
    samples[13::97] = -np.inf
    write_wav(path, samples, 16000, "FLOAT")


def _all_nan_wav(path: Path) -> None:
    write_wav(path, np.full(8000, np.nan, np.float32), 16000, "FLOAT")


def _lying_length_wav(path: Path) -> None:
    """A WAV whose header claims 10 s of data but holds 1 s: a recording cut off mid-upload."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as output:
        output.setnchannels(1)
        output.setsampwidth(2)
        output.setframerate(16000)
        output.writeframes((speech(16000, 1.0) * 32767).astype("<i2").tobytes())
    data = bytearray(buffer.getvalue())
    claimed = 10 * 16000 * 2
    data[4:8] = (36 + claimed).to_bytes(4, "little")  # RIFF size
    data[40:44] = claimed.to_bytes(4, "little")  # data chunk size
    path.write_bytes(bytes(data))


def _garbage_wav(path: Path) -> None:
    noise = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    path.write_bytes(b"RIFF" + (4000).to_bytes(4, "little") + b"WAVEfmt " + noise)


def _encoded(codec: str, container: str | None = None, seconds: float = 2.0) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        encode_audio(path, speech(48000, seconds), 48000, codec, container)
    return make


def _video(**options) -> Callable[[Path], None]:
    return lambda path: write_video(path, **options)


def _video_bytes_as(options: dict) -> Callable[[Path], None]:
    """A video made with ``options`` into a temporary name, then copied to ``path`` (whatever its suffix)."""
    def make(path: Path) -> None:
        suffix = {"webm": ".webm", "matroska": ".mkv"}.get(options.get("container"), ".mp4")
        temporary = path.with_name(path.stem + ".tmp" + suffix)
        write_video(temporary, **options)
        temporary.replace(path)
    return make


def _too_long_wav(path: Path) -> None:
    """11 minutes of quiet 8 kHz noise (10.6 MB): under the upload limit, over the length limit."""
    noise = np.random.default_rng(5).normal(0, 300, 11 * 60 * 8000).astype(np.int16)
    with wave.open(str(path), "wb") as output:
        output.setnchannels(1)
        output.setsampwidth(2)
        output.setframerate(8000)
        output.writeframes(noise.tobytes())


def _over_upload_limit(path: Path) -> None:
    """A valid 30 MB WAV of silence (2.7 minutes of 48 kHz stereo): over the app's 25 MB upload limit only."""
    with wave.open(str(path), "wb") as output:
        output.setnchannels(2)
        output.setsampwidth(2)
        output.setframerate(48000)
        output.writeframes(bytes(30 * 2**20))


def _huge_image(side: int) -> Callable[[Path], None]:
    """A ``side`` x ``side`` JPEG with the face photo in a corner (a few hundred kB: most of it is flat)."""
    def make(path: Path) -> None:
        from PIL import Image

        canvas = Image.new("RGB", (side, side), (100, 110, 120))
        canvas.paste(face_picture(1024), (side // 3, side // 3))
        canvas.save(path, "JPEG", quality=70)
    return make


def _too_long_video(path: Path) -> None:
    """11 minutes of a tiny video at 1 frame per second, no sound."""
    write_video(path, seconds=660, size=(64, 48), fps=1, sound=False)


def _huge_video(path: Path) -> None:
    write_video(path, seconds=0.2, size=(4800, 2700), fps=5, sound=False)


def _text(content: str) -> Callable[[Path], None]:
    return _bytes(content.encode())


def _copy(source: Path) -> Callable[[Path], None]:
    return lambda path: shutil.copyfile(source, path)


LOREM = "This is not media, just a text file with a misleading name.\n" * 20


def TONE(rate: int, seconds: float = 0.25) -> np.ndarray:  # noqa: N802 (reads as a constant in the table)
    """A 440 Hz tone at ``rate`` Hz, mono float32."""
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


# name -> (Case, maker)
CASES: dict[str, tuple[Case, Callable[[Path], None]]] = {}


def case(file: str, kind: str, expect: str, why: str, make: Callable[[Path], None], **options) -> None:
    CASES[file] = (Case(file, kind, expect, why, **options), make)


# Images
case("image_1x1.png", "image", "result", "smallest possible image: no face, no crash", _flat_png(1, 1))
case("image_8000x1.png", "image", "result", "extreme aspect ratio", _flat_png(8000, 1))
case("image_grey_face.png", "image", "result", "greyscale (mode L)", _save("L"), min_faces=1)
case("image_rgba_face.png", "image", "result", "RGBA with a transparent strip", _save("RGBA"), min_faces=1)
case("image_palette_face.png", "image", "result", "palette (mode P)", _save("P"), min_faces=1)
case("image_1bit.png", "image", "result", "black and white (mode 1)", _save("1"))
case("image_16bit_grey_face.png", "image", "result", "16-bit greyscale PNG (mode I;16)", _save("I;16"), min_faces=1)
case("image_cmyk_face.jpg", "image", "result", "CMYK JPEG", _save("CMYK", "JPEG"), min_faces=1)
case("image_exif_rotated_face.jpg", "image", "result", "EXIF orientation 6: stored on its side", _exif_rotated,
     min_faces=1)
case("image_animated.gif", "image", "result", "animated GIF: the first frame is read", _gif, min_faces=1)
case("image_png_named.jpg", "image", "result", "a PNG with a .jpg name: the content decides",
     lambda p: p.write_bytes(png_bytes(face_picture())), min_faces=1)
case("image_truncated.jpg", "image", CANNOT_READ_IMAGE, "JPEG cut at 40 %", _truncated(_face_jpeg, 0.4))
case("image_truncated.png", "image", CANNOT_READ_IMAGE, "PNG cut at 50 %",
     _truncated(lambda p: p.write_bytes(png_bytes(face_picture())), 0.5))
case("image_corrupt_header.png", "image", CANNOT_READ_IMAGE, "PNG with its header overwritten",
     _corrupted(lambda p: p.write_bytes(png_bytes(face_picture())), 0.0, 40))
case("image_empty.jpg", "image", CANNOT_READ_IMAGE, "zero bytes", _bytes(b""))
case("image_text_named.jpg", "image", CANNOT_READ_IMAGE, "a text file with a .jpg name", _text(LOREM))
case("image_wav_named.png", "image", CANNOT_READ_IMAGE, "a WAV with a .png name", _wav(lambda: TONE(8000), 8000),
     expect_cli="error: neither a picture nor sound|cannot read")
case("image_svg.svg", "image", CANNOT_READ_IMAGE, "SVG (vector, not supported)", _svg,
     expect_cli="error: neither a picture nor sound|cannot read|not a video or audio file")
case("image_bomb_30000x30000.png", "image", "error: (exceeds limit|at most 8192 pixels)",
     "decompression bomb: a tiny PNG claiming 0.9 gigapixels", _bomb_png)
case("image_huge_8000x8000.jpg", "image", "result", "8000x8000 pixels (generated at test time)", _huge_image(8000),
     generated=True)
case("image_too_big_9000x9000.jpg", "image", "error: at most 8192 pixels", "9000x9000: over MAX_FRAME_SIDE",
     _huge_image(9000), generated=True)

# Audio


def SPEECH_16K() -> np.ndarray:  # noqa: N802
    return speech(16000, 2.0)

case("audio_empty_data.wav", "audio", "result", "a valid WAV header with zero samples",
     _wav(lambda: np.zeros(0, np.float32), 16000), speech=False)
case("audio_one_sample.wav", "audio", "result", "a single sample", _wav(lambda: np.array([0.5], np.float32), 16000),
     speech=False)
case("audio_nan_inf.wav", "audio", "result", "float WAV with NaN and +-inf samples among speech", _nan_inf_wav)
case("audio_all_nan.wav", "audio", "result", "float WAV of NaN only", _all_nan_wav, speech=False)
case("audio_clipped_speech.wav", "audio", "result", "speech amplified 30x and hard clipped",
     _wav(lambda: np.clip(SPEECH_16K() * 30, -1, 1), 16000))
case("audio_very_quiet_speech.wav", "audio", "result", "speech 60 dB down (too quiet to count as speech)",
     _wav(lambda: speech(16000, 1.0) * 10 ** (-60 / 20), 16000, "FLOAT"), speech=False)
case("audio_8k_int16.wav", "audio", "result", "8 kHz telephone rate", _wav(lambda: speech(8000), 8000),
     speech=True)
case("audio_11025_uint8.wav", "audio", "result", "8-bit unsigned PCM at 11.025 kHz",
     _wav(lambda: speech(11025, 1.0), 11025, "PCM_U8"))
case("audio_22050_int32.wav", "audio", "result", "32-bit integer PCM", _wav(lambda: TONE(22050), 22050, "PCM_32"))
case("audio_44100_stereo_float.wav", "audio", "result", "44.1 kHz stereo float32",
     _wav(lambda: TONE(44100), 44100, "FLOAT", channels=2))
case("audio_48k_24bit.wav", "audio", "result", "24-bit PCM at 48 kHz", _wav(lambda: TONE(48000), 48000, "PCM_24"))
case("audio_96k_stereo_int16.wav", "audio", "result", "96 kHz stereo",
     _wav(lambda: TONE(96000), 96000, channels=2))
case("audio_5_1_channels.wav", "audio", "result", "six channels", _wav(lambda: TONE(16000, 0.5), 16000, channels=6))
case("audio_4k.wav", "audio", "result", "4 kHz: under the 8 kHz the models take, resampled on load",
     _wav(lambda: TONE(4000, 0.5), 4000))
case("audio_192k.wav", "audio", "result", "192 kHz: over 96 kHz, resampled on load", _wav(lambda: TONE(192000), 192000))
case("audio_header_claims_10s.wav", "audio", "result", "header says 10 s, file holds 1 s (cut off)",
     _lying_length_wav)
case("audio_truncated_header.wav", "audio", CANNOT_DECODE_AUDIO + "|" + NOT_MEDIA[7:], "WAV cut inside its header",
     _truncated(_wav(SPEECH_16K, 16000), 0.0003))
case("audio_garbage.wav", "audio", CANNOT_DECODE_AUDIO + "|" + NOT_MEDIA[7:], "RIFF header, then noise",
     _garbage_wav)
case("audio_empty.wav", "audio", CANNOT_DECODE_AUDIO + "|is empty", "zero bytes", _bytes(b""))
case("audio_text_named.wav", "audio", CANNOT_DECODE_AUDIO + "|" + NOT_MEDIA[7:], "a text file with a .wav name",
     _text(LOREM))
case("audio_jpeg_named.wav", "audio", CANNOT_DECODE_AUDIO + "|no audio track|neither a picture nor sound",
     "a JPEG with a .wav name", _copy(FACE_JPEG))
case("audio_speech.webm", "audio", "result", "Opus in WebM (what browsers record): read through FFmpeg",
     _encoded("libopus", "webm"), speech=True)
case("audio_speech.m4a", "audio", "result", "AAC in MP4 (phones): read through FFmpeg", _encoded("aac", "mp4"),
     speech=True)
case("audio_speech.mp3", "audio", "result", "MP3", _encoded("libmp3lame", "mp3"), speech=True)
case("audio_speech.ogg", "audio", "result", "Opus in Ogg", _encoded("libopus", "ogg"), speech=True)
case("audio_truncated.mp3", "audio", "result", "MP3 cut at 60 %: the part that is there is read",
     _truncated(_encoded("libmp3lame", "mp3"), 0.6))
case("audio_video_named.wav", "audio", "result", "an MP4 video with a .wav name: its sound is read",
     _video_bytes_as({"seconds": 2.0}), speech=True, expect_cli="result")
case("audio_too_long_11min.wav", "audio", "error: longer than 10 minutes", "11 minutes (generated at test time)",
     _too_long_wav, generated=True)
case("audio_over_upload_limit.wav", "audio", "result", "30 MB of silence: over the 25 MB upload limit (generated)",
     _over_upload_limit, generated=True, speech=False, expect_api="error: maximum (allowed )?(file )?size|413")

# Video
case("video_no_audio.mp4", "video", "result", "no sound track", _video(sound=False), min_faces=1)
case("video_no_frames.mp4", "video", "error: no video frame|not a video", "a video stream with no frames",
     _video(frames=False), expect_cli="result")  # the command line reads its sound instead
case("video_audio_only.mp4", "video", "error: not a video", "an MP4 holding sound only (read as audio by the CLI)",
     lambda p: encode_audio(p, speech(48000, 1.0), 48000, "aac", "mp4"), expect_cli="result")
case("video_rotated_90.mp4", "video", "result", "a phone video: display matrix says rotate 90 degrees",
     _video(rotation=90), min_faces=1)
case("video_webm_named.mp4", "video", "result", "a WebM (VP8/Opus) with an .mp4 name",
     _video_bytes_as({"codec": "libvpx", "audio_codec": "libopus", "container": "webm"}), min_faces=1)
case("video_truncated_moov_at_end.mp4", "video", "error: " + NOT_MEDIA[7:] + "|no video frame",
     "MP4 cut at 70 % with its index (moov) at the end: unreadable", _truncated(_video(), 0.7))
case("video_truncated_faststart.mp4", "video", "result", "MP4 cut at 70 % with its index first: the start is read",
     _truncated(_video(faststart=True), 0.7), min_faces=1)
case("video_corrupt_middle.mp4", "video", "result", "4 kB of noise in the middle of the frames",
     _corrupted(_video(faststart=True), 0.5, 4096))
case("video_empty.mp4", "video", "error: is empty", "zero bytes", _bytes(b""),
     expect_cli="error: is empty|not a video or audio file")
case("video_text_named.mp4", "video", "error: " + NOT_MEDIA[7:], "a text file with an .mp4 name", _text(LOREM))
case("video_jpeg_named.mp4", "video", "error: not a video", "a JPEG with an .mp4 name", _copy(FACE_JPEG),
     expect_cli="error: neither a picture nor sound|not a video")
case("video_too_long_11min.mp4", "video", "error: longer than 10 minutes", "11 minutes (generated at test time)",
     _too_long_video, generated=True)
case("video_4800x2700.mp4", "video", "error: at most 4096 pixels", "over 4K (generated at test time)",
     _huge_video, generated=True)


def cases() -> list[Case]:
    return [entry for entry, _ in CASES.values()]


def make_case(name: str, folder: Path) -> Path:
    """Write case ``name``'s file into ``folder``; returns its path."""
    _, maker = CASES[name]
    path = Path(folder) / name
    maker(path)
    return path


def load_manifest() -> list[Case]:
    """The committed manifest's cases."""
    return [Case(**entry) for entry in json.loads(MANIFEST.read_text())["cases"]]


def write_corpus(folder: Path = CORPUS_DIR) -> None:
    """Rewrite the committed (not generated) files and the manifest."""
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        if old.name != MANIFEST.name:
            old.unlink()
    for entry, _ in CASES.values():
        if not entry.generated:
            make_case(entry.file, folder)
    manifest = {"about": "Malformed and unusual inputs (issue 8); regenerate with python -m tests.make_bad_inputs. "
                         "expect: 'result' or 'error: <regular expression matched in the message>'.",
                "cases": [{k: v for k, v in asdict(entry).items() if v is not None and v is not False}
                          for entry in cases()]}
    (folder / MANIFEST.name).write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    write_corpus()
    sizes = sum(path.stat().st_size for path in CORPUS_DIR.iterdir())
    print(f"{len(CASES)} cases, {sum(not c.generated for c in cases())} files in {CORPUS_DIR} ({sizes / 1e6:.2f} MB)")
