"""Both exports convert through training.quantize: int8 input and output, scores close to the Keras model.

Tiny untrained networks of the served architectures (skipped where TensorFlow is not installed).
"""

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from emotion_core.audio import N_MELS, WINDOW_FRAMES  # noqa: E402
from emotion_core.classifier import LiteClassifier  # noqa: E402
from training.face_export import to_tflite  # noqa: E402
from training.face_train import build_model  # noqa: E402
from training.voice_export import convert  # noqa: E402
from training.voice_train import build_ours  # noqa: E402

INT8_TOLERANCE = 0.03  # probability units: a few steps of the 1/256 output scale


def tensor_types(path: Path) -> tuple[type, type]:
    """The input and output element types stored in a ``.tflite`` file."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    return interpreter.get_input_details()[0]["dtype"], interpreter.get_output_details()[0]["dtype"]


def written(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def check_conversions(tmp_path: Path, int8_bytes: bytes, float_bytes: bytes, model, inputs: np.ndarray) -> None:
    expected = model.predict(inputs, verbose=0)
    int8_path, float_path = written(tmp_path, "int8.tflite", int8_bytes), written(tmp_path, "float.tflite", float_bytes)
    assert tensor_types(int8_path) == (np.int8, np.int8)
    assert tensor_types(float_path) == (np.float32, np.float32)
    np.testing.assert_allclose(LiteClassifier(float_path).predict_batch(inputs), expected, atol=1e-4)
    np.testing.assert_allclose(LiteClassifier(int8_path).predict_batch(inputs), expected, atol=INT8_TOLERANCE)


def test_face_export_converts_through_the_shared_int8_function(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(width=2, name="tiny_face")
    faces = np.random.default_rng(0).uniform(0, 255, (24, 48, 48, 1)).astype(np.float32)
    check_conversions(tmp_path, to_tflite(model, faces), to_tflite(model), model, faces[:6])


def test_voice_export_converts_through_the_shared_int8_function(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_ours(name="tiny_voice")
    windows = np.random.default_rng(0).normal(0, 1, (8, WINDOW_FRAMES, N_MELS, 1)).astype(np.float32)
    check_conversions(tmp_path, convert(model, windows), convert(model, None), model, windows[:3])
