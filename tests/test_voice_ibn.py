"""IBN blocks in the voice CNN (issue 17): half the channels normalised per window, half by batch norm; a warm
start carries a plain network's weights over, and an IBN checkpoint exports as what it is."""

from __future__ import annotations

import numpy as np
import pytest


def block_outputs(model, x: np.ndarray) -> np.ndarray:
    """The first block's normalised output (before its ReLU), inference mode."""
    import keras

    first_relu = next(layer for layer in model.layers if isinstance(layer, keras.layers.ReLU))
    return keras.Model(model.inputs, first_relu.input).predict(x, verbose=0)


@pytest.fixture(scope="module")
def plain_and_ibn():
    pytest.importorskip("tensorflow")
    import keras

    from training.voice_train import build_ours, copy_into_ibn

    keras.utils.set_random_seed(0)
    plain, ibn = build_ours(), build_ours(ibn_blocks=2)
    rng = np.random.default_rng(0)
    for layer in plain.layers:  # batch norms with statistics and scales of their own, as a trained network has
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, size), rng.normal(size=size), rng.normal(size=size),
                               rng.uniform(0.5, 2, size)])
    copy_into_ibn(plain, ibn)
    x = rng.normal(size=(4, *plain.input_shape[1:])).astype(np.float32)
    x[1] = 3.0 * x[1] + 2.0  # a louder, shifted window
    return plain, ibn, x


def test_the_batch_norm_half_keeps_the_plain_networks_output(plain_and_ibn):
    plain, ibn, x = plain_and_ibn
    before, after = block_outputs(plain, x), block_outputs(ibn, x)
    half = before.shape[-1] // 2
    np.testing.assert_allclose(after[..., half:], before[..., half:], rtol=1e-4, atol=1e-4)
    assert not np.allclose(after[..., :half], before[..., :half], atol=1e-2)


def test_the_instance_norm_half_gives_every_window_the_channels_level_and_spread(plain_and_ibn):
    plain, ibn, x = plain_and_ibn
    import keras

    after = block_outputs(ibn, x)
    half = after.shape[-1] // 2
    gamma, beta, _, _ = next(layer for layer in plain.layers
                             if isinstance(layer, keras.layers.BatchNormalization)).get_weights()
    means, spreads = after[..., :half].mean(axis=(1, 2)), after[..., :half].std(axis=(1, 2))
    np.testing.assert_allclose(means, np.broadcast_to(beta[:half], means.shape), atol=1e-3)
    np.testing.assert_allclose(spreads, np.broadcast_to(np.abs(gamma[:half]), spreads.shape), rtol=3e-2)  # epsilon 1e-3


def test_an_ibn_checkpoint_exports_as_an_ibn_network(plain_and_ibn, tmp_path):
    _, ibn, x = plain_and_ibn
    from training.voice_export import ibn_blocks_in, load_model
    from training.voice_train import ibn_blocks_of

    path = tmp_path / "ibn.keras"
    ibn.save(path)
    assert ibn_blocks_of(ibn) == 2 and ibn_blocks_in(path) == 2
    exported = load_model([path], x)
    np.testing.assert_allclose(exported.predict(x, verbose=0), ibn.predict(x, verbose=0), atol=1e-6)
