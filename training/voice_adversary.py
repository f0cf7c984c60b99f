"""A speaker adversary for training the voice CNN (issue 17: domain-adversarial training).

The probes of 2026-12-06 (``training.voice_functionals``, ``training.voice_embedding_shift``) found that
where a voice sits is what keeps the networks from reading new speakers, and that no statistic of a
session's speech can take it away afterwards, because that statistic carries the session's mood too.
So the network is asked to learn it: a small classifier guesses the training speaker from the pooled
embedding (the layer before the emotion softmax), and its gradient reaches the convolutions reversed
and scaled, so they learn an embedding from which the speaker cannot be told while the emotion can.
The acted corpora give every speaker every emotion, so "which speaker" carries no emotion there.

Only the emotion network is saved and served: the adversary exists during training.
"""

from __future__ import annotations

import numpy as np

ADVERSARY_UNITS = 128


def reversed_gradient_layer(scale: float):
    """A Keras layer that passes its input forward unchanged and sends back ``-scale`` times the gradient.
    The scale is a variable, so a schedule can change it during training (:func:`set_adversary_scale`)."""
    import keras
    import tensorflow as tf

    class GradientReversal(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(scale),
                                         trainable=False, name="scale")

        def call(self, inputs):
            @tf.custom_gradient
            def reverse(values):
                return tf.identity(values), lambda upstream: -tf.cast(self.scale, upstream.dtype) * upstream

            return reverse(inputs)

    return GradientReversal(name="gradient_reversal")


def ramped_scale(progress: float, peak: float) -> float:
    """DANN's schedule (Ganin et al. 2016): the reversal scale rises from 0 to ``peak`` as
    ``2 / (1 + exp(-10 p)) - 1`` of training's progress ``p``, so the speaker classifier first learns
    to tell the speakers apart before the network is pushed hard to hide them."""
    return peak * (2.0 / (1.0 + np.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0)


def set_adversary_scale(trainer, scale: float) -> None:
    """Change the reversal scale of a graph made by :func:`adversarial_trainer`."""
    trainer.get_layer("gradient_reversal").scale.assign(scale)


def adversary_scale(trainer) -> float:
    """The reversal scale a graph made by :func:`adversarial_trainer` uses now."""
    return float(trainer.get_layer("gradient_reversal").scale.numpy())


def adversarial_trainer(model, speaker_count: int, scale: float):
    """A two-output training graph on ``model`` (our CNN, :func:`training.voice_train.build_ours`): its
    emotion output, and a speaker classifier on its pooled embedding behind a gradient reversal. The
    layers of ``model`` are shared, so training this trains ``model``."""
    import keras
    from keras import layers

    pooled = next(layer for layer in model.layers if isinstance(layer, layers.Concatenate)).output
    hidden = layers.Dense(ADVERSARY_UNITS, activation="relu", name="speaker_hidden")(
        reversed_gradient_layer(scale)(pooled))
    speaker = layers.Dense(speaker_count, activation="softmax", name="speaker")(hidden)
    return keras.Model(model.inputs, [model.outputs[0], speaker], name="voice_emotion_with_adversary")


def speaker_indices(speakers: np.ndarray) -> tuple[np.ndarray, int]:
    """Each clip's speaker as an index, and how many speakers there are."""
    names, indices = np.unique(speakers, return_inverse=True)
    return indices, len(names)
