"""Probe (issue 17): move each voice's centre in the served networks' own embedding, without retraining.

The functionals experiment (``training.voice_functionals``) found that taking away where a speaker's
voice sits lifts every left-out acted corpus by 10-13 points. Would the same step inside the served CNN
do it, with no new features and no retraining? Each of the served float file's networks ends in mean
and max pooling over time (a 512-number embedding per 3 s window) and one dense softmax layer. This
probe shifts every window's embedding by ``strength * (session centre - population centre)`` before
that layer, then averages the networks and pools the windows with speech as the served path does.

The session centre is the mean clip embedding over a session's reference clips, shrunk towards the
population centre as if that weighed ``prior_clips`` clips. Reference: all of the session's speech
(population: 1,500 training clips of the training corpora drawn at random), or only the clips the
unshifted networks read as neutral (population: the training corpora's training clips labelled
neutral). Sessions are read three ways as in ``training.voice_functionals``: balanced (all of a
speaker's clips), neutral-heavy, one mood.

A third run (designed after the second): an enrolment step, each voice centred on one or three of its
neutral clips, as a "say a sentence in your usual voice" calibration would give, whatever the mood of
the session that follows (the enrolment clips are not scored).

Rule fixed before each run: half the validation UAR (balanced reading) plus half the mean of EMOVO dev's
UAR over the three readings; the unshifted networks are the baseline; test sets and URDU are read for
the chosen shift and the baseline only. Float networks (their int8 file agrees on 98.8 % of the clips).

``python -m training.voice_embedding_shift embed``     (about 2.5 min: artifacts/voice_embeddings.npz)
``python -m training.voice_embedding_shift evaluate``  (about 1 min: reports/voice/embedding_shift.json)
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np

from emotion_core.reader import pooling_mask
from training.voice_data import DEFAULT_OUT as CACHE
from training.voice_data import PROJECT_ROOT, clip_audio, clip_table, clip_windows, default_data_dir, load_cache
from training.voice_functionals import (
    NEUTRAL,
    SESSION_READINGS,
    choice_score,
    evaluation_sets,
    measured,
    neutral_heavy,
)
from training.voice_train import corpus_uars

SERVED_FLOAT = PROJECT_ROOT / "weights" / "voice_emotion_float.tflite"
EMBEDDINGS = PROJECT_ROOT / "artifacts" / "voice_embeddings.npz"
RESULTS = PROJECT_ROOT / "reports" / "voice" / "embedding_shift.json"
STRENGTHS = (0.5, 1.0)
PRIOR_CLIPS = (0, 5, 20)
POPULATION_SAMPLE = 1500
ENROLMENT_CLIPS = (1, 3)  # neutral clips (about 3 s each) a voice gives before its session
ENROLMENT_PRIOR_CLIPS = (0, 2)


def needed_clips(cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clips to embed (validation, test, EMOVO, URDU, and the population's), and which of them are the
    population's neutral training clips and its random sample of training clips."""
    corpus, split, label = cache["corpus"], cache["split"], cache["label"]
    scored = np.flatnonzero((split != "train") | np.isin(corpus, ("emovo", "urdu")))
    training = np.flatnonzero((split == "train") & ~np.isin(corpus, ("emovo", "urdu")))
    sample = np.random.default_rng(0).choice(training, size=POPULATION_SAMPLE, replace=False)
    clips = np.unique(np.concatenate([scored, training[label[training] == NEUTRAL], sample]))
    in_training = np.isin(clips, training)
    return clips, in_training & (label[clips] == NEUTRAL), np.isin(clips, sample)


def embed() -> None:
    """Every needed clip's served windows through each network's embedding; the networks' heads."""
    import keras

    from training.voice_export import load_model
    from training.voice_train import limit_threads

    limit_threads(2)
    cache, started = load_cache(CACHE), time.time()
    clips, neutral_population, sample_population = needed_clips(cache)
    sample = np.concatenate([clip_windows(clip_audio(cache, i))[0] for i in clips[:20]])[..., None]
    networks = [layer for layer in load_model([SERVED_FLOAT], sample).layers if isinstance(layer, keras.Model)]
    embedders = [keras.Model(net.inputs, net.layers[-3].output) for net in networks]  # pooled, before dropout
    embeddings, voiced, offsets = [], [], [0]
    for done, index in enumerate(clips):
        inputs, speech = clip_windows(clip_audio(cache, index))
        embeddings.append(np.stack([e.predict_on_batch(inputs[..., None]) for e in embedders], axis=1))
        voiced.append(speech)
        offsets.append(offsets[-1] + len(inputs))
        if done % 1000 == 0:
            print(f"{done}/{len(clips)} clips, {time.time() - started:.0f} s", flush=True)
    heads = [net.layers[-1].get_weights() for net in networks]
    np.savez(EMBEDDINGS, clips=clips, neutral_population=neutral_population, sample_population=sample_population,
             offsets=np.array(offsets), embeddings=np.concatenate(embeddings).astype(np.float32),
             voiced=np.concatenate(voiced), weights=np.stack([w for w, _ in heads]),
             biases=np.stack([b for _, b in heads]))


def pooled_windows(offsets: np.ndarray, voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each window's clip, and which windows a clip's scores pool (the runtime's rule, ``pooling_mask``)."""
    clip_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    used = [pooling_mask(voiced[start:stop]) for start, stop in zip(offsets[:-1], offsets[1:], strict=True)]
    return clip_of, np.concatenate(used)


def clip_means(values: np.ndarray, clip_of: np.ndarray, used: np.ndarray, count: int) -> np.ndarray:
    """``(clips, ...)``: each clip's mean of ``values`` (one row per window) over its pooled windows."""
    sums = np.zeros((count, *values.shape[1:]))
    np.add.at(sums, clip_of[used], values[used])
    return sums / np.bincount(clip_of[used], minlength=count).reshape(-1, *[1] * (values.ndim - 1))


def clip_scores(embeddings: np.ndarray, shift: np.ndarray, heads: tuple[np.ndarray, np.ndarray],
                clip_of: np.ndarray, used: np.ndarray) -> np.ndarray:
    """``(clips, 7)``: every window's shifted embedding through each network's head, the networks
    averaged, the pooled windows averaged (the served path's pooling)."""
    weights, biases = heads
    logits = np.einsum("wne,nec->wnc", embeddings - shift[clip_of], weights) + biases[None]
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities = (probabilities / probabilities.sum(-1, keepdims=True)).mean(axis=1)
    return clip_means(probabilities, clip_of, used, len(shift))


def session_shift(means: np.ndarray, sessions: np.ndarray, reference: np.ndarray, population: np.ndarray,
                  prior_clips: float, strength: float) -> np.ndarray:
    """Per clip ``strength * (its session's shrunk reference centre - population)``; clips whose session
    is ``""`` (the population's own) are not shifted."""
    shift = np.zeros_like(means)
    for session in np.unique(sessions[sessions != ""]):
        rows = sessions == session
        basis = means[rows & reference]
        weight = len(basis) / (len(basis) + prior_clips) if len(basis) else 0.0
        centre = weight * basis.mean(0) + (1 - weight) * population if len(basis) else population
        shift[rows] = strength * (centre - population)
    return shift


@dataclass(frozen=True)
class Probe:
    """The embedded clips and what scoring them needs."""

    embeddings: np.ndarray  # (windows, networks, 512)
    heads: tuple[np.ndarray, np.ndarray]
    clip_of: np.ndarray
    used: np.ndarray
    means: np.ndarray  # (clips, networks, 512)
    labels: np.ndarray
    corpora: np.ndarray
    sessions: dict[str, tuple[np.ndarray, np.ndarray]]  # reading -> (session of each clip, "" = population; scored)
    sets: dict[str, np.ndarray]
    validation: np.ndarray

    def scores(self, shift: np.ndarray) -> np.ndarray:
        return clip_scores(self.embeddings, shift, self.heads, self.clip_of, self.used)


def load_probe() -> tuple[Probe, np.ndarray, np.ndarray]:
    """The probe, and the population rows (neutral training clips; random training clips)."""
    stored = np.load(EMBEDDINGS)
    table = clip_table(default_data_dir())  # the cache's clips, in its order
    clips = stored["clips"]
    labels, speakers, corpora, splits = (table[k][clips] for k in ("label", "speaker", "corpus", "split"))
    clip_of, used = pooled_windows(stored["offsets"], stored["voiced"])
    population = (splits == "train") & (corpora != "emovo")  # EMOVO f1 f2 m1 m2 are "train" in the cache
    position = {clip: n for n, clip in enumerate(clips)}
    sets = {name: np.array([position[i] for i in index]) for name, index in evaluation_sets(table, "emovo").items()}
    half = neutral_heavy(labels, speakers, np.random.default_rng(0))
    sessions = {"balanced": (np.where(population, "", speakers), ~population),
                "neutral-heavy": (np.where(population, "", speakers), ~population & half),
                "one mood": (np.where(population, "", np.char.add(speakers, labels.astype(str))), ~population)}
    probe = Probe(stored["embeddings"], (stored["weights"], stored["biases"]), clip_of, used,
                  clip_means(stored["embeddings"], clip_of, used, len(clips)), labels, corpora, sessions, sets,
                  np.flatnonzero(splits == "val"))
    return probe, stored["neutral_population"], stored["sample_population"]


def enrolment(probe: Probe, clips_per_voice: int, rng: np.random.Generator) -> np.ndarray:
    """A calibration step: for each scored voice, ``clips_per_voice`` of its neutral clips drawn at random
    (the voice says a few sentences in its usual voice before the session)."""
    sessions, scored = probe.sessions["balanced"]
    chosen = np.zeros(len(sessions), dtype=bool)
    for voice in np.unique(sessions[scored]):
        neutral = np.flatnonzero((sessions == voice) & (probe.labels == NEUTRAL))
        chosen[rng.choice(neutral, size=min(clips_per_voice, len(neutral)), replace=False)] = True
    return chosen


def enrolled_variants(probe: Probe, neutral_population: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Third run: each voice centred on its enrolment clips (neutral by instruction, whatever the session's
    mood, so every reading is the same); the enrolment clips themselves are not scored (-1). A voice
    without neutral clips (most of URDU's) is not shifted."""
    sessions, _ = probe.sessions["balanced"]
    centre, out = probe.means[neutral_population].mean(0), {}
    for clips_per_voice in ENROLMENT_CLIPS:
        enrolled = enrolment(probe, clips_per_voice, np.random.default_rng(clips_per_voice))
        for strength in STRENGTHS:
            for prior in ENROLMENT_PRIOR_CLIPS:
                shift = session_shift(probe.means, sessions, enrolled, centre, prior, strength)
                predicted = probe.scores(shift).argmax(1)
                predicted[enrolled] = -1
                name = f"enrolled neutral clips {clips_per_voice}, strength {strength}, shrink {prior}"
                out[name] = dict.fromkeys(SESSION_READINGS, predicted)
    return out


def grid_row(probe: Probe, name: str, predicted: dict[str, np.ndarray]) -> dict:
    """The rule's figures for one variant: validation (balanced), EMOVO dev per reading, the choice."""
    answered = probe.validation[predicted["balanced"][probe.validation] >= 0]  # enrolment clips are not scored
    val = 100 * corpus_uars(probe.labels[answered], predicted["balanced"][answered], probe.corpora[answered])["score"]
    dev = probe.sets["emovo:dev"]
    devs = {r: measured(probe.labels[dev], p[dev])["uar"] for r, p in predicted.items()}
    return {"variant": name, "validation": round(val, 1), "dev": devs,
            "choice": round(choice_score(val, float(np.mean(list(devs.values())))), 1)}


def evaluate() -> None:
    probe, neutral_population, sample_population = load_probe()
    baseline = probe.scores(np.zeros_like(probe.means)).argmax(1)
    predictions = {"unshifted": dict.fromkeys(SESSION_READINGS, baseline)}
    references = {"all speech": (np.ones(len(baseline), dtype=bool), probe.means[sample_population].mean(0)),
                  "speech read as neutral": (baseline == NEUTRAL, probe.means[neutral_population].mean(0))}
    for reference_name, (reference, centre) in references.items():
        for strength in STRENGTHS:
            for prior in PRIOR_CLIPS:
                predictions[f"{reference_name}, strength {strength}, shrink {prior}"] = {
                    reading: probe.scores(session_shift(probe.means, sessions, scored & reference, centre, prior,
                                                        strength)).argmax(1)
                    for reading, (sessions, scored) in probe.sessions.items()}
    predictions.update(enrolled_variants(probe, neutral_population))
    grid = [grid_row(probe, name, predicted) for name, predicted in predictions.items()]
    for row in grid:
        print(row)
    best = max(grid[1:], key=lambda row: row["choice"])["variant"]
    before_enrolment = max((row for row in grid[1:] if not row["variant"].startswith("enrolled")),
                           key=lambda row: row["choice"])["variant"]  # the second run's choice
    tests = {name: {reading: {s: measured(probe.labels[i], p[i]) for s, i in probe.sets.items()}
                    for reading, p in predictions[name].items()} for name in ("unshifted", before_enrolment, best)}
    RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                   "model": SERVED_FLOAT.name, "grid": grid, "chosen": best,
                                   "chosen_before_enrolment": before_enrolment, "tests": tests},
                                  indent=1) + "\n")
    print(f"{RESULTS}: chosen {best}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("embed", "evaluate"))
    embed() if parser.parse_args().step == "embed" else evaluate()


if __name__ == "__main__":
    main()
