"""Late fusion, its calibration and smoothing, on constructed cases.

Tests of the weighted-mean maths pass ``settings=HAND_SET`` (the fusion before fitting) so they do
not depend on the fitted parameters; the served parameters have tests of their own below.
"""

import copy

import numpy as np
import pytest

import emotion_core
from emotion_core import EMOTIONS, EmotionReader, fuse, is_uncertain, smooth
from emotion_core.calibration import calibrate, expected_calibration_error, softmax
from emotion_core.fusion import (
    HAND_SET,
    METHODS,
    FusionSettings,
    as_vector,
    confidence,
    ema_step,
    log_linear_pool,
    pool,
    served_settings,
)
from emotion_core.labels import scores_to_dict
from emotion_core.reading import disagreement, fused_reading
from emotion_core.weights import load_manifest
from training.fusion_data import Pairs
from training.fusion_fit import best_priors, fit_calibration


def one_hot(label, strength=0.94):
    rest = (1 - strength) / (len(EMOTIONS) - 1)
    return {name: strength if name == label else rest for name in EMOTIONS}


UNIFORM = {name: 1 / len(EMOTIONS) for name in EMOTIONS}


def test_no_face_means_voice_only():
    fused = fuse(None, one_hot("sad"))
    assert fused.voice_weight == 1.0 and fused.face_weight == 0.0
    assert max(fused.scores, key=fused.scores.get) == "sad"


def test_silence_means_face_only():
    fused = fuse(one_hot("happy"), {})
    assert fused.face_weight == 1.0
    assert fused.scores == pytest.approx(one_hot("happy"))


def test_nothing_gives_nothing():
    assert not fuse(None, None).available


def test_the_confident_channel_wins():
    fused = fuse(one_hot("angry", 0.9), one_hot("happy", 0.3), settings=HAND_SET)
    assert fused.face_weight > fused.voice_weight
    assert max(fused.scores, key=fused.scores.get) == "angry"
    flat = fuse(UNIFORM, one_hot("fear"), settings=HAND_SET)
    assert flat.voice_weight > 0.99


def test_fused_scores_sum_to_one():
    fused = fuse(one_hot("angry", 0.6), one_hot("sad", 0.6), settings=HAND_SET)
    assert sum(fused.scores.values()) == pytest.approx(1.0)
    assert fused.face_weight == pytest.approx(0.5)


def test_smoothing_moves_part_way_and_holds_without_news():
    first = smooth(None, one_hot("happy"))
    assert first == pytest.approx(one_hot("happy"))
    moved = smooth(first, one_hot("sad"))
    assert moved["happy"] > moved["sad"] > one_hot("happy")["sad"]
    assert smooth(moved, None) == moved


def test_uncertainty():
    assert is_uncertain(UNIFORM)
    assert is_uncertain({})
    assert not is_uncertain(one_hot("surprise", 0.8))


def test_agreeing_channels_give_the_same_reading():
    fused = fuse(one_hot("happy", 0.7), one_hot("happy", 0.7), settings=HAND_SET)
    assert fused.scores == pytest.approx(one_hot("happy", 0.7))


def test_priors_tilt_an_even_contest():
    fused = fuse(one_hot("angry", 0.6), one_hot("sad", 0.6), face_prior=2.0, voice_prior=1.0, settings=HAND_SET)
    assert fused.face_weight == pytest.approx(2 / 3)
    assert max(fused.scores, key=fused.scores.get) == "angry"


def test_weights_follow_confidence_smoothly():
    weights = [fuse(one_hot("angry", s), one_hot("sad", 0.5), settings=HAND_SET).face_weight
               for s in (0.3, 0.5, 0.7, 0.9)]
    assert weights == sorted(weights) and weights[1] == pytest.approx(0.5)
    assert confidence(as_vector(UNIFORM)) == pytest.approx(0.0, abs=1e-9)
    assert confidence(as_vector(one_hot("fear", 1.0))) == pytest.approx(1.0, abs=1e-6)


def test_scores_that_do_not_sum_to_one_are_normalised():
    fused = fuse({"happy": 3.0, "sad": 1.0}, None)
    assert fused.scores["happy"] == pytest.approx(0.75) and sum(fused.scores.values()) == pytest.approx(1.0)
    assert not fuse({"happy": 0.0}, {}).available


def test_ema_step_depends_on_the_time_between_updates():
    assert ema_step(0.0, 0.5) == 0.0
    assert ema_step(0.5, 0.5) == pytest.approx(1 - 1 / 2.718281828, abs=1e-6)
    assert ema_step(1.0, 0.0) == 1.0
    # ten updates 0.1 s apart move the scores as far as one update 1 s later
    ten = one_hot("happy")
    for _ in range(10):
        ten = smooth(ten, one_hot("sad"), ema_step(0.1, 0.4))
    once = smooth(one_hot("happy"), one_hot("sad"), ema_step(1.0, 0.4))
    assert ten == pytest.approx(once)


# --- calibration -----------------------------------------------------------------------------------

def test_temperature_scaling_keeps_the_top_emotion_and_moves_its_score():
    p = np.array([0.6, 0.25, 0.05, 0.04, 0.03, 0.02, 0.01])
    assert calibrate(p) == pytest.approx(p)
    soft, sharp = calibrate(p, 2.0), calibrate(p, 0.5)
    assert soft == pytest.approx(np.sqrt(p) / np.sqrt(p).sum())  # p ** (1 / T), renormalised
    assert soft.max() < p.max() < sharp.max()
    assert soft.argmax() == sharp.argmax() == 0
    shifted = calibrate(p, 1.0, [0.0, np.log(3.0), 0, 0, 0, 0, 0])  # a class reliability triples class 1
    assert shifted[1] / shifted[0] == pytest.approx(3 * 0.25 / 0.6)
    batch = np.stack([p, p[::-1]])
    assert calibrate(batch, 2.0) == pytest.approx(np.stack([soft, calibrate(p[::-1], 2.0)]))
    with pytest.raises(ValueError, match="positive"):
        calibrate(p, 0.0)


def overconfident(n: int, temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``softmax(T * z)`` whose labels were drawn from ``softmax(z)``: over-confident by T."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, len(EMOTIONS)))
    truth = softmax(logits)
    labels = np.array([rng.choice(len(EMOTIONS), p=row) for row in truth])
    return softmax(temperature * logits), labels


def test_a_fitted_temperature_undoes_known_overconfidence():
    scores, labels = overconfident(4000, 2.5)
    temperature, bias = fit_calibration(scores, labels)
    assert temperature == pytest.approx(2.5, rel=0.12) and bias is None
    after = calibrate(scores, temperature)
    assert expected_calibration_error(after, labels) < 0.5 * expected_calibration_error(scores, labels)


# --- pooling -------------------------------------------------------------------------------------

def test_log_linear_pooling_is_a_product_of_experts():
    a, b = as_vector(one_hot("happy", 0.5)), as_vector(one_hot("sad", 0.4))
    assert log_linear_pool([a, b], [1.0, 1.0]) == pytest.approx(a * b / (a * b).sum())
    assert log_linear_pool([a, b], [1.0, 0.0]) == pytest.approx(a)  # an exponent of 0 silences a channel
    assert log_linear_pool([a, b], [0.5, 0.5]) == pytest.approx(np.sqrt(a * b) / np.sqrt(a * b).sum())
    plain = FusionSettings("log_linear")
    agreeing = fuse(one_hot("happy", 0.7), one_hot("happy", 0.7), settings=plain)
    assert agreeing.scores["happy"] > 0.9  # two independent witnesses are surer than one
    assert agreeing.face_weight == pytest.approx(0.5)


def test_pool_is_batched_and_matches_fuse_row_by_row():
    settings = FusionSettings("log_linear", 1.2, 0.4, 1.5, 2.0, voice_class_bias=(0.3, 0, 0, 0, 0, 0, -0.3))
    rng = np.random.default_rng(1)
    faces, voices = softmax(rng.normal(0, 2, (5, 7))), softmax(rng.normal(0, 2, (5, 7)))
    fused, shares = pool(faces, voices, settings)
    for face, voice, row, share in zip(faces, voices, fused, shares, strict=True):
        single = fuse(scores_to_dict(face), scores_to_dict(voice), settings=settings)
        assert [single.scores[e] for e in EMOTIONS] == pytest.approx(row)
        assert single.face_weight == pytest.approx(share)


@pytest.mark.parametrize("settings", [served_settings(), FusionSettings("log_linear", 2.0, 0.3, 1.7, 3.0)])
def test_a_missing_channel_still_drops_out(settings):
    face, voice = one_hot("happy", 0.55), one_hot("sad", 0.8)
    alone = fuse(face, None, settings=settings)
    assert alone.scores == pytest.approx(face) and (alone.face_weight, alone.voice_weight) == (1.0, 0.0)
    heard = fuse({}, voice, settings=settings)
    assert heard.scores == pytest.approx(voice) and (heard.face_weight, heard.voice_weight) == (0.0, 1.0)
    assert not fuse(None, {}, settings=settings).available


# --- the served parameters -------------------------------------------------------------------------

def test_the_manifest_parameters_are_the_ones_fuse_serves():
    fusion = load_manifest()["fusion"]
    assert fusion["method"] in METHODS
    assert "PublicTest" in fusion["fit"]["data"] and "validation" in fusion["fit"]
    served = served_settings()
    assert served == FusionSettings.from_manifest(load_manifest()) != HAND_SET
    assert emotion_core.default_reader().fusion == served
    face, voice = one_hot("happy", 0.6), one_hot("angry", 0.9)
    assert fuse(face, voice) == fuse(face, voice, settings=served) == emotion_core.default_reader().fuse(face, voice)
    assert fuse(face, voice).scores != pytest.approx(fuse(face, voice, settings=HAND_SET).scores)


def test_a_reader_fuses_with_its_own_manifest_parameters():
    manifest = copy.deepcopy(load_manifest())
    manifest["fusion"] = {"method": "log_linear", "face_prior": 1.0, "voice_prior": 0.0, "fit": {"data": "none"}}
    deaf = EmotionReader.from_manifest(manifest, face_name="", voice_name="", detector_name="")
    face, voice = one_hot("happy", 0.6), one_hot("angry", 0.9)
    assert deaf.fuse(face, voice).scores == pytest.approx(face)  # a voice exponent of 0: the face alone
    assert deaf.fuse(face, voice).scores != pytest.approx(fuse(face, voice).scores)


@pytest.mark.parametrize("given, message", [
    ({"method": "median"}, "unknown fusion method"),
    ({"voice_temperature": 0}, "temperatures > 0"),
    ({"voice_class_bias": [0.1, 0.2]}, "one value per emotion"),
    ({"face_weight": 2.0}, "unknown fusion settings"),
])
def test_a_bad_fusion_object_fails(given, message):
    with pytest.raises(ValueError, match=message):
        FusionSettings.from_manifest({"fusion": given})


def test_fusion_settings_survive_the_manifest_round_trip():
    settings = FusionSettings("log_linear", 1.1, 0.6, 1.3, 2.2, voice_class_bias=(0.1, 0, 0, 0, 0, 0, -0.1))
    assert FusionSettings.from_manifest({"fusion": {**settings.to_manifest(), "fit": {}}}) == settings


# --- honesty about disagreement ----------------------------------------------------------------------

def test_disagreement_is_said_in_words():
    assert disagreement(one_hot("happy"), one_hot("sad")) == "face: happy · voice: sad"
    assert disagreement(one_hot("happy"), one_hot("happy", 0.6)) is None
    assert disagreement(one_hot("happy"), UNIFORM) is None  # an uncertain voice does not disagree
    assert disagreement(None, one_hot("sad")) is None and disagreement(one_hot("sad"), {}) is None
    face, voice = one_hot("happy"), one_hot("sad")
    assert fused_reading(face, voice, fuse(face, voice).scores) == "face: happy · voice: sad"
    assert fused_reading(face, one_hot("happy"), fuse(face, one_hot("happy")).scores) == "happy"
    assert fused_reading(None, None, {}) is None


# --- never worse than the face --------------------------------------------------------------------

def witnesses(n: int, seed: int) -> Pairs:
    """A face right 65 % of the time (top score 0.6) and a voice that is always sure (0.9) but right 1 time in 5."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(EMOTIONS), n)

    def channel(right: float, top: float) -> np.ndarray:
        picks = np.where(rng.random(n) < right, labels, (labels + rng.integers(1, len(EMOTIONS), n)) % len(EMOTIONS))
        scores = np.full((n, len(EMOTIONS)), (1 - top) / (len(EMOTIONS) - 1))
        scores[np.arange(n), picks] = top
        return scores

    return Pairs(channel(0.65, 0.6), channel(0.2, 0.9), labels, np.array(["made up"] * n))


def test_a_confidently_wrong_voice_calibrated_as_unreliable_never_costs_the_face():
    validation, test = witnesses(3000, 1), witnesses(3000, 2)
    face_t, _ = fit_calibration(validation.face, validation.label)
    voice_t, _ = fit_calibration(validation.voice, validation.label)
    assert voice_t > 2 * face_t  # the sure-sounding voice is found out on validation
    base = FusionSettings("log_linear", face_temperature=face_t, voice_temperature=voice_t)
    fitted = best_priors(base, {"made up": validation})
    face_accuracy = np.mean(test.face.argmax(1) == test.label)
    fused_accuracy = np.mean(pool(test.face, test.voice, fitted)[0].argmax(1) == test.label)
    hand_set_accuracy = np.mean(pool(test.face, test.voice, HAND_SET)[0].argmax(1) == test.label)
    assert fused_accuracy >= face_accuracy
    assert hand_set_accuracy < face_accuracy - 0.1  # the uncalibrated fusion follows the sure voice


def test_the_page_says_the_disagreement_and_shows_each_channels_weight():
    import app

    face, voice = one_hot("happy", 0.8), one_hot("sad", 0.8)
    fused = fuse(face, voice)
    value = app.fused_value(face, voice, fused)
    assert value["label"] == "face: happy · voice: sad"
    weights = {entry["label"]: entry["confidence"] for entry in value["confidences"][-2:]}
    assert weights == {"face weight": pytest.approx(fused.face_weight),
                       "voice weight": pytest.approx(fused.voice_weight)}
    emotions = [entry["label"] for entry in value["confidences"][:-2]]
    assert sorted(emotions) == sorted(EMOTIONS) and emotions[0] == max(fused.scores, key=fused.scores.get)
    alone = app.fused_value(face, {}, fuse(face, {}))
    assert alone["label"] == "happy" and len(alone["confidences"]) == len(EMOTIONS)  # no weights: one channel


# --- a segment's voice in a video ------------------------------------------------------------------

def test_a_video_segment_hears_the_windows_centred_on_it_not_a_neighbouring_sentence():
    from emotion_core.video import VoiceWindow, voice_scores_at

    # 3 s windows every 0.5 s; a sad sentence until 3 s, then a happy one: labelled by their centres.
    windows = [VoiceWindow(k / 2, k / 2 + 3, 2.0, one_hot("sad" if k / 2 + 1.5 < 3 else "happy")) for k in range(7)]
    speech = ((0.0, 6.0),)
    assert voice_scores_at(3.0, 3.5, windows, speech) == pytest.approx(one_hot("happy"))  # not 2 sad + 4 happy
    assert voice_scores_at(2.0, 2.5, windows, speech) == pytest.approx(one_hot("sad"))
    assert voice_scores_at(0.0, 0.5, windows, speech) == pytest.approx(one_hot("sad"))  # nearest centre: 1.5 s
    assert voice_scores_at(7.0, 7.5, windows, speech) == {}  # no speech near


def test_a_video_segment_says_when_the_voice_it_hears_is_drowned_in_noise():
    from emotion_core.annotate import caption
    from emotion_core.video import VoiceWindow, build_segments

    flat = dict.fromkeys(EMOTIONS, 1 / len(EMOTIONS))
    # a clear sentence until 3 s, then speech drowned in noise: labelled by the windows' centres
    windows = tuple(VoiceWindow(k / 2, k / 2 + 3, 2.0, one_hot("sad") if k / 2 + 1.5 < 3 else flat, k / 2 + 1.5 >= 3)
                    for k in range(7))
    clear, mixed, drowned, silent = build_segments([(0.5, []), (2.0, []), (3.5, []), (7.0, [])], 7.5, windows,
                                                   ((0.0, 6.0),))
    assert drowned.voice_in_loud_noise and not silent.voice_in_loud_noise
    assert not clear.voice_in_loud_noise and not mixed.voice_in_loud_noise  # one drowned window of three
    assert drowned.to_dict()["voice"]["in_loud_noise"] and not clear.to_dict()["voice"]["in_loud_noise"]
    assert caption(drowned) == "face - | voice uncertain (speech in loud noise) | fused uncertain"
    assert caption(clear).startswith("face - | voice sad ") and "noise" not in caption(clear)


def test_a_pause_in_live_speech_ends_the_voice_reading(monkeypatch):
    from emotion_core import live
    from harness.media import microphone_speech

    voice = {"scores": one_hot("sad")}
    monkeypatch.setattr(live, "read_window", lambda piece: (dict(voice["scores"]), False))
    now = [100.0]
    session = live.LiveSession(lambda: now[0])

    def stream(samples, rate=48000, step=12000):
        state = None
        for start in range(0, samples.size, step):
            now[0] += step / rate
            state = session.add_audio(samples[start : start + step], rate)
        return state

    speech = microphone_speech(48000)[: 48000 * 2]
    assert stream(speech).voice_scores == pytest.approx(one_hot("sad"))
    paused = stream(np.zeros(int(48000 * 1.25), np.float32))  # shorter than STALE_SECONDS
    assert not paused.has_speech and paused.voice_scores == {}
    voice["scores"] = one_hot("happy")
    resumed = stream(speech[48000 // 2 : 48000 * 3 // 2])
    assert resumed.has_speech and resumed.voice_scores == pytest.approx(one_hot("happy"))  # not blended with sad
