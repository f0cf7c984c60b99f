"""Weight soups (training.soup, training.voice_soup): ingredients named, folded and averaged; a soup computes its
mean weights."""

from pathlib import Path

import numpy as np
import pytest

from emotion_core.audio import N_MELS
from emotion_core.weights import WEIGHTS_DIR
from training.soup import mean_folded
from training.warm_start import network_of

SERVED_FLOAT = WEIGHTS_DIR / "voice_emotion_float.tflite"


def test_an_ingredient_names_a_network_of_an_ensemble_file_or_a_whole_checkpoint():
    assert network_of("weights/v.tflite:3") == (Path("weights/v.tflite"), 3)
    assert network_of("artifacts/run.keras") == (Path("artifacts/run.keras"), None)
    assert network_of("artifacts/run:1.keras")[1] is None  # a colon that names no network
    assert network_of("weights/v.tflite")[1] is None


def test_mean_folded_averages_every_layer_and_refuses_other_layers():
    first = [("CONV_2D", np.full((3, 3, 1, 2), 1.0), np.zeros(2)), ("FULLY_CONNECTED", np.ones((2, 7)), np.ones(7))]
    second = [("CONV_2D", np.full((3, 3, 1, 2), 3.0), np.full(2, 4.0)), ("FULLY_CONNECTED", -np.ones((2, 7)),
                                                                          np.zeros(7))]
    mean = mean_folded([first, second])
    assert [op for op, _, _ in mean] == ["CONV_2D", "FULLY_CONNECTED"]
    np.testing.assert_array_equal(mean[0][1], np.full((3, 3, 1, 2), 2.0))
    np.testing.assert_array_equal(mean[0][2], np.full(2, 2.0))
    np.testing.assert_array_equal(mean[1][1], np.zeros((2, 7)))
    np.testing.assert_array_equal(mean[1][2], np.full(7, 0.5))
    with pytest.raises(ValueError, match="same layers"):
        mean_folded([first, first[:1]])


def test_a_soup_of_two_served_networks_holds_their_mean_weights_and_a_network_with_itself_is_that_network(tmp_path):
    pytest.importorskip("keras")
    from training.soup import folded_weights
    from training.voice_soup import soup_model
    from training.voice_train import build_ours
    from training.warm_start import restore_from_tflite, weighted_layers

    inputs = np.random.default_rng(0).normal(size=(32, 301, N_MELS, 1)).astype(np.float32)
    alone = build_ours()
    restore_from_tflite(alone, SERVED_FLOAT, inputs, member=0)
    same = soup_model([[f"{SERVED_FLOAT}:0", f"{SERVED_FLOAT}:0"]], inputs)
    np.testing.assert_allclose(same(inputs[:4], training=False).numpy(), alone(inputs[:4], training=False).numpy(),
                               atol=1e-4)

    layers = len(weighted_layers(alone))
    pair = soup_model([[f"{SERVED_FLOAT}:0", f"{SERVED_FLOAT}:3"]], inputs)
    zero, three = folded_weights(f"{SERVED_FLOAT}:0", layers), folded_weights(f"{SERVED_FLOAT}:3", layers)
    first_conv = weighted_layers(pair)[0]
    np.testing.assert_allclose(first_conv.kernel.numpy(), (zero[0][1] + three[0][1]) / 2, atol=1e-6)
    assert not np.allclose(zero[0][1], three[0][1])  # two different networks, so the mean is neither

    checkpoint = tmp_path / "network0.keras"  # a training checkpoint folds to what the exported file holds
    alone.save(checkpoint)
    for (_, kernel, bias), (_, expected_kernel, expected_bias) in zip(folded_weights(str(checkpoint), layers), zero,
                                                                      strict=True):
        np.testing.assert_allclose(kernel, expected_kernel, atol=1e-4)
        np.testing.assert_allclose(bias, expected_bias, atol=1e-3)


def test_a_face_soup_of_an_exported_pairs_networks_is_their_mean_and_saves_as_a_checkpoint(tmp_path):
    keras = pytest.importorskip("keras")
    from training.face_export import served_model, to_tflite
    from training.face_train import build_model
    from training.soup import folded_weights, soup_into
    from training.warm_start import weighted_layers

    keras.utils.set_random_seed(1)
    pair = [build_model(width=2, name=f"member_{i}") for i in range(2)]
    path = tmp_path / "pair.tflite"
    path.write_bytes(to_tflite(served_model(pair, mirror=False, split_views=True)))
    x = np.random.default_rng(0).uniform(0, 255, (16, 48, 48, 1)).astype(np.float32)
    alone = soup_into(build_model(width=2), [f"{path}:0", f"{path}:0"], x)
    np.testing.assert_allclose(alone.predict(x, verbose=0), pair[0].predict(x, verbose=0), atol=1e-4)
    soup = soup_into(build_model(width=2), [f"{path}:0", f"{path}:1"], x)
    layers = len(weighted_layers(soup))
    first, second = folded_weights(f"{path}:0", layers), folded_weights(f"{path}:1", layers)
    np.testing.assert_allclose(weighted_layers(soup)[-1].kernel.numpy(), (first[-1][1] + second[-1][1]) / 2, atol=1e-6)
    soup.save(tmp_path / "soup.keras")  # what training.face_export takes as a checkpoint
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "soup.keras").predict(x, verbose=0),
                               soup.predict(x, verbose=0), atol=1e-6)
