"""The speaker-encoder experiment's own steps (issue 17): the package's partial utterances, its level
step, the LSTM's gate order, and the checkpoint read without PyTorch where the wheel's weights have been
fetched (``python -m training.voice_speaker_encoder fetch``)."""

from __future__ import annotations

import numpy as np
import pytest

from training.voice_speaker_encoder import (
    TARGET_DBFS,
    WEIGHTS,
    clip_embeddings,
    legacy_state_dict,
    lstm_layer,
    partial_starts,
    raised_to_target,
)


@pytest.mark.parametrize("seconds, starts", [(1.0, [0]), (1.6, [0]), (1.9, [0]), (2.0, [0, 77]), (3.0, [0, 77, 154])])
def test_partials_every_77_frames_and_the_last_only_when_three_quarters_full(seconds, starts):
    # 1.9 s: the second partial would be 71 % audio and is dropped; 2.0 s: 77 %, kept
    assert partial_starts(int(seconds * 16000)) == starts


def test_quiet_speech_is_raised_to_the_target_level_and_loud_speech_left_alone():
    rng = np.random.default_rng(0)
    quiet = (0.001 * rng.standard_normal(16000)).astype(np.float32)
    raised = raised_to_target(quiet)
    assert 20 * np.log10(np.sqrt(np.mean(raised.astype(np.float64) ** 2))) == pytest.approx(TARGET_DBFS, abs=0.01)
    loud = 10 * quiet
    loud *= 0.3 / np.sqrt(np.mean(loud ** 2))
    assert raised_to_target(loud) is loud
    assert raised_to_target(np.zeros(100, np.float32)).sum() == 0


def test_lstm_layer_follows_pytorchs_gate_order_input_forget_cell_output():
    rng = np.random.default_rng(1)
    inputs = rng.standard_normal((2, 5, 3)).astype(np.float32)
    w_ih, w_hh, bias = (rng.standard_normal(shape).astype(np.float32) for shape in ((8, 3), (8, 2), (8,)))
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    for row in range(2):
        h, c = np.zeros(2), np.zeros(2)
        for step in range(5):
            z = w_ih @ inputs[row, step] + w_hh @ h + bias
            c = sigmoid(z[2:4]) * c + sigmoid(z[0:2]) * np.tanh(z[4:6])
            h = sigmoid(z[6:8]) * np.tanh(c)
        np.testing.assert_allclose(lstm_layer(inputs, w_ih, w_hh, bias)[row, -1], h, atol=1e-5)


fetched = pytest.mark.skipif(not WEIGHTS.exists(), reason="the wheel's weights are not fetched")


@fetched
def test_the_checkpoint_reads_into_the_encoders_shapes_and_gives_unit_embeddings():
    state = legacy_state_dict(WEIGHTS)
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    assert all(state[f"lstm.weight_hh_l{layer}"].shape == (1024, 256) for layer in range(3))
    assert state["linear.weight"].shape == (256, 256)
    rng = np.random.default_rng(2)
    speech = (0.05 * rng.standard_normal(3 * 16000)).astype(np.float32)
    embeddings = clip_embeddings(speech)
    assert embeddings.shape == (len(partial_starts(speech.size)), 256)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert (embeddings >= 0).all()  # the encoder's ReLU before the unit length
