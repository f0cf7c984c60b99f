"""Experiment (issue 17): a pretrained speaker encoder, pooled per clip, under leave one corpus out.

Issue 17 allows pretrained speech models that a PyPI wheel ships inside itself. ``Resemblyzer==0.1.4``
(Apache-2.0) carries the weights of a GE2E speaker encoder (``pretrained.pt``: three LSTM layers of 256
over 40 mel bands, a linear layer to 256, ReLU, unit length), trained to tell thousands of speakers
apart from interview and read speech. The speech embedding tried before (``training.voice_speech_embedding``)
was trained to spot words, i.e. to ignore the voice; this one is trained on the voice itself, on speech
recorded in the wild. Does it carry what emotion sounds like to voices and languages it never heard?

``python -m training.voice_speaker_encoder fetch``: downloads the wheel from PyPI (pinned, checksum
checked) and unpacks its weights into ``artifacts/speaker_encoder/``. PyTorch is not needed: the
checkpoint (PyTorch's legacy pickle format) is read into numpy arrays here and the network runs in numpy.

``python -m training.voice_speaker_encoder extract``: for every clip of ``training.voice_data``'s cache,
its speech span (``emotion_core.speech.trim_silence``, as for the speech embedding), raised to the
package's -30 dBFS (never lowered, as the package does), cut into the package's partial utterances (1.6 s
every 1/1.3 s, the last kept when three quarters full), each partial's embedding, pooled as their mean
and standard deviation (512 numbers) into ``artifacts/voice_speaker_encoder.npz``.

``python -m training.voice_speaker_encoder evaluate``: the speech embedding's protocol and code unchanged
(``training.voice_speech_embedding.evaluate``). Figures to ``reports/voice/speaker_encoder.json``.
Nothing here is served.
"""

from __future__ import annotations

import argparse
import collections
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from emotion_core.audio import SAMPLE_RATE
from emotion_core.speech import trim_silence
from training.voice_data import PROJECT_ROOT
from training.voice_functionals import cached_samples, extract
from training.voice_speech_embedding import evaluate, files_from_wheel, pooled

WHEEL = "Resemblyzer==0.1.4"
WHEEL_SHA256 = "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f"
WEIGHTS = PROJECT_ROOT / "artifacts" / "speaker_encoder" / "pretrained.pt"
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
FEATURES = PROJECT_ROOT / "artifacts" / "voice_speaker_encoder.npz"
RESULTS = PROJECT_ROOT / "reports" / "voice" / "speaker_encoder.json"
HOP = SAMPLE_RATE // 100  # the package's 10 ms frame step
PARTIAL_FRAMES = 160  # one partial utterance: 1.6 s
PARTIAL_STEP = round(SAMPLE_RATE / 1.3 / HOP)  # the package's default 1.3 partials a second
LAST_PARTIAL_COVERAGE = 0.75  # the last partial counts when this share of it is audio
TARGET_DBFS = -30.0  # the package raises quieter speech to this level
LAYERS = 3
STORAGE_TYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64,
                 "IntStorage": np.int32, "HalfStorage": np.float16}


def fetch() -> None:
    """The wheel's ``pretrained.pt``, checked, into :data:`WEIGHTS`."""
    files_from_wheel(WHEEL, WHEEL_SHA256, {"resemblyzer/pretrained.pt": (WEIGHTS, WEIGHTS_SHA256)})
    print(WEIGHTS)


# --- PyTorch's legacy checkpoint format, without PyTorch ------------------------------------------

@dataclass
class _Storage:
    dtype: type
    count: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorView:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    def array(self) -> np.ndarray:
        item = np.dtype(self.storage.dtype).itemsize
        return np.lib.stride_tricks.as_strided(self.storage.data[self.offset:], self.shape,
                                               [s * item for s in self.strides]).copy()


def _tensor_view(storage: _Storage, offset: int, shape, strides, *_) -> _TensorView:
    """Stands in for ``torch._utils._rebuild_tensor_v2`` (the grad flag and hooks are not needed)."""
    return _TensorView(storage, offset, tuple(shape), tuple(strides))


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles the checkpoint's object, tensors as views of storages whose bytes follow the pickles."""

    def __init__(self, file):
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _tensor_view
        if module == "torch" and name in STORAGE_TYPES:
            return STORAGE_TYPES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        _, dtype, key, _location, count, _view = pid
        return self.storages.setdefault(key, _Storage(dtype, count))


def legacy_state_dict(path: Path, entry: str = "model_state") -> dict[str, np.ndarray]:
    """``checkpoint[entry]`` of a checkpoint saved by ``torch.save`` in its legacy (pre-zip) format: a magic
    number, a protocol version and system information (three pickles), the object, the list of storage
    keys, then each storage as an int64 element count and its raw little-endian bytes."""
    with open(path, "rb") as file:
        for _ in range(3):
            pickle.load(file)
        unpickler = _CheckpointUnpickler(file)
        checkpoint = unpickler.load()
        for key in pickle.load(file):
            storage = unpickler.storages[key]
            count = int(np.frombuffer(file.read(8), "<i8")[0])
            storage.data = np.frombuffer(file.read(count * np.dtype(storage.dtype).itemsize), storage.dtype)
    return {name: value.array() for name, value in checkpoint[entry].items() if isinstance(value, _TensorView)}


# --- the encoder in numpy ---------------------------------------------------------------------

@lru_cache(maxsize=1)
def encoder_weights() -> dict[str, np.ndarray]:
    return {name: value.astype(np.float32) for name, value in legacy_state_dict(WEIGHTS).items()}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def lstm_layer(inputs: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One LSTM layer in PyTorch's gate order (input, forget, cell, output), ``(batch, time, in) ->
    (batch, time, hidden)``, from zero state."""
    batch, steps, _ = inputs.shape
    hidden = w_hh.shape[1]
    from_inputs = inputs @ w_ih.T + bias
    h = np.zeros((batch, hidden), np.float32)
    c = np.zeros((batch, hidden), np.float32)
    out = np.empty((batch, steps, hidden), np.float32)
    for step in range(steps):
        gates = from_inputs[:, step] + h @ w_hh.T
        i, f, g, o = np.split(gates, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out[:, step] = h
    return out


def encode(mels: np.ndarray) -> np.ndarray:
    """``(partials, 160, 40)`` mel power frames -> ``(partials, 256)`` unit-length speaker embeddings."""
    weights = encoder_weights()
    x = mels.astype(np.float32)
    for layer in range(LAYERS):
        x = lstm_layer(x, weights[f"lstm.weight_ih_l{layer}"], weights[f"lstm.weight_hh_l{layer}"],
                       weights[f"lstm.bias_ih_l{layer}"] + weights[f"lstm.bias_hh_l{layer}"])
    raw = np.maximum(x[:, -1] @ weights["linear.weight"].T + weights["linear.bias"], 0.0)
    return raw / (np.linalg.norm(raw, axis=1, keepdims=True) + 1e-12)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """The package's front end: ``(frames, 40)`` mel power (not log) of 25 ms windows every 10 ms."""
    import librosa

    return librosa.feature.melspectrogram(y=samples, sr=SAMPLE_RATE, n_fft=SAMPLE_RATE * 25 // 1000,
                                          hop_length=HOP, n_mels=40).astype(np.float32).T


def raised_to_target(samples: np.ndarray) -> np.ndarray:
    """Speech quieter than :data:`TARGET_DBFS` raised to it; louder speech left as it is."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms <= 0.0:
        return samples
    gain_db = TARGET_DBFS - 20 * np.log10(rms)
    return samples * np.float32(10 ** (gain_db / 20)) if gain_db > 0 else samples


def partial_starts(sample_count: int) -> list[int]:
    """First frames of the partial utterances covering ``sample_count`` samples, the package's way."""
    frames = int(np.ceil((sample_count + 1) / HOP))
    starts = list(range(0, max(1, frames - PARTIAL_FRAMES + PARTIAL_STEP + 1), PARTIAL_STEP))
    coverage = (sample_count - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    return starts[:-1] if coverage < LAST_PARTIAL_COVERAGE and len(starts) > 1 else starts


def clip_embeddings(samples: np.ndarray) -> np.ndarray:
    """16 kHz float speech -> ``(partials, 256)`` embeddings (short speech is padded with silence)."""
    starts = partial_starts(len(samples))
    needed = (starts[-1] + PARTIAL_FRAMES) * HOP
    padded = np.pad(samples, (0, max(0, needed - len(samples))))
    mel = mel_frames(padded)
    return encode(np.stack([mel[start:start + PARTIAL_FRAMES] for start in starts]))


def pooled_of(bounds: tuple[int, int]) -> np.ndarray:
    """Pooled embeddings ``(n, 512)`` of cached clips ``bounds[0]:bounds[1]`` (one worker's share)."""
    from threadpoolctl import threadpool_limits

    samples, offsets = cached_samples()
    with threadpool_limits(1):
        return np.stack([pooled(clip_embeddings(raised_to_target(trim_silence(samples[offsets[i]:offsets[i + 1]]))))
                         for i in range(*bounds)]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("fetch", "extract", "evaluate"))
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    described = f"speaker encoder ({WHEEL}), mean and std of its partial utterances' embeddings over the clip's speech"
    {"fetch": fetch, "extract": lambda: extract(args.processes, pooled_of, FEATURES),
     "evaluate": lambda: evaluate(FEATURES, RESULTS, described)}[args.step]()


if __name__ == "__main__":
    main()
