"""Training options: webcam corruptions in the augmentation, one network of a multi-network .tflite."""

from __future__ import annotations

import numpy as np
import pytest

from harness import PROJECT_ROOT
from training.face_train import corrupt_some
from training.warm_start import member_weights


def faces(count: int, seed: int = 0) -> np.ndarray:
    """Smooth random uint8 ``(n, 48, 48, 1)`` faces (a gradient plus texture, so every corruption shows)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, 48)[None, :, None, None]
    return np.clip(ramp + rng.normal(0, 20, (count, 48, 48, 1)), 0, 255).astype(np.uint8)


def test_corrupt_some_leaves_everything_at_share_zero_and_changes_every_face_at_share_one():
    x = faces(16)
    before = x.copy()
    np.testing.assert_array_equal(corrupt_some(x, 0.0, np.random.default_rng(0)), x)
    out = corrupt_some(x, 1.0, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.uint8
    assert all(not np.array_equal(a, b) for a, b in zip(out, x, strict=True))
    np.testing.assert_array_equal(x, before)


def test_corrupt_some_touches_about_its_share_and_is_seeded():
    x = faces(400)
    out = corrupt_some(x, 0.3, np.random.default_rng(1))
    changed = np.mean([not np.array_equal(a, b) for a, b in zip(out, x, strict=True)])
    assert 0.22 < changed < 0.38
    np.testing.assert_array_equal(out, corrupt_some(x, 0.3, np.random.default_rng(1)))


def test_member_weights_picks_one_contiguous_network():
    found = list(range(18))  # two networks of 9 conv/dense ops each, as the served face model holds
    assert member_weights(found, 9, None) == found
    assert member_weights(found, 9, 0) == list(range(9))
    assert member_weights(found, 9, 1) == list(range(9, 18))
    for count, member in ((9, 2), (7, 0), (9, -1)):
        with pytest.raises(ValueError, match="no network"):
            member_weights(found, count, member)


def test_the_training_pipeline_corrupts_batches_in_place_of_the_clean_faces():
    pytest.importorskip("tensorflow")
    from training.face_train import train_dataset

    x = faces(64)
    targets = np.eye(7, dtype=np.float32)[np.arange(64) % 7]
    batch = next(iter(train_dataset(x, targets, np.ones(64, np.float32), batch=32, seed=0, corrupt_share=1.0)))
    images, y, w = (t.numpy() for t in batch)
    assert images.shape == (32, 48, 48, 1) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 255 and y.shape == (32, 7) and w.shape == (32,)


def test_the_served_model_holds_two_networks_and_either_one_restores():
    pytest.importorskip("keras")
    from training.face_train import build_model
    from training.warm_start import restore_from_tflite, tflite_layer_weights

    path = PROJECT_ROOT / "weights" / "face_emotion_float.tflite"
    found = tflite_layer_weights(path)
    model = build_model(16)
    restore_from_tflite(model, path, faces(64).astype(np.float32), member=1)
    np.testing.assert_allclose(model.get_layer("emotion").get_weights()[0], found[-1][1], atol=1e-6)
    with pytest.raises(ValueError, match="conv/dense ops"):
        restore_from_tflite(build_model(16), path, faces(8).astype(np.float32))


def test_distill_targets_mix_teacher_and_labels_and_stay_distributions():
    from training.face_train import distill_targets, soften_probs

    labels = np.eye(7, dtype=np.float32)[[0, 3, 6]]
    teacher = np.array([[0.7, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03]] * 3, dtype=np.float32)
    np.testing.assert_allclose(distill_targets(labels, teacher, 0.0), labels)
    np.testing.assert_allclose(distill_targets(labels, teacher, 1.0), teacher, atol=1e-6)
    mixed = distill_targets(labels, teacher, 0.5)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(mixed[1, 3], 0.5 + 0.5 * 0.05, atol=1e-6)
    flat = soften_probs(teacher, 4.0)
    assert flat[0].argmax() == 0 and flat[0, 0] < teacher[0, 0] and flat[0, 6] > teacher[0, 6]
    np.testing.assert_allclose(flat.sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="teacher weight"):
        distill_targets(labels, teacher, 1.5)


def test_teacher_probs_are_the_served_float_pair_and_are_cached(tmp_path):
    pytest.importorskip("tensorflow")
    from emotion_core import EmotionReader
    from training.face_train import teacher_probs

    path, x = PROJECT_ROOT / "weights" / "face_emotion_float.tflite", faces(6)
    cache = tmp_path / "teacher.npz"
    probs = teacher_probs(path, x, 0.6, cache)
    served = EmotionReader.with_models(face_model=path, face_blur_sigma=0.6).face_probabilities(x)
    np.testing.assert_allclose(probs, served, atol=1e-6)
    np.savez(cache, key=np.load(cache)["key"], probs=np.zeros_like(probs))  # a cache hit returns what is stored
    assert not teacher_probs(path, x, 0.6, cache).any()
    assert teacher_probs(path, x, 0.0, cache).any()  # another blur is another key: computed again


def test_a_separable_student_is_smaller_and_a_few_distillation_steps_lower_its_loss():
    pytest.importorskip("keras")
    import keras

    from training.face_train import build_model, compile_model, distill_targets, train_dataset

    keras.utils.set_random_seed(0)
    student, plain = build_model(24, dropout=0.0, arch="separable"), build_model(24)
    assert student.output_shape == (None, 7) and student.count_params() < plain.count_params() / 3
    assert any(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in student.layers)
    x = faces(32)
    labels = np.eye(7, dtype=np.float32)[np.arange(32) % 7]
    targets = distill_targets(labels, np.full((32, 7), 1 / 7, dtype=np.float32), 0.5)
    compile_model(student, 3e-3, 1e-4)
    data = train_dataset(x, targets, np.ones(32, np.float32), batch=16, seed=0, corrupt_share=0.5)
    images, y, w = next(iter(data))  # one augmented, corrupted batch, fixed from here on

    def loss() -> float:  # training mode: batch statistics, as the steps see them
        return float(keras.losses.categorical_crossentropy(y, student(images, training=True)).numpy().mean())

    before = loss()
    for _ in range(8):
        student.train_on_batch(images, y, sample_weight=w)
    assert loss() < before - 0.05
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model(24, arch="resnet")


def test_mixup_blends_faces_targets_and_weights_by_the_same_share_and_keeps_each_face_ahead():
    pytest.importorskip("tensorflow")
    from training.face_train import mix_batch

    count = 32
    levels = np.arange(count, dtype=np.float32) * 7.0  # face i is flat at level 7 i
    images = np.broadcast_to(levels[:, None, None, None], (count, 48, 48, 1)).astype(np.float32)
    targets = np.eye(count, dtype=np.float32)  # one class per face, so each row shows the shares
    weights = levels + 1.0
    mixed, mixed_targets, mixed_weights = (np.asarray(t) for t in mix_batch(images, targets, weights, 0.4))
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(np.diag(mixed_targets) >= 0.5 - 1e-6)  # each face keeps the larger share of itself
    assert np.count_nonzero(np.diag(mixed_targets) < 0.99) > count // 2  # and most are really mixed
    np.testing.assert_allclose(mixed[:, 0, 0, 0], mixed_targets @ levels, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(mixed.std(axis=(1, 2, 3)), 0.0, atol=1e-4)  # pixels blended alike
    np.testing.assert_allclose(mixed_weights, mixed_targets @ weights, rtol=1e-5)
