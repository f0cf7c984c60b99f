"""A speech codec's round trip: 16 kHz samples through Opus by the ffmpeg binary and back.

One place for the codec, for the recording-conditions check (``training.voice_conditions``) and the
training clips' codec copies (``training.voice_codec_cache``).
"""

from __future__ import annotations

import subprocess

import numpy as np

from emotion_core.audio import SAMPLE_RATE, resample


def opus_round_trip(samples: np.ndarray, kbps: float) -> np.ndarray:
    """16 kHz float32 ``samples`` encoded by the ffmpeg binary as Opus at ``kbps`` kbit/s (speech mode),
    decoded at the codec's own rate and brought back to 16 kHz by the runtime's resampler."""
    pcm = ["-f", "f32le", "-ac", "1"]
    codec = ["-c:a", "libopus", "-b:a", f"{kbps:g}k", "-application", "voip"]
    encoded = ffmpeg([*pcm, "-ar", str(SAMPLE_RATE), "-i", "pipe:0", *codec, "-f", "ogg", "pipe:1"],
                     samples.astype("<f4").tobytes())
    rate = 48000  # Opus always decodes at 48 kHz
    decoded = np.frombuffer(ffmpeg(["-i", "pipe:0", *pcm, "-ar", str(rate), "pipe:1"], encoded), dtype="<f4")
    return resample(decoded.copy(), rate, SAMPLE_RATE)


def ffmpeg(args: list[str], data: bytes) -> bytes:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *args]
    done = subprocess.run(command, input=data, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({' '.join(args)}): {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout
