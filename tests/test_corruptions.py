"""Webcam-like corruptions (harness.corruptions): shape, dtype, determinism, strength ordering, effects."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_core.face import face_model_input
from harness.corruptions import CORRUPTIONS, STRENGTHS, corrupt

RANDOM = ("noise", "motion_blur", "occlusion_hand", "occlusion_glasses", "rotation", "crop_jitter")
BLURS = ("motion_blur", "defocus_blur", "downscale")


@pytest.fixture(scope="module")
def face(face_photo) -> np.ndarray:
    """The astronaut's face as the model sees it: 48x48 uint8 grey."""
    return np.clip(np.round(face_model_input(face_photo[30:110, 100:180])[:, :, 0]), 0, 255).astype(np.uint8)


def change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) - b)))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_keeps_shape_and_dtype_and_leaves_the_input_alone(face, name):
    before = face.copy()
    for strength in STRENGTHS:
        for image in (face, face[:, :, None]):
            out = corrupt(image, name, strength, seed=3)
            assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(face, before)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_the_same_seed_gives_the_same_face(face, name):
    np.testing.assert_array_equal(corrupt(face, name, 2, seed=11), corrupt(face, name, 2, seed=11))


@pytest.mark.parametrize("name", RANDOM)
def test_another_seed_gives_another_draw(face, name):
    outs = [corrupt(face, name, 3, seed=seed) for seed in range(4)]
    assert any(not np.array_equal(outs[0], other) for other in outs[1:])


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_a_stronger_setting_changes_the_face_more(face, name):
    changes = [np.mean([change(corrupt(face, name, s, seed), face) for seed in range(5)]) for s in STRENGTHS]
    assert 0 < changes[0] < changes[1] < changes[2], changes


@pytest.mark.parametrize("name", BLURS)
def test_blurs_keep_a_flat_grey_flat(name):
    flat = np.full((48, 48), 117, np.uint8)
    for strength in STRENGTHS:
        assert np.abs(corrupt(flat, name, strength, seed=1).astype(int) - 117).max() <= 1


def test_light_corruptions_darken_and_brighten(face):
    for strength in STRENGTHS:
        assert corrupt(face, "low_light", strength, 0).mean() < face.mean() - 20
        assert corrupt(face, "gamma", strength, 0).mean() > face.mean() + 10


def test_glasses_only_darken_around_the_eye_line(face):
    out = corrupt(face, "occlusion_glasses", 3, seed=5).astype(int)
    assert np.all(out <= face.astype(int) + 1)
    rows = np.flatnonzero(np.abs(out - face).max(axis=1) > 2)
    assert rows.size and rows.min() >= 0.15 * 48 and rows.max() <= 0.65 * 48


def test_the_hand_covers_the_lower_face(face):
    diff = np.abs(corrupt(face, "occlusion_hand", 2, seed=5).astype(int) - face)
    assert diff[:12].max() <= 2 < diff[24:].max()


def test_noise_is_the_same_pattern_scaled():
    flat = np.full((48, 48), 128, np.uint8)
    weak, strong = (corrupt(flat, "noise", s, seed=9).astype(float) - 128 for s in (1, 3))
    assert np.corrcoef(weak.ravel(), strong.ravel())[0, 1] > 0.95
    assert 5 < weak.std() < 11 and 20 < strong.std() < 36


def test_bad_arguments_fail_clearly(face):
    with pytest.raises(KeyError, match="unknown corruption"):
        corrupt(face, "fog", 1, 0)
    with pytest.raises(ValueError, match="strength"):
        corrupt(face, "noise", 4, 0)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(face.astype(np.float32), "noise", 1, 0)
