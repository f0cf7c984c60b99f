"""The live view following its faces against searching each frame whole, on head-and-shoulders frames.

Each FER2013 PrivateTest face is pasted into a real portrait (``benchmarks.detection``'s frames: a face of
a given share of the width in 480p or 720p, grey with sensor noise); the next frame is the same picture
moved FOLLOW_STEP px. The live view's search runs on the first frame (its boxes are what the live
session keeps); on the next frame the two ways are compared on the same pixels: searched whole
(``analyze_frame(small_faces=False)``, as before following) and followed (``near=`` the first frame's
boxes). For each: faces found, accuracy (a miss counts wrong), the same label as the first frame (what
the live view's smoothing has to absorb), and the median time per frame with detection, crop and
classification, the two timed in turn on each frame. ``followed`` is the share found again around the
last box, with no whole-frame search (``found_again_around_last_box``).

Streams (``--streams``): each of the first faces as STREAM_FRAMES frames at STREAM_FPS, the picture moving
FOLLOW_STEP px a frame there and back (SWAY_FRAMES), read as the live session reads them (the last frame's
faces followed, the whole frame searched every WHOLE_SEARCH_SECONDS and where a face is lost) against every
frame searched whole:
how often the label changes from one frame to the next (before the live view's smoothing, which then
has less to hide), faces found, and the mean ms per frame, whole searches included.

    python -m benchmarks.live_following [--faces 300] [--timed 60] [--repeats 5] [--streams 100]

Writes reports/face/following.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from harness.machine import cpu_summary, describe_cpu

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "reports" / "face" / "following.json"
SETTINGS = (("480p", 0.15), ("480p", 0.3), ("720p", 0.12), ("720p", 0.2))  # frame, face width / frame width
FOLLOW_STEP = (4, -6)  # (dy, dx) px from one frame to the next, as benchmarks.face_vs_fer
STREAM_FRAMES, STREAM_FPS = 24, 12.0  # two seconds of a stream at the live view's rate (a reading every 80 ms)
SWAY_FRAMES = 12  # the head sways FOLLOW_STEP a frame, there and back once a second (at most 6 steps away)


def stream_readings(reader, frames: list[np.ndarray], following: bool) -> tuple[list, float]:
    """Each frame's label (None: no face) read as the live session reads a stream (``following``: its
    rule of when to follow and when to search whole, ``emotion_core.live``), or every frame searched whole;
    and the mean ms per frame."""
    from emotion_core.live import WHOLE_SEARCH_SECONDS

    labels, boxes, searched_at, spent = [], [], -np.inf, 0.0
    for index, frame in enumerate(frames):
        now = index / STREAM_FPS
        near = boxes if following and now - searched_at < WHOLE_SEARCH_SECONDS else []
        start = time.perf_counter()
        label, boxes = reading(reader, frame, near)
        spent += time.perf_counter() - start
        if not near:
            searched_at = now
        labels.append(label)
    return labels, 1000.0 * spent / len(frames)


def stream_row(reader, faces: np.ndarray, labels: np.ndarray, frame_name: str, share: float, portraits) -> dict:
    """Label changes between consecutive frames, faces found, accuracy and mean ms, both ways, over streams."""
    from benchmarks import detection

    width = int(share * detection.FRAMES[frame_name][0])
    ways = {"searched_whole": False, "following": True}
    tally = {name: {"changes": 0, "pairs": 0, "found": 0, "right": 0, "frames": 0, "ms": []} for name in ways}
    for index, (face, label) in enumerate(zip(faces, labels, strict=True)):
        cell = detection.face_cell(face, width, "portrait", portraits[index % len(portraits)])
        first, _ = detection.compose([cell], detection.FRAMES[frame_name], np.random.default_rng(index))
        sway = [min(k % SWAY_FRAMES, SWAY_FRAMES - k % SWAY_FRAMES) for k in range(STREAM_FRAMES)]  # 0, 1, .. 6, .. 1
        frames = [moved(first, (k * FOLLOW_STEP[0], k * FOLLOW_STEP[1])) for k in sway]
        for name, following in ways.items():  # in turn on the same stream
            read, ms = stream_readings(reader, frames, following)
            entry = tally[name]
            seen = [r for r in read if r is not None]
            entry["changes"] += sum(a != b for a, b in zip(seen, seen[1:], strict=False))
            entry["pairs"] += max(len(seen) - 1, 0)
            entry["found"] += len(seen)
            entry["right"] += sum(r == label for r in seen)
            entry["frames"] += len(read)
            entry["ms"].append(ms)
    return {name: {"label_changes_per_frame": t["changes"] / max(t["pairs"], 1),
                   "found": t["found"] / t["frames"], "accuracy": t["right"] / t["frames"],
                   "mean_ms_per_frame": float(np.median(t["ms"]))} for name, t in tally.items()}


def moved(frame: np.ndarray, step: tuple[int, int] = FOLLOW_STEP) -> np.ndarray:
    """The frame's picture moved ``step`` (dy, dx) px, its edges repeated into the uncovered strip."""
    import cv2

    shift = np.float32([[1, 0, step[1]], [0, 1, step[0]]])
    return cv2.warpAffine(frame, shift, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def reading(reader, frame: np.ndarray, near=None) -> tuple[int | None, list]:
    """The label of the surest face the live view finds (None if none) and every box it found."""
    found = reader.detect_faces(frame, False, near)
    if not found:
        return None, []
    box, _, detector = max(found, key=lambda item: item[1])
    return int(np.argmax(reader.face_probabilities([detector.crop(frame, box)])[0])), [b for b, _, _ in found]


def frame_pairs(faces: np.ndarray, frame_name: str, share: float, portraits) -> list[tuple[np.ndarray, np.ndarray]]:
    """(first frame, next frame) for each face, the face ``share`` of the frame width in a portrait."""
    from benchmarks import detection

    width = int(share * detection.FRAMES[frame_name][0])
    pairs = []
    for index, face in enumerate(faces):
        cell = detection.face_cell(face, width, "portrait", portraits[index % len(portraits)])
        first, _ = detection.compose([cell], detection.FRAMES[frame_name], np.random.default_rng(index))
        pairs.append((first, moved(first)))
    return pairs


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def measure(reader, pairs: list, labels: np.ndarray, timed: int, repeats: int) -> dict:
    """Both ways on each pair's next frame: found, accuracy, same label as the first frame, ms per frame."""
    from emotion_core.face_search import search_near

    rows = {"searched_whole": [], "following": []}
    followed, times = [], {"searched_whole": [], "following": []}
    for index, ((first, nxt), label) in enumerate(zip(pairs, labels, strict=True)):
        first_label, boxes = reading(reader, first)
        if first_label is None:
            continue  # nothing to follow: the live view searches this frame whole either way
        ways = {"searched_whole": lambda f=nxt: reading(reader, f),
                "following": lambda f=nxt, b=boxes: reading(reader, f, b)}
        for name, way in ways.items():
            got, _ = way()
            rows[name].append((got is not None, got == label, got == first_label))
        followed.append(search_near(reader.close_detector, reader.detector, nxt, boxes) is not None)
        if index < timed:
            for name, way in ways.items():  # in turn on the same frame
                times[name].append(median_ms(way, repeats))
    result = {"faces": len(followed), "found_again_around_last_box": float(np.mean(followed))}
    for name, row in rows.items():
        found, right, same = np.array(row).T
        result[name] = {"found": float(found.mean()), "accuracy": float(right.mean()),
                        "same_label_as_first_frame": float(same.mean()),
                        "median_ms_per_frame": float(np.median(times[name]))}
    return result


def main() -> None:
    import cv2

    from benchmarks import detection
    from emotion_core.analysis import default_reader

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=300, help="PrivateTest faces per setting")
    parser.add_argument("--timed", type=int, default=60, help="frames per setting timed (both ways, in turn)")
    parser.add_argument("--repeats", type=int, default=5, help="calls per frame and way; their median counts")
    parser.add_argument("--streams", type=int, default=100, help="streams per setting (0: none)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    start = time.perf_counter()
    reader = default_reader()
    faces, labels = detection.private_test_faces(args.faces)
    portraits = detection.load_portraits()
    result = {"settings": {}, "follow_step": FOLLOW_STEP, "cpu": describe_cpu()}
    for frame_name, share in SETTINGS:
        key = f"{frame_name} {share:.0%}"
        pairs = frame_pairs(faces, frame_name, share, portraits)
        result["settings"][key] = row = measure(reader, pairs, labels, args.timed, args.repeats)
        print(f"{key}: {row['faces']} faces, found again around the last box "
              f"{row['found_again_around_last_box']:.3f}", flush=True)
        for name in ("searched_whole", "following"):
            way = row[name]
            print(f"  {name:14s} found {way['found']:.3f}  accuracy {way['accuracy']:.3f}  same label "
                  f"{way['same_label_as_first_frame']:.3f}  {way['median_ms_per_frame']:.2f} ms", flush=True)
        if args.streams:
            row["streams"] = streams = stream_row(reader, faces[: args.streams], labels[: args.streams],
                                                  frame_name, share, portraits)
            for name, way in streams.items():
                print(f"  stream, {name:14s} label changes per frame {way['label_changes_per_frame']:.3f}  found "
                      f"{way['found']:.3f}  accuracy {way['accuracy']:.3f}  {way['mean_ms_per_frame']:.2f} ms "
                      "a frame (median over streams)", flush=True)
    result["seconds"] = round(time.perf_counter() - start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"cpu: {cpu_summary(result['cpu'])}")


if __name__ == "__main__":
    main()
