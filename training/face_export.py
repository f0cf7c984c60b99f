"""Export the trained face CNN to full-integer int8 ``.tflite`` (and float), and register both.

Optionally first shifts the output layer's per-class biases, chosen on PublicTest only, so that no
class recall falls below ``MIN_RECALL`` (the rare ``disgust`` class is the one at risk). With
``--mirror`` the exported graph classifies the face and its mirror image as one batch of two and
averages the two probability vectors (test-time flip averaging, inside the one ``.tflite`` file).

    python -m training.face_export [--checkpoint artifacts/face/best.keras] [--no-balance] [--mirror]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from emotion_core.face import CROP_SCALE, CROP_SHIFT_Y, FACE_INPUT_SIZE
from emotion_core.labels import EMOTIONS, NUM_EMOTIONS
from training.face_data import ARTIFACTS, data_dir, load_arrays, split
from training.face_evaluate import REPORT_DIR, SPLITS, evaluate, predict_images, split_metrics
from training.manifest import WEIGHTS_DIR, update_entry

INT8_NAME, FLOAT_NAME = "face_emotion", "face_emotion_float"
MAX_FLOAT_BYTES = 2_000_000  # the float model is shipped only below this size
MIN_RECALL = 0.40
REPRESENTATIVE_IMAGES = 1000
TRAINING_DATA = ("FER2013 Training split (28,709 faces, Kaggle 2013 challenge), original labels mixed with "
                 "FER+ crowd-vote shares (MIT); checkpoint and class biases chosen on PublicTest")
LICENCE = ("weights trained on FER2013 (no open licence; research / non-commercial use) and FER+ labels (MIT); "
           "shipped for a non-commercial demo")


def balance_objective(labels: np.ndarray, logits: np.ndarray) -> float:
    """Accuracy + half the macro recall, minus a steep penalty for each class recall below MIN_RECALL."""
    m = split_metrics(labels, logits)
    shortfall = sum(max(0.0, MIN_RECALL + 0.02 - r) for r in m["per_class_recall"].values())
    return m["accuracy"] + 0.5 * m["macro_recall"] - 4.0 * shortfall


def balance_offsets(labels: np.ndarray, log_probs: np.ndarray, rounds: int = 3) -> np.ndarray:
    """``(7,)`` logit offsets by coordinate search on ``balance_objective`` (use PublicTest only)."""
    offsets = np.zeros(NUM_EMOTIONS, dtype=np.float32)
    grid = np.arange(-1.5, 1.51, 0.1, dtype=np.float32)
    for _ in range(rounds):
        for c in range(NUM_EMOTIONS):
            scores = []
            for value in grid:
                trial = offsets.copy()
                trial[c] = value
                scores.append(balance_objective(labels, log_probs + trial))
            offsets[c] = grid[int(np.argmax(scores))]
    return offsets - offsets.mean()


def add_output_bias(model, offsets: np.ndarray) -> None:
    """Add ``offsets`` to the logits, i.e. to the bias of the final softmax layer ``emotion``."""
    layer = model.get_layer("emotion")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias + offsets])


def with_mirror_average(model):
    """``model`` wrapped so that one call scores the face and its left-right mirror and averages them."""
    import keras
    import tensorflow as tf

    class MirrorPair(keras.layers.Layer):
        """``(b, h, w, c) -> (2b, h, w, c)``: the batch, then the same faces mirrored."""

        def call(self, faces):
            return tf.concat([faces, tf.reverse(faces, axis=[2])], axis=0)

    class MeanOfPair(keras.layers.Layer):
        """``(2b, k) -> (b, k)``: the mean of each face's two probability vectors."""

        def call(self, probs):
            return tf.reduce_mean(tf.reshape(probs, [2, -1, NUM_EMOTIONS]), axis=0)

    inputs = keras.Input(model.input_shape[1:], name="face")
    return keras.Model(inputs, MeanOfPair()(model(MirrorPair()(inputs))), name=f"{model.name}_mirrored")


def representative(images: np.ndarray, count: int, seed: int = 0):
    """A generator factory of ``[(1, 48, 48, 1) float32]`` Training faces for int8 calibration."""
    rng = np.random.default_rng(seed)
    chosen = images[rng.choice(len(images), size=min(count, len(images)), replace=False)]

    def generate():
        for image in chosen:
            yield [image[None].astype(np.float32)]

    return generate


def to_tflite(model, calibration_images: np.ndarray | None = None) -> bytes:
    """The model as ``.tflite`` bytes for one ``(1, 48, 48, 1)`` input: float, or full int8 with calibration images."""
    import tempfile

    import tensorflow as tf

    spec = tf.TensorSpec([1, FACE_INPUT_SIZE, FACE_INPUT_SIZE, 1], tf.float32, name="face")
    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if calibration_images is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative(calibration_images, REPRESENTATIVE_IMAGES)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        return converter.convert()


def compact_metrics(results: dict) -> dict:
    """The manifest's metrics: accuracy, macro and minimum recall per split, per-class recall on the test folder."""
    metrics = {name: {k: round(results[name][k], 4) for k in ("accuracy", "macro_recall", "min_recall")}
               for name in SPLITS}
    metrics["test"]["per_class_recall"] = {e: round(v, 4) for e, v in results["test"]["per_class_recall"].items()}
    return metrics


def register(name: str, path: Path, results: dict, agreement: float, kind: str) -> dict:
    """Write the manifest entry of one exported face model."""
    return update_entry(
        name, path, kind=kind, labels=list(EMOTIONS), input_shape=[1, FACE_INPUT_SIZE, FACE_INPUT_SIZE, 1],
        preprocessing={"size": FACE_INPUT_SIZE, "colour": "grey", "range": [0, 255],
                       "crop_scale": CROP_SCALE, "crop_shift_y": CROP_SHIFT_Y},
        training_data=TRAINING_DATA, licence=LICENCE, metrics=compact_metrics(results),
        float_int8_top1_agreement=round(agreement, 4))


def balance(model, arrays: dict, enabled: bool, mirror: bool = False) -> dict:
    """Shift the output biases on PublicTest (if ``enabled``); returns offsets and PublicTest before/after.

    With ``mirror`` the offsets are chosen on the flip-averaged probabilities that will be served.
    """
    public = split(arrays, "PublicTest")
    faces = public["x"].astype(np.float32)
    probs = model.predict(faces, verbose=0)
    if mirror:
        probs = 0.5 * (probs + model.predict(faces[:, :, ::-1], verbose=0))
    log_probs = np.log(np.clip(probs, 1e-7, 1.0))
    offsets = balance_offsets(public["y"], log_probs) if enabled else np.zeros(NUM_EMOTIONS, np.float32)
    add_output_bias(model, offsets)
    summary = lambda m: {k: round(m[k], 4) for k in ("accuracy", "macro_recall", "min_recall")}  # noqa: E731
    return {"offsets": dict(zip(EMOTIONS, map(float, np.round(offsets, 3)), strict=False)),
            "public_before": summary(split_metrics(public["y"], log_probs)),
            "public_after": summary(split_metrics(public["y"], log_probs + offsets))}


def run(args: argparse.Namespace) -> dict:
    """Balance, convert, evaluate and register; returns the export summary."""
    import keras

    arrays = load_arrays(data_dir(args.data_dir))
    model = keras.models.load_model(args.checkpoint)
    balanced = balance(model, arrays, not args.no_balance, args.mirror)
    if args.mirror:
        model = with_mirror_average(model)
    int8_path = Path(args.weights_dir) / f"{INT8_NAME}.tflite"
    float_path = Path(args.weights_dir) / f"{FLOAT_NAME}.tflite"
    float_bytes = to_tflite(model)
    int8_path.write_bytes(to_tflite(model, split(arrays, "Training")["x"]))
    float_path.write_bytes(float_bytes)
    test = split(arrays, *SPLITS["test"])
    agreement = float(np.mean(predict_images(int8_path, test["x"]).argmax(1)
                              == predict_images(float_path, test["x"]).argmax(1)))
    results = evaluate(int8_path, arrays)
    averaged = ", face and mirror image averaged in the graph" if args.mirror else ""
    served = Path(args.weights_dir).resolve() == WEIGHTS_DIR.resolve()  # a candidate elsewhere is not registered
    if served:
        register(INT8_NAME, int8_path, results, agreement, f"face emotion classifier (int8 CNN, FER2013{averaged})")
    if len(float_bytes) >= MAX_FLOAT_BYTES:
        float_path.unlink()
    elif served:
        register(FLOAT_NAME, float_path, evaluate(float_path, arrays), agreement,
                 f"face emotion classifier (float32 reference of face_emotion{averaged})")
    return {"checkpoint": str(args.checkpoint), "mirror_average": args.mirror,
            "balance": balanced, "int8_bytes": int8_path.stat().st_size,
            "float_bytes": len(float_bytes), "float_int8_top1_agreement_test": round(agreement, 4),
            "int8": compact_metrics(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ARTIFACTS / "face" / "best.keras"))
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--weights-dir", default=str(WEIGHTS_DIR), help="registered in the manifest only if weights/")
    parser.add_argument("--no-balance", action="store_true", help="keep the trained output biases")
    parser.add_argument("--mirror", action="store_true", help="average each face with its mirror image in the graph")
    parser.add_argument("--report-dir", default=str(REPORT_DIR))
    args = parser.parse_args()
    start = time.perf_counter()
    summary = run(args)
    summary["export_seconds"] = round(time.perf_counter() - start, 1)
    Path(args.report_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.report_dir) / "export.json").write_text(json.dumps(summary, indent=2) + "\n")
    trained = Path(args.checkpoint).parent / "train_summary.json"
    if trained.exists():
        shutil.copy(trained, Path(args.report_dir) / trained.name)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
