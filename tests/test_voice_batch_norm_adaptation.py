"""The batch-norm adaptation probe (issue 17): unadapted it is the network itself; fully adapted on all
of a batch it is the network's own training-mode batch norm; the statistics mix as stated."""

from __future__ import annotations

import numpy as np
import pytest

from training.voice_batch_norm_adaptation import Adaptation, adapted_probabilities, mixed_statistics


@pytest.fixture(scope="module")
def network_and_windows():
    pytest.importorskip("tensorflow")
    import keras

    from training.voice_train import build_ours

    keras.utils.set_random_seed(3)
    network = build_ours()
    rng = np.random.default_rng(3)
    for layer in network.layers:  # population statistics unlike the batch's, so adaptation changes something
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, _, _ = layer.get_weights()
            channels = gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.2, channels),
                               rng.normal(0.3, 0.2, channels), rng.uniform(0.5, 2.0, channels)])
    windows = rng.normal(size=(5, *network.input_shape[1:3])).astype(np.float32)
    return network, windows


def test_unadapted_is_the_network_itself(network_and_windows):
    network, windows = network_and_windows
    everything = np.ones(len(windows), dtype=bool)
    expected = network.predict(windows[..., None], verbose=0)
    for layers in ("first", "all"):
        np.testing.assert_allclose(adapted_probabilities(network, windows, everything, 0.0, layers), expected,
                                   atol=1e-5)


def test_fully_adapted_on_the_whole_batch_is_training_mode_batch_norm(network_and_windows):
    import keras

    network, windows = network_and_windows
    pooled = next(layer for layer in network.layers if isinstance(layer, keras.layers.Concatenate)).output
    embedding = keras.Model(network.inputs, pooled)(windows[..., None], training=True)  # the batch's statistics
    expected = np.asarray(network.layers[-1](embedding))
    adapted = adapted_probabilities(network, windows, np.ones(len(windows), dtype=bool), 1.0, "all")
    np.testing.assert_allclose(adapted, expected, atol=1e-4)
    unadapted = adapted_probabilities(network, windows, np.ones(len(windows), dtype=bool), 0.0, "all")
    assert np.abs(adapted - unadapted).max() > 1e-3
    first_only = adapted_probabilities(network, windows, np.ones(len(windows), dtype=bool), 1.0, "first")
    assert np.abs(first_only - adapted).max() > 1e-4 and np.abs(first_only - unadapted).max() > 1e-4


def test_statistics_mix_over_the_reference_windows_only():
    features = np.zeros((3, 2, 2), dtype=np.float32)
    features[0], features[1], features[2] = 1.0, 3.0, 100.0  # the third window is not a reference
    reference = np.array([True, True, False])
    population = (np.array([0.0, 10.0]), np.array([1.0, 1.0]))
    mean, variance = mixed_statistics(features, reference, population, 0.25)
    np.testing.assert_allclose(mean, [0.25 * 2.0, 0.25 * 2.0 + 0.75 * 10.0])
    np.testing.assert_allclose(variance, [0.25 * 1.0 + 0.75, 0.25 * 1.0 + 0.75])
    unmixed = mixed_statistics(features, np.zeros(3, dtype=bool), population, 1.0)  # no speech heard yet
    assert unmixed[0] is population[0] and unmixed[1] is population[1]


def test_a_short_session_leans_on_the_population():
    adaptation = Adaptation("all", 1.0, 20)
    assert adaptation.weight(0) == 0.0 and adaptation.weight(20) == 0.5 and adaptation.weight(180) == 0.9
    assert Adaptation("first", 0.5, 0).weight(3) == 0.5
