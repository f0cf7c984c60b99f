"""The ``calls`` recipe's experiment of issue 17: candidates read clean and under babble, side by side.

``python -m training.voice_calls_experiment --model A.tflite B.tflite --names a b --out J.json``

Each int8 file is read raw (no channel calibration: none of the candidates is the served file, and the
served one is read the same way) through the cached clips' served windows, a clip's reading the mean of
its speech windows (``training.voice_tilt_experiment.score``: the rule's sets and those read after).
Beside them the rule's sets (validation speakers, EMOVO dev) are read under babble at
:data:`~training.voice_babble.BABBLE_SNRS_DB`:
four of TESS's clips talking at once (``training.voice_babble``, the noise calibration's check babble;
training's babble never uses TESS), each clip's babble seeded by its path, so every file hears the same.
The rule that reads these figures is written in ``reports/voice/REPORT.md`` before the run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emotion_core.classifier import LiteClassifier
from training.voice_babble import BABBLE_SNRS_DB, add_babble, seeded
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import clip_audio, clip_windows, load_cache
from training.voice_functionals import choice_score
from training.voice_tilt_experiment import measure, pooled_reading, score, test_sets
from training.voice_train import ARTIFACTS, limit_threads

RULE_SETS = ("ravdess:val", "crema-d:val", "emovo:dev")
TALKER_STEP = 40  # every 40th TESS clip, as the noise calibration's check


def check_talkers(cache: dict) -> list[np.ndarray]:
    """The babble's talkers: every :data:`TALKER_STEP`-th TESS clip."""
    return [clip_audio(cache, i) for i in np.flatnonzero(cache["corpus"] == "tess")[::TALKER_STEP]]


def babble_readings(model: LiteClassifier, cache: dict, index: np.ndarray, snr_db: float,
                    talkers: list[np.ndarray]) -> np.ndarray:
    """``(len(index), 7)``: each clip, babble added at ``snr_db``, read as the mean of its speech windows."""
    return np.array([pooled_reading(model, *clip_windows(add_babble(
        np.asarray(clip_audio(cache, i)), seeded(str(cache["path"][i]), f"b{snr_db:g}"), snr_db, talkers)))
        for i in index])


def babble_scores(model_path: Path, cache: dict) -> dict:
    """The rule's sets under babble at each of :data:`~training.voice_babble.BABBLE_SNRS_DB`, and their rule
    score (mean over the SNRs)."""
    model, talkers, sets, started = LiteClassifier(model_path, num_threads=1), check_talkers(cache), {}, time.time()
    rule_sets = {name: index for name, index in test_sets(cache).items() if name in RULE_SETS}
    for snr in BABBLE_SNRS_DB:
        for name, index in rule_sets.items():
            sets[f"{name} babble {snr:g} dB"] = measure(cache["label"][index],
                                                         babble_readings(model, cache, index, snr, talkers))
        validation = np.mean([sets[f"{name} babble {snr:g} dB"]["uar"] for name in RULE_SETS[:2]])
        sets[f"rule babble {snr:g} dB"] = choice_score(float(validation), sets[f"emovo:dev babble {snr:g} dB"]["uar"])
        print(f"  babble {snr:g} dB: rule {sets[f'rule babble {snr:g} dB']:.2f} ({time.time() - started:.0f} s)",
              flush=True)
    return {"sets": sets, "rule_score": float(np.mean([sets[f"rule babble {snr:g} dB"] for snr in BABBLE_SNRS_DB]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=FEATURES)
    parser.add_argument("--model", type=Path, nargs="+", required=True)
    parser.add_argument("--names", nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "voice_calls_scores.json")
    args = parser.parse_args()
    limit_threads(1)
    cache, results = load_cache(args.features), {}
    for model, name in zip(args.model, args.names, strict=True):
        print(name, flush=True)
        results[name] = {"clean": score(model, False, cache), "babble": babble_scores(model, cache)}
        args.out.write_text(json.dumps(results, indent=2))
    for name, result in results.items():
        print(f"{name}: clean rule {result['clean']['rule_score']:.2f} (validation {result['clean']['validation']:.2f},"
              f" EMOVO dev {result['clean']['emovo_dev']:.2f}), babble rule {result['babble']['rule_score']:.2f}")


if __name__ == "__main__":
    main()
