"""The bundled models: manifest, checksums, int8 against float originals on held-out people."""

from pathlib import Path

import numpy as np
import pytest

from emotion_core import EMOTIONS, audio, face, windows
from emotion_core.analysis import load_classifier
from emotion_core.classifier import LiteClassifier
from emotion_core.weights import WEIGHTS_DIR, file_sha256, load_manifest, resolve_weight

MIN_AGREEMENT = 0.90  # int8 top-1 must agree with the float model on at least this share


def test_every_manifest_file_matches_its_checksum_and_size():
    for name, entry in load_manifest()["models"].items():
        path = WEIGHTS_DIR / entry["file"]
        assert file_sha256(path) == entry["sha256"], name
        assert path.stat().st_size == entry["size_bytes"], name
        assert entry.get("licence"), f"{name} has no licence"


@pytest.mark.parametrize("name, max_bytes", [("face_emotion", 1_000_000), ("voice_emotion", 500_000)])
def test_classifiers_are_small_int8_with_our_labels(name, max_bytes):
    entry = load_manifest()["models"][name]
    assert tuple(entry["labels"]) == EMOTIONS
    assert entry["size_bytes"] <= max_bytes  # the size budgets of issues 4 (face) and 3 (voice)
    runner = load_classifier(name)
    assert list(runner.input_shape) == entry["input_shape"][1:]
    assert runner._input["dtype"] in (np.int8, np.uint8)


def held_out_faces(data_dir: Path, count: int) -> np.ndarray:
    """The first ``count`` PublicTest faces (people never trained on), as model inputs."""
    from emotion_core.images import load_image

    paths = sorted((data_dir / "faces/fer2013/test").glob("*/PublicTest_*.jpg"))[:: 7][:count]
    from emotion_core.analysis import face_blur_sigma

    return np.stack([face.face_model_input(load_image(p), face_blur_sigma()) for p in paths])


def held_out_speech(data_dir: Path, count: int) -> np.ndarray:
    """Model inputs for RAVDESS clips of validation actors 17-18 (never trained on)."""
    paths = sorted((data_dir / "audio/ravdess").glob("Actor_1[78]/*.ogg"))[:: 2][:count]
    return np.stack([windows.window_input(audio.load_audio(p)[0][: audio.WINDOW_SAMPLES]) for p in paths])


@pytest.mark.parametrize("name, loader", [("face_emotion", held_out_faces), ("voice_emotion", held_out_speech)])
def test_int8_agrees_with_float(name, loader, data_dir):
    examples = loader(data_dir, 60)
    int8 = load_classifier(name).predict_batch(examples).argmax(axis=1)
    float_model = LiteClassifier(resolve_weight(f"{name}_float"))
    reference = float_model.predict_batch(examples).argmax(axis=1)
    agreement = float(np.mean(int8 == reference))
    assert agreement >= MIN_AGREEMENT, f"{name}: int8 agrees with float on {agreement:.0%}"
    assert len(set(reference.tolist())) >= 3  # the float model is not stuck on one class


def test_num_threads_reaches_the_interpreter():
    """LiteRT runs ``num_threads`` threads, the caller's included: n - 1 more threads in this process."""
    def threads() -> int:
        return len(list(Path("/proc/self/task").iterdir()))

    for count in (1, 3):
        before = threads()
        runner = LiteClassifier(resolve_weight("face_emotion"), num_threads=count)
        runner.predict(np.zeros(runner.input_shape, dtype=np.float32))
        assert (threads() - before, runner.num_threads) == (count - 1, count)
        del runner
    with pytest.raises(ValueError, match="num_threads must be a whole number >= 1"):
        LiteClassifier(resolve_weight("face_emotion"), num_threads=0)
