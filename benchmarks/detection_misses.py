"""Why the served files search misses faces of the detection benchmark's portrait rows, counted by cause.

Run: python -m benchmarks.detection_misses [--faces 120]   (no timing: run it at low priority)

The frames are benchmarks/detection.py's own (same faces, seed and counting rule). Each face the served
search (files: full range with tiles and second looks) misses gets the first cause that holds:

- ``counting rule``: a served box covers the face (a third of the smaller box) but its centre is outside
  the face's square, so the benchmark does not count it;
- ``merged away``: a pass found it at its threshold, and merging kept another box;
- ``no tiles``: the whole pass's smallest box ran none, or only the coarse ones (``search_tiles``);
- ``cut by every tile``: no tile that ran holds its square whole;
- ``weak, looked at``: a weak box on it got a second look that scored under the threshold;
- ``not seen``: nothing of WEAK_CONFIDENCE or more on it.

Then the ceiling: each face alone, centred in a square so that it is 24 to 100 px in full range's
192 px input; the faces found at none of those sizes (at a tile's threshold) no search can find.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from benchmarks import detection as bench

SHARES = (0.06, 0.08, 0.12, 0.15)
INPUT_SIZES = (24, 30, 36, 44, 54, 66, 80, 100)  # face px in the 192 px input, for the ceiling
PROBE_FACE = 120  # px: the face in the ceiling's canvas


def centred_in(box: tuple[int, int, int, int], square: tuple[int, int, int]) -> bool:
    x0, y0, side = square
    return x0 <= box[0] + box[2] / 2 <= x0 + side and y0 <= box[1] + box[3] / 2 <= y0 + side


def cause(detector, frame: np.ndarray, square: tuple[int, int, int], served: list) -> str:
    """The first cause (module docstring) that holds for a face ``square`` the served boxes missed."""
    from emotion_core import face

    height, width = frame.shape[:2]
    if any(face._shared_share(box, (*square[:2], square[2], square[2])) > 0.3 for box in served):
        return "counting rule"
    found, weak = detector._detect_once(frame, weak=True)
    tiles = face.search_tiles(width, height, [box for box, _ in found])
    for x, y, side in tiles:
        sure, unsure = detector._detect_once(frame[y : y + side, x : x + side], face.TILE_MIN_CONFIDENCE, weak=True)
        found, weak = found + face.shifted(sure, x, y), weak + face.shifted(unsure, x, y)
    if any(centred_in(box, square) for box, _ in found):
        return "merged away"
    if len(tiles) < len(face.search_tiles(width, height, [])):
        return "no tiles"
    if not any(x <= square[0] and y <= square[1] and square[0] + square[2] <= x + side
               and square[1] + square[2] <= y + side for x, y, side in tiles):
        return "cut by every tile"
    return "weak, looked at" if any(centred_in(box, square) for box, _ in weak) else "not seen"


def row_misses(reader, faces: np.ndarray, frame_size, share: float, portraits) -> tuple[Counter, list[int]]:
    """Causes of the misses in one portrait row, and the indices of the faces missed."""
    width = max(8, int(round(share * frame_size[0])))
    per_frame = bench.faces_per_frame(frame_size, width)
    rng = np.random.default_rng(bench.SEED)
    causes, missed = Counter(), []
    for start in range(0, len(faces), per_frame):
        cells = [bench.face_cell(f, width, "portrait", portraits[(start + i) % len(portraits)])
                 for i, f in enumerate(faces[start : start + per_frame])]
        frame, squares = bench.compose(cells, frame_size, rng)
        served = [box for box, _, _ in reader.detect_faces(frame)]
        for i, (square, hit) in enumerate(zip(squares, bench.found_each(served, squares), strict=True)):
            if not hit:
                causes[cause(reader.detector, frame, square, served)] += 1
                missed.append(start + i)
    return causes, missed


def sizes_found_alone(detector, faces: np.ndarray, portraits, rng) -> np.ndarray:
    """For each face: at how many of INPUT_SIZES full range finds it alone, centred, at a tile's threshold."""
    from emotion_core import face

    counts = np.zeros(len(faces), int)
    for k, image in enumerate(faces):
        cell, (fx, fy, side) = bench.face_cell(image, PROBE_FACE, "portrait", portraits[k % len(portraits)])
        for size in INPUT_SIZES:
            span = int(round(PROBE_FACE * 192 / size))
            canvas = np.full((span, span), float(bench.BACKGROUND), np.float32)
            ox, oy = int(span / 2 - fx - side / 2), int(span / 2 - fy - side / 2)
            x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + cell.shape[1], span), min(oy + cell.shape[0], span)
            canvas[y0:y1, x0:x1] = cell[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            canvas += rng.normal(0.0, bench.NOISE_SIGMA, canvas.shape)
            frame = np.repeat(np.clip(np.round(canvas), 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            sure, _ = detector._detect_once(frame, face.TILE_MIN_CONFIDENCE)
            counts[k] += any(centred_in(box, (ox + fx, oy + fy, side)) for box, _ in sure)
    return counts


def main() -> None:
    from emotion_core import EmotionReader

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=120, help="PrivateTest faces per row")
    args = parser.parse_args()
    reader = EmotionReader.from_manifest(voice_name="")
    portraits = bench.load_portraits()
    faces, _ = bench.private_test_faces(args.faces)
    alone = sizes_found_alone(reader.detector, faces, portraits, np.random.default_rng(bench.SEED))
    print("| frame | face width | recall | misses by cause | missed faces (sizes of 8 found alone) |")
    print("|---|---|---|---|---|")
    for name, size in bench.FRAMES.items():
        for share in SHARES:
            causes, missed = row_misses(reader, faces, size, share, portraits)
            listed = ", ".join(f"{k} ({alone[k]})" for k in missed)
            print(f"| {name} | {share:.0%} | {1 - len(missed) / len(faces):.1%} | "
                  f"{', '.join(f'{c} {n}' for c, n in causes.most_common())} | {listed} |", flush=True)
    never = np.flatnonzero(alone == 0).tolist()
    print(f"\nFaces found alone at none of {len(INPUT_SIZES)} sizes: {never} ({len(never)} of {len(faces)}); "
          f"at one: {np.flatnonzero(alone == 1).tolist()}")


if __name__ == "__main__":
    main()
