"""A probe: does the face channel grow surer as the picture gets worse? (No change to anything served.)

    python -m training.face_confidence_probe [--faces 600] [--strength 3]

PublicTest faces (drawn with seed 0) through the served reader's ``face_probabilities``, clean and under each
webcam corruption of :mod:`harness.corruptions`; for each: accuracy, the share given a reading by the one
"uncertain" rule (:data:`emotion_core.reading.UNCERTAIN_BELOW`) and how often those readings are right.
The voice's twin is ``training.voice_noise_calibration``.
"""

from __future__ import annotations

import argparse

import numpy as np

from emotion_core.analysis import default_reader
from emotion_core.reading import UNCERTAIN_BELOW
from harness.corruptions import CORRUPTIONS, corrupt
from training.face_data import data_dir, load_arrays, split


def confidence_figures(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    """Accuracy, the share of faces given a reading (top score at least UNCERTAIN_BELOW) and their accuracy."""
    right = probabilities.argmax(axis=1) == labels
    stated = probabilities.max(axis=1) >= UNCERTAIN_BELOW
    return {"accuracy": float(right.mean()), "stated": float(stated.mean()),
            "right_when_stated": float(right[stated].mean()) if stated.any() else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=600)
    parser.add_argument("--strength", type=int, default=3)
    args = parser.parse_args()
    public = split(load_arrays(data_dir(None)), "PublicTest")
    keep = np.random.default_rng(0).choice(len(public["y"]), args.faces, replace=False)
    faces, labels = np.squeeze(public["x"], -1)[keep], public["y"][keep]
    reader = default_reader()
    for name in ("clean", *CORRUPTIONS):
        shown = faces if name == "clean" else np.stack([corrupt(face, name, args.strength, i)
                                                        for i, face in enumerate(faces)])
        found = confidence_figures(reader.face_probabilities(shown), labels)
        print(f"{name:18s} accuracy {found['accuracy']:.3f}  given a reading {100 * found['stated']:.1f} %  "
              f"right when given {found['right_when_stated'] or 0:.3f}")


if __name__ == "__main__":
    main()
