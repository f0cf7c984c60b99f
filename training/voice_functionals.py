"""Experiment (issue 17): prosodic functionals normalised per speaker, alone and beside the served CNN.

Issue 17 names openSMILE's eGeMAPS features and normalising per speaker as directions. This module
measures both under the issue's protocol, on the clips of ``training.voice_data``'s cache:

``python -m training.voice_functionals extract``: the 88 eGeMAPS v02 functionals of every cached clip
(whole clip, 16 kHz) into ``artifacts/voice_functionals.npz`` (about 5 minutes with 2 processes).

``python -m training.voice_functionals evaluate``: for each corpus left out (EMOVO, RAVDESS, CREMA-D) a
class-balanced logistic regression on the functionals of the other acted corpora' training speakers,
with the functionals standardised either over the training clips (``global``) or per speaker
(``speaker``: each speaker's clips by that speaker's own mean and deviation). The regularisation is
chosen by a rule fixed before any run: half the validation UAR (mean over the training corpora's
validation speakers) plus half the held-out corpus's dev UAR (its speakers outside the test split).
Then, for EMOVO left out (the served CNN never heard it), the served CNN's scores (int8,
``analyze_speech``) and the functionals' scores combined as ``log p_cnn + w log p_functionals``, w
chosen by the same rule. Test sets, URDU included, are read only for the chosen settings; the figures
go to ``reports/voice/functionals.json``.

Per-speaker statistics need a speaker's speech. Three readings of them: over all of the speaker's
clips (an acted corpus gives every emotion equally often: an upper bound), over a neutral-heavy half
(all the speaker's neutral clips and as many others: a live user is mostly neutral) and over ten clips
of that half (a short session). URDU's speaker tags each hold one emotion, the case where statistics
of the voice are statistics of its mood.

openSMILE is under audEERING's research licence (private, research and educational use), so this is
an experiment only: nothing here is served and ``opensmile`` is not a requirement of the project
(``pip install opensmile`` to run it).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from emotion_core.audio import SAMPLE_RATE
from emotion_core.labels import EMOTION_INDEX, EMOTIONS
from training.metrics import uar
from training.voice_crosscorpus import HELD_OUT_CORPORA, collapse
from training.voice_data import DEFAULT_OUT as CACHE
from training.voice_data import PROJECT_ROOT, load_cache
from training.voice_train import corpus_uars

FEATURES = PROJECT_ROOT / "artifacts" / "voice_functionals.npz"
RESULTS = PROJECT_ROOT / "reports" / "voice" / "functionals.json"
REGULARISATION = (0.003, 0.01, 0.03, 0.1, 1.0)  # logistic regression C, chosen per run by the rule
FUSION_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # w in log p_cnn + w log p_functionals
SHORT_SESSION_CLIPS = 10
NEUTRAL = EMOTION_INDEX["neutral"]
SESSION_READINGS = ("balanced", "neutral-heavy", "one mood")
# the functionals that mostly describe the voice and the microphone rather than the moment: pitch level,
# formant frequencies, MFCC 1-4 means (all frames and voiced frames)
IDENTITY_COLUMNS = [0, 2, 3, 4, 40, 46, 52, 22, 24, 26, 28, 68, 70, 72, 74]
CHUNK = 500


@lru_cache(maxsize=1)
def cached_samples() -> tuple[np.ndarray, np.ndarray]:
    """The cache's samples and clip offsets, read once per worker process."""
    cache = np.load(CACHE)
    return cache["samples"], cache["sample_offsets"]


def functionals_of(bounds: tuple[int, int]) -> np.ndarray:
    """eGeMAPS v02 functionals ``(n, 88)`` of cached clips ``bounds[0]:bounds[1]`` (one worker's share)."""
    import opensmile

    samples, offsets = cached_samples()
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    rows = [smile.process_signal(samples[offsets[i]:offsets[i + 1]], SAMPLE_RATE).to_numpy()[0]
            for i in range(*bounds)]
    return np.array(rows, dtype=np.float32)


def extract(processes: int, features_of=functionals_of, out: Path = FEATURES) -> None:
    """``features_of`` (a module-level function of clip bounds, run in ``processes`` workers) over every cached
    clip, saved to ``out`` with each clip's path, corpus, speaker, label and split."""
    cache = load_cache(CACHE)
    count, started = len(cache["label"]), time.time()
    chunks = [(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK)]
    parts = []
    with Pool(processes) as pool:
        for done, part in enumerate(pool.imap(features_of, chunks), 1):
            parts.append(part)
            print(f"{done}/{len(chunks)} chunks, {time.time() - started:.0f} s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, features=np.concatenate(parts), **{key: cache[key] for key in
                                                      ("path", "corpus", "speaker", "label", "split")})


def standardise_global(features: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Every row by the training rows' mean and deviation."""
    return (features - features[train].mean(0)) / (features[train].std(0) + 1e-8)


@dataclass(frozen=True)
class Prior:
    """Population statistics that a speaker's own are shrunk towards, weighing as much as ``clips`` clips."""

    mean: np.ndarray
    variance: np.ndarray
    clips: float


def standardise_per_speaker(features: np.ndarray, speakers: np.ndarray, reference: np.ndarray,
                            prior: Prior | None = None) -> np.ndarray:
    """Each speaker's rows by the mean and deviation of that speaker's ``reference`` rows, shrunk towards
    ``prior`` when given (few clips then move the statistics little). A speaker without reference rows
    gets the prior's statistics, or without a prior those of all its rows."""
    out = np.empty_like(features)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        basis = features[rows & reference]
        if len(basis) == 0:
            mean, variance = (prior.mean, prior.variance) if prior else (features[rows].mean(0), features[rows].var(0))
        else:
            mean, variance = basis.mean(0), basis.var(0)
            if prior is not None:
                share = len(basis) / (len(basis) + prior.clips)
                mean = share * mean + (1 - share) * prior.mean
                variance = share * variance + (1 - share) * prior.variance
        out[rows] = (features[rows] - mean) / (np.sqrt(variance) + 1e-8)
    return out


def neutral_heavy(labels: np.ndarray, speakers: np.ndarray, rng: np.random.Generator,
                  clips: int | None = None) -> np.ndarray:
    """Rows a mostly neutral voice would give: each speaker's neutral clips and as many others (drawn),
    or ``clips`` drawn from that half (a short session); all of a speaker's rows where it has no neutral
    clip (its session is all it has)."""
    chosen = np.zeros(len(labels), dtype=bool)
    for speaker in np.unique(speakers):
        rows = np.flatnonzero(speakers == speaker)
        neutral, other = rows[labels[rows] == NEUTRAL], rows[labels[rows] != NEUTRAL]
        half = rows if len(neutral) == 0 else np.concatenate(
            [neutral, rng.choice(other, size=min(len(other), len(neutral)), replace=False)])
        if clips is not None and len(half) > clips:
            half = rng.choice(half, size=clips, replace=False)
        chosen[half] = True
    return chosen


def choice_score(validation: float, dev: float) -> float:
    """The rule fixed before the runs: validation speakers and the held-out corpus's dev speakers alike."""
    return 0.5 * validation + 0.5 * dev


def measured(labels: np.ndarray, predicted: np.ndarray) -> dict:
    """UAR over answered clips, collapse ratio and the share read as a class the set lacks (%)."""
    answered = predicted >= 0
    shape = collapse(labels, predicted)
    return {"uar": round(100 * uar(labels[answered], predicted[answered]), 1), "collapse": round(shape.ratio, 2),
            "worst": shape.worst_class, "foreign": round(100 * shape.foreign_share, 1)}


def evaluation_sets(table: dict, held_out: str) -> dict[str, np.ndarray]:
    corpus, split = table["corpus"], table["split"]
    sets = {f"{held_out}:all": np.flatnonzero(corpus == held_out),
            f"{held_out}:dev": np.flatnonzero((corpus == held_out) & (split != "test")),
            "urdu:all": np.flatnonzero(corpus == "urdu")}
    for trained in (c for c in HELD_OUT_CORPORA if c != held_out):
        sets[f"{trained}:test"] = np.flatnonzero((corpus == trained) & (split == "test"))
    return sets


def class_scores(model, features: np.ndarray) -> np.ndarray:
    """``(n, 7)`` log-probabilities in :data:`EMOTIONS` order (classes the model never saw: very unlikely)."""
    out = np.full((len(features), len(EMOTIONS)), np.log(1e-6))
    out[:, model.classes_] = np.log(model.predict_proba(features) + 1e-6)
    return out


def chosen_model(table: dict, inputs: np.ndarray, train: np.ndarray, validation: np.ndarray, dev: np.ndarray):
    """The logistic regression of :data:`REGULARISATION` with the best :func:`choice_score`, and the grid."""
    from sklearn.linear_model import LogisticRegression

    labels, corpus, grid = table["label"], table["corpus"], []
    for strength in REGULARISATION:
        model = LogisticRegression(C=strength, class_weight="balanced", max_iter=3000).fit(inputs[train], labels[train])
        predicted = model.predict(inputs)
        val = 100 * corpus_uars(labels[validation], predicted[validation], corpus[validation])["score"]
        dev_uar = 100 * uar(labels[dev], predicted[dev])
        grid.append({"C": strength, "validation": round(val, 1), "dev": round(dev_uar, 1),
                     "choice": round(choice_score(val, dev_uar), 1), "model": model})
    best = max(grid, key=lambda row: row["choice"])
    return best["model"], [{k: v for k, v in row.items() if k != "model"} for row in grid]


def inputs_by_reading(table: dict, norm: str, train: np.ndarray) -> dict[str, np.ndarray]:
    """The standardised functionals, per reading of the speaker statistics."""
    features, speakers, labels = table["features"].astype(np.float64), table["speaker"], table["label"]
    if norm == "global":
        return {"training clips": standardise_global(features, train)}
    rng = np.random.default_rng(0)
    everything = np.ones(len(labels), dtype=bool)
    return {"all clips": standardise_per_speaker(features, speakers, everything),
            "neutral-heavy half": standardise_per_speaker(features, speakers, neutral_heavy(labels, speakers, rng)),
            f"{SHORT_SESSION_CLIPS} clips of that half": standardise_per_speaker(
                features, speakers, neutral_heavy(labels, speakers, rng, SHORT_SESSION_CLIPS))}


def leave_one_out(table: dict, held_out: str) -> dict:
    """Both standardisations for one corpus left out: the grid, the choice, the test sets per reading."""
    corpus, split, labels = table["corpus"], table["split"], table["label"]
    train = np.flatnonzero((split == "train") & ~np.isin(corpus, (held_out, "urdu")))
    validation = np.flatnonzero((split == "val") & (corpus != held_out))
    sets = evaluation_sets(table, held_out)
    out = {}
    for norm in ("global", "speaker"):
        readings = inputs_by_reading(table, norm, train)
        model, grid = chosen_model(table, next(iter(readings.values())), train, validation, sets[f"{held_out}:dev"])
        tests = {reading: {name: measured(labels[index], model.predict(inputs)[index]) for name, index in sets.items()}
                 for reading, inputs in readings.items()}
        out[norm] = {"grid": grid, "chosen_C": model.C, "tests": tests,
                     "log_probs": {reading: class_scores(model, inputs) for reading, inputs in readings.items()}}
        uars = {reading: {name: row["uar"] for name, row in test.items()} for reading, test in tests.items()}
        print(held_out, norm, "C", model.C, uars, flush=True)
    return out


def served_cnn_scores(table: dict) -> np.ndarray:
    """``(n, 7)`` served voice scores (int8, ``analyze_speech``; NaN = no speech found) of the clips the
    EMOVO fusion reads (validation, tests, EMOVO, URDU); NaN elsewhere."""
    from emotion_core import EmotionReader
    from training.voice_evaluate import predict_files

    needed = np.flatnonzero((table["split"] != "train") | np.isin(table["corpus"], ("emovo", "urdu")))
    scores = np.full((len(table["label"]), len(EMOTIONS)), np.nan)
    scores[needed] = predict_files(EmotionReader.from_manifest(), list(table["path"][needed]))
    return scores


def fused(cnn: np.ndarray, functionals: np.ndarray, weight: float) -> np.ndarray:
    """Predicted class of ``log p_cnn + weight * log p_functionals`` (-1 where the CNN found no speech)."""
    combined = np.log(cnn + 1e-6) + weight * functionals
    return np.where(np.isnan(combined).any(axis=1), -1, np.nan_to_num(combined, nan=-np.inf).argmax(axis=1))


def fusion_with_cnn(table: dict, emovo_run: dict, cnn: np.ndarray) -> dict:
    """The served CNN beside the EMOVO-left-out functionals (each standardisation), w by the rule."""
    labels, corpus, split = table["label"], table["corpus"], table["split"]
    validation = np.flatnonzero((split == "val") & (corpus != "emovo"))
    sets = evaluation_sets(table, "emovo")
    out = {"cnn alone": {name: measured(labels[index], fused(cnn, np.zeros_like(cnn), 0.0)[index])
                         for name, index in sets.items()}}
    for norm, run in emovo_run.items():
        readings = run["log_probs"]
        choosing = next(iter(readings.values()))
        grid = []
        for weight in FUSION_WEIGHTS:
            predicted = fused(cnn, choosing, weight)
            answered = np.where(predicted < 0, NEUTRAL, predicted)
            val = 100 * corpus_uars(labels[validation], answered[validation], corpus[validation])["score"]
            dev = measured(labels[sets["emovo:dev"]], predicted[sets["emovo:dev"]])["uar"]
            grid.append({"w": weight, "validation": round(val, 1), "dev": dev,
                         "choice": round(choice_score(val, dev), 1)})
        weight = max(grid, key=lambda row: row["choice"])["w"]
        out[norm] = {"grid": grid, "chosen_w": weight,
                     "tests": {reading: {name: measured(labels[index], fused(cnn, scores, weight)[index])
                                         for name, index in sets.items()} for reading, scores in readings.items()}}
        print("fusion", norm, "w", weight, flush=True)
    return out


def session_readings(table: dict, columns: list[int] | None, prior_clips: float | None, train: np.ndarray,
                     read_neutral: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The functionals as a session would standardise them: over the training clips (``prior_clips``
    None), or per speaker (only ``columns``, the rest as over the training clips) with statistics over
    all of the speaker's clips, a neutral-heavy half, or only clips of the clip's own emotion (a session
    in one mood), shrunk towards the training clips' statistics by ``prior_clips``. With ``read_neutral``
    (rows a session would take for neutral speech) the statistics come from those rows of each session
    only, and the prior from the training clips labelled neutral."""
    features, speakers, labels = table["features"].astype(np.float64), table["speaker"], table["label"]
    overall = standardise_global(features, train)
    if prior_clips is None:
        return dict.fromkeys(SESSION_READINGS, overall)
    basis = train if read_neutral is None else train[labels[train] == NEUTRAL]
    prior = Prior(features[basis].mean(0), features[basis].var(0), prior_clips)
    everything = np.ones(len(labels), dtype=bool) if read_neutral is None else read_neutral
    groups = {"balanced": (speakers, everything),
              "neutral-heavy": (speakers, everything & neutral_heavy(labels, speakers, np.random.default_rng(0))),
              "one mood": (np.char.add(speakers, labels.astype(str)), everything)}
    out = {}
    for reading, (grouping, reference) in groups.items():
        out[reading] = overall.copy()
        out[reading][:, columns] = standardise_per_speaker(features, grouping, reference, prior)[:, columns]
    return out


def neutral_as_read(table: dict, cnn: np.ndarray) -> np.ndarray:
    """Rows taken for neutral speech: the training clips labelled neutral; elsewhere the clips the served
    CNN reads as neutral (what a session could know without labels)."""
    read = np.nan_to_num(cnn, nan=-1.0).argmax(axis=1) == NEUTRAL
    read &= ~np.isnan(cnn).any(axis=1)
    training = table["split"] == "train"
    return np.where(training, table["label"] == NEUTRAL, read)


def test_readings(labels: np.ndarray, sets: dict[str, np.ndarray], predicted: dict[str, np.ndarray]) -> dict:
    """:func:`measured` on every test set under every reading."""
    return {reading: {name: measured(labels[index], answers[index]) for name, index in sets.items()}
            for reading, answers in predicted.items()}


def sessions(table: dict, cnn: np.ndarray) -> dict:
    """EMOVO left out: which speaker statistics survive a session in one mood, alone and beside the CNN.

    Variants: over the training clips; per speaker, every functional or only :data:`IDENTITY_COLUMNS`,
    shrunk by 0, 20 or 100 clips; added in a second run (designed after the first run's URDU figures):
    every functional per speaker from the speech the CNN reads as neutral (:func:`neutral_as_read`),
    shrunk by 5 or 20 clips. Rule fixed before each run: half the validation UAR (balanced reading)
    plus half the mean of EMOVO dev's UAR under the three :data:`SESSION_READINGS`; the best variant
    alone and the best fused (with w) are then read on the test sets, URDU included."""
    labels, corpus, split = table["label"], table["corpus"], table["split"]
    train = np.flatnonzero((split == "train") & ~np.isin(corpus, ("emovo", "urdu")))
    validation = np.flatnonzero((split == "val") & (corpus != "emovo"))
    sets = evaluation_sets(table, "emovo")
    every_column, read_neutral = list(range(table["features"].shape[1])), neutral_as_read(table, cnn)
    variants = {"training clips": (None, None, None)}
    for clips in (0, 20, 100):
        variants[f"per speaker, all, shrink {clips}"] = (every_column, clips, None)
        variants[f"per speaker, identity, shrink {clips}"] = (IDENTITY_COLUMNS, clips, None)
    for clips in (5, 20):  # second run: statistics of the speech the CNN reads as neutral
        variants[f"per speaker from speech read as neutral, all, shrink {clips}"] = (every_column, clips, read_neutral)
    from sklearn.linear_model import LogisticRegression

    grid, predictions = [], {}
    for name, (columns, clips, reference) in variants.items():
        readings = session_readings(table, columns, clips, train, reference)
        model = LogisticRegression(C=0.003, class_weight="balanced", max_iter=3000).fit(
            readings["balanced"][train], labels[train])
        for weight in (None, *FUSION_WEIGHTS[1:-1]):
            predicted = {reading: model.predict(inputs) if weight is None else
                         fused(cnn, class_scores(model, inputs), weight) for reading, inputs in readings.items()}
            answered = np.where(predicted["balanced"] < 0, NEUTRAL, predicted["balanced"])
            val = 100 * corpus_uars(labels[validation], answered[validation], corpus[validation])["score"]
            devs = {r: measured(labels[sets["emovo:dev"]], p[sets["emovo:dev"]])["uar"] for r, p in predicted.items()}
            row = {"variant": name, "w": weight, "validation": round(val, 1), "dev": devs,
                   "choice": round(choice_score(val, float(np.mean(list(devs.values())))), 1)}
            grid.append(row)
            predictions[(name, weight)] = predicted
            print(row, flush=True)
    chosen = {}
    for first_run in (True, False):  # the first run's grid had no "read as neutral" variants
        for family, alone in (("alone", True), ("fused", False)):
            rows = [row for row in grid if (row["w"] is None) == alone
                    and not (first_run and variants[row["variant"]][2] is not None)]
            best = max(rows, key=lambda row: row["choice"])
            name = f"{family}, first run" if first_run else family
            chosen[name] = {**best, "tests": test_readings(labels, sets, predictions[(best["variant"], best["w"])])}
    return {"grid": grid, "chosen": chosen}


def evaluate() -> None:
    table = dict(np.load(FEATURES))
    started = time.time()
    runs = {held_out: leave_one_out(table, held_out) for held_out in HELD_OUT_CORPORA}
    cnn = served_cnn_scores(table)
    fusion = fusion_with_cnn(table, runs["emovo"], cnn)
    session = sessions(table, cnn)
    for run in runs.values():
        for norm in run.values():
            norm.pop("log_probs")
    RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                   "features": "eGeMAPS v02 functionals (openSMILE), whole clip",
                                   "leave_one_out": runs, "fusion_emovo_left_out": fusion,
                                   "sessions_emovo_left_out": session}, indent=1) + "\n")
    print(f"{RESULTS} ({time.time() - started:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("extract", "evaluate"))
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    extract(args.processes) if args.step == "extract" else evaluate()


if __name__ == "__main__":
    main()
