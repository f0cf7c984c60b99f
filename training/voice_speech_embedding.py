"""Experiment (issue 17): a pretrained speech embedding, pooled per clip, under leave one corpus out.

Issue 17 allows pretrained speech models that a PyPI wheel ships inside itself. ``openwakeword==0.5.1``
carries two LiteRT files: a log-mel front end and Google's ``speech_embedding`` network (a stack of
convolutions pretrained on a large amount of speech for keyword spotting; the original TF Hub module is
Apache-2.0, the wheel's README puts the models it ships under CC BY-NC-SA 4.0, which the voice model's
RAVDESS data already imposes). It turns every 0.76 s of 16 kHz speech into 96 numbers, one every 80 ms.
The question: does a network that heard far more voices, rooms and microphones than our corpora read
emotion in voices it never heard (EMOVO, and URDU's natural speech) better than our CNN?

``python -m training.voice_speech_embedding fetch``: downloads the wheel from PyPI (pinned, checksum
checked) and unpacks the two files into ``artifacts/speech_embedding/``.

``python -m training.voice_speech_embedding extract``: for every clip of ``training.voice_data``'s cache,
its speech span (``emotion_core.speech.trim_silence``, as the served model's clips are cut), the
embeddings of its 0.76 s windows every 80 ms, pooled as their mean and standard deviation (192 numbers)
into ``artifacts/voice_speech_embedding.npz``.

``python -m training.voice_speech_embedding evaluate``: the eGeMAPS experiment's protocol, unchanged
(``training.voice_functionals.leave_one_out`` and ``fusion_with_cnn``): for each corpus left out, a
class-balanced logistic regression on the pooled embeddings of the other acted corpora's training
speakers (+ TESS), standardised over the training clips or per speaker, its regularisation chosen by
half the validation UAR plus half the left-out corpus's dev UAR; then beside the served CNN with EMOVO
left out, the weight chosen by the same rule. Test speakers and URDU are read only for the chosen rows.
Figures to ``reports/voice/speech_embedding.json``. Nothing here is served.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from emotion_core.speech import trim_silence
from emotion_core.weights import model_entry, verify
from training.voice_crosscorpus import HELD_OUT_CORPORA
from training.voice_data import PROJECT_ROOT
from training.voice_functionals import cached_samples, extract, fusion_with_cnn, leave_one_out, served_cnn_scores

WHEEL = "openwakeword==0.5.1"
WHEEL_SHA256 = "015467e49f08b0ef8efa433690ce70566abb72f7c36501a6fa893762b4ddc559"
MODEL_DIR = PROJECT_ROOT / "artifacts" / "speech_embedding"
MODELS = {"melspectrogram.tflite": "96fa0adccb6e8cf95cb14465409a1a2898ee4a96a85bb9ed3c7eb0e68bf163e8",
          "embedding_model.tflite": "c0aea21eb84a4ce90a08c870da41b7a7173b45269e6a3207c71d67c40f3a59d8"}
FEATURES = PROJECT_ROOT / "artifacts" / "voice_speech_embedding.npz"
CNN_SCORES = PROJECT_ROOT / "artifacts" / "voice_served_cnn_scores.npz"
RESULTS = PROJECT_ROOT / "reports" / "voice" / "speech_embedding.json"
WINDOW_FRAMES, STEP_FRAMES = 76, 8  # the embedding's input: 76 frames of 10 ms, every 8 frames
HOP_SAMPLES = 160  # the front end's 10 ms frame step at 16 kHz
PCM_SCALE = 32767.0  # the front end expects 16-bit PCM values as floats


def files_from_wheel(wheel_spec: str, wheel_sha256: str, members: dict[str, tuple[Path, str]]) -> None:
    """Downloads the pinned wheel ``wheel_spec`` from PyPI (checked against ``wheel_sha256``) and writes each
    archive member to its path, checked against its sha256 (``members``: member -> (path, sha256))."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", wheel_spec, "-d", folder],
                       check=True)
        wheel = verify(next(Path(folder).glob("*.whl")), wheel_sha256)
        with zipfile.ZipFile(wheel) as archive:
            for member, (path, _) in members.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.read(member))
    for path, digest in members.values():
        verify(path, digest)


def fetch() -> None:
    """The two model files of the pinned wheel, checked, into :data:`MODEL_DIR`."""
    files_from_wheel(WHEEL, WHEEL_SHA256, {f"openwakeword/resources/models/{name}": (MODEL_DIR / name, digest)
                                           for name, digest in MODELS.items()})
    print(f"{MODEL_DIR}: {', '.join(MODELS)}")


@lru_cache(maxsize=1)
def interpreters():
    from ai_edge_litert.interpreter import Interpreter

    return tuple(Interpreter(str(MODEL_DIR / name), num_threads=1) for name in MODELS)


def run_model(interpreter, inputs: np.ndarray) -> np.ndarray:
    """One invoke at ``inputs``' shape (each model is resized to what it is given)."""
    detail = interpreter.get_input_details()[0]
    if tuple(detail["shape"]) != inputs.shape:
        interpreter.resize_tensor_input(detail["index"], list(inputs.shape), strict=True)
        interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], inputs)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def front_end_bands(samples: np.ndarray) -> np.ndarray:
    """16 kHz float audio -> the embedding's ``(frames, 32)`` log-mel, at least one window long.

    The ``/ 10 + 2`` is openwakeword's own step that brings its front end to Google's scale; audio shorter
    than one window is repeated until it fills one.
    """
    minimum = (WINDOW_FRAMES + 3) * HOP_SAMPLES
    if samples.size < minimum:
        samples = np.tile(samples, int(np.ceil(minimum / max(samples.size, 1))))
    pcm = np.clip(samples * PCM_SCALE, -PCM_SCALE, PCM_SCALE).astype(np.float32)[None]
    return np.squeeze(run_model(interpreters()[0], pcm)) / 10 + 2


def clip_embeddings(samples: np.ndarray) -> np.ndarray:
    """16 kHz float audio -> ``(windows, 96)`` speech embeddings, one per 80 ms."""
    bands = front_end_bands(samples)
    starts = range(0, bands.shape[0] - WINDOW_FRAMES + 1, STEP_FRAMES)
    windows = np.stack([bands[start:start + WINDOW_FRAMES] for start in starts])[..., None].astype(np.float32)
    return run_model(interpreters()[1], windows).reshape(len(windows), -1)


def pooled(embeddings: np.ndarray) -> np.ndarray:
    """A clip's embeddings -> their mean and standard deviation, ``(192,)``."""
    return np.concatenate([embeddings.mean(0), embeddings.std(0)])


def pooled_of(bounds: tuple[int, int]) -> np.ndarray:
    """Pooled embeddings ``(n, 192)`` of cached clips ``bounds[0]:bounds[1]`` (one worker's share)."""
    samples, offsets = cached_samples()
    return np.stack([pooled(clip_embeddings(trim_silence(samples[offsets[i]:offsets[i + 1]])))
                     for i in range(*bounds)]).astype(np.float32)


def served_scores(table: dict) -> np.ndarray:
    """The served CNN's scores (``voice_functionals.served_cnn_scores``), kept in artifacts between runs for
    as long as the served voice file is the one that gave them."""
    served = model_entry("voice_emotion")["sha256"]
    if CNN_SCORES.exists():
        kept = np.load(CNN_SCORES)
        if str(kept["model_sha256"]) == served:
            return kept["scores"]
    scores = served_cnn_scores(table)
    np.savez(CNN_SCORES, scores=scores, model_sha256=served)
    return scores


def evaluate(features: Path = FEATURES, results: Path = RESULTS,
             described: str = f"speech_embedding ({WHEEL}), mean and std over the clip's speech") -> None:
    """The protocol (module docstring) on the pooled clip features saved at ``features``, to ``results``."""
    table = dict(np.load(features))
    started = time.time()
    runs = {held_out: leave_one_out(table, held_out) for held_out in HELD_OUT_CORPORA}
    fusion = fusion_with_cnn(table, runs["emovo"], served_scores(table))
    for run in runs.values():
        for norm in run.values():
            norm.pop("log_probs")
    results.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                   "features": described,
                                   "leave_one_out": runs, "fusion_emovo_left_out": fusion}, indent=1) + "\n")
    print(f"{results} ({time.time() - started:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("fetch", "extract", "evaluate"))
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    {"fetch": fetch, "extract": lambda: extract(args.processes, pooled_of, FEATURES),
     "evaluate": evaluate}[args.step]()


if __name__ == "__main__":
    main()
