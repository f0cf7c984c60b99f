"""Faces at every distance: recall of both bundled detectors and the served cascade by face size; emotion accuracy.

Run: python -m benchmarks.detection [--faces 480] [--emotion-faces 400] [--repeats 100]
     python -m benchmarks.detection --quick   (40 faces per cell, 100 for accuracy, 30 repeats: a few minutes)

Faces are unseen FER2013 PrivateTest images (../shared/data/faces/fer2013/test), 48x48 upscaled.
Two ways of putting them in a frame, both grey with sensor-like noise:

- ``portrait``: each face pasted (feathered edge) over the face of a real head-and-shoulders photo
  (scikit-image's astronaut, matplotlib's Grace Hopper; grey), so the detector sees a head, hair
  and shoulders around it as in a real frame. The targets are read on these.
- ``tight``: the bare 48x48 crop alone on the background. Full range needs the context a real frame
  has and scores bare crops low; this row is the context-free worst case.

"Face width" is the face itself (about a BlazeFace box, brows to chin, cheek to cheek) as a share
of the frame width; the pasted FER square around it is FER_SQUARE times wider. A frame holds as
many faces as its grid of head-and-shoulders cells fits, up to 8. A face is found when a
detection's centre lies in its square (one detection per face); other detections count as false.
Five ways of detecting: short range on the whole frame (before issue 22); full range on the whole
frame; full range with tiles (``emotion_core.face.search_tiles``: they run only where the whole pass
found no face or only small ones); and the served search (``emotion_core.face_search``) as files get it
(``served``, ``analyze_frame``'s default: full range with tiles and second looks at weak boxes,
short range's faces where full range finds none) and as the live view gets it (``served live``:
the cascade, short range first and full range
once only where short range sees no face of TRUST_SHARE or more with TRUST_CONFIDENCE). Detector runs
per frame count both models. Mixed frames put one face TIMING_SHARE wide beside smaller ones (a host
and guests), where the cascade trusts short range alone. Emotion accuracy: one portrait per 1280x720
frame through ``EmotionReader.analyze_frame`` (full range with tiles, and the served search) with
the face 300 and 200 px wide, then 60-100 px; a miss counts as wrong; and how often the two give
the same label to the same 300 and 200 px faces. Box map: on frames where both
models find a lone face of TRUST_SHARE or more, full range's box against short range's, and how far
``face_search.as_far_box`` lands from it. Timing: one face TIMING_SHARE wide in 720p through
``analyze_frame`` per row, each call taken in turn with a reference (full range's and short range's
whole pass once each on the same frame), so the ratio to it holds across hosts of different speed and
load; and the served search on lone faces of ONE_FACE_SHARES. Writes reports/detection/benchmark.json
and reports/detection/REPORT.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from harness.machine import cpu_summary, describe_cpu

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("EMOTION_DATA_DIR", ROOT.parent / "shared" / "data"))
OUT = ROOT / "reports" / "detection"
FRAMES = {"480p": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
SHARES = (0.03, 0.04, 0.06, 0.08, 0.12, 0.15, 0.2)  # face width / frame width
TARGET_SHARE = 0.06  # recall target applies from this share up
MAX_FACES = 8
FER_SQUARE = 1.35  # a FER2013 image is this many face widths wide (the short-range crop calibration)
CELL = 2.2  # a head-and-shoulders cell is this many FER-square widths square
BACKGROUND, NOISE_SIGMA = 110, 4.0  # grey level and sensor noise (std of grey levels)
LARGE_SIDE, SMALL_SIDES = 200, (60, 80, 100)  # face widths of the emotion comparison, px
CLOSE_SIDE = 300  # px: a face the cascade always leaves to short range (23 % of 1280)
# reader -> EmotionReader.from_manifest arguments: each model alone, and the served cascade
READERS = {"short": {"detector_name": "face_detector"}, "full": {"close_name": ""}, "cascade": {}}
# name -> (reader, tiled)
DETECTORS = {"short": ("short", False), "full": ("full", False), "full+tiles": ("full", True),
             "served": ("cascade", True), "served live": ("cascade", False)}
SERVED, LIVE = "served", "served live"  # analyze_frame's default, and the live view's small_faces=False
EMOTION_ROWS = ("full+tiles", SERVED)
TIMING_SHARE = 0.2  # face width of the timing frame (and the large face of mixed frames)
ONE_FACE_SHARES = (0.12, 0.15, 0.2, 0.3)  # lone 720p faces timed through the served search, by size
# The timing target in host-independent terms: the served frame's time over the reference, each bundled
# detector once on the same frame (full range's and short range's whole pass), timed in turn with it.
# The 8 ms target was set where that reference took REFERENCE_HOST_MS (issue 22: full range 4.5 ms and
# short range 1.7 ms per frame), so the ratio times REFERENCE_HOST_MS is the time on that host.
REFERENCE_PARTS = ("full", "short")
REFERENCE_HOST_MS = 6.2
FRAME_TARGET_MS, FRAME_AIM_MS = 8.0, 6.0
MIXED_SHARES = (0.06, 0.08, 0.12)  # small faces beside the large one
MAP_SHARES = (0.16, 0.2, 0.25)  # lone faces for the box map check, in 480p and 720p
# Real portraits and their face square (x0, y0, side) in pixels: the FER-like square round the face.
PORTRAITS = {"astronaut": (157, 47, 134), "grace_hopper": (136, 89, 259)}
SEED = 22
QUICK = {"faces": 40, "emotion_faces": 100, "repeats": 30}  # --quick: a few minutes on 2 idle cores


def load_portraits() -> list[tuple[np.ndarray, tuple[int, int, int]]]:
    """The grey portraits with their face squares."""
    import matplotlib.cbook
    from skimage import data

    from emotion_core.face import to_grey
    from emotion_core.images import load_image

    hopper = load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    images = {"astronaut": data.astronaut(), "grace_hopper": hopper}
    return [(to_grey(images[name]), square) for name, square in PORTRAITS.items()]


def private_test_faces(limit: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``limit`` random PrivateTest faces ``(n, 48, 48)`` uint8 and their label indices."""
    import cv2

    from emotion_core.labels import EMOTIONS

    paths = sorted((DATA / "faces" / "fer2013" / "test").glob("*/PrivateTest_*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no FER2013 PrivateTest images under {DATA}; set EMOTION_DATA_DIR")
    chosen = np.random.default_rng(seed).choice(len(paths), size=min(limit, len(paths)), replace=False)
    faces = np.stack([cv2.imread(str(paths[i]), cv2.IMREAD_GRAYSCALE) for i in chosen])
    labels = np.array([EMOTIONS.index(paths[i].parent.name) for i in chosen])
    return faces, labels


def feather(side: int) -> np.ndarray:
    """A ``(side, side)`` float mask: 1 inside an ellipse of 75 % of the square, fading to 0 at its edge."""
    centre = (side - 1) / 2.0
    yy, xx = np.mgrid[0:side, 0:side]
    radius = np.hypot(xx - centre, yy - centre) / (side / 2.0)
    return np.clip((1.0 - radius) / 0.25, 0.0, 1.0)


def portrait_with(face: np.ndarray, portrait: np.ndarray, square: tuple[int, int, int]) -> tuple[np.ndarray, tuple]:
    """``face`` pasted over the portrait's face; returns the head-and-shoulders cell and the face square in it."""
    import cv2

    x0, y0, side = square
    canvas = portrait.astype(np.float32)
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    mask = feather(side)
    region = canvas[y0 : y0 + side, x0 : x0 + side]
    canvas[y0 : y0 + side, x0 : x0 + side] = mask * big + (1.0 - mask) * region
    cell = int(round(CELL * side))
    left, top = x0 + side // 2 - cell // 2, y0 + side // 2 - int(0.4 * cell)  # face in the upper middle
    pad = cell
    padded = np.pad(canvas, pad, mode="edge")
    out = padded[top + pad : top + pad + cell, left + pad : left + pad + cell]
    return np.clip(out, 0, 255).astype(np.uint8), (x0 - left, y0 - top, side)


def scaled(image: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    size = max(1, int(round(image.shape[1] * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interpolation)


def face_cell(face: np.ndarray, width: int, kind: str, portrait) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A square cell holding a face ``width`` px wide (``portrait`` or ``tight``) and its FER square in it."""
    width = int(round(FER_SQUARE * width))
    if kind == "tight":
        cell = int(round(CELL * width))
        offset = (cell - width) // 2
        image = np.full((cell, cell), BACKGROUND, np.uint8)
        image[offset : offset + width, offset : offset + width] = scaled(face, width / face.shape[1])
        return image, (offset, offset, width)
    cell, (fx, fy, side) = portrait_with(face, *portrait)
    factor = width / side
    image = scaled(cell, factor)
    return image, (int(round(fx * factor)), int(round(fy * factor)), width)


def grid_slots(frame_size: tuple[int, int], cell: int, count: int, rng) -> list[tuple[int, int]]:
    """Top-left corners of up to ``count`` cells in a grid over the frame, each jittered inside its slot."""
    width, height = frame_size
    cols, rows = max(width // cell, 1), max(height // cell, 1)
    slot_w, slot_h = width // cols, height // rows
    chosen = rng.permutation(cols * rows)[: min(count, cols * rows)]
    return [(int(c % cols * slot_w + rng.integers(0, max(slot_w - cell, 0) + 1)),
             int(c // cols * slot_h + rng.integers(0, max(slot_h - cell, 0) + 1))) for c in chosen]


def compose(cells: list[tuple[np.ndarray, tuple]], frame_size: tuple[int, int], rng) -> tuple[np.ndarray, list]:
    """An RGB frame with the cells in a grid and the true face squares ``(x0, y0, side)`` in frame pixels."""
    width, height = frame_size
    frame = np.full((height, width), float(BACKGROUND), np.float32)
    slots = grid_slots(frame_size, cells[0][0].shape[0], len(cells), rng)
    squares = []
    for (image, (fx, fy, side)), (x, y) in zip(cells, slots, strict=False):
        h, w = min(image.shape[0], height - y), min(image.shape[1], width - x)
        frame[y : y + h, x : x + w] = image[:h, :w]
        squares.append((x + fx, y + fy, side))
    frame += rng.normal(0.0, NOISE_SIGMA, frame.shape)
    grey = np.clip(np.round(frame), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2), squares


def found_each(boxes: list[tuple[int, int, int, int]], squares: list[tuple[int, int, int]]) -> list[bool]:
    """For each face square in turn, whether a detection not yet taken has its centre in it."""
    free = list(range(len(boxes)))
    found = []
    for x0, y0, side in squares:
        hit = next((i for i in free if x0 <= boxes[i][0] + boxes[i][2] / 2 <= x0 + side
                    and y0 <= boxes[i][1] + boxes[i][3] / 2 <= y0 + side), None)
        if hit is not None:
            free.remove(hit)
        found.append(hit is not None)
    return found


def match(boxes: list[tuple[int, int, int, int]], squares: list[tuple[int, int, int]]) -> tuple[int, int]:
    """(faces found, false detections): a face is found by a detection whose centre lies in its square."""
    found = sum(found_each(boxes, squares))
    return found, len(boxes) - found


def faces_per_frame(frame_size: tuple[int, int], width: int) -> int:
    cell = int(round(CELL * round(FER_SQUARE * width)))
    return max(1, min(MAX_FACES, (frame_size[0] // cell) * (frame_size[1] // cell)))


def detector_runs(reader) -> int:
    """Runs of both of a reader's detectors so far (the cascade's short range included)."""
    close = reader.close_detector
    return reader.detector.runs + (close.runs if close is not None else 0)


def timed_boxes(reader, tiled: bool, frame: np.ndarray, tally: dict) -> list[tuple[int, int, int, int]]:
    """The boxes ``reader.detect_faces`` finds, adding its time (``ms``) and detector runs to ``tally``."""
    runs = detector_runs(reader)
    begin = time.perf_counter()
    boxes = [box for box, _, _ in reader.detect_faces(frame, tiled)]
    tally["ms"].append((time.perf_counter() - begin) * 1000)
    tally["runs"] += detector_runs(reader) - runs
    return boxes


def recall_row(detectors: dict, faces: np.ndarray, frame_size, share: float, kind: str, portraits) -> dict:
    """Recall, false detections and median detection time of each detector for one size and kind."""
    width = max(8, int(round(share * frame_size[0])))
    per_frame = faces_per_frame(frame_size, width)
    rng = np.random.default_rng(SEED)
    tallies = {name: {"found": 0, "false": 0, "ms": [], "runs": 0} for name in detectors}
    frames = 0
    for start in range(0, len(faces), per_frame):
        batch = faces[start : start + per_frame]
        cells = [face_cell(f, width, kind, portraits[(start + i) % len(portraits)]) for i, f in enumerate(batch)]
        frame, squares = compose(cells, frame_size, rng)
        frames += 1
        for name, (reader, tiled) in detectors.items():
            found, false = match(timed_boxes(reader, tiled, frame, tallies[name]), squares)
            tallies[name]["found"] += found
            tallies[name]["false"] += false
    return {"share": share, "face_px": width, "faces_per_frame": per_frame, "faces": int(len(faces)),
            **{name: {"recall": t["found"] / len(faces), "false_detections": t["false"],
                      "median_ms": statistics.median(t["ms"]), "runs_per_frame": t["runs"] / frames}
                for name, t in tallies.items()}}


def compose_mixed(large: tuple, smalls: list[tuple], frame_size: tuple[int, int], rng) -> tuple[np.ndarray, list]:
    """A frame with the ``large`` cell at its left and the ``smalls`` in a grid over the rest; squares large first."""
    width, height = frame_size
    left = min(large[0].shape[1], width // 2)
    frame, squares = compose([large], (left, height), rng)
    rest, small_squares = compose(smalls, (width - left, height), rng)
    return np.concatenate([frame, rest], axis=1), squares + [(x + left, y, side) for x, y, side in small_squares]


def mixed_row(detectors: dict, faces: np.ndarray, frame_size, share: float, portraits) -> dict:
    """Recall of the small faces (``share`` of the width) and of the large one (TIMING_SHARE) beside them."""
    width, large_width = int(round(share * frame_size[0])), int(round(TIMING_SHARE * frame_size[0]))
    large_cell = int(round(CELL * round(FER_SQUARE * large_width)))
    per_frame = faces_per_frame((frame_size[0] - min(large_cell, frame_size[0] // 2), frame_size[1]), width)
    rng = np.random.default_rng(SEED)
    tallies = {name: {"small": 0, "large": 0, "ms": [], "runs": 0} for name in detectors}
    frames, smalls = 0, 0
    for start in range(0, len(faces) - 1, per_frame + 1):
        batch = faces[start : start + per_frame + 1]
        large = face_cell(batch[0], large_width, "portrait", portraits[start % len(portraits)])
        cells = [face_cell(f, width, "portrait", portraits[(start + i) % len(portraits)])
                 for i, f in enumerate(batch[1:])]
        frame, squares = compose_mixed(large, cells, frame_size, rng)
        frames, smalls = frames + 1, smalls + len(cells)
        for name, (reader, tiled) in detectors.items():
            found = found_each(timed_boxes(reader, tiled, frame, tallies[name]), squares)
            tallies[name]["large"] += found[0]
            tallies[name]["small"] += sum(found[1:])
    return {"share": share, "face_px": width, "small_per_frame": per_frame, "frames": frames,
            **{name: {"small_recall": t["small"] / smalls, "large_recall": t["large"] / frames,
                      "median_ms": statistics.median(t["ms"]), "runs_per_frame": t["runs"] / frames}
                for name, t in tallies.items()}}


def box_map(readers: dict, faces: np.ndarray, portraits) -> dict:
    """Full range's box against short range's for lone faces short range alone would serve, and the
    residual of ``face_search.as_far_box`` (largest corner or side error as a share of full range's side)."""
    from emotion_core.face_search import as_far_box, sees_close_face

    short, full = readers["short"].detector, readers["full"].detector
    rng = np.random.default_rng(SEED)
    ratios, shifts, residuals = [], [], []
    for frame_name in ("480p", "720p"):
        size = FRAMES[frame_name]
        for share in MAP_SHARES:
            for i, face in enumerate(faces):
                cell = face_cell(face, int(round(share * size[0])), "portrait", portraits[i % len(portraits)])
                frame, _ = compose([cell], size, rng)
                near, far = short.detect(frame), full.detect(frame)
                if len(near) != 1 or len(far) != 1 or not sees_close_face(near, *size):
                    continue
                (_, sy, sw, sh), (_, fy, fw, fh) = near[0][0], far[0][0]
                ratios.append(fw / sw)
                shifts.append((fy + fh / 2 - sy - sh / 2) / sh)
                residuals.append(np.abs(np.subtract(as_far_box(near[0][0], *size), far[0][0])).max() / fw)
    quantiles = lambda values: [float(q) for q in np.quantile(values, (0.1, 0.5, 0.9))]  # noqa: E731
    return {"pairs": len(ratios), "scale_p10_p50_p90": quantiles(ratios), "shift_y_p10_p50_p90": quantiles(shifts),
            "residual_p10_p50_p90": quantiles(residuals)}


def emotion_accuracy(reader, faces: np.ndarray, labels: np.ndarray, portraits) -> dict:
    """Accuracy of ``reader.analyze_frame`` on portraits in a 720p frame, per face width; misses are wrong."""
    from emotion_core.labels import EMOTIONS

    rng = np.random.default_rng(SEED)
    correct = {}
    for width in (CLOSE_SIDE, LARGE_SIDE, *SMALL_SIDES):
        hits = []  # 1 right, 0 wrong, -1 not detected
        for i, face in enumerate(faces):
            frame, squares = compose([face_cell(face, width, "portrait", portraits[i % len(portraits)])],
                                     FRAMES["720p"], rng)
            found = [f for f in reader.analyze_frame(frame, small_faces=True) if match([f.box], squares)[0]]
            hits.append(int(found[0].label == EMOTIONS[labels[i]]) if found else -1)
        correct[width] = np.array(hits)
    large = correct[LARGE_SIDE]
    rows = {}
    for width, hits in correct.items():
        both = (hits >= 0) & (large >= 0)  # detected at this size and at 200 px
        rows[str(width)] = {"accuracy": float(np.mean(hits == 1)), "detected": float(np.mean(hits >= 0)),
                            "accuracy_detected_both": float(np.mean(hits[both] == 1)),
                            "large_accuracy_detected_both": float(np.mean(large[both] == 1)), "paired": int(both.sum())}
    return rows


def label_agreement(served, before, faces: np.ndarray, portraits) -> dict:
    """Per face width (CLOSE_SIDE, LARGE_SIDE): the share of portraits in a 720p frame that ``served`` and
    ``before`` both find, and of those, the share given the same label (the box map's effect on the crop)."""
    rng = np.random.default_rng(SEED)
    rows = {}
    for width in (CLOSE_SIDE, LARGE_SIDE):
        both = same = 0
        for i, face in enumerate(faces):
            frame, squares = compose([face_cell(face, width, "portrait", portraits[i % len(portraits)])],
                                     FRAMES["720p"], rng)
            labels = [[f.label for f in reader.analyze_frame(frame) if match([f.box], squares)[0]]
                      for reader in (served, before)]
            if all(labels):
                both, same = both + 1, same + (labels[0][0] == labels[1][0])
        rows[str(width)] = {"found_by_both": both / len(faces), "same_label": same / max(both, 1)}
    return rows


def timing_frame(faces: np.ndarray, portraits, share: float = TIMING_SHARE) -> np.ndarray:
    """The 720p frame of the timing rows: the first face, ``share`` of the width, alone in a portrait."""
    width = int(share * FRAMES["720p"][0])
    frame, _ = compose([face_cell(faces[0], width, "portrait", portraits[0])], FRAMES["720p"],
                       np.random.default_rng(SEED))
    return frame


def medians(calls: dict, repeats: int) -> dict:
    """``{name: (median ms, p95 ms)}`` of each no-argument call, taken in turn ``repeats`` times, so that the
    host's drift (other jobs come and go) lands on every call alike."""
    samples = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            begin = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - begin) * 1000)
    return {name: (statistics.median(s), sorted(s)[int(0.95 * (repeats - 1))]) for name, s in samples.items()}


def frame_times(detectors: dict, readers: dict, faces: np.ndarray, portraits, repeats: int) -> dict:
    """Median and p95 ms of ``analyze_frame`` (detection + crop + classification), one face in 720p, against
    the reference (REFERENCE_PARTS: each bundled detector once on the same frame) taken in turn with it.

    The face is TIMING_SHARE of the width, so every detector finds it (each has one face to classify).
    ``split``: where the served frame's ms go (its detection; crop, face model input and face model).
    """
    frame = timing_frame(faces, portraits)
    served = detectors[SERVED][0]
    box, _, detector = served.detect_faces(frame)[0]
    calls = {name: (lambda r=reader, t=tiled: r.analyze_frame(frame, small_faces=t))
             for name, (reader, tiled) in detectors.items()}
    calls |= {f"reference {name}": (lambda d=readers[name].detector: d.detect(frame)) for name in REFERENCE_PARTS}
    calls |= {"served detection": lambda: served.detect_faces(frame),
              "served crop + classification": lambda: served.classify_face(detector.crop(frame, box))}
    for call in calls.values():
        call()  # warm: first runs allocate
    runs = {}
    for name, (reader, tiled) in detectors.items():
        before = detector_runs(reader)
        reader.analyze_frame(frame, small_faces=tiled)
        runs[name] = detector_runs(reader) - before
    timed = medians(calls, repeats)
    reference = sum(timed[f"reference {name}"][0] for name in REFERENCE_PARTS)
    times = {name: {"median_ms": timed[name][0], "p95_ms": timed[name][1], "detector_runs": runs[name],
                    "ratio_to_reference": timed[name][0] / reference} for name in detectors}
    return {"times": times, "reference_ms": reference,
            "reference_parts_ms": {name: timed[f"reference {name}"][0] for name in REFERENCE_PARTS},
            "split_ms": {name: timed[name][0] for name in ("served detection", "served crop + classification")}}


def served_by_size(reader, faces: np.ndarray, portraits, repeats: int) -> list[dict]:
    """The served search (files) on one 720p face of each of ONE_FACE_SHARES: median ms and detector runs,
    as a share of the frame's own reference timed in turn with it (the whole-frame pass decides the tiles)."""
    rows = []
    for share in ONE_FACE_SHARES:
        frame = timing_frame(faces, portraits, share)
        before = detector_runs(reader)
        found = reader.analyze_frame(frame)
        runs = detector_runs(reader) - before
        calls = {"served": lambda f=frame: reader.analyze_frame(f),
                 "reference": lambda f=frame: reader.detector.detect(f)}
        timed = medians(calls, max(repeats // 3, 5))
        rows.append({"share": share, "faces_found": len(found), "detector_runs": runs,
                     "box_share": max((max(f.box[2:]) for f in found), default=0) / FRAMES["720p"][0],
                     "median_ms": timed["served"][0], "full_range_once_ms": timed["reference"][0]})
    return rows


def run(face_count: int, emotion_count: int, repeats: int) -> dict:
    """Every measurement of this benchmark as one JSON-ready dict."""
    from emotion_core import EmotionReader

    readers = {name: EmotionReader.from_manifest(voice_name="", **arguments) for name, arguments in READERS.items()}
    detectors = {name: (readers[reader], tiled) for name, (reader, tiled) in DETECTORS.items()}
    portraits = load_portraits()
    faces, _ = private_test_faces(face_count)
    times = frame_times(detectors, readers, faces, portraits, repeats)  # first: the machine's load drifts over a run
    by_size = served_by_size(readers["cascade"], faces, portraits, repeats)
    recall = {kind: {frame: [recall_row(detectors, faces, size, share, kind, portraits) for share in SHARES]
                     for frame, size in FRAMES.items()} for kind in ("portrait", "tight")}
    mixed = {frame: [mixed_row(detectors, faces, size, share, portraits) for share in MIXED_SHARES]
             for frame, size in FRAMES.items()}
    emotion_faces, labels = private_test_faces(emotion_count, seed=SEED + 1)
    return {"faces_per_row": int(len(faces)), "recall": recall, "mixed": mixed,
            "box_map": box_map(readers, faces, portraits),
            "emotion": {name: emotion_accuracy(detectors[name][0], emotion_faces, labels, portraits)
                        for name in EMOTION_ROWS},
            "detectors": {name: {"reader": READERS[reader], "tiled": tiled}
                          for name, (reader, tiled) in DETECTORS.items()},
            "emotion_faces": int(len(emotion_faces)),
            "label_agreement": label_agreement(readers["cascade"], readers["full"], emotion_faces, portraits),
            "frame_720p_one_face": times, "one_face_720p_by_size": by_size,
            "framing": {name: vars(readers[name].detector.framing) for name in ("short", "full")},
            "cpu": describe_cpu(), "load_average": os.getloadavg()}


def targets(result: dict) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each target of issue 22 this benchmark reads."""
    rows = [r for frame in result["recall"]["portrait"].values() for r in frame if r["share"] >= TARGET_SHARE]
    worst = min(r[SERVED]["recall"] for r in rows)
    most = max([r["faces_per_frame"] for r in rows if r[SERVED]["recall"] >= 0.95], default=0)
    times = result["frame_720p_one_face"]["times"]
    ms, live_ms = times[SERVED]["median_ms"], times[LIVE]["median_ms"]
    ratio = times[SERVED]["ratio_to_reference"]
    emotion = result["emotion"][SERVED]
    large = emotion[str(LARGE_SIDE)]["accuracy"]
    gap = max(large - emotion[str(w)]["accuracy"] for w in SMALL_SIDES)
    return [(f"recall >= 95 % for faces >= {TARGET_SHARE:.0%} of the width (480p/720p/1080p)",
             f"lowest {worst:.1%}", worst >= 0.95),
            (f"at least {MAX_FACES} faces in one frame", f"recall >= 95 % with up to {most} faces per frame",
             most >= MAX_FACES),
            (f"720p, one face: detection + classification <= {FRAME_TARGET_MS:g} ms (served to files)",
             f"median {ms:.1f} ms", ms <= FRAME_TARGET_MS),
            (f"the same against the reference (each detector once, same frame): <= {FRAME_TARGET_MS:g} ms on the "
             f"target's host, where it took {REFERENCE_HOST_MS:g} ms (aim {FRAME_AIM_MS:g})",
             f"{ratio:.2f}x the reference = {ratio * REFERENCE_HOST_MS:.1f} ms there",
             ratio * REFERENCE_HOST_MS <= FRAME_TARGET_MS),
            ("the same, live view (the cascade)", f"median {live_ms:.1f} ms", live_ms <= FRAME_TARGET_MS),
            ("accuracy at 60-100 px within 5 points of 200 px", f"largest gap {gap * 100:.1f} points", gap <= 0.05)]


def recall_table(rows: list[dict], names, key: str = "recall") -> list[str]:
    """Markdown: one row per face share (``rows`` of one frame size), ``key`` of each named detector."""
    lines = ["| face width | " + " | ".join(names) + " |", "|---" * (1 + len(names)) + "|"]
    for row in rows:
        cells = [f"{row[name][key]:.0%}" for name in names]
        lines.append(f"| {row['share']:.0%} ({row['face_px']} px) | " + " | ".join(cells) + " |")
    return lines


def cost_table(rows_by_frame: dict, names=(SERVED, "full+tiles")) -> list[str]:
    """Markdown: detector runs and detection ms per frame, per face share and frame size, of each of ``names``."""
    head = [f"{frame} {name}" for frame in rows_by_frame for name in names]
    lines = ["| face width | " + " | ".join(head) + " |", "|---" * (1 + len(head)) + "|"]
    for i, share in enumerate(SHARES):
        cells = [f"{rows[i][name]['runs_per_frame']:.1f} / {rows[i][name]['median_ms']:.0f} ms"
                 for rows in rows_by_frame.values() for name in names]
        lines.append(f"| {share:.0%} | " + " | ".join(cells) + " |")
    return lines


def report(result: dict) -> str:
    """REPORT.md: targets, recall tables, timing, mixed frames, box map, emotion accuracy by face size."""
    command = (f"python -m benchmarks.detection --faces {result['faces_per_row']} --emotion-faces "
               f"{result['emotion_faces']} --repeats {result.get('repeats', 100)}")
    lines = ["# Face detection at every distance (issue 22)", "",
             f"`{command}` ({result.get('seconds', '?')} s, under the shared bench lock); how the frames are made "
             "and what is counted: see the module's docstring (`benchmarks/detection.py`). Why the served search "
             "still misses faces: [MISSES.md](MISSES.md) (`benchmarks/detection_misses.py`).", "",
             "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in targets(result)]
    for kind in ("portrait", "tight"):
        for frame, rows in result["recall"][kind].items():
            lines += ["", f"## Recall, {kind} faces, {frame} ({result['faces_per_row']} faces per cell; short / "
                      "full = one model on the whole frame, full+tiles = full range with tiles, served = the "
                      "cascade with tiles, served live = without)", "", *recall_table(rows, DETECTORS)]
    false = {name: sum(r[name]["false_detections"] for rows in result["recall"].values()
                       for frame in rows.values() for r in frame) for name in DETECTORS}
    lines += ["", "Faces per frame: " + ", ".join(f"{r['share']:.0%}: {r['faces_per_frame']}"
                                                 for r in result["recall"]["portrait"]["720p"]) + " (720p). "
              "False detections over every frame: " + ", ".join(f"{n} {v}" for n, v in false.items()) + ".", "",
              *timing_section(result)]
    lines += ["", "## Cost of the search (portrait faces): detector runs per frame / median ms of detection per frame",
              "", *cost_table(result["recall"]["portrait"])]
    lines += mixed_section(result)
    lines += emotion_section(result)
    framing = ", ".join(f"{n}: scale {f['scale']}, shift {f['shift_y']}" for n, f in result["framing"].items())
    lines += ["", f"Crop framing: {framing}.", "",
              f"Machine: {cpu_summary(result['cpu'])}; load average at the end "
              f"{result['load_average'][0]:.1f} (shared with other jobs: times are upper bounds).", ""]
    return "\n".join(lines)


def timing_section(result: dict) -> list[str]:
    """REPORT.md lines: the one-face 720p frame per detector against the reference, where the served
    frame's ms go, and the served search on lone faces of other sizes."""
    timing = result["frame_720p_one_face"]
    parts = " + ".join(f"{name} {ms:.2f}" for name, ms in timing["reference_parts_ms"].items())
    lines = [f"## Time per 720p frame with one face {TIMING_SHARE:.0%} of the width (detection + crop + "
             "classification)", "",
             f"Reference, timed in turn with every row: each bundled detector once on the same frame ({parts} = "
             f"{timing['reference_ms']:.2f} ms here; {REFERENCE_HOST_MS:g} ms where the 8 ms target was set). "
             "Last column: the row's time on that host (ratio x its reference).", "",
             "| detector | median ms | p95 ms | detector runs | detection only, median ms (720p, 8 % faces) "
             "| ratio to the reference | ms at the target's host |", "|---|---|---|---|---|---|---|"]
    for name, t in timing["times"].items():
        detect_ms = result["recall"]["portrait"]["720p"][SHARES.index(0.08)][name]["median_ms"]
        lines.append(f"| {name} | {t['median_ms']:.1f} | {t['p95_ms']:.1f} | {t['detector_runs']} | {detect_ms:.1f} "
                     f"| {t['ratio_to_reference']:.2f} | {t['ratio_to_reference'] * REFERENCE_HOST_MS:.1f} |")
    split = "; ".join(f"{name} {ms:.2f} ms" for name, ms in timing["split_ms"].items())
    lines += ["", f"Where the served frame's ms go (medians, timed in turn with the rows): {split}.", "",
              "Served search (files) on one face alone in 720p, by size: the whole pass's smallest box decides the "
              "tiles (`emotion_core.face.search_tiles`).", "",
              "| face width | box / frame width | detector runs | median ms | full range once, ms | ratio |",
              "|---|---|---|---|---|---|"]
    for row in result["one_face_720p_by_size"]:
        lines.append(f"| {row['share']:.0%} | {row['box_share']:.1%} | {row['detector_runs']} | "
                     f"{row['median_ms']:.1f} | {row['full_range_once_ms']:.1f} | "
                     f"{row['median_ms'] / row['full_range_once_ms']:.2f} |")
    return lines


def mixed_section(result: dict) -> list[str]:
    """REPORT.md lines: small faces beside a large one, and the short-to-full box map."""
    lines = ["", f"## Mixed frames: one face {TIMING_SHARE:.0%} of the width beside smaller ones", "",
             "Recall of the small faces (the large one's in brackets); detector runs per frame of the served rows."]
    for frame, rows in result["mixed"].items():
        names = list(DETECTORS)
        lines += ["", f"{frame} ({', '.join(str(r['small_per_frame']) for r in rows)} small faces per frame, "
                  f"{rows[0]['frames']} frames per row)", "",
                  "| small faces | " + " | ".join(names) + " | runs served / full+tiles |",
                  "|---" * (2 + len(names)) + "|"]
        for row in rows:
            cells = [f"{row[n]['small_recall']:.0%} ({row[n]['large_recall']:.0%})" for n in names]
            runs = f"{row[SERVED]['runs_per_frame']:.1f} / {row['full+tiles']['runs_per_frame']:.1f}"
            lines.append(f"| {row['share']:.0%} ({row['face_px']} px) | " + " | ".join(cells) + f" | {runs} |")
    fit = result["box_map"]
    lines += ["", "## Short range's box in full range's convention (lone faces short range alone serves)", "",
              f"{fit['pairs']} faces; full / short box side p10/p50/p90: "
              + " / ".join(f"{v:.3f}" for v in fit["scale_p10_p50_p90"])
              + "; centre shift (share of the short box height): "
              + " / ".join(f"{v:+.3f}" for v in fit["shift_y_p10_p50_p90"])
              + "; mapped box against full range's, largest error as a share of its side: "
              + " / ".join(f"{v:.3f}" for v in fit["residual_p10_p50_p90"]) + "."]
    return lines


def emotion_section(result: dict) -> list[str]:
    """REPORT.md lines: emotion accuracy by face width, per search."""
    lines = ["", "## Emotion accuracy by face width (portraits in 1280x720)", "",
             f"{result['emotion_faces']} PrivateTest faces; a face not found counts as wrong. The paired "
             "columns use only the faces found at both this width and 200 px.", "",
             "| search | face width | accuracy | found | paired accuracy | same faces at 200 px | paired faces |",
             "|---|---|---|---|---|---|---|"]
    for name, rows in result["emotion"].items():
        for width, row in rows.items():
            lines.append(f"| {name} | {width} px | {row['accuracy']:.1%} | {row['detected']:.1%} | "
                         f"{row['accuracy_detected_both']:.1%} | {row['large_accuracy_detected_both']:.1%} | "
                         f"{row['paired']} |")
    agreement = "; ".join(f"{width} px: {row['same_label']:.1%} of the {row['found_by_both']:.0%} found by both"
                          for width, row in result["label_agreement"].items())
    lines += ["", f"Same label from the served cascade and from full range with tiles, same frames: {agreement}."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 480: a cell's recall near 95 % then has a standard error of about 1 point; with 120 (2 points) the
    # lowest of 12 cells swung from 92.5 to 96.7 % between two samples of FER2013 faces
    parser.add_argument("--faces", type=int, default=480, help="PrivateTest faces per recall cell")
    parser.add_argument("--emotion-faces", type=int, default=400, help="PrivateTest faces for the accuracy rows")
    parser.add_argument("--repeats", type=int, default=100, help="timed analyze_frame calls per detector")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['faces']} faces per cell, {QUICK['emotion_faces']} for accuracy, "
                             f"{QUICK['repeats']} repeats (overrides those three)")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    start = time.perf_counter()
    result = run(args.faces, args.emotion_faces, args.repeats)
    result["seconds"], result["repeats"] = round(time.perf_counter() - start, 1), args.repeats
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / "REPORT.md").write_text(report(result))
    for target, measured, met in targets(result):
        print(f"{'met ' if met else 'MISS'}  {target}: {measured}")
    print(f"{result['seconds']} s; wrote {OUT / 'REPORT.md'}")


if __name__ == "__main__":
    main()
