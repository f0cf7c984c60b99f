"""The voice channel's noise term: a window drowned in noise is read at a higher temperature, and its rule.

    python -m training.voice_noise_calibration [--data-dir ../shared/data] [--apply]
    python -m training.voice_noise_calibration --read-conditions   # read after: reverb, telephone, codec, cheap mic

Why: as noise rises the served voice states *more* readings, not fewer: on 150 validation clips with pink
noise added, it stated an emotion for 75 % of clean clips (right on 69 % of those), 85 % at 10 dB SNR
(right on 30 %) and 100 % at 0 dB (right on 18 %, chance 14 %). Noise pushes the network onto one or two
classes with confidence, so the channel's calibration (fitted on clean speech) says nothing of it. Here
the calibration gains one term: a window whose speech stands less than a knee above what fills its gaps
(:func:`emotion_core.audio.band_contrast_db`) is read at a temperature raised by a slope per dB below the
knee (:class:`emotion_core.calibration.ChannelCalibration`), so the voice says "uncertain" where it cannot
hear, and the fusion leans on the face. The top emotion never changes.

Fit (the knee and the slope; the served temperature and class bias stay): the served network's raw window
scores on its validation speakers (RAVDESS 17-18, CREMA-D 1066-1075) as recorded and with pink noise at
FIT_SNRS_DB, each clip pooled as served; the grid point with the lowest mean negative log-likelihood of the
pooled clip scores.

The rule (reports/voice/REPORT.md, written before the run): the check is what the fit never saw: other
noises (white, and babble of four TESS talkers) at CHECK_SNRS_DB, on EMOVO (every speaker: a corpus the
network never heard) and CHECK_VALIDATION_CLIPS of the validation speakers, and the same clips clean and
through a telephone band. Served only if (1) on the clean check clips, and on them through the telephone band
(band-limited, not noisy), the share of stated readings falls by at most CLEAN_STATED_LOSS points,
and (2) over the noisy check clips the expected calibration error falls by at least ECE_GAIN and the accuracy
of stated readings rises by at least STATED_GAIN points. URDU (natural speech, as recorded) is read after and
chooses nothing. ``--apply`` writes the term into the voice model's manifest calibration when the rule serves it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from emotion_core import audio, speech, windows
from emotion_core.analysis import default_reader
from emotion_core.calibration import ChannelCalibration, expected_calibration_error
from emotion_core.reader import VOICE_MODEL, pooling_mask, prepare_speech
from emotion_core.reading import UNCERTAIN_BELOW
from training.face_data import data_dir
from training.fusion_fit import nll
from training.manifest import MANIFEST, update_fields
from training.voice_babble import add_babble, seeded
from training.voice_conditions import add_noise, degrade
from training.voice_data import list_clips

FIT_SNRS_DB = (20.0, 10.0, 5.0, 0.0)
CHECK_SNRS_DB = (20.0, 10.0, 5.0, 0.0)
CHECK_VALIDATION_CLIPS = 300
CONDITIONS_CLIPS = 300  # validation clips for --read-conditions
KNEES_DB = np.arange(10.0, 30.01, 1.0)
SLOPES = np.round(np.arange(0.0, 1.001, 0.025), 3)
CLEAN_STATED_LOSS = 2.0  # points of clean clips' stated share the term may cost
ECE_GAIN = 0.03  # the noisy check clips' calibration error must fall by this
STATED_GAIN = 5.0  # points the accuracy of stated readings must rise by on the noisy check clips
REPORTS = Path("reports/voice")


def white_noise(samples: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """White noise added at ``snr_db`` below the clip's mean power."""
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    noise = rng.standard_normal(samples.size) * np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (samples + noise).astype(np.float32)


def pooled_clips(table: dict, calibration: ChannelCalibration) -> np.ndarray:
    """Each clip's served scores ``(clips, 7)``: its windows calibrated (with their contrasts), pooled as served
    (the mean of the windows ``table["pooled"]`` marks)."""
    calibrated = calibration.apply(table["rows"], table["contrast"]) * table["pooled"][:, None]
    sums = np.zeros((table["label"].size, calibrated.shape[1]))
    np.add.at(sums, table["clip"], calibrated)
    return sums / np.bincount(table["clip"], weights=table["pooled"], minlength=table["label"].size)[:, None]


def figures(scores: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, the share of clips with a stated reading (not "uncertain"), their accuracy, ECE and NLL."""
    top, right = scores.max(axis=1), scores.argmax(axis=1) == labels
    stated = top >= UNCERTAIN_BELOW
    return {"clips": int(labels.size), "accuracy": 100 * float(right.mean()), "stated": 100 * float(stated.mean()),
            "right_when_stated": 100 * float(right[stated].mean()) if stated.any() else None,
            "ece": expected_calibration_error(scores, labels), "nll": nll(scores, labels)}


def read_clips(reader, clips: list[dict], conditions: dict) -> dict[str, dict]:
    """Every clip under every named condition (``name -> f(mono, key) -> mono``): tables of the network's raw
    window scores and speech contrasts (:meth:`EmotionReader.raw_voice_windows`); a clip without speech is left
    out, as the served path answers none. Each clip is read from disk once."""
    parts: dict[str, dict[str, list]] = {name: {key: [] for key in ("rows", "contrast", "pooled", "clip", "label")}
                                         for name in conditions}
    for clip in clips:
        recorded = prepare_speech(*audio.load_audio(clip["path"]))
        for name, heard_as in conditions.items():
            mono = heard_as(recorded, clip["path"])
            if not speech.has_speech(mono):  # the served path gives no reading at all
                continue
            _, pieces, voiced = windows.cut(mono)
            rows, contrast = reader.raw_voice_windows(pieces)
            table = parts[name]
            table["clip"].append(np.full(voiced.size, len(table["label"])))
            table["rows"].append(rows), table["contrast"].append(contrast), table["pooled"].append(pooling_mask(voiced))
            table["label"].append(clip["label"])
    tables = {}
    for name, table in parts.items():
        tables[name] = {"rows": np.concatenate(table["rows"]), "contrast": np.concatenate(table["contrast"]),
                        "pooled": np.concatenate(table["pooled"]).astype(np.float64),
                        "clip": np.concatenate(table["clip"]), "label": np.array(table["label"], dtype=np.int64)}
        print(f"  {name}: {len(table['label'])} clips", flush=True)
    return tables


def merged(tables: list[dict]) -> dict:
    """One table of several, clip indices renumbered."""
    offset, parts = 0, []
    for table in tables:
        parts.append({**table, "clip": table["clip"] + offset})
        offset += table["label"].size
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def fit(table: dict, base: ChannelCalibration) -> tuple[float | None, float, float]:
    """The grid's (knee, slope) on top of ``base`` with the lowest pooled-clip NLL on ``table``, and that NLL
    (no knee and slope 0 when no grid point beats ``base`` alone)."""
    best: tuple[float | None, float, float] = (None, 0.0, nll(pooled_clips(table, base), table["label"]))
    for knee in KNEES_DB:
        for slope in SLOPES[1:]:
            candidate = ChannelCalibration(base.temperature, base.class_bias, float(knee), float(slope))
            loss = nll(pooled_clips(table, candidate), table["label"])
            if loss < best[2]:
                best = (float(knee), float(slope), loss)
    return best


def without_noise_term(calibration: ChannelCalibration) -> ChannelCalibration:
    """The served temperature and class bias, without any noise term the manifest may already hold."""
    return dataclasses.replace(calibration, contrast_knee_db=None, contrast_slope=0.0)


def read_conditions(clips: list[dict], count: int = CONDITIONS_CLIPS) -> dict:
    """Read after, chooses nothing: the served term against none on ``count`` validation clips under
    ``training.voice_conditions``' recording conditions other than noise (seed 5)."""
    reader = default_reader()
    without_term = without_noise_term(reader.voice_calibration)
    validation = [c for c in clips if c["split"] == "val" and c["corpus"] in ("ravdess", "crema-d")]
    picked = [validation[i] for i in np.sort(np.random.default_rng(5).choice(len(validation), count, replace=False))]
    names = ("clean", "reverb", "telephone", "codec", "cheap_mic")
    heard_as = {name: (lambda mono, key, name=name: degrade(mono, name, key)) for name in names}
    tables = read_clips(reader, picked, heard_as)
    return {name: {"without_noise_term": figures(pooled_clips(table, without_term), table["label"]),
                   "with_noise_term": figures(pooled_clips(table, reader.voice_calibration), table["label"]),
                   "windows_under_knee": float(np.mean(reader.voice_calibration.drowned(table["contrast"])))}
            for name, table in tables.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--apply", action="store_true", help="write the term into the manifest if the rule serves it")
    parser.add_argument("--read-conditions", action="store_true",
                        help="only read the served term under other recording conditions (read after; chooses nothing)")
    args = parser.parse_args()
    started = time.perf_counter()
    clips = list_clips(data_dir(args.data_dir))
    if args.read_conditions:
        found = read_conditions(clips)
        summary = {"note": "read after the rule; chose nothing", "clips": CONDITIONS_CLIPS, "conditions": found}
        (REPORTS / "noise_calibration_conditions.json").write_text(json.dumps(summary, indent=2) + "\n")
        for name, entry in found.items():
            before, after = entry["without_noise_term"], entry["with_noise_term"]
            print(f"{name:10s} stated {before['stated']:.1f} -> {after['stated']:.1f} %, right when stated "
                  f"{before['right_when_stated']:.1f} -> {after['right_when_stated']:.1f}, ECE {before['ece']:.3f} -> "
                  f"{after['ece']:.3f}, windows under the knee {100 * entry['windows_under_knee']:.1f} %")
        return
    reader = default_reader()
    without_term = without_noise_term(reader.voice_calibration)
    validation = [c for c in clips if c["split"] == "val" and c["corpus"] in ("ravdess", "crema-d")]
    fit_conditions = {"clean": lambda mono, key: mono}
    fit_conditions |= {f"pink {snr:g} dB": (lambda mono, key, snr=snr: add_noise(mono, seeded(key, f"pink{snr}"), snr))
                       for snr in FIT_SNRS_DB}
    print(f"fit: {len(validation)} validation clips", flush=True)
    fit_tables = read_clips(reader, validation, fit_conditions)
    knee, slope, fit_nll = fit(merged(list(fit_tables.values())), without_term)
    term = ChannelCalibration(without_term.temperature, without_term.class_bias, knee, slope)
    print(f"fitted knee {knee} dB, slope {slope} (fit NLL {fit_nll:.4f}) [{time.perf_counter() - started:.0f} s]")

    talkers = [prepare_speech(*audio.load_audio(c["path"])) for c in clips if c["corpus"] == "tess"][::40]
    rng = np.random.default_rng(0)
    check = [c for c in clips if c["corpus"] == "emovo"] + [validation[i] for i in np.sort(
        rng.choice(len(validation), CHECK_VALIDATION_CLIPS, replace=False))]
    check_conditions = {"clean": lambda mono, key: mono,
                        "telephone": lambda mono, key: degrade(mono, "telephone", key)}  # band-limited, not noisy
    for snr in CHECK_SNRS_DB:
        check_conditions[f"white {snr:g} dB"] = (
            lambda mono, key, snr=snr: white_noise(mono, seeded(key, f"w{snr}"), snr))
        check_conditions[f"babble {snr:g} dB"] = (
            lambda mono, key, snr=snr: add_babble(mono, seeded(key, f"b{snr}"), snr, talkers))
    print(f"check: {len(check)} clips (EMOVO and validation), {len(talkers)} babble clips", flush=True)
    check_tables = read_clips(reader, check, check_conditions)
    noisy = merged([table for name, table in check_tables.items() if name not in ("clean", "telephone")])

    def both(table: dict) -> dict:
        return {"without_noise_term": figures(pooled_clips(table, without_term), table["label"]),
                "with_noise_term": figures(pooled_clips(table, term), table["label"])}

    clean, noisy_figures, phone = both(check_tables["clean"]), both(noisy), both(check_tables["telephone"])
    before, after = noisy_figures["without_noise_term"], noisy_figures["with_noise_term"]
    stated_loss = max(case["without_noise_term"]["stated"] - case["with_noise_term"]["stated"]
                      for case in (clean, phone))
    ece_gain = before["ece"] - after["ece"]
    stated_gain = after["right_when_stated"] - before["right_when_stated"]
    serve = bool(slope > 0 and stated_loss <= CLEAN_STATED_LOSS and ece_gain >= ECE_GAIN and stated_gain >= STATED_GAIN)
    urdu = [c for c in clips if c["corpus"] == "urdu"]
    read_after = both(read_clips(reader, urdu, {"as recorded": lambda mono, key: mono})["as recorded"])
    result = {
        "contrast": "median over mel bands of each band's 90th - 10th percentile (emotion_core.audio.band_contrast_db)",
        "rule": {"clean_and_telephone_stated_loss_max": CLEAN_STATED_LOSS, "noisy_ece_gain_min": ECE_GAIN,
                 "noisy_right_when_stated_gain_min": STATED_GAIN},
        "fit": {"knee_db": knee, "slope": slope, "nll": fit_nll, "clips": len(validation),
                "conditions": list(fit_conditions), "by_condition": {name: both(t) for name, t in fit_tables.items()}},
        "check": {"clean": clean, "telephone": phone, "noisy": noisy_figures,
                  "by_condition": {name: both(t) for name, t in check_tables.items()}},
        "clean_stated_loss": stated_loss, "noisy_ece_gain": ece_gain, "noisy_right_when_stated_gain": stated_gain,
        "serve": serve, "urdu_read_after": read_after, "seconds": round(time.perf_counter() - started, 1)}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "noise_calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("clean_stated_loss", "noisy_ece_gain", "noisy_right_when_stated_gain",
                                             "serve")}, indent=2))
    if args.apply and serve:
        served = json.loads(MANIFEST.read_text())["models"][VOICE_MODEL].get("calibration")
        update_fields(VOICE_MODEL, calibration=with_noise_entry(served, knee, slope))
        print(f"wrote the noise term into the manifest's {VOICE_MODEL} calibration")


def with_noise_entry(calibration: dict | None, knee: float, slope: float) -> dict:
    """The manifest's ``calibration`` with this noise term in it; a network served without a temperature or
    class bias (its own rule kept none) gets the noise term alone."""
    return {**(calibration or {}), "noise": noise_entry(knee, slope)}


def noise_entry(knee: float, slope: float) -> dict:
    """The manifest calibration's ``noise`` (:meth:`ChannelCalibration.from_entry` reads it)."""
    return {"contrast_knee_db": knee, "contrast_slope": slope,
            "fit": {"script": "training/voice_noise_calibration.py", "date": time.strftime("%Y-%m-%d"),
                    "data": "raw scores of this network on its validation speakers (RAVDESS 17-18, CREMA-D "
                            "1066-1075), as recorded and with pink noise at 20, 10, 5 and 0 dB SNR; served by the "
                            "rule of reports/voice/noise_calibration.json (white noise and babble, EMOVO). No test "
                            "speaker, no URDU."}}


if __name__ == "__main__":
    main()
