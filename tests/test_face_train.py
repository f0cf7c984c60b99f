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
