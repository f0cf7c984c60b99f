"""Keras weights from an exported float ``.tflite``: continue training where no checkpoint is left.

Checkpoints (``artifacts/``) are never committed, but the float reference models in ``weights/`` are.
The converter folds each batch norm into the convolution before it, so a (conv, batch norm) pair comes
back as the folded kernel ``W'`` and bias ``b'``. The batch norm is then set so that it computes
``W'x + b'`` exactly at inference *and* stays close to it in training mode, where it normalises with
the batch's own statistics: its moving mean and variance are the measured statistics ``(m, v)`` of
``W'x`` on training inputs, ``gamma = sqrt(v + eps)`` and ``beta = m + b'``.

    from training.warm_start import restore_from_tflite
    restore_from_tflite(model, "weights/voice_emotion_float.tflite", sample_inputs)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tflite_layer_weights(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(op, kernel, bias)`` of every CONV_2D and FULLY_CONNECTED op, in execution order, in Keras layout."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    found = []
    for op in interpreter._get_ops_details():  # the public API exposes no op list
        if op["op_name"] not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        kernel = interpreter.get_tensor(int(op["inputs"][1]))
        # The converter drops an all-zero bias (index -1), e.g. after folding an untouched batch norm.
        has_bias = len(op["inputs"]) > 2 and int(op["inputs"][2]) >= 0
        bias = interpreter.get_tensor(int(op["inputs"][2])) if has_bias else np.zeros(kernel.shape[0], np.float32)
        # TFLite: conv (out, h, w, in), dense (out, in); Keras: conv (h, w, in, out), dense (in, out).
        kernel = kernel.transpose(1, 2, 3, 0) if op["op_name"] == "CONV_2D" else kernel.T
        found.append((op["op_name"], kernel, bias))
    return found


def weighted_layers(model) -> list:
    """The Conv2D and Dense layers of ``model`` in order, descending into nested models."""
    import keras

    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.extend(weighted_layers(layer))
        elif isinstance(layer, keras.layers.Conv2D | keras.layers.Dense):
            layers.append(layer)
    return layers


def following_batch_norm(model, conv):
    """The BatchNormalization layer that reads ``conv``'s output."""
    import keras

    for node in conv._outbound_nodes:
        if isinstance(node.operation, keras.layers.BatchNormalization):
            return node.operation
    raise ValueError(f"{conv.name} is not followed by a batch norm")


def conv_output_statistics(model, convs: list, inputs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-channel mean and variance of each conv's output over ``inputs`` (inference mode)."""
    import keras

    probe = keras.Model(model.inputs, [conv.output for conv in convs])
    outputs = probe.predict(inputs, batch_size=256, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return [(o.mean(axis=(0, 1, 2)), o.var(axis=(0, 1, 2))) for o in outputs]


def network_of(checkpoint: Path | str) -> tuple[Path, int | None]:
    """``FILE.tflite:N`` -> ``(FILE.tflite, N)``: network N of an exported file that holds several (e.g. 1 = the
    served face pair's mirror network); any other checkpoint -> ``(path, None)``."""
    stem, colon, index = str(checkpoint).rpartition(":")
    if colon and stem.endswith(".tflite") and index.isdigit():
        return Path(stem), int(index)
    return Path(checkpoint), None


def member_weights(found: list, count: int, member: int | None) -> list:
    """The ``member``-th run of ``count`` conv/dense ops in a graph of several networks (all when ``None``).

    An exported ensemble runs its networks one after the other, so each one's ops are contiguous.
    """
    if member is None:
        return found
    if count == 0 or len(found) % count or not 0 <= member < len(found) // count:
        raise ValueError(f"no network {member} of {count} conv/dense ops among {len(found)} ops")
    return found[member * count : (member + 1) * count]


def restore_from_tflite(model, path: Path, sample_inputs: np.ndarray, member: int | None = None) -> None:
    """Load an exported float ``.tflite``'s weights into ``model`` (same architecture, conv + BN pairs).

    ``sample_inputs`` (a few hundred training inputs) set the batch-norm statistics; the restored
    model's inference outputs equal the ``.tflite`` model's up to float rounding. ``member`` picks one
    network of a file that holds several (e.g. 1 = the mirror-image network of the served face model).
    """
    layers = weighted_layers(model)
    restore_folded(model, member_weights(tflite_layer_weights(path), len(layers), member), sample_inputs, str(path))


def restore_folded(model, found: list[tuple[str, np.ndarray, np.ndarray]], sample_inputs: np.ndarray,
                   source: str = "the weights") -> None:
    """Set ``model``'s conv/dense layers to folded ``(op, kernel, bias)`` weights (:func:`tflite_layer_weights`'s
    form), each batch norm set as :func:`restore_from_tflite` explains."""
    layers = weighted_layers(model)
    if len(layers) != len(found):
        raise ValueError(f"{source} has {len(found)} conv/dense ops, the model {len(layers)} conv/dense layers")
    convs = []
    for layer, (_, kernel, bias) in zip(layers, found, strict=True):
        if layer.kernel.shape != kernel.shape:
            raise ValueError(f"{layer.name}: kernel {tuple(layer.kernel.shape)} vs {kernel.shape} in {source}")
        if layer.use_bias:
            layer.set_weights([kernel, bias])
            continue
        layer.set_weights([kernel])
        norm = following_batch_norm(model, layer)
        norm.set_weights([np.ones_like(bias), bias, np.zeros_like(bias), np.full_like(bias, 1.0 - norm.epsilon)])
        convs.append((layer, norm, bias))
    statistics = conv_output_statistics(model, [conv for conv, _, _ in convs], sample_inputs)
    for (_, norm, bias), (mean, var) in zip(convs, statistics, strict=True):
        norm.set_weights([np.sqrt(var + norm.epsilon), mean + bias, mean, var])


def warm_start(model, path: Path, sample_inputs: np.ndarray, member: int | None = None) -> None:
    """Initialise ``model`` from a ``.keras`` checkpoint or an exported float ``.tflite`` of the same architecture.

    ``member`` picks one network of a ``.tflite`` that holds several (see :func:`restore_from_tflite`).
    """
    if Path(path).suffix == ".tflite":
        restore_from_tflite(model, Path(path), sample_inputs, member)
        return
    import keras

    model.set_weights(keras.models.load_model(path).get_weights())
