"""Keras model -> LiteRT flatbuffer: float32, or full-integer int8 calibrated on training inputs.

Both exports (face and voice) convert through :func:`to_tflite`, so the served int8 files are made
by one set of converter settings: int8 weights and activations, int8 input and output tensors
(``LiteClassifier`` quantizes and dequantizes with the scales stored in the file).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

import numpy as np


def to_tflite(model, input_shape: Sequence[int], calibration: np.ndarray | None = None,
              input_name: str | None = None) -> bytes:
    """``model`` as ``.tflite`` bytes for one input of ``input_shape`` (batch dimension included).

    ``calibration``: ``(n, *input_shape[1:])`` model inputs (float32, model units) from the training
    split; given, the file is full-integer int8, else float32. ``input_name`` names the input tensor.
    """
    import tensorflow as tf

    spec = tf.TensorSpec(list(input_shape), tf.float32, name=input_name)
    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if calibration is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([example[None].astype(np.float32)] for example in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        return converter.convert()
