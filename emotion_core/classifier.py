"""Run a quantized ``.tflite`` classifier through the LiteRT interpreter.

One runner per model file, loaded once. The interpreter keeps its tensors between calls, so a
lock makes each call atomic; calls take well under a millisecond, so users rarely wait on it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

# One interpreter thread: a call takes well under a millisecond, and the callers (app users, batch
# workers) already run side by side; num_threads=n starts n - 1 more threads per interpreter.
DEFAULT_THREADS = 1


def check_threads(threads: int, name: str) -> int:
    """``threads`` if it is a whole number >= 1 (a thread count for an interpreter or a decoder); a
    ``ValueError`` naming ``name`` otherwise (LiteRT and FFmpeg would both read 0 as "pick for me")."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {threads!r}")
    return threads


class LiteClassifier:
    """A softmax classifier in a ``.tflite`` file, with int8 or float input and output."""

    def __init__(self, model_path: str | Path, num_threads: int = DEFAULT_THREADS):
        from ai_edge_litert.interpreter import Interpreter

        check_threads(num_threads, "num_threads")
        self.path = Path(model_path)
        self.num_threads = num_threads  # the interpreter's threads, the caller's included
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._lock = threading.Lock()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the batch dimension."""
        return tuple(int(d) for d in self._input["shape"][1:])

    def predict(self, example: np.ndarray) -> np.ndarray:
        """Probabilities (float32, 1-D) for one example shaped ``input_shape`` (float32, model units)."""
        example = np.asarray(example, dtype=np.float32).reshape((1, *self.input_shape))
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], _quantize(example, self._input))
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"])[0]
        return _dequantize(raw, self._output)

    def predict_batch(self, examples: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, classes)`` for ``(n, *input_shape)`` examples; ``n`` may be 0."""
        if len(examples) == 0:
            return np.zeros((0, int(self._output["shape"][-1])), dtype=np.float32)
        return np.stack([self.predict(example) for example in examples])


def _quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
