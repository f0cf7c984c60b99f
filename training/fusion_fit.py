"""Fit the fusion parameters on validation pairs only and write them into weights/manifest.json.

    python -m training.fusion_fit [--data-dir ../shared/data] [--dry-run]

Validation pairs (:mod:`training.fusion_data`): FER2013 PublicTest faces with the voice model's
validation speakers (in-corpus: RAVDESS 17-18, CREMA-D 1066-1075) and with EMOVO speakers f1 and m1
(new speaker); plus a third condition, ``video``: validation clips generated from the same faces
and voices (:mod:`training.fusion_videos`) read by ``analyze_video``, whose 0.5 s segments carry the
voice as the video path windows it. No test face, test speaker or URDU clip is ever read here.

1. Calibration per channel by temperature scaling (minimum negative log-likelihood): the face on
   every PublicTest face; the voice on the validation clips with the conditions counting equally,
   so a confident voice means the same on a new speaker as on a known one. A per-class reliability
   (log-bias) for the voice is fitted the same way, with an L2 penalty, as an option.
2. For each method (weighted mean, log-linear pooling) and each calibration (temperature alone, with
   the class reliability), the channel priors that minimise the fused log-likelihood, with the
   conditions counting equally.
3. The candidate with the best validation accuracy (mean over the conditions) is kept, provided
   fusion is at least as accurate as the face alone in every condition; its parameters, the data
   they were fit on and the validation figures go into the manifest's ``fusion`` object.
"""

from __future__ import annotations

import argparse
import datetime
import json
from dataclasses import replace
from itertools import product

import numpy as np
from scipy.optimize import minimize

from emotion_core.analysis import default_reader
from emotion_core.calibration import calibrate
from emotion_core.fusion import FusionSettings, pool
from training.face_data import data_dir
from training.fusion_data import CONDITIONS, PAIR_SEED, Pairs, draw_pairs, load_scores
from training.fusion_videos import generated_segments
from training.manifest import update_fusion

FIT_FACES_PER_CLIP = 3  # each validation clip meets 3 faces: the face side's noise averages out
BIAS_PENALTY = 0.05  # L2 weight on the voice class bias (log units), against fitting 200 clips' quirks
PRIOR_GRID = tuple(np.round(np.geomspace(0.05, 4.0, 28), 4))  # exponents / mixing weights tried
VIDEOS = 8  # validation clips per voice condition for the video condition (about 300 segments each)
FIT_DATA = ("FER2013 PublicTest faces paired (same emotion, seed {seed}, {k} faces per clip) with the voice "
            "model's validation speakers (RAVDESS 17-18, CREMA-D 1066-1075: in-corpus condition) and EMOVO "
            "speakers f1, m1 (new-speaker condition), voice through analyze_speech, faces through "
            "face_probabilities; and the 0.5 s segments of {videos} + {videos} generated validation clips "
            "(same faces and voices, 3 s turns) through analyze_video at 2 frames/s (video condition). "
            "The conditions weigh equally. No test data, no URDU.")


def nll(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean (optionally weighted) negative log-likelihood of the true classes."""
    losses = -np.log(np.clip(probabilities[np.arange(labels.size), labels], 1e-12, 1.0))
    return float(np.average(losses, weights=weights))


def fit_calibration(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None,
                    class_bias: bool = False) -> tuple[float, tuple[float, ...] | None]:
    """The temperature (and optionally the class log-bias) minimising the NLL of :func:`calibrate`."""
    classes = probabilities.shape[1]

    def loss(theta: np.ndarray) -> float:
        bias = theta[1:] if class_bias else None
        penalty = BIAS_PENALTY * float(np.sum(theta[1:] ** 2)) if class_bias else 0.0
        return nll(calibrate(probabilities, float(np.exp(theta[0])), bias), labels, weights) + penalty

    start = np.zeros(1 + (classes if class_bias else 0))
    theta = minimize(loss, start, method="L-BFGS-B", bounds=[(-3.0, 3.0)] + [(-3.0, 3.0)] * (start.size - 1)).x
    bias = tuple(float(b - theta[1:].mean()) for b in theta[1:]) if class_bias else None  # only differences count
    return float(np.exp(theta[0])), bias


def equal_condition_weights(pairs: dict[str, Pairs]) -> np.ndarray:
    """Per-row weights over the concatenated conditions so that each condition sums to the same total."""
    return np.concatenate([np.full(len(p), 1.0 / len(p)) for p in pairs.values()])


def stacked(pairs: dict[str, Pairs], field: str) -> np.ndarray:
    return np.concatenate([getattr(p, field) for p in pairs.values()])


def measure(settings: FusionSettings, pairs: dict[str, Pairs]) -> dict:
    """Fused accuracy and NLL per condition (and their means) of ``settings`` on pairs with both channels."""
    figures = {}
    for condition, part in pairs.items():
        fused, _ = pool(part.face, part.voice, settings)
        figures[condition] = {"accuracy": float(np.mean(fused.argmax(1) == part.label)),
                              "nll": nll(fused, part.label)}
    figures["mean_accuracy"] = float(np.mean([figures[c]["accuracy"] for c in pairs]))
    figures["mean_nll"] = float(np.mean([figures[c]["nll"] for c in pairs]))
    return figures


def best_priors(base: FusionSettings, pairs: dict[str, Pairs]) -> FusionSettings:
    """``base`` with the (face, voice) priors on PRIOR_GRID that minimise the mean fused NLL."""
    grid = [(1.0, v) for v in PRIOR_GRID] if base.method == "weighted_mean" else product(PRIOR_GRID, PRIOR_GRID)
    tried = [replace(base, face_prior=float(f), voice_prior=float(v)) for f, v in grid]
    return min(tried, key=lambda settings: measure(settings, pairs)["mean_nll"])


def channel_figures(pairs: dict[str, Pairs]) -> dict:
    """Face-alone and voice-alone accuracy per condition, on the same pairs."""
    return {c: {"face": float(np.mean(p.face.argmax(1) == p.label)),
                "voice": float(np.mean(p.voice.argmax(1) == p.label))} for c, p in pairs.items()}


def validation_pairs(scores: dict) -> dict[str, Pairs]:
    """Each condition's validation pairs whose voice found speech (without it fusion is the face alone)."""
    pairs = {c: draw_pairs(scores, "val", c, PAIR_SEED, FIT_FACES_PER_CLIP) for c in CONDITIONS}
    return {c: p.subset(~np.isnan(p.voice[:, 0])) for c, p in pairs.items()}


def video_pairs(root, videos: int) -> Pairs:
    """The segments with a face and a voice of ``videos`` validation clips per voice condition."""
    parts = [generated_segments(root, "val", condition, videos).both() for condition in CONDITIONS]
    return Pairs(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("face", "voice", "label", "corpus")))


def candidates(scores: dict, pairs: dict[str, Pairs]) -> list[tuple[FusionSettings, dict]]:
    """Every method x calibration, priors fitted, with its validation figures."""
    faces = scores["face_split"] == "val"
    face_t, _ = fit_calibration(scores["face_probs"][faces], scores["face_label"][faces])
    voice, labels, weights = stacked(pairs, "voice"), stacked(pairs, "label"), equal_condition_weights(pairs)
    calibrations = {"temperature": fit_calibration(voice, labels, weights),
                    "temperature + class reliability": fit_calibration(voice, labels, weights, class_bias=True)}
    found = []
    for method, (name, (voice_t, bias)) in product(("weighted_mean", "log_linear"), calibrations.items()):
        base = FusionSettings(method, face_temperature=face_t, voice_temperature=voice_t, voice_class_bias=bias)
        settings = best_priors(base, pairs)
        found.append((settings, {"calibration": name, **measure(settings, pairs)}))
    return found


def never_subtracts(figures: dict, channels: dict) -> bool:
    """Fused at least as accurate as the face alone in every condition."""
    return all(figures[c]["accuracy"] >= channels[c]["face"] for c in channels)


def choose(found: list[tuple[FusionSettings, dict]], channels: dict) -> tuple[FusionSettings, dict]:
    """The best mean validation accuracy among candidates that never subtract (all, if none qualifies)."""
    safe = [item for item in found if never_subtracts(item[1], channels)] or found
    return max(safe, key=lambda item: (item[1]["mean_accuracy"], -item[1]["mean_nll"]))


def per_condition_temperatures(pairs: dict[str, Pairs]) -> dict[str, float]:
    """The voice temperature each condition alone would want (reported, not served)."""
    return {c: fit_calibration(p.voice, p.label)[0] for c, p in pairs.items()}


def fusion_record(settings: FusionSettings, chosen: dict, found: list, channels: dict, pairs: dict,
                  videos: int) -> dict:
    """The manifest's ``fusion`` object: the served settings plus a ``fit`` record of data and figures."""
    return {**settings.to_manifest(), "fit": {
        "script": "training/fusion_fit.py", "date": datetime.date.today().isoformat(),
        "data": FIT_DATA.format(seed=PAIR_SEED, k=FIT_FACES_PER_CLIP, videos=videos),
        "pairs": {c: len(p) for c, p in pairs.items()},
        "validation": {"channels": channels, "chosen": chosen,
                       "voice_temperature_per_condition": per_condition_temperatures(pairs),
                       "candidates": [{"method": s.method, **f} for s, f in found]},
    }}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--videos", type=int, default=VIDEOS, help="validation clips per voice condition")
    parser.add_argument("--dry-run", action="store_true", help="print the result, leave the manifest alone")
    args = parser.parse_args()
    root = data_dir(args.data_dir)
    scores = load_scores(default_reader(), root)
    pairs = {**validation_pairs(scores), "video": video_pairs(root, args.videos)}
    channels = channel_figures(pairs)
    found = candidates(scores, pairs)
    settings, chosen = choose(found, channels)
    record = fusion_record(settings, chosen, found, channels, pairs, args.videos)
    print(json.dumps(record, indent=2))
    if not args.dry_run:
        update_fusion(record)
        print("wrote the fusion parameters into weights/manifest.json")


if __name__ == "__main__":
    main()
