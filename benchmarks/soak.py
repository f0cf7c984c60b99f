"""Soak test: one live session fed 10,000 webcam frames (and the matching microphone audio); does memory grow?

Run: python -m benchmarks.soak [--frames 10000] [--warmup 1000]

One emotion_core.live.LiveSession, in this process, gets a 320x240 frame with a face and, after
every 2.5 frames, a 0.25 s microphone chunk (48 kHz int16 speech), as the Live tab does at 10
frames a second. Its clock is simulated at that rate (10,000 frames = 1,000 s of session, with the
time limit lifted), so the timeline, the audio ring buffer and the voice cadence behave as in a
real session, only faster. Resident memory (RSS) is sampled every ``--every`` frames; growth is
measured from the end of the warm-up to the end (and as a fitted slope). Writes reports/soak.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.load_test import rss_mb
from harness import PROJECT_ROOT
from harness.media import MIC_RATE, face_frame, microphone_speech

REPORT = PROJECT_ROOT / "reports" / "soak.json"
FRAME_SECONDS = 0.1  # the Live tab's FRAME_EVERY
CHUNK_SECONDS = 0.25  # the Live tab's AUDIO_EVERY
GROWTH_LIMIT = 0.05  # issue 8: under 5 % after warm-up


class SimulatedClock:
    """A monotonic clock that the soak loop moves forward by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def soak(frames: int, warmup: int, every: int) -> dict:
    from emotion_core import load_models
    from emotion_core.live import LiveSession

    load_models()
    frame, mic = face_frame(), microphone_speech(MIC_RATE)
    chunk = int(CHUNK_SECONDS * MIC_RATE)
    clock = SimulatedClock()
    session = LiveSession(clock=clock, time_limit=math.inf)
    samples, position, next_chunk_at, faces_seen = [], 0, 0.0, 0
    started = time.perf_counter()
    for index in range(frames):
        clock.now = index * FRAME_SECONDS
        while next_chunk_at <= clock.now:  # the audio that arrived since the last frame
            session.add_audio(np.take(mic, np.arange(position, position + chunk), mode="wrap"), MIC_RATE)
            position += chunk
            next_chunk_at += CHUNK_SECONDS
        state = session.add_frame(frame)
        faces_seen += bool(state.faces)
        if index % every == 0 or index == frames - 1:
            samples.append((index, rss_mb(os.getpid())))
    elapsed = time.perf_counter() - started
    return summarize(samples, warmup, frames, elapsed, faces_seen, session)


def summarize(samples: list[tuple[int, float]], warmup: int, frames: int, elapsed: float, faces_seen: int,
              session) -> dict:
    after = [(i, mb) for i, mb in samples if i >= warmup]
    base, end = after[0][1], after[-1][1]
    slope = float(np.polyfit([i for i, _ in after], [mb for _, mb in after], 1)[0]) if len(after) > 2 else 0.0
    _, timeline = session.timeline()
    return {
        "frames": frames, "warmup_frames": warmup, "session_seconds_simulated": frames * FRAME_SECONDS,
        "seconds": round(elapsed, 1), "frames_per_second": round(frames / elapsed, 1),
        "frames_with_a_face": faces_seen, "timeline_points_kept": len(timeline),
        "rss_mb_at_start": round(samples[0][1], 1), "rss_mb_after_warmup": round(base, 1),
        "rss_mb_at_end": round(end, 1), "rss_mb_peak_after_warmup": round(max(mb for _, mb in after), 1),
        "growth_after_warmup": round((end - base) / base, 4),
        "fitted_growth_mb_per_1000_frames": round(slope * 1000, 3),
        "limit": GROWTH_LIMIT, "passed": (end - base) / base < GROWTH_LIMIT,
        "rss_samples": [[i, round(mb, 1)] for i, mb in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=1000, help="frames before the baseline is taken")
    parser.add_argument("--every", type=int, default=100, help="sample memory every this many frames")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    report = soak(args.frames, args.warmup, args.every)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['frames']} frames ({report['session_seconds_simulated']:.0f} s of session) in "
          f"{report['seconds']} s ({report['frames_per_second']} frames/s), a face in {report['frames_with_a_face']}")
    print(f"RSS {report['rss_mb_at_start']} MB at start, {report['rss_mb_after_warmup']} MB after "
          f"{report['warmup_frames']} frames of warm-up, {report['rss_mb_at_end']} MB at the end "
          f"(peak {report['rss_mb_peak_after_warmup']} MB): growth {report['growth_after_warmup']:.2%} "
          f"(limit {GROWTH_LIMIT:.0%}), fitted {report['fitted_growth_mb_per_1000_frames']} MB per 1000 frames; "
          f"{'PASS' if report['passed'] else 'FAIL'}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
