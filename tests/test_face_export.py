"""How face_export combines several checkpoints: split views, mirror averaging, weight soup, balance.

Uses tiny untrained networks of the served architecture (TensorFlow is a training dependency, so
these tests are skipped where only the runtime is installed).
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from training.face_export import (  # noqa: E402
    balance,
    load_members,
    remeasure_batch_norm,
    served_model,
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


def test_soup_holds_the_mean_weights_and_fresh_batch_norm_statistics():
    first, second = tiny_members(2)
    conv_weights = [m.get_layer(index=2).get_weights()[0] for m in (first, second)]
    x = faces(64)
    soup = weight_soup([first, second], x)
    np.testing.assert_allclose(soup.get_layer(index=2).get_weights()[0], np.mean(conv_weights, axis=0), atol=1e-6)
    norm = next(layer for layer in soup.layers if isinstance(layer, keras.layers.BatchNormalization))
    measured = keras.Model(soup.inputs, norm.input).predict(x, verbose=0)
    np.testing.assert_allclose(norm.moving_mean.numpy(), measured.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(norm.moving_variance.numpy(), measured.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-4)


def test_remeasured_batch_norms_normalise_their_inputs_in_inference_mode():
    (model,) = tiny_members(1)
    x = faces(64)
    remeasure_batch_norm(model, x)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    outputs = keras.Model(model.inputs, [n.output for n in norms]).predict(x, verbose=0)
    for output in outputs:  # gamma 1, beta 0 at init: zero mean, unit variance per channel
        np.testing.assert_allclose(output.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
        np.testing.assert_allclose(output.var(axis=(0, 1, 2)), 1.0, atol=2e-2)


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
    from training.face_export import to_tflite

    (model,) = tiny_members(1)
    x = faces(32)
    path = tmp_path / "tiny.tflite"
    path.write_bytes(to_tflite(model))
    (restored,) = load_members([path], x)
    assert restored.name == "face_member_0"
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4)


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
