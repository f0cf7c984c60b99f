"""FER2013 faces as arrays: Training / PublicTest / PrivateTest, with optional FER+ soft targets.

Every image goes through :func:`emotion_core.face.face_model_input`, the runtime's own
preprocessing, so the model is trained on exactly what it is served. Arrays are cached as
``artifacts/face_data.npz`` (never committed).

    python -m training.face_data [--data-dir ../shared/data] [--rebuild]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

from emotion_core.face import face_model_input
from emotion_core.labels import EMOTION_INDEX, EMOTIONS, NUM_EMOTIONS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
ARTIFACTS = PROJECT_ROOT / "artifacts"
CACHE = ARTIFACTS / "face_data.npz"
FER_SUBDIR = Path("faces") / "fer2013"
USAGES = ("Training", "PublicTest", "PrivateTest")
# FER+ vote columns in our class order; contempt, unknown and not-a-face votes are dropped.
FERPLUS_COLUMNS = {
    "angry": "votes_anger", "disgust": "votes_disgust", "fear": "votes_fear",
    "happy": "votes_happiness", "sad": "votes_sadness", "surprise": "votes_surprise",
    "neutral": "votes_neutral",
}


def data_dir(cli_value: str | None = None) -> Path:
    """The shared data folder: ``--data-dir``, else ``$EMOTION_DATA_DIR``, else ``../shared/data``."""
    value = cli_value or os.environ.get("EMOTION_DATA_DIR")
    return Path(value).resolve() if value else DEFAULT_DATA_DIR


def fer_root(root: Path) -> Path:
    """``<data>/faces/fer2013``; raises with a hint when it is missing."""
    folder = Path(root) / FER_SUBDIR
    if not (folder / "train").is_dir() or not (folder / "test").is_dir():
        raise FileNotFoundError(f"no FER2013 train/ and test/ under {folder}; pass --data-dir or set EMOTION_DATA_DIR")
    return folder


def list_images(folder: Path) -> list[tuple[str, int, str]]:
    """``(relative path, label index, usage)`` for every ``{train,test}/<emotion>/<Usage>_*.jpg``, sorted."""
    items = []
    for split in ("train", "test"):
        for emotion in EMOTIONS:
            for file in sorted((folder / split / emotion).glob("*.jpg")):
                usage = file.name.split("_", 1)[0]
                if usage not in USAGES:
                    raise ValueError(f"unexpected file name {file}")
                items.append((f"{split}/{emotion}/{file.name}", EMOTION_INDEX[emotion], usage))
    return items


def read_face(path: Path) -> np.ndarray:
    """One FER2013 jpg -> ``(48, 48, 1)`` float32 grey in [0, 255] via the runtime preprocessing."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OSError(f"cannot read {path}")
    return face_model_input(image)


def ferplus_votes(folder: Path) -> dict[str, np.ndarray]:
    """``{relative path: (7,) float32 FER+ votes in EMOTIONS order}``; empty when ferplus.csv is absent."""
    table = folder / "ferplus.csv"
    if not table.exists():
        return {}
    votes = {}
    with table.open(newline="") as handle:
        for row in csv.DictReader(handle):
            votes[row["path"]] = np.array([float(row[FERPLUS_COLUMNS[e]]) for e in EMOTIONS], np.float32)
    return votes


def soft_targets(labels: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """FER+ vote shares ``(n, 7)``; rows without any of our 7 votes fall back to the one-hot label."""
    onehot = np.eye(NUM_EMOTIONS, dtype=np.float32)[labels]
    totals = votes.sum(axis=1, keepdims=True)
    shares = np.divide(votes, totals, out=np.zeros_like(votes), where=totals > 0)
    return np.where(totals > 0, shares, onehot).astype(np.float32)


def build_arrays(root: Path) -> dict[str, np.ndarray]:
    """Read every image: ``x`` (n, 48, 48, 1) uint8, ``y`` (n,) int, ``ferplus`` (n, 7), ``usage``, ``path``."""
    folder = fer_root(root)
    items = list_images(folder)
    votes = ferplus_votes(folder)
    images = np.stack([read_face(folder / path) for path, _, _ in items])
    labels = np.array([label for _, label, _ in items], dtype=np.int64)
    raw_votes = np.stack([votes.get(path, np.zeros(NUM_EMOTIONS, np.float32)) for path, _, _ in items])
    return {
        "x": np.clip(np.round(images), 0, 255).astype(np.uint8),
        "y": labels,
        "ferplus": soft_targets(labels, raw_votes),
        "usage": np.array([usage for _, _, usage in items]),
        "path": np.array([path for path, _, _ in items]),
    }


def load_arrays(root: Path | None = None, rebuild: bool = False) -> dict[str, np.ndarray]:
    """The cached arrays of :func:`build_arrays` (built and saved on first use)."""
    if CACHE.exists() and not rebuild:
        with np.load(CACHE) as data:
            return {key: data[key] for key in data.files}
    arrays = build_arrays(root or data_dir())
    ARTIFACTS.mkdir(exist_ok=True)
    np.savez_compressed(CACHE, **arrays)
    return arrays


def split(arrays: dict[str, np.ndarray], *usages: str) -> dict[str, np.ndarray]:
    """The rows whose usage is one of ``usages`` (e.g. ``"PublicTest", "PrivateTest"`` = test folder)."""
    keep = np.isin(arrays["usage"], usages)
    return {key: value[keep] for key, value in arrays.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--rebuild", action="store_true", help="re-read the images even if cached")
    args = parser.parse_args()
    start = time.perf_counter()
    arrays = load_arrays(data_dir(args.data_dir), rebuild=args.rebuild)
    for usage in USAGES:
        part = split(arrays, usage)
        counts = np.bincount(part["y"], minlength=NUM_EMOTIONS)
        agree = np.mean(part["ferplus"].argmax(1) == part["y"])
        print(f"{usage:12s} {len(part['y']):6d}  per class {counts.tolist()}  FER+ argmax agrees {agree:.3f}")
    print(f"cache {CACHE} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
