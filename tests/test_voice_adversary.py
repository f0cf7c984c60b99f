"""The speaker adversary (issue 17): its gradient reaches the emotion network reversed and scaled, and
mixup mixes the speaker targets with the same weights as the emotion targets."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_core.audio import SAMPLE_RATE, load_audio, resample
from harness import FIXTURES
from training.voice_adversary import adversarial_trainer, ramped_scale, set_adversary_scale, speaker_indices
from training.voice_train import AUGMENT_PRESETS, TrainConfig, make_batch, noise_profile


def speaker_gradient(trainer, conv, x: np.ndarray, targets: np.ndarray):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        _, speaker = trainer(x, training=False)
        loss = tf.reduce_mean(tf.keras.losses.categorical_crossentropy(targets, speaker))
    return tape.gradient(loss, conv.kernel).numpy()


def test_the_speaker_gradient_reaches_the_convolutions_reversed_and_scaled():
    pytest.importorskip("tensorflow")
    from training.voice_train import build_ours

    model = build_ours()
    adversary, plain = adversarial_trainer(model, 3, 0.5), adversarial_trainer(model, 3, -1.0)  # -1: passed as is
    for name in ("speaker_hidden", "speaker"):
        plain.get_layer(name).set_weights(adversary.get_layer(name).get_weights())
    x = np.random.default_rng(0).normal(size=(3, *model.input_shape[1:])).astype(np.float32)
    targets = np.eye(3, dtype=np.float32)
    conv = model.layers[1]
    reversed_gradient, plain_gradient = (speaker_gradient(t, conv, x, targets) for t in (adversary, plain))
    assert np.abs(plain_gradient).max() > 1e-6
    np.testing.assert_allclose(reversed_gradient, -0.5 * plain_gradient, atol=1e-6)
    assert adversary.outputs[0] is model.outputs[0]  # the emotion network itself is what trains and is saved
    set_adversary_scale(adversary, 0.125)  # a schedule changes the scale of the built graph
    np.testing.assert_allclose(speaker_gradient(adversary, conv, x, targets), -0.125 * plain_gradient, atol=1e-6)


def test_the_ramped_scale_rises_from_zero_to_the_peak():
    scales = [ramped_scale(p, 0.8) for p in np.linspace(0.0, 1.0, 11)]
    assert scales[0] == 0.0 and abs(scales[-1] - 0.8) < 1e-3
    assert (np.diff(scales) > 0).all()
    assert 0.35 < ramped_scale(0.1, 0.8) < 0.40  # DANN's curve: 0.46 of the peak a tenth of the way in
    assert ramped_scale(-0.5, 0.8) == 0.0 and ramped_scale(2.0, 0.8) == ramped_scale(1.0, 0.8)


def test_mixup_mixes_speaker_targets_like_emotion_targets():
    audio, rate = load_audio(FIXTURES / "speech.wav")
    samples = resample(audio, rate, SAMPLE_RATE)  # training takes a clip's 16 kHz samples
    config = TrainConfig(**AUGMENT_PRESETS["studio"])
    labels, (speakers, count) = np.array([0, 3, 6]), speaker_indices(np.array(["b", "a", "b"]))
    assert speakers.tolist() == [1, 0, 1] and count == 2
    rng = np.random.default_rng(0)
    _, (emotions, voices) = make_batch([samples] * 3, labels, rng, noise_profile(), config, speakers, count)
    main = emotions.max(axis=1)  # the main clip's share, >= 0.5
    assert voices.shape == (3, 2)
    np.testing.assert_allclose(voices.sum(axis=1), 1.0, atol=1e-6)
    for row in range(3):
        assert voices[row, speakers[row]] >= main[row] - 1e-6
    _, plain = make_batch([samples] * 3, labels, np.random.default_rng(0), noise_profile(), config)
    np.testing.assert_allclose(plain, emotions)  # without speakers: the same batch as before
