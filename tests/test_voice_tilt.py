"""The voice-tilt experiment's input (training.voice_tilt): what it keeps, what cancels, how sessions are heard."""

from __future__ import annotations

import numpy as np

from emotion_core.audio import N_MELS, WINDOW_FRAMES, load_audio, mel_to_input, resample
from harness import FIXTURES
from training.voice_tilt import (
    CALM,
    ENROL_CLIPS,
    MAX_HEARD,
    NO_ENROL_SHARE,
    band_means,
    calm_members,
    drawn_enrolment,
    drawn_profile,
    enrolment,
    heard_so_far,
    speaker_members,
    tilted_input,
)
from training.voice_train import AUGMENT_PRESETS, TrainConfig, noise_profile, training_example


def a_window(seed: int = 0, frames: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(-40.0, 8.0, size=(frames, N_MELS)) + np.linspace(0.0, -20.0, N_MELS)).astype(np.float32)


def test_no_tilt_is_the_served_input():
    mel = a_window()
    np.testing.assert_allclose(tilted_input(mel, np.zeros(N_MELS)), mel_to_input(mel), atol=1e-5)
    # a voice heard only through this window has no tilt either
    np.testing.assert_allclose(tilted_input(mel, band_means(mel) - band_means(mel)), mel_to_input(mel), atol=1e-5)


def test_a_fixed_channel_cancels_and_a_tilt_against_the_voice_is_kept():
    mel, voice = a_window(1), band_means(a_window(2)) - 3.0 * np.linspace(0.0, 1.0, N_MELS)
    microphone = 6.0 * np.sin(np.linspace(0.0, 3.0, N_MELS))  # colours the window and the voice alike
    heard = tilted_input(mel, band_means(mel) - voice)
    coloured = tilted_input(mel + microphone, band_means(mel + microphone) - (voice + microphone))
    np.testing.assert_allclose(coloured, heard, atol=1e-4)
    assert heard.shape == (WINDOW_FRAMES, N_MELS) and heard.dtype == np.float32
    assert np.abs(heard - mel_to_input(mel)).max() > 0.1  # the tilt reaches the input


def test_a_session_hears_each_voice_in_order_and_never_mixes_voices():
    profiles = np.arange(10, dtype=float)[:, None] * np.ones((1, N_MELS))
    speakers = np.array(["a", "b"] * 5)
    heard = heard_so_far(profiles, speakers, seed=3)
    for speaker in ("a", "b"):
        own = profiles[speakers == speaker][:, 0]
        running = heard[speakers == speaker][:, 0]
        assert np.any(np.isclose(running, own.mean()))  # the last clip heard: the whole session
        assert np.any(np.isclose(running, own))  # first heard: itself alone
        assert own.min() <= running.min() and running.max() <= own.max()
    np.testing.assert_array_equal(heard, heard_so_far(profiles, speakers, seed=3))


def test_a_training_profile_averages_the_clip_and_other_clips_of_its_speaker():
    profiles = np.vstack([np.full(N_MELS, 1.0), np.full(N_MELS, 5.0), np.full(N_MELS, 5.0), np.full(N_MELS, -9.0)])
    speakers = np.array(["a", "a", "a", "b"])
    members = speaker_members(speakers)
    np.testing.assert_array_equal(members[0], [0, 1, 2])
    rng, seen = np.random.default_rng(0), []
    for _ in range(300):
        drawn = drawn_profile(rng, profiles, 0, members[0])
        assert np.allclose(drawn, drawn[0]) and 1.0 <= drawn[0] <= 5.0  # never speaker b's -9
        seen.append(drawn[0])
    assert min(seen) == 1.0 and max(seen) > 4.0  # heard alone, and heard at length
    assert MAX_HEARD >= 8


def test_the_tilted_training_example_repeats_with_its_seed_and_differs_from_the_plain_one():
    samples, rate = load_audio(FIXTURES / "speech.wav")
    samples = resample(samples, rate)
    config, noise = TrainConfig(**AUGMENT_PRESETS["rooms"], voice_tilt=True), noise_profile()
    voice = np.linspace(-30.0, -70.0, N_MELS)
    first = training_example(samples, np.random.default_rng(5), noise, config, voice)
    again = training_example(samples, np.random.default_rng(5), noise, config, voice)
    plain = training_example(samples, np.random.default_rng(5), noise, config)
    np.testing.assert_array_equal(first, again)
    assert first.shape == plain.shape == (WINDOW_FRAMES, N_MELS)
    assert np.abs(first - plain).max() > 0.1


def test_the_rule_reads_no_test_speaker_and_no_urdu():
    from training.voice_tilt_experiment import test_sets

    corpus = np.array(["ravdess"] * 3 + ["crema-d"] * 3 + ["emovo"] * 2 + ["urdu", "tess"])
    split = np.array(["train", "val", "test", "train", "val", "test", "train", "test", "test", "train"])
    sets = test_sets({"corpus": corpus, "split": split})
    chosen = np.concatenate([sets[name] for name in ("ravdess:val", "crema-d:val", "emovo:dev")])
    assert set(chosen) == {1, 4, 6}  # validation speakers and EMOVO's non-test speakers only
    assert set(sets["emovo:all"]) == {6, 7} and set(sets["urdu:all"]) == {8}
    assert 9 not in np.concatenate(list(sets.values()))  # TESS: trained on, never a test


def test_the_checks_sessions_group_a_voice_by_mood_or_by_clip():
    from training.voice_tilt_experiment import session_keys

    cache = {"speaker": np.array(["a", "a", "a", "b"]), "label": np.array([0, 0, 3, 0])}
    index = np.arange(4)
    assert len(set(session_keys(cache, index, "speaker"))) == 2
    mood = session_keys(cache, index, "one-mood")
    assert mood[0] == mood[1] and len({mood[0], mood[2], mood[3]}) == 3  # same voice, other mood: another session
    assert len(set(session_keys(cache, index, "clip"))) == 4


ANGRY, SAD = 0, 4


def two_voices() -> tuple[np.ndarray, np.ndarray]:
    """Voice a: 5 calm clips and 3 angry ones; voice b: 2 calm clips and 5 sad ones, interleaved."""
    speakers = np.array(["a"] * 8 + ["b"] * 7)
    labels = np.array([CALM] * 5 + [ANGRY] * 3 + [CALM] * 2 + [SAD] * 5)
    order = np.random.default_rng(1).permutation(15)
    return speakers[order], labels[order]


def test_a_test_voice_enrols_with_its_own_calm_clips_and_they_are_not_scored():
    speakers, labels = two_voices()
    scored, enrolled_with = enrolment(speakers, labels, seed=2)
    assert list(scored) == sorted(scored) and len(scored) == len(enrolled_with)
    assert set(speakers[scored]) == {"a"}  # b has too few calm clips to enrol and leave one to score
    enrol = enrolled_with[0]
    assert len(enrol) == ENROL_CLIPS and all(np.array_equal(e, enrol) for e in enrolled_with)
    assert set(speakers[enrol]) == {"a"} and set(labels[enrol]) == {CALM}
    assert not set(enrol) & set(scored)
    assert sorted(set(scored) | set(enrol)) == list(np.flatnonzero(speakers == "a"))
    again = enrolment(speakers, labels, seed=2)
    np.testing.assert_array_equal(again[0], scored)
    one, with_one = enrolment(speakers, labels, seed=2, clips=1)  # a shorter enrolment: b can enrol too
    assert set(speakers[one]) == {"a", "b"} and {len(e) for e in with_one} == {1}
    assert len(one) == 15 - 2


def test_the_upset_check_enrols_with_one_other_mood():
    speakers, labels = two_voices()
    scored, enrolled_with = enrolment(speakers, labels, seed=2, calm=False)
    assert set(speakers[scored]) == {"b"}  # a's 3 angry clips would leave none to score
    assert set(labels[enrolled_with[0]]) == {SAD} and not set(enrolled_with[0]) & set(scored)


def test_a_training_enrolment_averages_other_calm_clips_of_its_voice_or_is_none():
    speakers, labels = two_voices()
    profiles = np.arange(15, dtype=float)[:, None] * np.ones((1, N_MELS))
    calm = calm_members(speakers, labels)
    assert all(set(labels[c]) == {CALM} and set(speakers[c]) == {speakers[i]} for i, c in enumerate(calm))
    own = int(np.flatnonzero((speakers == "a") & (labels == CALM))[0])
    others = set(np.flatnonzero((speakers == "a") & (labels == CALM))) - {own}
    rng, drawn = np.random.default_rng(0), []
    for _ in range(400):
        drawn.append(drawn_enrolment(rng, profiles, own, calm[own]))
    given = [d for d in drawn if d is not None]
    assert abs(1 - len(given) / len(drawn) - NO_ENROL_SHARE) < 0.08
    assert all(min(others) <= d[0] <= max(others) for d in given)
    assert {d[0] for d in given} >= {float(i) for i in others}  # each single calm clip drawn alone at times
    only_itself = np.array([own])  # a voice whose one calm clip is this one did not enrol
    assert all(drawn_enrolment(rng, profiles, own, only_itself) is None for _ in range(20))


def test_an_enrolled_reading_scores_the_same_clips_for_every_network():
    from training.voice_tilt_experiment import scored_clips

    speakers, labels = two_voices()
    cache, index = {"speaker": speakers, "label": labels}, np.arange(15)
    kept, enrolled_with = scored_clips(cache, index, "enrolled")
    assert len(kept) == 8 - ENROL_CLIPS and len(enrolled_with) == len(kept)
    subset = np.flatnonzero(speakers == "a")
    kept_a, _ = scored_clips(cache, subset, "enrolled")
    np.testing.assert_array_equal(kept_a, kept)  # cache indices, whatever the set's own positions
    every, none = scored_clips(cache, index, "speaker")
    assert every is index and none is None
