"""Evaluate the served int8 voice model on the held-out test speakers, as the app runs it.

``python -m training.voice_evaluate [--model weights/voice_emotion.tflite] [--cross-corpus artifacts/...tflite]``

Each test clip goes through the app's own call on a reader built with the model under test
(``EmotionReader.with_models(voice_model=...).analyze_speech``): decode, resample, no-speech check,
3 s windows every 0.5 s on the clip's own timeline, each window's silence cut, mean of the windows
with speech. Clips are listed from the corpora themselves (no feature cache needed). Writes
``reports/voice/metrics.json``, confusion-matrix PNGs and ``REPORT.md`` (ours vs the prototype
baseline, human listeners and fairness by sex and age).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from emotion_core import EmotionReader
from emotion_core.audio import load_audio
from emotion_core.calibration import ChannelCalibration
from emotion_core.labels import EMOTIONS
from training.metrics import accuracy, confusion, per_class_recall, uar
from training.voice_data import PROJECT_ROOT, baseline_mfcc, clip_samples, clip_table, default_data_dir
from training.voice_noise_calibration import without_noise_term
from training.voice_train import ARTIFACTS, limit_threads

REPORT_DIR = PROJECT_ROOT / "reports" / "voice"
# REPORT.md keeps this hand-written section (the issue-17 runs), and all below it, when it is rewritten.
HAND_WRITTEN = "## Leave one corpus out and new conditions (issue 17)"
VOTE_LETTERS = {"A": "angry", "D": "disgust", "F": "fear", "H": "happy", "S": "sad", "N": "neutral"}
AGE_GROUPS = ((20, 29, "20-29"), (30, 44, "30-44"), (45, 120, "45+"))
BASELINE_ROW = "baseline (prototype, float)"
CROSS_CORPUS_POINTER = ("New speakers, languages and recording conditions (issue 17: leave one corpus out, EMOVO, "
                        "URDU, collapse): see [CROSS_CORPUS.md](CROSS_CORPUS.md), written by "
                        "`python -m training.voice_crosscorpus`.")


def predict_files(reader: EmotionReader, paths: list[str], check_speech: bool = True) -> np.ndarray:
    """``(n, 7)`` clip scores from the reader's own calls, the app's path.

    ``analyze_speech`` as served (a row of NaN where it finds no speech), or with ``check_speech``
    off ``classify_speech``, which classifies a clip whatever the voice activity.
    """
    rows = []
    for path in paths:
        samples, rate = load_audio(path)
        scores = reader.analyze_speech(samples, rate).scores if check_speech else reader.classify_speech(samples, rate)
        rows.append([scores[name] for name in EMOTIONS] if scores else np.full(len(EMOTIONS), np.nan))
    return np.array(rows)


def summarise(labels: np.ndarray, predicted: np.ndarray) -> dict:
    """Accuracy, UAR, per-class recall (by name) and the 7x7 confusion matrix of one test set."""
    return {"clips": int(len(labels)), "accuracy": accuracy(labels, predicted), "uar": uar(labels, predicted),
            "recall": {EMOTIONS[c]: r for c, r in per_class_recall(labels, predicted).items()},
            "confusion": confusion(labels, predicted).tolist()}


def evaluate_reader(reader: EmotionReader, cache: dict, test: dict[str, np.ndarray]) -> tuple[dict, dict, dict]:
    """Metrics per test corpus as served (no speech = no answer = an error), the same with the
    no-speech check switched off (the rejected clips classified anyway), and the served predictions."""
    served, unchecked, predictions = {}, {}, {}
    for corpus, index in test.items():
        probs = predict_files(reader, list(cache["path"][index]))
        speech = ~np.isnan(probs).any(axis=1)
        rejected = np.flatnonzero(~speech)
        labels, predicted = cache["label"][index], np.where(speech, np.nan_to_num(probs).argmax(axis=1), -1)
        served[corpus] = {**summarise(labels, predicted), "no_speech_clips": int(rejected.size),
                          "no_speech_by_class": {EMOTIONS[c]: int(n) for c, n in
                                                 zip(*np.unique(labels[rejected], return_counts=True), strict=True)}}
        forced = predicted.copy()
        if rejected.size:
            forced[rejected] = predict_files(reader, list(cache["path"][index][rejected]), False).argmax(axis=1)
        unchecked[corpus] = summarise(labels, forced)
        predictions[corpus] = predicted
    return served, unchecked, predictions


def baseline_metrics(checkpoint: Path, cache: dict, test: dict[str, np.ndarray]) -> dict:
    """The prototype (float Keras, its own input: MFCCs of the first 2.5 s) on the same test clips."""
    import keras

    model = keras.models.load_model(checkpoint)
    results = {}
    for corpus, index in test.items():
        mfcc = np.stack([baseline_mfcc(clip_samples(path)) for path in cache["path"][index]])
        results[corpus] = summarise(cache["label"][index], model.predict(mfcc[..., None], verbose=0).argmax(axis=1))
    return results


def human_votes(data_dir: Path, paths: np.ndarray, labels: np.ndarray) -> dict:
    """CREMA-D crowd raters' voice-only majority vote on the same clips; a tie of k counts 1/k if it holds the truth."""
    with open(Path(data_dir) / "audio" / "crema-d" / "summaryTable.csv", newline="") as handle:
        votes = {row["FileName"]: row["VoiceVote"] for row in csv.DictReader(handle)}
    credit = []
    for path, label in zip(paths, labels, strict=True):
        named = [VOTE_LETTERS[letter] for letter in votes[Path(path).stem].split(":") if letter in VOTE_LETTERS]
        credit.append(named.count(EMOTIONS[label]) / max(len(named), 1))
    credit = np.array(credit)
    recall = {EMOTIONS[c]: float(credit[labels == c].mean()) for c in np.unique(labels)}
    return {"clips": int(len(labels)), "accuracy": float(credit.mean()), "uar": float(np.mean(list(recall.values()))),
            "recall": recall}


def demographic_groups(data_dir: Path, paths: np.ndarray) -> dict[str, np.ndarray]:
    """Group name -> boolean mask over the CREMA-D clips, by actor sex and age group."""
    with open(Path(data_dir) / "audio" / "crema-d" / "VideoDemographics.csv", newline="") as handle:
        people = {int(row["ActorID"]): row for row in csv.DictReader(handle)}
    actors = [people[int(Path(path).stem.split("_")[0])] for path in paths]
    groups = {sex: np.array([a["Sex"] == sex for a in actors]) for sex in ("Female", "Male")}
    for low, high, name in AGE_GROUPS:
        groups[f"age {name}"] = np.array([low <= int(a["Age"]) <= high for a in actors])
    return groups


def fairness(labels: np.ndarray, predicted: np.ndarray, groups: dict[str, np.ndarray]) -> dict:
    """UAR, accuracy, clip and speaker-independent counts per demographic group."""
    return {name: {"clips": int(mask.sum()), "uar": uar(labels[mask], predicted[mask]),
                   "accuracy": accuracy(labels[mask], predicted[mask])} for name, mask in groups.items()}


def plot_confusion(matrix: list[list[int]], title: str, path: Path) -> None:
    """Row-normalised confusion matrix (rows = true emotion) as a PNG, absent classes left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(matrix, dtype=float)
    rows = np.flatnonzero(counts.sum(axis=1) > 0)
    shares = counts[rows] / counts[rows].sum(axis=1, keepdims=True)
    figure, axes = plt.subplots(figsize=(6.4, 5.2))
    axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    axes.set_yticks(range(len(rows)), [EMOTIONS[r] for r in rows])
    for i, j in np.ndindex(shares.shape):
        axes.text(j, i, f"{shares[i, j]:.2f}", ha="center", va="center", fontsize=8,
                  color="white" if shares[i, j] > 0.5 else "black")
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def test_indices(cache: dict) -> dict[str, np.ndarray]:
    """Clip indices of the two speaker-independent test sets."""
    return {corpus: np.flatnonzero((cache["split"] == "test") & (cache["corpus"] == corpus))
            for corpus in ("ravdess", "crema-d")}


def percent(value: float) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{100 * value:.1f}"


def results_table(results: dict) -> list[str]:
    """Markdown rows: accuracy and UAR of every system on both test sets."""
    lines = ["| system | RAVDESS acc | RAVDESS UAR | CREMA-D acc | CREMA-D UAR |", "|---|---|---|---|---|"]
    for name, metrics in results.items():
        cells = []
        for corpus in ("ravdess", "crema-d"):
            m = metrics.get(corpus, {})
            cells += [percent(m.get("accuracy", np.nan)), percent(m.get("uar", np.nan))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def recall_table(results: dict) -> list[str]:
    """Markdown rows: per-class recall of every system on both test sets."""
    lines = ["| system | test set | " + " | ".join(EMOTIONS) + " |", "|---|---|" + "---|" * len(EMOTIONS)]
    for name, metrics in results.items():
        for corpus in ("ravdess", "crema-d"):
            if corpus in metrics:
                recall = metrics[corpus]["recall"]
                cells = " | ".join(percent(recall.get(e, np.nan)) for e in EMOTIONS)
                lines.append(f"| {name} | {corpus} | {cells} |")
    return lines


def fairness_table(groups: dict) -> list[str]:
    """Markdown rows: UAR and accuracy per CREMA-D demographic group."""
    lines = ["| group | clips | UAR | accuracy |", "|---|---|---|---|"]
    for name, group in groups.items():
        lines.append(f"| {name} | {group['clips']} | {percent(group['uar'])} | {percent(group['accuracy'])} |")
    return lines


def training_runs() -> dict:
    """Summaries of the training logs in artifacts/ (``voice_*.json`` written by voice_train)."""
    runs = {}
    for path in sorted(ARTIFACTS.glob("voice_*.json")):
        run = json.loads(path.read_text())
        runs[path.stem] = {"minutes": run.get("minutes"), "parameters": run.get("parameters"),
                           "epochs": len(run.get("history", [])), "best": run.get("best")}
    return runs


def training_table(runs: dict) -> list[str]:
    """Markdown rows: one per training run, with its best validation UARs and wall-clock time."""
    lines = ["| run | parameters | epochs | chosen epoch | val UAR RAVDESS | val UAR CREMA-D | minutes |",
             "|---|---|---|---|---|---|---|"]
    for name, run in runs.items():
        best = run.get("best") or {}
        lines.append(f"| {name} | {run['parameters']} | {run['epochs']} | {best.get('epoch')} | "
                     f"{percent(best.get('ravdess', np.nan))} | {percent(best.get('crema-d', np.nan))} | "
                     f"{run['minutes']:.1f} |")
    return lines


def write_report(report: dict, path: Path) -> None:
    """REPORT.md from the metrics dictionary (all figures in percent)."""
    info = report["model"]
    lines = [
        "# Voice emotion model: test report", "",
        f"Generated by `python -m training.voice_evaluate` on {report['date']}. Served model: "
        f"`weights/{info['file']}` ({info['size_bytes']} bytes, int8), {info.get('parameters', '?')} parameters, "
        f"training run `{info.get('training_run', '?')}`; "
        f"float-vs-int8 top-1 agreement {percent(info.get('float_int8_top1_agreement', np.nan))} % "
        f"({info.get('agreement_examples', '')}).", "",
        "Test speakers were never used for training or checkpoint choice: RAVDESS actors 19-24 (7 classes), "
        "CREMA-D actors 1076-1091 (6 classes, no surprise; a *surprise* prediction counts as an error). "
        "Ours is measured through the app's own call, `EmotionReader.analyze_speech` on a reader built with "
        "the model (no-speech check, 3 s windows every 0.5 s on the clip's own timeline, each window's "
        "silence cut by the VAD, mean of the windows with speech). "
        "The baseline is the prototype recipe (40 MFCCs of the first 2.5 s, "
        "Conv2D 256 4x4 ... Dense 32), float Keras, trained on the same training speakers and "
        "chosen on the same validation speakers. Figures in %; UAR = mean per-class recall.", "",
        "## Accuracy and UAR", "", *results_table(report["results"]), "",
        "Targets (issue 3): RAVDESS UAR >= 65, CREMA-D UAR >= 62, and >= 15 points above the baseline.", "",
        "## Per-class recall", "", *recall_table(report["results"]), "",
        "## Confusion matrices (ours, int8)", "",
        "![RAVDESS](confusion_ravdess.png) ![CREMA-D](confusion_crema-d.png)", "",
        "## Fairness: ours (int8) on CREMA-D test actors by sex and age", "", *fairness_table(report["fairness"]), "",
        "Only 16 test actors (7 female, 9 male; ages 20-62), so group differences of a few points are noise.", "",
    ]
    if report.get("cross_corpus"):
        lines += ["## Cross-corpus: trained without CREMA-D (RAVDESS + TESS only), tested on CREMA-D test actors", "",
                  *results_table({"ours int8, no CREMA-D in training": report["cross_corpus"]}), ""]
    lines += ["## New corpora and conditions", "", CROSS_CORPUS_POINTER, ""]
    lines += ["## Training runs (validation speakers only)", "", *training_table(report.get("training", {})), ""]
    lines += ["## Notes", "", *[f"- {note}" for note in report.get("notes", [])], ""]
    kept = path.read_text().split(HAND_WRITTEN, 1) if path.exists() else []
    if len(kept) == 2:
        lines += [HAND_WRITTEN + kept[1].rstrip("\n"), ""]
    path.write_text("\n".join(lines))


def register_test_metrics(name: str, metrics: dict) -> None:
    """Add the test metrics to a model's manifest entry (file, sha256 and the other fields kept)."""
    from training.manifest import MANIFEST, update_entry

    entry = json.loads(MANIFEST.read_text())["models"].get(name)
    if entry is None:
        return
    fields = {k: v for k, v in entry.items() if k not in ("file", "sha256", "size_bytes")}
    fields["metrics"] = {**fields.get("metrics", {}), "test": {c: {"accuracy": m["accuracy"], "uar": m["uar"]}
                                                               for c, m in metrics.items()}}
    update_entry(name, PROJECT_ROOT / "weights" / entry["file"], **fields)


def calibration_note(calibration: ChannelCalibration) -> str:
    """What the int8 rows were read through: the channel's temperature and class bias, its noise term, or both."""
    parts = []
    if without_noise_term(calibration).changes_scores:
        parts.append(f"temperature {calibration.temperature:.2f} and class bias, `training.voice_calibration`")
    if calibration.contrast_knee_db is not None:
        parts.append(f"noise term, knee {calibration.contrast_knee_db:g} dB, `training.voice_noise_calibration`")
    return ("The int8 rows read through the voice channel's calibration (the manifest entry's `calibration`: "
            + "; ".join(parts) + "); the float32 row is the raw network, the int8 file's reference.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "weights" / "voice_emotion.tflite")
    parser.add_argument("--float-model", type=Path, default=PROJECT_ROOT / "weights" / "voice_emotion_float.tflite")
    parser.add_argument("--baseline", type=Path, default=ARTIFACTS / "voice_baseline.keras")
    parser.add_argument("--cross-corpus", type=Path, default=ARTIFACTS / "voice_no_crema-d.tflite")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=REPORT_DIR)
    parser.add_argument("--note", action="append", default=[], help="a line for the report's notes (repeatable)")
    args = parser.parse_args()
    limit_threads(1)
    started, cache = time.time(), clip_table(args.data_dir)
    test = test_indices(cache)
    args.out.mkdir(parents=True, exist_ok=True)
    results, notes = {}, []
    previous = json.loads((args.out / "metrics.json").read_text()) if (args.out / "metrics.json").exists() else {}
    carried_from = {}  # row -> date it was measured, kept across reports that carry it again

    def carry(row: str, model: Path) -> None:
        carried_from[row] = previous.get("carried_from", {}).get(row, previous.get("date"))
        notes.append(f"The {row} row is carried over from the report of {carried_from[row]}: "
                     f"its model is not on this machine ({model.name}).")

    if args.baseline.exists():
        results[BASELINE_ROW] = baseline_metrics(args.baseline, cache, test)
    elif BASELINE_ROW in previous.get("results", {}):  # the baseline does not change with our model
        results[BASELINE_ROW] = previous["results"][BASELINE_ROW]
        carry("baseline", args.baseline)
    if args.float_model.exists():
        results["ours float32"], _, _ = evaluate_reader(EmotionReader.with_models(voice_model=args.float_model),
                                                        cache, test)
    served = EmotionReader.with_models(voice_model=args.model)
    ours, unchecked, predictions = evaluate_reader(served, cache, test)
    if served.voice_calibration.changes_scores:
        notes.append(calibration_note(served.voice_calibration))
    results["ours int8 (served)"] = ours
    results["ours int8, no-speech check off"] = unchecked
    crema = test["crema-d"]
    results["human raters, voice only (CREMA-D majority vote)"] = {
        "crema-d": human_votes(args.data_dir, cache["path"][crema], cache["label"][crema])}
    groups = demographic_groups(args.data_dir, cache["path"][crema])
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": results,
              "fairness": fairness(cache["label"][crema], predictions["crema-d"], groups)}
    if args.cross_corpus.exists():
        cross = EmotionReader.with_models(voice_model=args.cross_corpus)
        report["cross_corpus"], _, _ = evaluate_reader(cross, cache, {"crema-d": crema})
    elif previous.get("cross_corpus"):
        report["cross_corpus"] = previous["cross_corpus"]
        carry("cross-corpus", args.cross_corpus)
    for corpus, metrics in ours.items():
        plot_confusion(metrics["confusion"], f"ours int8, {corpus} test", args.out / f"confusion_{corpus}.png")
        if metrics["no_speech_clips"]:
            notes.append(f"{metrics['no_speech_clips']} {corpus} test clip(s) hold no speech for the runtime's "
                         "no-speech check (speech_seconds < MIN_SPEECH_SECONDS: the level-independent VAD "
                         "finds too little speech standing SPEECH_MIN_SNR_DB above the clip's noise floor): "
                         "the app gives no answer, counted here as an error; by true "
                         f"class: {metrics['no_speech_by_class']}. The row 'no-speech check off' classifies "
                         "them anyway.")
    report["model"], report["training"] = model_info(args.model), {**previous.get("training", {}), **training_runs()}
    report["carried_from"] = carried_from
    report["notes"] = notes + args.note + [f"Evaluation took {time.time() - started:.0f} s."]
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2))
    write_report(report, args.out / "REPORT.md")
    register_test_metrics("voice_emotion", ours)
    print("\n".join(results_table(results)))


def model_info(path: Path) -> dict:
    """The served model's manifest entry (size, parameters, agreement, training run, ...)."""
    from training.manifest import MANIFEST

    fallback = {"file": path.name, "size_bytes": path.stat().st_size}
    return json.loads(MANIFEST.read_text())["models"].get(path.stem, fallback)


if __name__ == "__main__":
    main()
