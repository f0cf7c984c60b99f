"""Per-call speed: analyze_frame (files; the live view on a close face), classify_face, classify_speech, cold start.

Run: python -m benchmarks.speed [--repeats 200] [--threads 1] [--compare-voice OLD.tflite] [--out FILE]
Prints medians and p95 and writes reports/speed.json (or ``--out``). Numbers are for this machine and its
load at the time: compare figures from the same run only. The kernels an AVX2-only CPU runs:
``python -m harness.vector_isa python -m benchmarks.speed --no-cold-start --out reports/speed_masked/avx2.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.install_size import cold_start
from harness import FIXTURES, PROJECT_ROOT
from harness.machine import cpu_summary, describe_cpu
from harness.vector_isa import seen_vector_features


def timings_ms(call, repeats: int, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * (len(samples) - 1))],
            "repeats": repeats}


def frame_640x480() -> np.ndarray:
    """The astronaut photo (one face) letterboxed into a 640x480 frame."""
    from PIL import Image

    from emotion_core.images import load_image

    photo = Image.fromarray(load_image(FIXTURES / "face.jpg")).resize((360, 360))
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[60:420, 140:500] = np.asarray(photo)
    return frame


def close_face_frame(face_share: float = 0.3) -> np.ndarray:
    """A 640x480 frame with the astronaut's face ``face_share`` of its width, as a webcam user sits: the face
    is found in the photo by the full-range detector, then the photo scaled and centred on it."""
    import cv2

    from emotion_core.analysis import default_reader
    from emotion_core.images import load_image

    photo = load_image(FIXTURES / "face.jpg")
    (x, y, w, h), _ = max(default_reader().detector.detect(photo), key=lambda found: found[0][2])
    scale = face_share * 640 / w
    scaled = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    centre_x, centre_y = int((x + w / 2) * scale), int((y + h / 2) * scale)
    padded = cv2.copyMakeBorder(scaled, 480, 480, 640, 640, cv2.BORDER_REPLICATE)
    top, left = centre_y + 480 - 240, centre_x + 640 - 320
    return np.ascontiguousarray(padded[top:top + 480, left:left + 640])


def close_face_served_by_short_range(frame: np.ndarray) -> bool:
    """Whether the live view's search stops after short range on ``frame`` (no full-range pass)."""
    from emotion_core.analysis import default_reader
    from emotion_core.face_search import sees_close_face

    close = default_reader().close_detector
    return close is not None and sees_close_face(close.detect(frame), frame.shape[1], frame.shape[0])


def voice_side_by_side(other: Path, window: np.ndarray, rate: int, repeats: int, rounds: int = 3) -> dict:
    """``classify_speech`` of the served voice file and of ``other``, in alternating rounds (the machine's speed
    drifts), each round's median kept; the served file's figures stand beside the other's."""
    import emotion_core

    compared = emotion_core.EmotionReader.with_models(voice_model=other)
    calls = {"served": lambda: emotion_core.classify_speech(window, rate),
             "compared": lambda: compared.classify_speech(window, rate)}
    medians = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            medians[name].append(timings_ms(call, repeats)["median_ms"])
    return {"classify_speech_3s_side_by_side": {
        "compared_file": other.name, "served_round_medians_ms": medians["served"],
        "compared_round_medians_ms": medians["compared"],
        "ratio_served_to_compared": statistics.median(medians["served"]) / statistics.median(medians["compared"])}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1 = one core)")
    parser.add_argument("--no-cold-start", action="store_true")
    parser.add_argument("--compare-voice", type=Path, default=None,
                        help="another int8 voice file, timed in turns with the served one (e.g. the one it replaced)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "speed.json")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    import emotion_core
    from emotion_core import audio

    emotion_core.load_models()
    frame = frame_640x480()
    crop = frame[100:300, 200:400]
    speech, rate = audio.load_audio(FIXTURES / "speech.wav")
    window = speech[: audio.WINDOW_SAMPLES]
    results = {}
    with threadpool_limits(args.threads):
        results["analyze_frame_640x480"] = timings_ms(lambda: emotion_core.analyze_frame(frame), args.repeats)
        close = close_face_frame()
        results["live_frame_close_face"] = {  # the live view's search on a face 30 % of the frame's width
            **timings_ms(lambda: emotion_core.analyze_frame(close, small_faces=False), args.repeats),
            "faces": len(emotion_core.analyze_frame(close, small_faces=False)),
            "short_range_alone": close_face_served_by_short_range(close)}
        results["classify_face_crop"] = timings_ms(lambda: emotion_core.classify_face(crop), args.repeats)
        results["classify_speech_3s"] = timings_ms(lambda: emotion_core.classify_speech(window, rate), args.repeats)
        results["voice_activity_3s"] = timings_ms(lambda: emotion_core.voice_activity(window, rate), args.repeats)
        if args.compare_voice:
            results.update(voice_side_by_side(args.compare_voice, window, rate, args.repeats))
    if not args.no_cold_start:
        results["cold_start"] = cold_start(Path(sys.executable), extra_env={})
    for name, figures in results.items():
        cells = (f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
        print(f"{name:24s} " + "  ".join(cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results["cpu"], results["vector_features_seen"] = describe_cpu(), seen_vector_features()
    print(f"cpu: {cpu_summary(results['cpu'])}; this process sees {results['vector_features_seen']}")
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
