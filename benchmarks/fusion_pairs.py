"""Face + voice on test pairs: does fusion add to the best single channel, and never subtract from the face?

    python -m benchmarks.fusion_pairs [--data-dir ../shared/data] [--faces-per-clip 1]

Test pairs (:mod:`training.fusion_data`): a FER2013 PrivateTest face with a held-out speech clip of
the same emotion, in two conditions: in-corpus voice (RAVDESS 19-24, CREMA-D 1076-1091) and
new-speaker voice (EMOVO f2 f3 m2 m3, URDU). Faces are read by the served face model
(``face_probabilities``, the ``classify_face`` path), clips by ``analyze_speech`` (a clip where it
finds no speech has no voice reading: the voice alone counts it wrong, fusion falls back to the
face), and every pair is fused by ``emotion_core.fuse``, the served call with the manifest's
parameters. The hand-set fusion the project had before (``HAND_SET``) is measured beside it.
Writes ``reports/fusion/pairs.json`` and reliability diagrams (before and after calibration).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import emotion_core
from emotion_core.calibration import calibrate, expected_calibration_error, reliability_bins
from emotion_core.fusion import HAND_SET, FusionSettings, pool, served_settings
from emotion_core.labels import EMOTIONS, scores_to_dict
from harness import PROJECT_ROOT
from training.face_data import data_dir
from training.fusion_data import CONDITIONS, PAIR_SEED, Pairs, draw_pairs, load_scores

REPORT_DIR = PROJECT_ROOT / "reports" / "fusion"
BOOTSTRAP_ROUNDS = 2000
TARGET_GAIN = 0.03  # in-corpus: fused >= best single channel + 3 points


def fused_labels(pairs: Pairs, settings: FusionSettings | None = None) -> np.ndarray:
    """Top emotion of ``emotion_core.fuse`` for every pair (a NaN voice row is no speech: ``{}``)."""
    labels = []
    for face, voice in zip(pairs.face, pairs.voice, strict=True):
        voice_scores = {} if np.isnan(voice[0]) else scores_to_dict(voice)
        fused = emotion_core.fuse(scores_to_dict(face), voice_scores, settings=settings)
        labels.append(EMOTIONS.index(max(fused.scores, key=fused.scores.get)))
    return np.array(labels)


def paired_interval(a: np.ndarray, b: np.ndarray, seed: int = PAIR_SEED) -> tuple[float, float]:
    """95 % bootstrap interval of ``mean(a) - mean(b)`` for per-pair 0/1 outcomes."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, a.size, (BOOTSTRAP_ROUNDS, a.size))
    gaps = a[picks].mean(axis=1) - b[picks].mean(axis=1)
    return float(np.percentile(gaps, 2.5)), float(np.percentile(gaps, 97.5))


def score_pairs(pairs: Pairs) -> dict:
    """Face, voice, fused (served) and hand-set fused accuracy of one set of pairs, with the gains."""
    face = pairs.face.argmax(1) == pairs.label
    heard = ~np.isnan(pairs.voice[:, 0])
    voice = heard & (np.nan_to_num(pairs.voice, nan=0.0).argmax(1) == pairs.label)
    fused = fused_labels(pairs) == pairs.label
    hand_set = fused_labels(pairs, HAND_SET) == pairs.label
    best = face if face.mean() >= voice.mean() else voice
    return {"pairs": len(pairs), "no_speech": int((~heard).sum()),
            "face": float(face.mean()), "voice": float(voice.mean()), "fused": float(fused.mean()),
            "hand_set_fused": float(hand_set.mean()),
            "gain_over_best_single": float(fused.mean() - best.mean()),
            "gain_over_best_single_95ci": paired_interval(fused, best),
            "gain_over_face": float(fused.mean() - face.mean()),
            "gain_over_face_95ci": paired_interval(fused, face)}


def condition_results(scores: dict, condition: str, faces_per_clip: int) -> dict:
    """One condition's test pairs: all of them, then per voice corpus."""
    pairs = draw_pairs(scores, "test", condition, PAIR_SEED, faces_per_clip)
    result = {"all": score_pairs(pairs)}
    for corpus in np.unique(pairs.corpus):
        result[str(corpus)] = score_pairs(pairs.subset(pairs.corpus == corpus))
    return result


def plot_reliability(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path) -> None:
    """Reliability diagram: accuracy against mean top score per bin, one line per named curve (with ECE)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.6, 4.4), dpi=110)
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for name, (probabilities, labels) in curves.items():
        table = reliability_bins(probabilities, labels)
        used = table["count"] > 0
        ece = expected_calibration_error(probabilities, labels)
        axis.plot(table["confidence"][used], table["accuracy"][used], marker="o", label=f"{name} (ECE {ece:.3f})")
    axis.set(xlim=(0, 1), ylim=(0, 1), xlabel="top score", ylabel="accuracy", title=title)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def reliability_diagrams(scores: dict, settings: FusionSettings) -> dict:
    """Before/after calibration on test data, per channel and condition, and of the fused scores
    (hand-set fusion against the served one, with :func:`emotion_core.fusion.pool`, the maths
    ``fuse`` runs); returns the ECEs."""
    eces = {}
    faces = scores["face_split"] == "test"
    face, face_labels = scores["face_probs"][faces], scores["face_label"][faces]
    face_curves = {"raw": (face, face_labels),
                   "calibrated": (calibrate(face, settings.face_temperature, settings.face_class_bias), face_labels)}
    plot_reliability(face_curves, "Face, FER2013 PrivateTest", REPORT_DIR / "reliability_face.png")
    eces["face"] = {name: expected_calibration_error(*curve) for name, curve in face_curves.items()}
    for condition in CONDITIONS:
        clips = ((scores["voice_split"] == "test") & (scores["voice_condition"] == condition)
                 & ~np.isnan(scores["voice_probs"][:, 0]))
        voice, labels = scores["voice_probs"][clips], scores["voice_label"][clips]
        curves = {"raw": (voice, labels),
                  "calibrated": (calibrate(voice, settings.voice_temperature, settings.voice_class_bias), labels)}
        plot_reliability(curves, f"Voice, {condition.replace('_', '-')} test clips",
                         REPORT_DIR / f"reliability_voice_{condition}.png")
        eces[f"voice_{condition}"] = {name: expected_calibration_error(*curve) for name, curve in curves.items()}
        pairs = draw_pairs(scores, "test", condition, PAIR_SEED)
        pairs = pairs.subset(~np.isnan(pairs.voice[:, 0]))
        fused = {"hand-set fusion": (pool(pairs.face, pairs.voice, HAND_SET)[0], pairs.label),
                 "served fusion": (pool(pairs.face, pairs.voice, settings)[0], pairs.label)}
        plot_reliability(fused, f"Face + voice, {condition.replace('_', '-')} test pairs",
                         REPORT_DIR / f"reliability_fused_{condition}.png")
        eces[f"fused_{condition}"] = {name: expected_calibration_error(*curve) for name, curve in fused.items()}
    return eces


def print_table(results: dict) -> None:
    print(f"{'condition':12s} {'subset':8s} {'pairs':>6s} {'face':>6s} {'voice':>6s} {'fused':>6s} {'hand-set':>8s}")
    for condition, parts in results["conditions"].items():
        for subset, r in parts.items():
            print(f"{condition:12s} {subset:8s} {r['pairs']:6d} {r['face']:6.3f} {r['voice']:6.3f} "
                  f"{r['fused']:6.3f} {r['hand_set_fused']:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--faces-per-clip", type=int, default=1, help="faces paired with each test clip")
    args = parser.parse_args()
    scores = load_scores(emotion_core.default_reader(), data_dir(args.data_dir))
    settings = served_settings()
    conditions = {c: condition_results(scores, c, args.faces_per_clip) for c in CONDITIONS}
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    in_corpus, new_speaker = conditions["in_corpus"]["all"], conditions["new_speaker"]["all"]
    results = {
        "settings": settings.to_manifest(), "seed": PAIR_SEED, "faces_per_clip": args.faces_per_clip,
        "conditions": conditions, "ece": reliability_diagrams(scores, settings),
        "targets": {"in_corpus_fused_ge_best_single_plus_3": in_corpus["gain_over_best_single"] >= TARGET_GAIN,
                    "new_speaker_fused_ge_face": new_speaker["gain_over_face"] >= 0.0},
    }
    (REPORT_DIR / "pairs.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(json.dumps(results["targets"]), json.dumps(results["ece"]))


if __name__ == "__main__":
    main()
