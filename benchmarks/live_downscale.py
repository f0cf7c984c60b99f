"""What the live view may send: face detection and accuracy on downscaled JPEG frames vs today's full frames.

FER2013 PrivateTest faces (48x48 grey) are enlarged to webcam-like sizes (FACE_SIDES pixels in a
640x480 frame, at random places; training.face_calibrate.embed_face) and read by ``analyze_frame``
after the trip through the browser: today the whole 640x480 frame as a JPEG at the browser's
default quality (0.92); candidates are the frame shrunk to a smaller size (area averaging, as a
browser's high-quality canvas downscale) and encoded at a lower quality. Per candidate: detection
rate (a face found on the true square), accuracy (a missed face counts wrong), agreement with the
full frame's reading, and the JPEG's mean size. Writes ``reports/live/downscale.json``.

    python -m benchmarks.live_downscale [--faces 1200] [--widths 320 256 224 192 160] [--qualities 60 75 90]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from emotion_core import EMOTIONS, analyze_frame
from emotion_core.reading import main_face
from harness import PROJECT_ROOT
from harness.machine import describe_cpu
from training.face_calibrate import FRAME_HW, embed_face, square_iou

DATA_DIR = Path(os.environ.get("EMOTION_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
FER_TEST = DATA_DIR / "faces" / "fer2013" / "test"
REPORT = PROJECT_ROOT / "reports" / "live" / "downscale.json"
FACE_SIDES = (128, 160, 192, 224, 256)  # face square in a 640x480 frame: far from the camera to close up
FULL_QUALITY = 92  # what Chromium's canvas.toDataURL("image/jpeg") uses when given no quality
MIN_IOU = 0.25  # a detected box counts as the face when its square overlaps the true one this much


def load_faces(folder: Path, count: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` PrivateTest faces (grey 48x48 uint8) drawn at random, and their label indices."""
    import cv2

    files = sorted((path, EMOTIONS.index(path.parent.name)) for path in folder.glob("*/PrivateTest_*.jpg"))
    if not files:
        raise FileNotFoundError(f"no PrivateTest faces under {folder}")
    pick = np.random.default_rng(seed).choice(len(files), size=min(count, len(files)), replace=False)
    faces = [cv2.imread(str(files[i][0]), cv2.IMREAD_GRAYSCALE) for i in pick]
    return faces, np.array([files[i][1] for i in pick])


def place_faces(faces: list[np.ndarray], seed: int = 1) -> list[tuple[np.ndarray, tuple[int, int, int]]]:
    """Each face in its own 640x480 frame at a size from FACE_SIDES (in turn) and a random place."""
    rng = np.random.default_rng(seed)
    placed = []
    for i, face in enumerate(faces):
        side = FACE_SIDES[i % len(FACE_SIDES)]
        reach = ((FRAME_HW[0] - side) // 2, (FRAME_HW[1] - side) // 2)
        offset = tuple(int(rng.integers(-r, r + 1)) for r in reach)
        placed.append(embed_face(face, side=side, offset=offset))
    return placed


def browser_trip(frame: np.ndarray, width: int, quality: int) -> tuple[np.ndarray, int]:
    """``frame`` shrunk to ``width`` (aspect kept) and JPEG-coded at ``quality``: (decoded RGB frame, bytes)."""
    import cv2

    height = round(frame.shape[0] * width / frame.shape[1])
    small = frame if width == frame.shape[1] else cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(small[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1], jpeg.size


def read_frame(frame: np.ndarray, square: tuple[int, int, int], scale: float) -> int | None:
    """The label index the largest face on the true square reads as, or None when it is missed."""
    found = [f for f in analyze_frame(frame)
             if square_iou((round(f.box[0] * scale), round(f.box[1] * scale), round(max(f.box[2:]) * scale)),
                           square) >= MIN_IOU]
    face = main_face(found)
    return None if face is None else EMOTIONS.index(face.label)


def score(placed: list, labels: np.ndarray, width: int, quality: int) -> tuple[dict, list]:
    """Detection, accuracy, mean bytes and ms per frame for one (width, quality); and the per-face readings."""
    readings, sizes, start = [], [], time.perf_counter()
    for frame, square in placed:
        small, size = browser_trip(frame, width, quality)
        readings.append(read_frame(small, square, frame.shape[1] / width))
        sizes.append(size)
    seconds = time.perf_counter() - start
    detected = np.array([r is not None for r in readings])
    correct = np.array([r is not None and r == y for r, y in zip(readings, labels, strict=True)])
    sides = np.array([square[2] for _, square in placed])
    return {"width": width, "height": round(FRAME_HW[0] * width / FRAME_HW[1]), "quality": quality,
            "detected": round(float(detected.mean()), 4), "accuracy": round(float(correct.mean()), 4),
            "accuracy_by_face_side": {int(s): round(float(correct[sides == s].mean()), 4) for s in FACE_SIDES},
            "mean_jpeg_bytes": round(float(np.mean(sizes))),
            "ms_per_frame": round(1000 * seconds / len(placed), 1)}, readings


def compare(row: dict, readings: list, reference: list) -> dict:
    """Add agreement with the full frames' readings (both found, same label) to ``row``."""
    both = [(r, f) for r, f in zip(readings, reference, strict=True) if r is not None and f is not None]
    row["agreement_with_full"] = round(float(np.mean([r == f for r, f in both])), 4) if both else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1200)
    parser.add_argument("--widths", type=int, nargs="+", default=[320, 256, 224, 192, 160])
    parser.add_argument("--qualities", type=int, nargs="+", default=[60, 75, 90])
    parser.add_argument("--seed", type=int, default=0, help="which faces are drawn, and where they are placed")
    parser.add_argument("--data", type=Path, default=FER_TEST)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    faces, labels = load_faces(args.data, args.faces, args.seed)
    placed = place_faces(faces, args.seed + 1)
    full, reference = score(placed, labels, FRAME_HW[1], FULL_QUALITY)
    rows = []
    for width in args.widths:
        for quality in args.qualities:
            row, readings = score(placed, labels, width, quality)
            rows.append(compare(row, readings, reference))
            print(f"{width}x{row['height']} q{quality}: detected {row['detected']:.3f} accuracy {row['accuracy']:.4f} "
                  f"(full {full['accuracy']:.4f}) agreement {row['agreement_with_full']} "
                  f"{row['mean_jpeg_bytes']} bytes", flush=True)
    report = {"what": __doc__.splitlines()[0], "faces": len(placed), "seed": args.seed, "face_sides": list(FACE_SIDES),
              "full": full, "candidates": rows, "cpu": describe_cpu()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"full 640x480 q{FULL_QUALITY}: detected {full['detected']:.3f} accuracy {full['accuracy']:.4f} "
          f"{full['mean_jpeg_bytes']} bytes; wrote {args.out}")


if __name__ == "__main__":
    main()
