"""The embedding-shift probe's own steps (issue 17): window pooling as served, the networks' heads, the
session shift."""

from __future__ import annotations

import numpy as np

from emotion_core.labels import EMOTION_INDEX
from training.voice_embedding_shift import Probe, clip_means, clip_scores, enrolment, pooled_windows, session_shift

NEUTRAL, ANGRY = EMOTION_INDEX["neutral"], EMOTION_INDEX["angry"]


def test_a_clip_pools_its_windows_with_speech_or_all_of_them_when_none_has():
    clip_of, used = pooled_windows(np.array([0, 3, 5]), np.array([1, 0, 1, 0, 0]))
    assert clip_of.tolist() == [0, 0, 0, 1, 1]
    assert used.tolist() == [True, False, True, True, True]


def test_clip_scores_without_shift_average_the_networks_and_the_pooled_windows():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(5, 2, 4))
    weights, biases = rng.normal(size=(2, 4, 7)), rng.normal(size=(2, 7))
    clip_of, used = pooled_windows(np.array([0, 3, 5]), np.array([1, 0, 1, 0, 0]))
    scores = clip_scores(embeddings, np.zeros((2, 2, 4)), (weights, biases), clip_of, used)

    def softmax(x):
        e = np.exp(x - x.max())
        return e / e.sum()

    window = [np.mean([softmax(embeddings[w, n] @ weights[n] + biases[n]) for n in range(2)], axis=0) for w in range(5)]
    np.testing.assert_allclose(scores[0], (window[0] + window[2]) / 2, rtol=1e-9)
    np.testing.assert_allclose(scores[1], (window[3] + window[4]) / 2, rtol=1e-9)
    np.testing.assert_allclose(clip_means(embeddings, clip_of, used, 2)[0], embeddings[[0, 2]].mean(0))


def test_session_shift_moves_a_session_by_its_shrunk_centre_and_leaves_the_population_alone():
    means = np.array([[[0.0]], [[2.0]], [[4.0]], [[10.0]]])
    sessions = np.array(["a", "a", "a", ""])
    reference = np.array([True, True, False, True])
    population = np.array([[1.0]])
    full = session_shift(means, sessions, reference, population, prior_clips=0, strength=1.0)
    assert full[:, 0, 0].tolist() == [0.0, 0.0, 0.0, 0.0]  # reference centre 1.0 = the population's
    reference = np.array([False, True, True, True])  # centre 3.0
    assert session_shift(means, sessions, reference, population, 0, 1.0)[0, 0, 0] == 2.0
    assert session_shift(means, sessions, reference, population, 2, 1.0)[0, 0, 0] == 1.0  # half-way to the prior
    assert session_shift(means, sessions, reference, population, 0, 0.5)[1, 0, 0] == 1.0
    nothing = session_shift(means, sessions, np.zeros(4, dtype=bool), population, 5, 1.0)
    assert not nothing.any()  # no reference clip: the population's centre, no shift


def test_enrolment_draws_neutral_clips_of_each_scored_voice_only():
    labels = np.array([NEUTRAL, NEUTRAL, NEUTRAL, ANGRY, ANGRY, NEUTRAL, NEUTRAL])
    sessions = np.array(["a", "a", "a", "a", "b", "", ""])  # "" = the population's clips
    scored = sessions != ""
    empty = np.zeros(0)
    probe = Probe(empty, (empty, empty), empty, empty, empty, labels, empty,
                  {"balanced": (sessions, scored)}, {}, empty)
    chosen = enrolment(probe, 2, np.random.default_rng(0))
    assert chosen[:3].sum() == 2 and not chosen[3:].any()  # voice b has no neutral clip; the population none drawn
