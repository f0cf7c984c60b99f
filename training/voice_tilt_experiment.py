"""The voice-tilt experiment of issue 17: export a fine-tune int8 and read it, with or without the tilt.

Run:
    python -m training.voice_tilt_experiment profiles                       # every cached clip's profile
    python -m training.voice_tilt_experiment export --checkpoint C.keras --name N [--tilted]
    python -m training.voice_tilt_experiment score --model A.tflite B.tflite --names a b --tilt no yes --out J.json

Both arms go through the same code: the cached clips' served windows (``training.voice_data``, the
runtime's own window functions), each network's raw int8 output (neither file is the served one, so
no channel calibration), a clip's reading the mean of its speech windows. With ``--tilt`` a window
keeps its tilt against the profile of its speaker's clips heard so far (``training.voice_tilt``):
each speaker of a test set is one session, clips in a seeded random order. The rule's sets (the
validation speakers, EMOVO dev) and the sets read after it (EMOVO f3 + m3 and all, URDU, the in-corpus
test speakers) are scored in one pass; the rule itself is in ``reports/voice/REPORT.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emotion_core.classifier import LiteClassifier
from emotion_core.reader import pooling_mask
from emotion_core.windows import cut, window_mel
from training.metrics import uar
from training.voice_crosscorpus import collapse
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import clip_audio, clip_windows, load_cache
from training.voice_functionals import choice_score
from training.voice_tilt import (
    CALM,
    ENROL_CLIPS,
    band_means,
    cache_profiles,
    enrolled_clips,
    heard_so_far,
    tilted_clip,
    tilted_input,
)
from training.voice_train import ARTIFACTS, limit_threads, split_indices

ORDER_SEED = 0  # the order each test speaker's clips are heard in
# What one session of a voice is when a test set is read: heard so far (session_keys) or enrolled before
# (training.voice_tilt.enrolment; the enrolment clips are not scored, whichever network reads the set).
SESSIONS = ("speaker", "one-mood", "clip", "enrolled", "enrolled-upset")


def test_sets(cache: dict) -> dict[str, np.ndarray]:
    """Set name -> cache indices: the rule's (``ravdess:val``, ``crema-d:val``, ``emovo:dev``) and those read after."""
    corpus, split = cache["corpus"], cache["split"]
    return {"ravdess:val": np.flatnonzero((corpus == "ravdess") & (split == "val")),
            "crema-d:val": np.flatnonzero((corpus == "crema-d") & (split == "val")),
            "emovo:dev": np.flatnonzero((corpus == "emovo") & (split != "test")),
            "emovo:test": np.flatnonzero((corpus == "emovo") & (split == "test")),
            "emovo:all": np.flatnonzero(corpus == "emovo"),
            "urdu:all": np.flatnonzero(corpus == "urdu"),
            "ravdess:test": np.flatnonzero((corpus == "ravdess") & (split == "test")),
            "crema-d:test": np.flatnonzero((corpus == "crema-d") & (split == "test"))}


def calibration_inputs(cache: dict, tilt: bool, count: int = 400, seed: int = 0, calm: bool = False) -> np.ndarray:
    """``(count, 301, 64, 1)``: the first window of random training clips without EMOVO
    (``training.voice_export.calibration_windows``); tilted against the speaker's mean training
    profile when ``tilt`` (its neutral clips' when ``calm``, as an enrolment), the same clips picked the same way."""
    from training.voice_export import calibration_windows

    if not tilt:
        return calibration_windows(cache, count, seed, exclude_corpus="emovo")
    train = split_indices(cache, "train", "emovo")
    chosen = np.random.default_rng(seed).choice(train, count, replace=False)
    profiles, speakers = cache_profiles(cache), cache["speaker"]
    heard = train[cache["label"][train] == CALM] if calm else train
    voice = {s: profiles[heard[speakers[heard] == s]].mean(axis=0) for s in np.unique(speakers[chosen])}
    first = [window_mel(cut(clip_audio(cache, i))[1][0]) for i in chosen]
    return np.stack([tilted_input(mel, band_means(mel) - voice[speakers[i]])
                     for mel, i in zip(first, chosen, strict=True)])[..., None].astype(np.float32)


def export(checkpoint: Path, name: str, tilt: bool, cache: dict, calm: bool = False) -> Path:
    """The checkpoint as an int8 file ``artifacts/<name>.tflite``, its ranges from :func:`calibration_inputs`."""
    from training.voice_export import convert, load_model

    calibration = calibration_inputs(cache, tilt or calm, calm=calm)
    out = ARTIFACTS / f"{name}.tflite"
    out.write_bytes(convert(load_model([checkpoint], calibration), calibration))
    return out


def session_keys(cache: dict, index: np.ndarray, sessions: str) -> np.ndarray:
    """Which session each clip of ``index`` is heard in: its speaker's (``speaker``, the rule's); its speaker's
    clips of its own emotion (``one-mood``: a voice that stays in one mood, a check made with the labels);
    its own (``clip``: a voice heard for the first time)."""
    speakers = cache["speaker"][index].astype(str)
    if sessions == "one-mood":
        return np.char.add(np.char.add(speakers, "/"), cache["label"][index].astype(str))
    return index.astype(str) if sessions == "clip" else speakers


def scored_clips(cache: dict, index: np.ndarray, sessions: str,
                 enrol_clips: int = ENROL_CLIPS) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """The clips of ``index`` a reading scores, and with enrolled sessions each one's enrolment clips
    (cache indices); sessions heard so far score every clip (None)."""
    if not sessions.startswith("enrolled"):
        return index, None
    return enrolled_clips(cache, index, ORDER_SEED, calm=sessions == "enrolled", clips=enrol_clips)


def clip_readings(model: LiteClassifier, cache: dict, index: np.ndarray, profiles: np.ndarray | None,
                  sessions: str = "speaker", enrolled_with: list[np.ndarray] | None = None) -> np.ndarray:
    """``(len(index), 7)``: each clip's reading (mean of its speech windows' scores); with every cached
    clip's ``profiles`` (:func:`~training.voice_tilt.cache_profiles`), tilted against its enrolment's
    profile (``enrolled_with``, from :func:`scored_clips`) or else the profile heard so far in its
    session (:func:`session_keys`)."""
    tilt = profiles is not None
    if tilt and enrolled_with is not None:
        heard = np.array([profiles[enrol].mean(axis=0) for enrol in enrolled_with])
    elif tilt:
        heard = heard_so_far(profiles[index], session_keys(cache, index, sessions), ORDER_SEED)
    return np.array([pooled_reading(model, *(tilted_clip(clip_audio(cache, i), heard[row]) if tilt
                                             else clip_windows(clip_audio(cache, i))))
                     for row, i in enumerate(index)])


def pooled_reading(model: LiteClassifier, inputs: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """``(7,)``: one clip's reading from its window inputs ``(k, 301, 64)``, the mean of its speech windows."""
    return model.predict_batch(inputs[..., None].astype(np.float32))[pooling_mask(voiced)].mean(axis=0)


def measure(labels: np.ndarray, readings: np.ndarray) -> dict:
    predicted = readings.argmax(axis=1)
    shape = collapse(labels, predicted)
    return {"uar": 100 * uar(labels, predicted), "collapse": shape.ratio, "collapse_class": shape.worst_class,
            "foreign_share": 100 * shape.foreign_share, "clips": int(labels.size)}


def score(model_path: Path, tilt: bool, cache: dict, sessions: str = "speaker", enrol_clips: int = ENROL_CLIPS) -> dict:
    """Every :func:`test_sets` set for one int8 file, and the rule's score."""
    model, started, sets = LiteClassifier(model_path, num_threads=1), time.time(), {}
    profiles = cache_profiles(cache) if tilt else None
    for name, every in test_sets(cache).items():
        index, enrolled_with = scored_clips(cache, every, sessions, enrol_clips)
        if index.size == 0:
            continue
        sets[name] = measure(cache["label"][index], clip_readings(model, cache, index, profiles, sessions,
                                                                  enrolled_with))
        print(f"  {name}: UAR {sets[name]['uar']:.1f} collapse {sets[name]['collapse']:.2f} "
              f"({time.time() - started:.0f} s)", flush=True)
    validation = float(np.mean([sets["ravdess:val"]["uar"], sets["crema-d:val"]["uar"]]))
    read_as = sessions if tilt or sessions.startswith("enrolled") else None  # untilted: which clips were scored
    return {"file": str(model_path), "tilt": tilt, "sessions": read_as,
            **({"enrol_clips": enrol_clips} if sessions.startswith("enrolled") else {}),
            "validation": validation, "emovo_dev": sets["emovo:dev"]["uar"],
            "rule_score": choice_score(validation, sets["emovo:dev"]["uar"]), "sets": sets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("profiles", "export", "score"))
    parser.add_argument("--features", type=Path, default=FEATURES)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--name", default="voice_tilt")
    parser.add_argument("--tilted", action="store_true", help="export: the checkpoint was trained with the tilt")
    parser.add_argument("--enrolled", action="store_true", help="export: the checkpoint was trained with --voice-enrol")
    parser.add_argument("--tilt", nargs="*", default=[], choices=("yes", "no"), help="score: per model, tilted or not")
    parser.add_argument("--sessions", choices=SESSIONS, default="speaker",
                        help="score: how a voice is heard (speaker: heard so far; enrolled: calm clips before; "
                             "one-mood, clip, enrolled-upset: checks); enrolled sessions drop the enrolment clips "
                             "for every network")
    parser.add_argument("--enrol-clips", type=int, default=ENROL_CLIPS,
                        help="score, enrolled sessions: how many clips each voice enrols with")
    parser.add_argument("--model", type=Path, nargs="*", default=[])
    parser.add_argument("--names", nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "voice_tilt_scores.json")
    args = parser.parse_args()
    limit_threads(1)
    cache, started = load_cache(args.features), time.time()
    if args.command == "profiles":
        print(f"{cache_profiles(cache).shape[0]} profiles ({time.time() - started:.0f} s)")
    elif args.command == "export":
        path = export(args.checkpoint, args.name, args.tilted, cache, calm=args.enrolled)
        print(f"{path}: {path.stat().st_size} bytes ({time.time() - started:.0f} s)")
    else:
        results = {name: score(model, flag == "yes", cache, args.sessions, args.enrol_clips)
                   for model, name, flag in zip(args.model, args.names, args.tilt, strict=True)}
        args.out.write_text(json.dumps(results, indent=2))
        for name, result in results.items():
            print(f"{name}: validation {result['validation']:.2f}, EMOVO dev {result['emovo_dev']:.2f}, "
                  f"rule {result['rule_score']:.2f}")


if __name__ == "__main__":
    main()
