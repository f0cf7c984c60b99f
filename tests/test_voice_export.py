"""Voice export and evaluation: calibration data, and candidates scored through the served calls on a reader."""

import numpy as np
import pytest

from emotion_core import EmotionReader
from emotion_core.audio import N_MELS, SAMPLE_RATE, load_audio
from emotion_core.labels import EMOTIONS
from emotion_core.weights import WEIGHTS_DIR, load_manifest
from harness import FIXTURES
from training.voice_export import calibration_windows


def tiny_cache(seconds: float = 1.2) -> dict[str, np.ndarray]:
    """Six training clips (two per corpus) and one validation clip; CREMA-D's are digital silence."""
    corpora = np.array(["ravdess", "ravdess", "crema-d", "crema-d", "tess", "tess", "ravdess"])
    splits = np.array(["train"] * 6 + ["val"])
    rng, size = np.random.default_rng(0), int(seconds * SAMPLE_RATE)
    clips = [np.zeros(size, np.float32) if corpus == "crema-d" else rng.normal(0, 0.1, size).astype(np.float32)
             for corpus in corpora]
    return {"corpus": corpora, "split": splits, "samples": np.concatenate(clips),
            "sample_offsets": np.arange(len(clips) + 1) * size}


def test_calibration_draws_every_training_clip_when_nothing_is_excluded():
    windows = calibration_windows(tiny_cache(), count=6)
    assert windows.shape == (6, 301, N_MELS, 1)
    assert (windows.reshape(6, -1) == 0).all(axis=1).sum() == 2  # the two CREMA-D clips: silence


def test_calibration_without_crema_d_holds_none_of_its_clips():
    windows = calibration_windows(tiny_cache(), count=4, exclude_corpus="crema-d")
    assert windows.shape == (4, 301, N_MELS, 1) and (windows.reshape(4, -1) != 0).any(axis=1).all()



def test_evaluation_scores_clips_by_the_served_call_on_a_reader_of_the_model():
    from training.voice_evaluate import predict_files

    reader = EmotionReader.with_models(voice_model=WEIGHTS_DIR / "voice_emotion_float.tflite")
    paths = [str(FIXTURES / "speech.wav"), str(FIXTURES / "silence.wav")]
    served = predict_files(reader, paths)
    expected = reader.analyze_speech(*load_audio(paths[0])).scores
    np.testing.assert_array_equal(served[0], [expected[name] for name in EMOTIONS])
    assert np.isnan(served[1]).all()  # no speech: the app gives no answer
    forced = predict_files(reader, paths, check_speech=False)[1]
    assert forced.tolist() == [reader.classify_speech(*load_audio(paths[1]))[name] for name in EMOTIONS]


def test_export_scores_validation_clips_through_readers_of_the_exported_files():
    from training.voice_export import validation_paths, validation_uar, window_agreement

    int8, float32 = (EmotionReader.with_models(voice_model=WEIGHTS_DIR / name)
                     for name in ("voice_emotion.tflite", "voice_emotion_float.tflite"))
    speech = str(FIXTURES / "speech.wav")
    result = int8.analyze_speech(*load_audio(speech))
    label = EMOTIONS.index(result.label)
    cache = {"path": np.array([speech, speech]), "split": np.array(["val", "train"]),
             "corpus": np.array(["ravdess", "ravdess"]), "label": np.array([label, (label + 1) % len(EMOTIONS)])}
    assert validation_paths(cache) == [speech]  # validation clips only
    assert validation_uar(int8, cache)["ravdess"] == 1.0  # scored by the served call: its own top label
    agreement, windows = window_agreement(int8, float32, [speech])
    assert windows == result.windows and 0.0 <= agreement <= 1.0
    assert window_agreement(int8, int8, [speech]) == (1.0, windows)


def test_an_exported_ensemble_file_comes_back_as_all_of_its_networks():
    """The served float file (several CNNs in one graph) as a checkpoint: every network restored, same outputs."""
    pytest.importorskip("keras")
    import tensorflow as tf

    from training.voice_export import load_model, network_count

    path = WEIGHTS_DIR / "voice_emotion_float.tflite"
    inputs = np.random.default_rng(0).normal(size=(16, 301, N_MELS, 1)).astype(np.float32)
    model = load_model([path], inputs)
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    expected = []
    for window in inputs[:4]:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], window[None])
        interpreter.invoke()
        expected.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
    entry = load_manifest()["models"]["voice_emotion_float"]
    assert model.count_params() == entry["parameters"]  # all of the file's networks, not the first
    assert f"average of {network_count(model)} " in entry["kind"]
    np.testing.assert_allclose(model(inputs[:4], training=False).numpy(), expected, atol=2e-4)
    with pytest.raises(ValueError, match="not a whole number of our CNNs"):  # another network's file
        load_model([WEIGHTS_DIR / "face_emotion_float.tflite"], inputs)


def test_networks_picked_from_an_ensemble_file_average_back_to_the_file():
    """``FILE.tflite:N`` is network N alone; every network picked one by one averages to the whole file."""
    pytest.importorskip("keras")
    from training.voice_export import load_model, network_count

    path = WEIGHTS_DIR / "voice_emotion_float.tflite"
    inputs = np.random.default_rng(1).normal(size=(16, 301, N_MELS, 1)).astype(np.float32)
    whole = load_model([path], inputs)
    count = network_count(whole)
    first = load_model([f"{path}:0"], inputs)
    assert network_count(first) == 1 and first.count_params() * count == whole.count_params()
    picked = load_model([f"{path}:{n}" for n in range(count)], inputs)
    np.testing.assert_allclose(picked(inputs[:4], training=False).numpy(), whole(inputs[:4], training=False).numpy(),
                               atol=1e-5)
    assert not np.allclose(first(inputs[:4], training=False).numpy(), whole(inputs[:4], training=False).numpy(),
                           atol=1e-3)
