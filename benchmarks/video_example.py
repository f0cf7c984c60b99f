"""The README's example timeline: a 20 s clip whose face and voice change emotion every 4 s.

Run: python -m benchmarks.video_example [--annotated /tmp/example.mp4]

The clip is made from the shared datasets (see ../shared/data/README.md): for each of five emotions,
the first FER2013 PrivateTest face of that emotion in which the detector finds a face (not chosen by
what the model reads), enlarged on a grey frame, with RAVDESS actor 1 saying a sentence in that
emotion (strong intensity). The clip lives in a temp folder; only the picture is kept, at
reports/video_timeline_example.png.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from harness import PROJECT_ROOT

DATA = Path(os.environ.get("EMOTION_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
PICTURE = PROJECT_ROOT / "reports" / "video_timeline_example.png"
SCRIPT = (("happy", "03"), ("surprise", "08"), ("sad", "04"), ("angry", "05"), ("neutral", "01"))  # RAVDESS codes
STRONG, NORMAL = "02", "01"  # RAVDESS intensity (neutral exists at normal intensity only)
SECONDS_EACH, FPS, SIZE, FACE_SIDE, RATE = 4.0, 15, (320, 240), 200, 48000


def first_detected_face(emotion: str) -> np.ndarray:
    """The first PrivateTest image of ``emotion`` (by name) with a detected face, as a framed RGB picture."""
    import cv2

    from emotion_core.face import default_detector
    from emotion_core.images import load_image

    for path in sorted((DATA / "faces" / "fer2013" / "test" / emotion).glob("PrivateTest_*.jpg")):
        frame = framed(cv2.resize(load_image(path), (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_CUBIC))
        if default_detector().detect(frame):
            return frame
    raise RuntimeError(f"no detectable {emotion} face in FER2013 PrivateTest")


def framed(face: np.ndarray) -> np.ndarray:
    frame = np.full((SIZE[1], SIZE[0], 3), 110, np.uint8)
    top, left = (SIZE[1] - FACE_SIDE) // 2, (SIZE[0] - FACE_SIDE) // 2
    frame[top : top + FACE_SIDE, left : left + FACE_SIDE] = face
    return frame


def sentence(code: str) -> np.ndarray:
    """RAVDESS actor 1, emotion ``code``, strong, "Kids are talking by the door": SECONDS_EACH s at RATE."""
    intensity = NORMAL if code == "01" else STRONG
    from emotion_core.audio import load_audio, resample

    samples, rate = load_audio(DATA / "audio" / "ravdess" / "Actor_01" / f"03-01-{code}-{intensity}-01-01-01.ogg")
    samples = resample(samples, rate, RATE)
    out = np.zeros(int(SECONDS_EACH * RATE), np.float32)
    out[: min(out.size, samples.size)] = samples[: out.size]
    return out


def write_clip(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        sound = container.add_stream("aac", rate=RATE, layout="mono")
        for turn, (emotion, code) in enumerate(SCRIPT):
            picture = av.VideoFrame.from_ndarray(first_detected_face(emotion), format="rgb24")
            for _ in range(int(SECONDS_EACH * FPS)):
                container.mux(video.encode(picture))
            block = av.AudioFrame.from_ndarray(sentence(code)[None, :], format="flt", layout="mono")
            block.sample_rate, block.time_base = RATE, Fraction(1, RATE)
            block.pts = int(turn * SECONDS_EACH * RATE)
            container.mux(sound.encode(block))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotated", type=Path, help="also write the annotated clip here")
    args = parser.parse_args()
    import emotion_core
    from emotion_core.timeline import plot_timeline

    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(Path(folder) / "example.mp4")
        analysis = emotion_core.analyze_video(clip)
        if args.annotated:
            emotion_core.write_annotated_video(clip, analysis, args.annotated)
    title = "Example: FER2013 faces and RAVDESS speech, " + ", ".join(e for e, _ in SCRIPT) + " (4 s each)"
    PICTURE.parent.mkdir(exist_ok=True)
    plot_timeline(analysis, PICTURE, title=title)
    summary = emotion_core.summarize(analysis)
    print(f"wrote {PICTURE.relative_to(PROJECT_ROOT)}; dominant {summary.dominant}; "
          + "; ".join(f"{c.channel} {c.coverage:.0%} covered, mostly {c.dominant}" for c in summary.channels()))


if __name__ == "__main__":
    main()
