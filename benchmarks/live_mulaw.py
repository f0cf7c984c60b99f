"""Would 8-bit mu-law change the live view's voice readings? RAVDESS test actors, 16-bit PCM vs a mu-law round trip.

The page sends the microphone as 16 kHz 16-bit PCM (256 kbit/s); 8-bit mu-law (mu = 255, the
continuous companding curve, 256 levels) would halve that. Each clip of RAVDESS's test actors
(training.voice_data.TEST_ACTORS) is resampled to 16 kHz and rounded to 16 bits as the page rounds
it, then read by ``classify_speech`` and ``voice_activity`` as sent today and after the mu-law
round trip. Reported: agreement of the top label and of the speech decision, accuracy of both, and
the largest score change per clip (median, p95). Writes ``reports/live/mulaw.json``.

    python -m benchmarks.live_mulaw [--limit 0]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from emotion_core import EMOTIONS, classify_speech, voice_activity
from emotion_core.audio import SAMPLE_RATE, load_audio, resample
from harness import PROJECT_ROOT
from training.voice_data import TEST_ACTORS

DATA_DIR = Path(os.environ.get("EMOTION_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
RAVDESS = DATA_DIR / "audio" / "ravdess"
REPORT = PROJECT_ROOT / "reports" / "live" / "mulaw.json"
MU = 255.0
RAVDESS_LABELS = {"01": "neutral", "02": "neutral", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
                  "07": "disgust", "08": "surprise"}  # third field of 03-01-EE-II-SS-RR-AA


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16, rounded and clipped as the page's AudioWorklet does."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def mulaw_round_trip(pcm: np.ndarray) -> np.ndarray:
    """int16 samples -> 8-bit mu-law codes -> int16 again (what the server would get)."""
    x = pcm.astype(np.float64) / 32768.0
    companded = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    codes = np.round((companded + 1.0) / 2.0 * 255.0)
    back = codes / 255.0 * 2.0 - 1.0
    return to_pcm16(np.sign(back) * np.expm1(np.abs(back) * np.log1p(MU)) / MU)


def read(pcm: np.ndarray) -> tuple[str, dict[str, float], bool]:
    """Top label, scores and speech decision for int16 16 kHz audio."""
    samples = pcm.astype(np.float32) / 32768.0
    scores = classify_speech(samples, SAMPLE_RATE)
    return max(scores, key=scores.get), scores, voice_activity(samples, SAMPLE_RATE).has_speech


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="at most this many clips (0: all)")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    actors = set(TEST_ACTORS["ravdess"])
    files = sorted(f for f in RAVDESS.glob("Actor_*/*.ogg") if int(f.parent.name.split("_")[1]) in actors)
    files = files[: args.limit] if args.limit else files
    same = speech_same = right_pcm = right_mulaw = 0
    changes = []
    for path in files:
        samples, rate = load_audio(path)
        pcm = to_pcm16(resample(samples, rate))
        (top, scores, speech), (top_mu, scores_mu, speech_mu) = read(pcm), read(mulaw_round_trip(pcm))
        truth = RAVDESS_LABELS[path.stem.split("-")[2]]
        same += top == top_mu
        speech_same += speech == speech_mu
        right_pcm += top == truth
        right_mulaw += top_mu == truth
        changes.append(max(abs(scores[name] - scores_mu[name]) for name in EMOTIONS))
    n = max(len(files), 1)
    report = {"what": __doc__.splitlines()[0], "clips": len(files), "top_label_agreement": round(same / n, 4),
              "speech_decision_agreement": round(speech_same / n, 4), "accuracy_pcm16": round(right_pcm / n, 4),
              "accuracy_mulaw": round(right_mulaw / n, 4),
              "largest_score_change_median": round(float(np.median(changes)), 4) if changes else None,
              "largest_score_change_p95": round(float(np.percentile(changes, 95)), 4) if changes else None}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
