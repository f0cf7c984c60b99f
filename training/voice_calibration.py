"""A calibration of the voice channel itself, fitted on validation data only, and the rule that judges it.

    python -m training.voice_calibration [--data-dir ../shared/data] [--processes 2] [--apply]

The fusion already calibrates the voice before pooling it (``training/fusion_fit.py``), but the voice
panel, the API's voice scores and the "uncertain" rule see the raw network. The candidate here is a
calibration of every voice window's scores, ``softmax(log p / T + b)``, so that every path (Audio,
video, live, the fusion's input) reads the same calibrated voice. ``T`` and the class log-bias ``b``
minimise the negative log-likelihood of what the channel reports (a clip: the mean of its calibrated
speech windows, as ``classify_speech`` pools; a video segment: its voice scores) with an L2 penalty on
``b`` (the fusion's), over three validation conditions weighing equally: the voice model's validation
speakers (in-corpus), EMOVO f1 and m1 (a corpus it never heard) and the 0.5 s segments of the fusion's
generated validation videos.

The rule (reports/voice/REPORT.md, written before the run): leave one condition out, fit on the other
two, read the voice alone on the one left out. Served only if, against the raw scores, the mean
held-out UAR rises by at least 1.0 point, the mean held-out NLL falls, and no held-out condition loses
more than 2.0 points of UAR. Test speakers and URDU are read after, whatever the verdict
(``calibration_test.json``); they choose nothing. ``calibration_without_emovo.json`` is issue 17's
leave-one-corpus-out reading of EMOVO with the calibration in the recipe (fitted with no EMOVO voice).
``--apply`` writes the calibration fitted on all three
conditions into the voice model's manifest entry when the rule serves it.

Everything is fitted on the served network's raw outputs: clips are read by a reader with the served
network and no calibration; the video segments come through ``analyze_video`` as served, so a
calibration already in the manifest is undone on them (exact for a segment's one window). The scores
are cached in ``artifacts/`` under the network's sha256.
"""

from __future__ import annotations

import argparse
import json
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from emotion_core.analysis import default_reader
from emotion_core.audio import load_audio
from emotion_core.calibration import ChannelCalibration, calibrate, log_probabilities, softmax
from emotion_core.labels import EMOTIONS, NUM_EMOTIONS
from emotion_core.reader import VOICE_MODEL, EmotionReader, pooling_mask
from emotion_core.weights import file_sha256
from training.face_data import ARTIFACTS, data_dir
from training.fusion_data import CONDITIONS, in_corpus_clips, new_speaker_clips
from training.fusion_fit import BIAS_PENALTY, VIDEOS, nll
from training.fusion_videos import generated_segments
from training.manifest import MANIFEST, update_fields
from training.metrics import uar
from training.voice_crosscorpus import collapse as collapse_of

WINDOW_CACHE = ARTIFACTS / "voice_calibration_windows.npz"
SEGMENT_CACHE = ARTIFACTS / "voice_calibration_segments.npz"
REPORTS = Path("reports/voice")
UAR_GAIN = 1.0  # points the mean held-out UAR must rise by
UAR_LOSS = 2.0  # points no held-out condition may lose
EMOVO_F3_M3 = ("emovo_f3", "emovo_m3")  # the voice report's in-corpus EMOVO pair, for comparison


def raw_reader() -> EmotionReader:
    """The served voice network, read as served but without a calibration."""
    served = default_reader()
    return EmotionReader(None, served.voice_model, None, voice_normalisation=served.voice_normalisation)


def network_key() -> str:
    """What the cached scores belong to: the served voice file's sha256."""
    return file_sha256(default_reader().voice_model.path)


def undone(probabilities: np.ndarray, calibration: ChannelCalibration) -> np.ndarray:
    """The raw scores that ``calibration`` turned into ``probabilities`` (its inverse on one window; its noise
    term, if any, is not undone: it acts only on windows drowned in noise, and the generated videos are clean)."""
    bias = 0.0 if calibration.class_bias is None else np.asarray(calibration.class_bias)
    return softmax(calibration.temperature * (log_probabilities(probabilities) - bias))


def cached(path: Path) -> dict[str, np.ndarray] | None:
    """A cache's arrays when they belong to the served network, else ``None``."""
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        table = {key: data[key] for key in data.files}
    return table if str(table.get("network")) == network_key() else None


def _clip_windows(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One clip through the raw served network's ``analyze_speech``: its windows' scores and speech flags
    (none when it finds no speech)."""
    result = raw_reader().analyze_speech(*load_audio(path))
    if not result.scores:
        return np.zeros((0, NUM_EMOTIONS)), np.zeros(0, dtype=bool)
    rows = np.array([[window[name] for name in EMOTIONS] for window in result.window_scores])
    return rows, np.array(result.window_speech, dtype=bool)


def window_table(root: Path, processes: int) -> dict[str, np.ndarray]:
    """Every fusion clip's (validation and test, both conditions) window scores, flattened with clip indices."""
    if (table := cached(WINDOW_CACHE)) is not None:
        return table
    clips = in_corpus_clips(root) + new_speaker_clips(root)
    with Pool(processes) as workers:
        found = workers.map(_clip_windows, [clip.path for clip in clips], chunksize=16)
    table = {
        "network": np.array(network_key()),
        "probs": np.concatenate([rows for rows, _ in found]),
        "voiced": np.concatenate([voiced for _, voiced in found]),
        "clip": np.concatenate([np.full(len(rows), i) for i, (rows, _) in enumerate(found)]).astype(np.int64),
        "label": np.array([clip.label for clip in clips], dtype=np.int64),
        "split": np.array([clip.split for clip in clips]),
        "corpus": np.array([clip.corpus for clip in clips]),
        "speaker": np.array([clip.speaker for clip in clips]),
        "condition": np.array([clip.condition for clip in clips]),
    }
    np.savez(WINDOW_CACHE, **table)
    return table


def segment_table(root: Path) -> dict[str, np.ndarray]:
    """The fusion's generated validation videos' segments with a face and a voice (as ``fusion_fit`` reads
    them): their raw voice scores, labels and the voice condition of their video."""
    if (table := cached(SEGMENT_CACHE)) is not None and "condition" in table:
        return table
    parts = {condition: generated_segments(root, "val", condition, VIDEOS).both() for condition in CONDITIONS}
    table = {"network": np.array(network_key()),
             "probs": undone(np.concatenate([p.voice for p in parts.values()]), default_reader().voice_calibration),
             "label": np.concatenate([p.label for p in parts.values()]),
             "condition": np.concatenate([np.full(len(p), c) for c, p in parts.items()])}
    np.savez(SEGMENT_CACHE, **table)
    return table


class Condition:
    """Scores a channel reports, before calibration: windows pooled into items (clips or segments).

    ``probs`` ``(windows, 7)``; ``item`` the item of each window; ``weight`` 1 for a window the item's
    reading averages, 0 otherwise (:func:`emotion_core.reader.pooling_mask`); ``label`` per item.
    """

    def __init__(self, probs: np.ndarray, item: np.ndarray, weight: np.ndarray, label: np.ndarray) -> None:
        self.probs, self.item, self.weight, self.label = probs, item, weight.astype(np.float64), label
        self.count = np.bincount(item, weights=self.weight, minlength=label.size)

    def reported(self, temperature: float = 1.0, class_bias: np.ndarray | None = None) -> np.ndarray:
        """``(items, 7)``: each item's mean of its calibrated pooled windows."""
        windows = calibrate(self.probs, temperature, class_bias) * self.weight[:, None]
        sums = np.stack([np.bincount(self.item, weights=windows[:, k], minlength=self.label.size)
                         for k in range(NUM_EMOTIONS)], axis=1)
        return sums / self.count[:, None]


def clip_condition(table: dict, keep: np.ndarray) -> Condition:
    """The clips ``keep`` (a mask over clips) that have speech windows, pooled as ``classify_speech`` pools."""
    chosen = np.flatnonzero(keep & (np.bincount(table["clip"], minlength=keep.size) > 0))
    renumber = np.full(keep.size, -1)
    renumber[chosen] = np.arange(chosen.size)
    rows = np.flatnonzero(renumber[table["clip"]] >= 0)
    item = renumber[table["clip"][rows]]  # ascending: the table holds each clip's windows together, in order
    per_item = np.split(table["voiced"][rows], np.flatnonzero(np.diff(item)) + 1)
    weight = np.concatenate([pooling_mask(voiced) for voiced in per_item])
    return Condition(table["probs"][rows], item, weight, table["label"][chosen])


def segment_condition(table: dict, keep: np.ndarray | None = None) -> Condition:
    """Each video segment's voice scores (those ``keep`` marks; default all) as one window of its own."""
    keep = np.ones(table["label"].size, dtype=bool) if keep is None else keep
    n = int(keep.sum())
    return Condition(table["probs"][keep], np.arange(n), np.ones(n), table["label"][keep])


def collapse(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Issue 17's collapse of these readings (:func:`training.voice_crosscorpus.collapse`) under this report's keys."""
    found = collapse_of(labels, probabilities.argmax(axis=1))
    return {"collapse_ratio": found.ratio, "absent_share": found.foreign_share}


def figures(condition: Condition, temperature: float = 1.0, class_bias: np.ndarray | None = None) -> dict:
    reported = condition.reported(temperature, class_bias)
    return {"uar": uar(condition.label, reported.argmax(1)),
            "accuracy": float(np.mean(reported.argmax(1) == condition.label)),
            "nll": nll(reported, condition.label), "items": int(condition.label.size),
            **collapse(reported, condition.label)}


def fit(conditions: list[Condition]) -> tuple[float, np.ndarray]:
    """``T`` and mean-zero ``b`` minimising the mean over conditions of the reported NLL, plus the L2 penalty."""

    def loss(theta: np.ndarray) -> float:
        temperature, bias = float(np.exp(theta[0])), theta[1:]
        return (float(np.mean([nll(c.reported(temperature, bias), c.label) for c in conditions]))
                + BIAS_PENALTY * float(np.sum(bias**2)))

    theta = minimize(loss, np.zeros(1 + NUM_EMOTIONS), method="L-BFGS-B", bounds=[(-3.0, 3.0)] * (1 + NUM_EMOTIONS)).x
    return float(np.exp(theta[0])), theta[1:] - theta[1:].mean()  # only the bias's differences count


def cross_fitted(named: dict[str, Condition]) -> dict:
    """Leave one condition out: fit on the others, raw against calibrated on the one left out."""
    held = {}
    for name, condition in named.items():
        temperature, bias = fit([c for other, c in named.items() if other != name])
        held[name] = {"fit": {"temperature": temperature, "class_bias": [float(b) for b in bias]},
                      "raw": figures(condition), "calibrated": figures(condition, temperature, bias)}
    return held


def verdict(held: dict) -> dict:
    """The rule written before the run, applied to the held-out figures."""
    gains = {name: 100.0 * (h["calibrated"]["uar"] - h["raw"]["uar"]) for name, h in held.items()}
    nll_change = float(np.mean([h["calibrated"]["nll"] - h["raw"]["nll"] for h in held.values()]))
    mean_gain = float(np.mean(list(gains.values())))
    serve = mean_gain >= UAR_GAIN and nll_change < 0 and min(gains.values()) >= -UAR_LOSS
    return {"uar_gain_points": gains, "mean_uar_gain_points": mean_gain, "mean_nll_change": nll_change,
            "serve": bool(serve)}


def test_sets(table: dict) -> dict[str, np.ndarray]:
    """Clip masks of the sets read after the choice (never fitted on)."""
    test = table["split"] == "test"
    return {
        "ravdess_19_24": test & (table["corpus"] == "ravdess"),
        "crema-d_1076_1091": test & (table["corpus"] == "crema-d"),
        "emovo_f2_f3_m2_m3": test & (table["corpus"] == "emovo"),
        "emovo_f3_m3": test & np.isin(table["speaker"], EMOVO_F3_M3),
        "urdu": table["corpus"] == "urdu",
    }


def by_emotion(bias: np.ndarray) -> dict[str, float]:
    return dict(zip(EMOTIONS, map(float, bias), strict=True))


def without_emovo(table: dict, segments: dict) -> dict:
    """Issue 17's leave-one-corpus-out figure for EMOVO with the calibration in the recipe: fitted on the
    in-corpus validation speakers and the in-corpus validation videos only (no EMOVO voice anywhere), then
    every EMOVO speaker read raw and calibrated; URDU beside it."""
    fitted = [clip_condition(table, (table["split"] == "val") & (table["condition"] == "in_corpus")),
              segment_condition(segments, segments["condition"] == "in_corpus")]
    temperature, bias = fit(fitted)
    sets = {"emovo_all": table["corpus"] == "emovo", "urdu": table["corpus"] == "urdu"}
    return {"note": "calibration fitted without any EMOVO voice (in-corpus validation clips and videos only); "
                    "read after, chose nothing",
            "calibration": {"temperature": temperature, "class_bias": by_emotion(bias)},
            "sets": {name: {"raw": figures(clip_condition(table, keep)),
                            "calibrated": figures(clip_condition(table, keep), temperature, bias)}
                     for name, keep in sets.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--processes", type=int, default=2, help="processes that score the clips")
    parser.add_argument("--out", default=str(REPORTS))
    parser.add_argument("--apply", action="store_true",
                        help="write the calibration into the voice model's manifest entry if the rule serves it")
    args = parser.parse_args()
    started = time.perf_counter()
    root, out = data_dir(args.data_dir), Path(args.out)
    table, segments = window_table(root, args.processes), segment_table(root)
    val = table["split"] == "val"
    named = {"in_corpus": clip_condition(table, val & (table["condition"] == "in_corpus")),
             "new_speaker": clip_condition(table, val & (table["condition"] == "new_speaker")),
             "video": segment_condition(segments)}
    held = cross_fitted(named)
    temperature, bias = fit(list(named.values()))
    rule = {"rule": __doc__.split("The rule")[1].split("\n\n")[0].strip(), "held_out": held, **verdict(held),
            "full_fit": {"temperature": temperature, "class_bias": by_emotion(bias)},
            "validation_items": {name: int(c.label.size) for name, c in named.items()}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration_rule.json").write_text(json.dumps(rule, indent=2) + "\n")
    read_after = {}
    for name, keep in test_sets(table).items():
        condition = clip_condition(table, keep)
        read_after[name] = {"raw": figures(condition), "calibrated": figures(condition, temperature, bias)}
    (out / "calibration_test.json").write_text(json.dumps(
        {"note": "read after the rule's verdict; chose nothing", "calibration": rule["full_fit"], "sets": read_after},
        indent=2) + "\n")
    (out / "calibration_without_emovo.json").write_text(json.dumps(without_emovo(table, segments), indent=2) + "\n")
    print(json.dumps({k: rule[k] for k in ("uar_gain_points", "mean_uar_gain_points", "mean_nll_change", "serve",
                                           "full_fit")}, indent=2))
    print(f"{out / 'calibration_rule.json'}, {out / 'calibration_test.json'} ({time.perf_counter() - started:.0f} s)")
    if args.apply and rule["serve"]:
        served = json.loads(MANIFEST.read_text())["models"][VOICE_MODEL].get("calibration") or {}
        noise = {"noise": served["noise"]} if "noise" in served else {}  # its own fit, on top of this one
        update_fields(VOICE_MODEL, calibration={**calibration_entry(temperature, bias), **noise})
        print(f"wrote the calibration into the manifest's {VOICE_MODEL} entry"
              + ("; its noise term was kept: refit it with python -m training.voice_noise_calibration --apply"
                 if noise else ""))


def calibration_entry(temperature: float, bias: np.ndarray) -> dict:
    """The manifest entry's ``calibration`` (:class:`emotion_core.calibration.ChannelCalibration` reads it)."""
    return {"temperature": temperature, "class_bias": [float(b) for b in bias],
            "fit": {"script": "training/voice_calibration.py", "date": time.strftime("%Y-%m-%d"),
                    "data": "raw scores of this network on its validation speakers (RAVDESS 17-18, CREMA-D "
                            "1066-1075), EMOVO f1 and m1, and the segments of the fusion's generated validation "
                            "videos, conditions weighing equally; chosen by the leave-one-condition-out rule of "
                            "reports/voice/calibration_rule.json. No test speaker, no URDU."}}


if __name__ == "__main__":
    main()
