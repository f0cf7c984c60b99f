"""Face + voice over whole videos: generated test clips through ``analyze_video``, scored per segment.

    python -m benchmarks.fusion_video [--videos 8] [--keep /tmp/fusion_videos]

The clips (:mod:`training.fusion_videos`): 3 s turns, one per emotion, each a held-out FER2013
PrivateTest face with held-out speech of the same emotion, in the two voice conditions of
``benchmarks.fusion_pairs`` (in-corpus: RAVDESS 19-24, CREMA-D 1076-1091; new speaker: EMOVO
f2 f3 m2 m3 and URDU). Every clip goes through ``emotion_core.analyze_video`` at 2 frames/s, as
the app reads an upload, and each 0.5 s segment is scored against the emotion of the turn it starts
in: face, voice and fused (the segment's own fused reading, the served fusion) top emotions; a
segment without a reading counts as wrong. The hand-set fusion the project had before is measured
on the same segments (``fuse(..., settings=HAND_SET)``). Writes ``reports/fusion/video.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emotion_core import fuse
from emotion_core.fusion import HAND_SET
from emotion_core.labels import EMOTIONS, scores_to_dict
from harness import PROJECT_ROOT
from training.face_data import data_dir
from training.fusion_data import CONDITIONS, PAIR_SEED
from training.fusion_videos import FRAMES_PER_SECOND, TURN_SECONDS, Segments, generated_segments

REPORT = PROJECT_ROOT / "reports" / "fusion" / "video.json"


def hits(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Whether each row's top emotion is the label; a NaN row (no reading) is a miss."""
    return ~np.isnan(probabilities[:, 0]) & (np.nan_to_num(probabilities, nan=0.0).argmax(1) == labels)


def as_scores(row: np.ndarray) -> dict[str, float]:
    return {} if np.isnan(row[0]) else scores_to_dict(row)


def hand_set(segments: Segments) -> np.ndarray:
    """The hand-set fusion of each segment's face and voice, as ``(n, 7)`` (NaN rows: nothing to fuse)."""
    rows = []
    for face, voice in zip(segments.face, segments.voice, strict=True):
        fused = fuse(as_scores(face), as_scores(voice), settings=HAND_SET).scores
        rows.append([fused[e] for e in EMOTIONS] if fused else [np.nan] * len(EMOTIONS))
    return np.array(rows)


def score(segments: Segments) -> dict:
    """Per-segment accuracy of each channel, with how many segments had a face and a voice."""
    labels = segments.label
    return {"videos": int(np.unique(segments.video).size), "segments": int(labels.size),
            "with_face": int((~np.isnan(segments.face[:, 0])).sum()),
            "with_voice": int((~np.isnan(segments.voice[:, 0])).sum()),
            "face": float(hits(segments.face, labels).mean()), "voice": float(hits(segments.voice, labels).mean()),
            "fused": float(hits(segments.fused, labels).mean()),
            "hand_set_fused": float(hits(hand_set(segments), labels).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--videos", type=int, default=8, help="generated clips per condition")
    parser.add_argument("--keep", type=Path, default=None, help="keep the clips in this folder")
    args = parser.parse_args()
    root = data_dir(args.data_dir)
    results = {c: score(generated_segments(root, "test", c, args.videos, keep=args.keep)) for c in CONDITIONS}
    results["settings"] = {"frames_per_second": FRAMES_PER_SECOND, "turn_seconds": TURN_SECONDS,
                           "seed": PAIR_SEED, "videos_per_condition": args.videos}
    results["targets"] = {f"{c}_fused_ge_face": results[c]["fused"] >= results[c]["face"] for c in CONDITIONS}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
