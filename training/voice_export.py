"""Export the trained voice CNN to LiteRT: full-integer int8 (served) and float32 (the reference).

``python -m training.voice_export [--checkpoint artifacts/voice_ours.keras]``

The int8 model is calibrated on windows of TRAINING clips only, made by the runtime's own
``normalize_features`` / ``fit_to_window``. Both files are written to ``weights/`` and registered
in ``weights/manifest.json`` with their feature parameters, data, licence and the float-vs-int8
top-1 agreement on the validation speakers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emotion_core import audio
from emotion_core.classifier import LiteClassifier
from emotion_core.labels import EMOTIONS
from training.manifest import WEIGHTS_DIR, update_entry
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import clip_mel, load_cache
from training.voice_train import ARTIFACTS, clip_windows, limit_threads, split_indices

INPUT_SHAPE = [1, audio.WINDOW_FRAMES, audio.N_MELS, 1]
MAX_FLOAT_BYTES = 1_500_000  # the float reference ships only while it stays this small
TRAINING_DATA = (
    "RAVDESS speech (actors 1-16 train, 17-18 validation; calm -> neutral), "
    "CREMA-D audio (actors 1001-1065 train, 1066-1075 validation; no surprise), "
    "TESS (both speakers, train; pleasant surprise -> surprise). "
    "Held out for test: RAVDESS actors 19-24, CREMA-D actors 1076-1091. 16 kHz Ogg Opus copies."
)
LICENCE = (
    "Weights for non-commercial research/demo use only: trained on RAVDESS (CC BY-NC-SA 4.0), "
    "TESS (CC BY-NC-ND 4.0) and CREMA-D (ODbL 1.0 / DbCL 1.0)."
)


def feature_parameters() -> dict:
    """The runtime feature settings the model was trained with (all from ``emotion_core.audio``)."""
    return {
        "sample_rate": audio.SAMPLE_RATE, "n_fft": audio.N_FFT, "win_length": audio.WIN_LENGTH,
        "hop_length": audio.HOP_LENGTH, "n_mels": audio.N_MELS, "fmin": audio.FMIN, "fmax": audio.FMAX,
        "window_seconds": audio.WINDOW_SECONDS, "window_hop_seconds": audio.WINDOW_HOP_SECONDS,
        "log": "10*log10(mel power), floor -100 dB",
        "normalisation": "per window: zero mean per mel band, unit overall std (normalize_features); "
                         "shorter speech tiled to the window (fit_to_window)",
        "silence": "leading/trailing non-speech trimmed with the VAD (trim_silence) before windowing",
    }


def calibration_windows(cache: dict, count: int = 400, seed: int = 0) -> np.ndarray:
    """``(count, 301, 64, 1)`` float32 model inputs: the first window of random training clips."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(split_indices(cache, "train"), count, replace=False)
    return np.stack([clip_windows(clip_mel(cache, i))[0] for i in chosen])[..., None].astype(np.float32)


def convert(model, calibration: np.ndarray | None) -> bytes:
    """The Keras model as a ``.tflite`` flatbuffer: float32, or full-integer int8 when calibrated."""
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", input_signature=[tf.TensorSpec(INPUT_SHAPE, tf.float32)],
                     verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        return _convert(converter, calibration)


def _convert(converter, calibration: np.ndarray | None) -> bytes:
    import tensorflow as tf

    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([example[None]] for example in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def top1_agreement(first: LiteClassifier, second: LiteClassifier, examples: np.ndarray) -> float:
    """Fraction of ``examples`` on which the two runners pick the same class."""
    a = first.predict_batch(examples).argmax(axis=1)
    b = second.predict_batch(examples).argmax(axis=1)
    return float(np.mean(a == b))


def register(name: str, path: Path, extra: dict) -> dict:
    """Write (or replace) the manifest entry of one voice model file."""
    return update_entry(name, path, kind="voice emotion classifier (log-mel CNN)", labels=list(EMOTIONS),
                        input_shape=INPUT_SHAPE, features=feature_parameters(), training_data=TRAINING_DATA,
                        licence=LICENCE, **extra)


def validation_examples(cache: dict) -> np.ndarray:
    """Every runtime window of every validation clip, ``(n, 301, 64)``."""
    return np.concatenate([clip_windows(clip_mel(cache, i)) for i in split_indices(cache, "val")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ARTIFACTS / "voice_ours.keras")
    parser.add_argument("--features", type=Path, default=FEATURES)
    parser.add_argument("--name", default="voice_emotion", help="<out-dir>/<name>.tflite and manifest key")
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR, help="registered in the manifest only if weights/")
    args = parser.parse_args()
    limit_threads(1)
    import keras

    started, cache = time.time(), load_cache(args.features)
    model = keras.models.load_model(args.checkpoint)
    int8_path, float_path = args.out_dir / f"{args.name}.tflite", args.out_dir / f"{args.name}_float.tflite"
    int8_path.write_bytes(convert(model, calibration_windows(cache)))
    float_bytes = convert(model, None)
    (ARTIFACTS / f"{args.name}_float.tflite").write_bytes(float_bytes)
    examples = validation_examples(cache)
    float_runner = LiteClassifier(ARTIFACTS / f"{args.name}_float.tflite")
    agreement = top1_agreement(float_runner, LiteClassifier(int8_path), examples)
    summary = args.checkpoint.with_suffix(".json")
    history = json.loads(summary.read_text()) if summary.exists() else {}
    metrics = {"validation_uar": {k: v for k, v in history.get("best", {}).items() if k != "epoch"}}
    common = {"training_run": args.checkpoint.stem, "metrics": metrics, "float_int8_top1_agreement": agreement,
              "agreement_examples": f"{len(examples)} windows of the validation speakers' clips"}
    if args.out_dir.resolve() == WEIGHTS_DIR.resolve():
        register(args.name, int8_path, {"quantization": "full integer int8 (input and output int8)", **common})
        if len(float_bytes) <= MAX_FLOAT_BYTES:
            float_path.write_bytes(float_bytes)
            register(f"{args.name}_float", float_path, {"quantization": "none (float32 reference for tests)", **common})
    print(f"{int8_path.name}: {int8_path.stat().st_size} bytes; float {len(float_bytes)} bytes; "
          f"top-1 agreement {agreement:.4f} on {len(examples)} validation windows ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
