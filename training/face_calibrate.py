"""Calibrate one detector's crop framing (scale, vertical shift) so its crop looks like FER2013.

Each PublicTest face is enlarged (48 -> 192 px by default) and edge-padded into a 640x480 frame; the
detector (``--detector``, a manifest name) finds it, ``crop_face`` cuts it with each candidate
framing, and the served model classifies the crop (on a reader built with ``--model``, as the app
classifies its crops). The framing whose predictions agree most with the model's predictions on the
original 48x48 image wins (PublicTest only). The overlap (IoU) of the crop with the true face square
is reported too. Writes ``reports/face/calibration_<detector>.json``; ``--write-manifest`` stores the
winner as the detector's ``framing`` in ``weights/manifest.json`` (what the runtime crops with).

    python -m training.face_calibrate [--detector face_detector_full_range] [--write-manifest] [--limit 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emotion_core import EmotionReader
from emotion_core.face import DEFAULT_DETECTOR, FaceDetector, crop_face, crop_square
from emotion_core.weights import file_sha256
from training.face_data import data_dir, load_arrays, split
from training.face_evaluate import DEFAULT_MODEL, REPORT_DIR, add_blur_argument, reader_of
from training.manifest import update_fields

FRAME_HW = (480, 640)
FACE_SIDE = 192  # the 48 px face enlarged 4x, a typical webcam face size
SCALES = (1.0, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4, 1.5, 1.6, 1.7)
SHIFTS = (-0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1)


def embed_face(face: np.ndarray, side: int = FACE_SIDE, frame_hw: tuple[int, int] = FRAME_HW,
               offset: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A grey ``(48, 48)`` uint8 face -> ``(H, W, 3)`` RGB uint8 frame and the face square ``(x0, y0, side)``.

    The face is enlarged with bicubic interpolation and placed at the centre moved by ``offset``
    (dy, dx) pixels; the rest of the frame repeats the face's edge pixels.
    """
    import cv2

    big = cv2.resize(np.squeeze(face), (side, side), interpolation=cv2.INTER_CUBIC)
    y0 = (frame_hw[0] - side) // 2 + offset[0]
    x0 = (frame_hw[1] - side) // 2 + offset[1]
    frame = np.pad(big, ((y0, frame_hw[0] - side - y0), (x0, frame_hw[1] - side - x0)), mode="edge")
    return np.repeat(frame[:, :, None], 3, axis=2), (x0, y0, side)


def best_box(detector: FaceDetector, frame: np.ndarray) -> tuple[int, int, int, int] | None:
    """The most confident detector box ``(x, y, w, h)`` in ``frame``, or ``None``."""
    faces = detector.detect(frame)
    return max(faces, key=lambda face: face[1])[0] if faces else None


def square_iou(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """Intersection over union of two squares ``(x0, y0, side)``."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] ** 2 + b[2] ** 2 - inter)


def detect_all(detector: FaceDetector, images: np.ndarray, side: int = FACE_SIDE,
               frame_hw: tuple[int, int] = FRAME_HW) -> list[tuple[np.ndarray, tuple, tuple] | None]:
    """Per face: ``(frame, detector box, true square)``, or ``None`` where nothing was detected."""
    found = []
    for image in images:
        frame, square = embed_face(image, side, frame_hw)
        box = best_box(detector, frame)
        found.append(None if box is None else (frame, box, square))
    return found


def score_framing(reader: EmotionReader, found: list, reference: np.ndarray, scale: float, shift: float) -> dict:
    """Agreement with the 48x48 predictions and mean IoU with the true square for one framing."""
    crops, expected, ious = [], [], []
    for item, ref in zip(found, reference, strict=False):
        if item is None:
            continue
        frame, box, square = item
        crops.append(crop_face(frame, box, scale, shift))
        expected.append(ref)
        ious.append(square_iou(crop_square(box, scale, shift), square))
    agree = reader.face_probabilities(crops).argmax(axis=1) == np.array(expected)
    return {"scale": scale, "shift_y": shift, "agreement": float(np.mean(agree)), "iou": float(np.mean(ious))}


def calibrate(reader: EmotionReader, images: np.ndarray, side: int = FACE_SIDE,
              frame_hw: tuple[int, int] = FRAME_HW) -> dict:
    """Score every framing in SCALES x SHIFTS; returns the grid, the best framing and the detection rate."""
    reference = reader.face_probabilities(images).argmax(axis=1)
    found = detect_all(reader.detector, images, side, frame_hw)
    grid = [score_framing(reader, found, reference, s, t) for s in SCALES for t in SHIFTS]
    best = max(grid, key=lambda row: (row["agreement"], row["iou"]))
    geometric = max(grid, key=lambda row: row["iou"])
    model_path = reader.face_model.path
    return {"model": model_path.name, "model_sha256": file_sha256(model_path), "images": int(len(images)),
            "face_side": side, "frame": f"{frame_hw[1]}x{frame_hw[0]}",
            "detected": float(np.mean([f is not None for f in found])),
            "best": best, "best_iou_framing": geometric, "grid": grid}


def manifest_framing(result: dict) -> dict:
    """A detector's manifest ``framing``: the best framing and what it was measured on."""
    best = result["best"]
    return {"crop_scale": best["scale"], "crop_shift_y": best["shift_y"],
            "agreement": round(best["agreement"], 4),
            "calibrated_on": f"{result['images']} PublicTest faces at {result['face_side']} px in "
                             f"{result['frame']} frames, {result['model']} (training/face_calibrate.py)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, help="the detector's manifest name")
    parser.add_argument("--face-side", type=int, default=FACE_SIDE, help="face size in the frame, px")
    parser.add_argument("--frame", default="640x480", help="frame size WxH")
    parser.add_argument("--write-manifest", action="store_true", help="store the best framing in the manifest")
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N PublicTest faces")
    parser.add_argument("--out", default=str(REPORT_DIR))
    add_blur_argument(parser)
    args = parser.parse_args()
    start = time.perf_counter()
    images = split(load_arrays(data_dir(args.data_dir)), "PublicTest")["x"]
    width, height = (int(v) for v in args.frame.split("x"))
    result = calibrate(reader_of(args, detector=args.detector), images[: args.limit] if args.limit else images,
                       args.face_side, (height, width))
    result["detector"] = args.detector
    result["seconds"] = round(time.perf_counter() - start, 1)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"calibration_{args.detector}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.write_manifest:
        update_fields(args.detector, framing=manifest_framing(result))
    for row in sorted(result["grid"], key=lambda r: -r["agreement"])[:8]:
        print(f"scale {row['scale']:.2f} shift {row['shift_y']:+.2f}  "
              f"agreement {row['agreement']:.4f}  IoU {row['iou']:.3f}")
    print(f"detected {result['detected']:.3f}; best {result['best']}; {result['seconds']} s")


if __name__ == "__main__":
    main()
