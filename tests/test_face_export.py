"""How face_export builds the served graph: split views, mirror averaging, weight soup, input blur choice.

Uses tiny untrained networks of the served architecture (TensorFlow is a training dependency, so
these tests are skipped where only the runtime is installed).
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from training.face_evaluate import served_inputs  # noqa: E402
from training.face_export import (  # noqa: E402
    balance,
    choose_blur,
    load_members,
    served_model,
    to_tflite,
    weight_soup,
)
from training.face_train import build_model  # noqa: E402


def faces(count: int = 16, seed: int = 0) -> np.ndarray:
    """Random grey ``(count, 48, 48, 1)`` float faces in [0, 255] with a left-right asymmetry."""
    images = np.random.default_rng(seed).uniform(0, 255, (count, 48, 48, 1)).astype(np.float32)
    images[:, :, :12] *= 0.2
    return images


def tiny_members(count: int) -> list:
    keras.utils.set_random_seed(1)
    return [build_model(width=2, name=f"member_{i}") for i in range(count)]


def test_split_views_give_the_mean_of_one_model_on_the_face_and_the_other_on_its_mirror():
    first, second = tiny_members(2)
    x = faces()
    served = served_model([first, second], mirror=False, split_views=True)
    expected = 0.5 * (first.predict(x, verbose=0) + second.predict(x[:, :, ::-1], verbose=0))
    np.testing.assert_allclose(served.predict(x, verbose=0), expected, atol=1e-5)
    assert not np.allclose(expected, first.predict(x, verbose=0), atol=1e-3)  # the mirror view mattered


def test_split_views_refuse_anything_but_two_members():
    with pytest.raises(ValueError, match="two checkpoints"):
        served_model(tiny_members(3), mirror=False, split_views=True)


def test_mirror_averages_every_member_over_both_views():
    members = tiny_members(2)
    x = faces()
    served = served_model(members, mirror=True, split_views=False)
    expected = np.mean([m.predict(v, verbose=0) for m in members for v in (x, x[:, :, ::-1])], axis=0)
    np.testing.assert_allclose(served.predict(x, verbose=0), expected, atol=1e-5)


def test_one_member_without_mirror_is_served_as_it_is():
    (member,) = tiny_members(1)
    assert served_model([member], mirror=False, split_views=False) is member


def test_soup_holds_the_mean_of_every_weight_batch_norm_statistics_included():
    first, second = tiny_members(2)
    norm = next(layer for layer in second.layers if isinstance(layer, keras.layers.BatchNormalization))
    norm.moving_variance.assign(norm.moving_variance * 3.0)  # statistics that differ between the members
    expected = [np.mean(pair, axis=0) for pair in zip(first.get_weights(), second.get_weights(), strict=True)]
    soup = weight_soup([first, second])
    for got, want in zip(soup.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_served_inputs_are_what_the_runtime_feeds_the_model():
    from emotion_core.face import face_model_input

    x = faces(3).astype(np.uint8)
    for sigma in (0.0, 0.6):
        expected = np.stack([face_model_input(image[:, :, 0], sigma) for image in x])
        np.testing.assert_array_equal(served_inputs(x, sigma), expected)
    assert not np.allclose(served_inputs(x, 0.6), x)


def test_choose_blur_reports_every_sigma_and_picks_the_best_public_objective():
    (member,) = tiny_members(1)
    rng = np.random.default_rng(1)
    arrays = {"x": faces(70).astype(np.uint8), "y": rng.integers(0, 7, 70), "usage": np.array(["PublicTest"] * 70)}
    chosen = choose_blur([member], arrays, (0.0, 0.6, 1.2), balanced=False, mirror=True, split_views=False)
    scores = chosen["public_by_sigma"]
    assert set(scores) == {"0.0", "0.6", "1.2"}
    assert scores[str(chosen["sigma"])]["objective"] == max(v["objective"] for v in scores.values())
    assert len({v["accuracy"] for v in scores.values()} | {v["macro_recall"] for v in scores.values()}) > 1


def test_keep_sharp_swaps_in_the_unwarped_faces_at_the_given_share():
    from training.face_train import keep_sharp

    sharp, warped = np.ones((400, 48, 48, 1), np.float32), np.zeros((400, 48, 48, 1), np.float32)
    mixed = np.asarray(keep_sharp(sharp, warped, 0.35))
    per_face = mixed.reshape(400, -1)
    assert set(np.unique(per_face.min(axis=1))) <= {0.0, 1.0}  # each face is wholly one or the other
    assert np.array_equal(per_face.min(axis=1), per_face.max(axis=1))
    assert 0.25 < mixed.mean() < 0.45
    assert np.asarray(keep_sharp(sharp, warped, 0.0)).max() == 0.0


def test_balance_shifts_every_member_and_reports_the_served_graph():
    members = tiny_members(2)
    served = served_model(members, mirror=False, split_views=True)
    rng = np.random.default_rng(0)
    arrays = {"x": faces(70).astype(np.uint8), "y": rng.integers(0, 7, 70), "usage": np.array(["PublicTest"] * 70)}
    before = [m.get_layer("emotion").get_weights()[1].copy() for m in members]
    result = balance(served, members, arrays, enabled=True)
    offsets = np.array(list(result["offsets"].values()), dtype=np.float32)
    for member, bias in zip(members, before, strict=True):
        np.testing.assert_allclose(member.get_layer("emotion").get_weights()[1], bias + offsets, atol=1e-3)
    assert result["public_after"]["accuracy"] >= result["public_before"]["accuracy"] - 1e-9


def test_members_load_from_an_exported_float_tflite(tmp_path):
    (model,) = tiny_members(1)
    x = faces(32)
    path = tmp_path / "tiny.tflite"
    path.write_bytes(to_tflite(model))
    (restored,) = load_members([path], x)
    assert restored.name == "face_member_0"
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4)


def test_one_network_loads_from_an_exported_pair(tmp_path):
    from training.warm_start import network_of

    pair = tiny_members(2)
    path = tmp_path / "pair.tflite"
    path.write_bytes(to_tflite(served_model(pair, mirror=False, split_views=True)))
    assert network_of(f"{path}:1") == (path, 1) and network_of(path) == (path, None)
    x = faces(32)
    first, second = load_members([f"{path}:0", f"{path}:1"], x)
    np.testing.assert_allclose(first.predict(x, verbose=0), pair[0].predict(x, verbose=0), atol=1e-4)
    np.testing.assert_allclose(second.predict(x, verbose=0), pair[1].predict(x, verbose=0), atol=1e-4)


def test_members_load_from_a_keras_checkpoint_at_its_own_width(tmp_path):
    from training.face_export import checkpoint_width

    keras.utils.set_random_seed(2)
    model = build_model(width=3, name="three")
    path = tmp_path / "three.keras"
    model.save(path)
    assert checkpoint_width(path) == 3
    x = faces(8)
    (restored,) = load_members([path], x)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_a_separable_checkpoint_loads_as_its_own_architecture(tmp_path):
    from training.face_export import checkpoint_arch, checkpoint_width

    keras.utils.set_random_seed(3)
    model = build_model(width=4, name="student", arch="separable")
    path, plain = tmp_path / "student.keras", tmp_path / "plain.keras"
    model.save(path)
    build_model(width=4).save(plain)
    assert (checkpoint_arch(path), checkpoint_width(path)) == ("separable", 4)
    assert checkpoint_arch(plain) == "vgg"
    x = faces(8)
    (restored,) = load_members([path], x)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
