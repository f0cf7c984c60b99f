"""EmotionReader: the models as an object, built from a manifest or from candidate files.

The module-level calls must be exactly the default reader's; a reader on other files must really
use them; a manifest that does not fit the runtime must fail when the reader is built.
"""

import copy
import threading

import numpy as np
import pytest

import emotion_core
from emotion_core import EMOTIONS, EmotionReader, default_reader
from emotion_core.analysis import FACE_MODEL, VOICE_MODEL, load_classifier
from emotion_core.reader import FusionSettings
from emotion_core.weights import MANIFEST_NAME, WEIGHTS_DIR, ChecksumError, load_manifest

FACE_FLOAT = WEIGHTS_DIR / "face_emotion_float.tflite"
VOICE_FLOAT = WEIGHTS_DIR / "voice_emotion_float.tflite"


def vector(scores: dict[str, float]) -> np.ndarray:
    return np.array([scores[name] for name in EMOTIONS])


@pytest.fixture(scope="module")
def bundled() -> EmotionReader:
    """A reader of its own (not the cached default) on the bundled manifest file."""
    return EmotionReader.from_manifest(WEIGHTS_DIR / MANIFEST_NAME)


@pytest.fixture(scope="module")
def float_reader() -> EmotionReader:
    return EmotionReader.from_manifest(face_name="face_emotion_float", voice_name="voice_emotion_float")


@pytest.fixture(scope="module")
def crop(face_photo) -> np.ndarray:
    return face_photo[30:110, 100:180]


def test_a_reader_on_the_bundled_manifest_gives_exactly_the_module_results(bundled, face_photo, crop, speech):
    assert bundled is not default_reader() and bundled.face_model is not default_reader().face_model
    faces = bundled.analyze_frame(face_photo)
    assert faces and faces == emotion_core.analyze_frame(face_photo)
    assert bundled.classify_face(crop) == emotion_core.classify_face(crop)
    assert bundled.classify_speech(*speech) == emotion_core.classify_speech(*speech)
    assert bundled.voice_activity(*speech) == emotion_core.voice_activity(*speech)
    result = bundled.analyze_speech(*speech)
    assert result.scores and result == emotion_core.analyze_speech(*speech)
    assert result.window_scores == emotion_core.analyze_speech(*speech).window_scores
    assert bundled.fuse(faces[0].scores, result.scores) == emotion_core.fuse(faces[0].scores, result.scores)
    assert bundled.face_blur_sigma == load_manifest()["models"][FACE_MODEL]["preprocessing"]["blur_sigma"]


def test_the_module_calls_delegate_to_one_cached_default_reader(crop, monkeypatch):
    reader = default_reader()
    assert default_reader() is reader
    assert load_classifier(FACE_MODEL) is reader.face_model and load_classifier(VOICE_MODEL) is reader.voice_model
    assert emotion_core.analysis.face_blur_sigma() == reader.face_blur_sigma > 0
    served = emotion_core.classify_face(crop)
    monkeypatch.setattr(reader, "face_blur_sigma", 0.0)  # a setting of that very object now shows in the module call
    unblurred = emotion_core.classify_face(crop)
    assert unblurred != served
    sharp = EmotionReader.with_models(face_model=reader.face_model.path, face_blur_sigma=0.0)
    assert unblurred == sharp.classify_face(crop)


def test_a_reader_on_other_model_files_really_uses_them(bundled, float_reader, crop, speech):
    assert float_reader.face_model.path.name == FACE_FLOAT.name
    ours, other = vector(bundled.classify_face(crop)), vector(float_reader.classify_face(crop))
    assert not np.allclose(ours, other, atol=1e-4)  # another file, other numbers ...
    assert np.abs(ours - other).max() < 0.25  # ... of the same trained network
    ours, other = vector(bundled.classify_speech(*speech)), vector(float_reader.classify_speech(*speech))
    assert not np.allclose(ours, other, atol=1e-4) and np.abs(ours - other).max() < 0.25
    candidate = EmotionReader.with_models(face_model=FACE_FLOAT, voice_model=VOICE_FLOAT)
    assert candidate.classify_face(crop) == float_reader.classify_face(crop)
    assert candidate.analyze_speech(*speech) == float_reader.analyze_speech(*speech)


def test_with_models_leaves_out_the_channels_it_was_not_given(speech, crop):
    voice_only = EmotionReader.with_models(voice_model=VOICE_FLOAT)
    assert voice_only.face_model is None and voice_only.classify_speech(*speech)
    with pytest.raises(RuntimeError, match="no face model"):
        voice_only.classify_face(crop)
    with pytest.raises(RuntimeError, match="no voice model"):
        EmotionReader.with_models(face_model=FACE_FLOAT).analyze_speech(*speech)
    assert EmotionReader.with_models(face_model=FACE_FLOAT).face_probabilities([]).shape == (0, len(EMOTIONS))
    no_detector = EmotionReader.from_manifest(detector_name="")
    with pytest.raises(RuntimeError, match="no face detector"):
        no_detector.analyze_frame(np.zeros((32, 32, 3), np.uint8))


def test_face_probabilities_in_a_batch_are_the_single_crop_calls(bundled, face_photo):
    crops = [face_photo[30:110, 100:180], face_photo[:48, :48, 0], face_photo[20:140, 80:200]]
    batch = bundled.face_probabilities(crops)
    assert batch.shape == (3, len(EMOTIONS))
    for row, crop in zip(batch, crops, strict=True):
        np.testing.assert_allclose(row / row.sum(), vector(bundled.classify_face(crop)), atol=1e-7)
    with pytest.raises(ValueError, match="uint8"):
        bundled.face_probabilities([crops[0].astype(np.float32)])


def edited(model: str, **changes) -> dict:
    """A copy of the bundled manifest with ``changes`` made to one model's entry."""
    manifest = copy.deepcopy(load_manifest())
    manifest["models"][model].update(changes)
    return manifest


@pytest.mark.parametrize("manifest, error, message", [
    (edited(FACE_MODEL, labels=list(reversed(EMOTIONS))), ValueError, "do not match EMOTIONS"),
    (edited(VOICE_MODEL, labels=list(EMOTIONS[:6])), ValueError, "do not match EMOTIONS"),
    (edited(FACE_MODEL, input_shape=[1, 64, 64, 1]), ValueError, "does not match the manifest"),
    (edited(VOICE_MODEL, input_shape=[1, 300, 64, 1]), ValueError, "does not match the manifest"),
    (edited(VOICE_MODEL, features={**load_manifest()["models"][VOICE_MODEL]["features"], "n_mels": 40}),
     ValueError, "other features"),
    (edited(FACE_MODEL, sha256="0" * 64), ChecksumError, "does not match the manifest"),
    (edited(VOICE_MODEL, preprocessing={"normalisation": "cepstral"}), ValueError, "unknown normalisation"),
    ({**load_manifest(), "fusion": {"face_weight": 2.0}}, ValueError, "unknown fusion settings"),
])
def test_a_manifest_that_does_not_fit_fails_when_the_reader_is_built(manifest, error, message):
    with pytest.raises(error, match=message):
        EmotionReader.from_manifest(manifest)


def test_unknown_names_and_mismatched_candidates_fail_at_construction():
    with pytest.raises(KeyError, match="known: face_detector"):
        EmotionReader.from_manifest(face_name="face_emotion_v9")
    with pytest.raises(ValueError, match="does not match the manifest"):
        EmotionReader.with_models(face_model=VOICE_FLOAT)  # a voice file offered as the face model


def test_the_voice_normalisation_comes_from_the_manifest_and_is_used(bundled, speech):
    """A voice entry without ``preprocessing`` is read with today's normalisation (the bundled model
    bit for bit); one that names another has its windows made with that one."""
    from emotion_core import audio, windows

    entry = load_manifest()["models"][VOICE_MODEL]
    assert bundled.voice_normalisation == entry.get("preprocessing", {}).get("normalisation", "band_mean")
    no_field = EmotionReader.from_manifest(edited(VOICE_MODEL, preprocessing={}))
    assert no_field.voice_normalisation == "band_mean"
    other = EmotionReader.from_manifest(edited(VOICE_MODEL, preprocessing={"normalisation": "band_mean_var"}))
    assert other.voice_normalisation == "band_mean_var"
    assert EmotionReader.with_models(voice_model=VOICE_FLOAT, voice_normalisation="band_mean_var").voice_normalisation \
        == "band_mean_var"
    mono = audio.resample(*speech)[: audio.WINDOW_SAMPLES]
    served = other.voice_model.predict(windows.window_input(mono, "band_mean_var"))
    np.testing.assert_array_equal(other.voice_probabilities([mono])[0], other.voice_calibration.apply(served))
    assert not np.array_equal(other.voice_probabilities([mono]), no_field.voice_probabilities([mono]))


def test_fusion_settings_come_from_the_manifest(crop, speech):
    fitted = FusionSettings.from_manifest(load_manifest())  # the bundled manifest's fitted parameters
    assert EmotionReader.from_manifest().fusion == fitted != FusionSettings()
    trusting = EmotionReader.from_manifest({**load_manifest(), "fusion": {"face_prior": 4.0}})
    assert trusting.fusion == FusionSettings(face_prior=4.0)
    face_scores, voice_scores = trusting.classify_face(crop), trusting.classify_speech(*speech)
    default_weight = emotion_core.fuse(face_scores, voice_scores).face_weight
    assert trusting.fuse(face_scores, voice_scores).face_weight > default_weight


def test_one_reader_serves_several_threads_at_once(bundled, crop, speech):
    expected = (bundled.classify_face(crop), bundled.classify_speech(*speech))
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append((bundled.classify_face(crop), bundled.classify_speech(*speech)))
        except Exception as error:  # any failure in a thread is reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 12 and all(result == expected for result in results)


def normalised(scores: np.ndarray) -> np.ndarray:
    return scores / scores.sum(axis=-1, keepdims=True)


def test_the_voice_calibrations_noise_term_is_read_from_the_manifest_and_softens_only_noisy_speech(speech):
    """A manifest calibration with a ``noise`` term: the reader feeds each window's speech contrast to it, so
    speech under loud noise reads flatter than without the term, and speech as recorded reads the same."""
    from emotion_core import audio

    calibration = load_manifest()["models"][VOICE_MODEL]["calibration"]
    without = EmotionReader.from_manifest(edited(VOICE_MODEL, calibration={
        key: value for key, value in calibration.items() if key != "noise"}))
    noise = {"contrast_knee_db": 17.0, "contrast_slope": 0.75}
    with_term = EmotionReader.from_manifest(edited(VOICE_MODEL, calibration={**calibration, "noise": noise}))
    assert (with_term.voice_calibration.contrast_knee_db, with_term.voice_calibration.contrast_slope) == (17.0, 0.75)
    mono = audio.resample(*speech)[: audio.WINDOW_SAMPLES]
    loud_noise = mono + np.random.default_rng(0).normal(0.0, 2.0 * float(np.std(mono)), mono.size).astype(np.float32)
    # an uncalibrated reader passes the int8 scores on as they are; any calibration renormalises them
    assert normalised(with_term.voice_probabilities([mono])) == pytest.approx(
        normalised(without.voice_probabilities([mono])), abs=1e-4)
    noisy_with = with_term.voice_probabilities([loud_noise])[0]
    noisy_without = without.voice_probabilities([loud_noise])[0]
    assert noisy_with.argmax() == noisy_without.argmax()
    assert noisy_with.max() < noisy_without.max() - 0.05  # flatter: the voice cannot hear through the noise
    assert with_term.read_voice_windows([mono, loud_noise])[1].tolist() == [False, True]
    assert without.read_voice_windows([mono, loud_noise])[1].tolist() == [False, False]
    heard_noise = mono + np.random.default_rng(1).normal(0.0, 0.5 * float(np.std(mono)), mono.size).astype(np.float32)
    noisy_recording = with_term.analyze_speech(heard_noise, audio.SAMPLE_RATE)  # speech still found, drowned
    assert noisy_recording.in_loud_noise and noisy_recording.to_dict()["in_loud_noise"] is True
    assert not with_term.analyze_speech(mono, audio.SAMPLE_RATE).in_loud_noise
    assert not without.analyze_speech(heard_noise, audio.SAMPLE_RATE).in_loud_noise

    from emotion_core.__main__ import speech_table

    assert speech_table(noisy_recording).splitlines()[0].endswith("(speech in loud noise)")
