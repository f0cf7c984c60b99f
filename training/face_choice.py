"""Face files side by side on one FER2013 split, through the served path: the figures a selection rule reads.

    python -m training.face_choice --file served=weights/face_emotion.tflite cand=artifacts/c/face_emotion.tflite \
        --split PublicTest --out reports/face/choice.json

Each file is read by ``EmotionReader.with_models(face_model=F, face_blur_sigma=...)`` (the served crop
and model call) on the split's faces; per file: ``training.face_export.balance_objective`` (the export's
own objective), accuracy, macro recall and per-class recall. Only PublicTest may choose; PrivateTest is
read with the same command after a choice.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emotion_core import EmotionReader
from emotion_core.reader import FACE_MODEL, blur_sigma_of
from emotion_core.weights import load_manifest
from training.face_data import data_dir, load_arrays, split
from training.face_evaluate import predict_images, split_metrics
from training.face_export import balance_objective


def file_figures(path: Path, faces: np.ndarray, labels: np.ndarray, blur_sigma: float | None = None) -> dict:
    """The rule's figures of one int8 face file on ``faces``, its input blurred by ``blur_sigma`` (default: the
    served file's, from the manifest, as candidates are exported with it)."""
    probs = predict_images(EmotionReader.with_models(face_model=path, face_blur_sigma=blur_sigma), faces)
    metrics = split_metrics(labels, probs)
    return {"objective": round(balance_objective(labels, np.log(np.maximum(probs, 1e-7))), 4),
            "accuracy": round(metrics["accuracy"], 4), "macro_recall": round(metrics["macro_recall"], 4),
            "per_class_recall": {name: round(value, 3) for name, value in metrics["per_class_recall"].items()}}


def named_file(text: str) -> tuple[str, Path]:
    name, equals, path = text.partition("=")
    if not equals or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=named_file, nargs="+", required=True, metavar="NAME=PATH")
    parser.add_argument("--split", choices=("PublicTest", "PrivateTest"), default="PublicTest")
    parser.add_argument("--blur", type=float, default=None,
                        help="every file's input blur sigma (default: the served file's)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    faces = split(load_arrays(data_dir(args.data_dir)), args.split)
    blur = blur_sigma_of(load_manifest()["models"][FACE_MODEL]) if args.blur is None else args.blur
    results = {name: file_figures(path, faces["x"], faces["y"], blur) for name, path in args.file}
    args.out.write_text(json.dumps({"split": args.split, "blur_sigma": blur,
                                    "files": {name: str(path) for name, path in args.file},
                                    args.split: results}, indent=2) + "\n")
    for name, figures in results.items():
        print(f"{name}: objective {figures['objective']:.4f}, accuracy {figures['accuracy']:.4f}, "
              f"macro recall {figures['macro_recall']:.4f}")


if __name__ == "__main__":
    main()
