"""Prepare the voice data: list every clip, label and split it, and cache its features.

``python -m training.voice_data [--data-dir ../shared/data] [--out artifacts/voice_features.npz]``

Each clip is decoded, trimmed of leading/trailing silence with the runtime's VAD
(:func:`emotion_core.audio.trim_silence`) and turned into the runtime's log-mel
(:func:`emotion_core.audio.log_mel`, dB, not yet normalised: the runtime normalises each 3 s window,
so training normalises each crop the same way). The prototype baseline's MFCCs are cached too.
Splits follow the fixed, speaker-independent protocol in :data:`TEST_ACTORS` / :data:`VAL_ACTORS`.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from emotion_core.audio import SAMPLE_RATE, load_audio, log_mel, resample, trim_silence
from emotion_core.labels import EMOTION_INDEX

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "EMOTION_DATA_DIR"
DEFAULT_OUT = PROJECT_ROOT / "artifacts" / "voice_features.npz"

TEST_ACTORS = {"ravdess": range(19, 25), "crema-d": range(1076, 1092)}
VAL_ACTORS = {"ravdess": range(17, 19), "crema-d": range(1066, 1076)}
# EMOVO has 6 speakers: one woman and one man are the in-corpus test; no EMOVO validation speaker
# (too few to spare), so checkpoints are chosen on the RAVDESS and CREMA-D validation speakers.
EMOVO_TEST_SPEAKERS = ("emovo_f3", "emovo_m3")
TEST_ONLY_CORPORA = ("urdu",)  # natural speech: a test set only, never trained, calibrated or chosen on
ACTED_CORPORA = ("ravdess", "crema-d", "tess", "emovo")
CORPORA = (*ACTED_CORPORA, *TEST_ONLY_CORPORA)

RAVDESS_CODES = {"01": "neutral", "02": "neutral", "03": "happy", "04": "sad", "05": "angry",
                 "06": "fear", "07": "disgust", "08": "surprise"}  # 02 calm -> neutral
CREMA_CODES = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "SAD": "sad", "NEU": "neutral"}
TESS_SUFFIXES = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "sad": "sad",
                 "neutral": "neutral", "pleasant_surprise": "surprise", "pleasant_surprised": "surprise"}

BASELINE_SECONDS = 2.5  # the prototype's MFCCs cover the first 2.5 s of a clip
BASELINE_N_MFCC = 40
BASELINE_SAMPLES = int(BASELINE_SECONDS * SAMPLE_RATE)


def default_data_dir() -> Path:
    """``$EMOTION_DATA_DIR`` if set, else ``../shared/data`` beside the project."""
    return Path(os.environ.get(DATA_ENV, PROJECT_ROOT.parent / "shared" / "data"))


def split_of(corpus: str, actor: int) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for one speaker; TESS is train only."""
    if actor in TEST_ACTORS.get(corpus, ()):
        return "test"
    if actor in VAL_ACTORS.get(corpus, ()):
        return "val"
    return "train"


def parse_clip(corpus: str, relative: str) -> tuple[str, str]:
    """``(speaker, emotion)`` of one clip from its path relative to the corpus folder."""
    stem = Path(relative).stem
    if corpus == "ravdess":
        fields = stem.split("-")
        return f"ravdess_{int(fields[6]):02d}", RAVDESS_CODES[fields[2]]
    if corpus == "crema-d":
        fields = stem.split("_")
        return f"crema-d_{fields[0]}", CREMA_CODES[fields[2]]
    folder = Path(relative).parent.name  # e.g. OAF_Pleasant_surprise
    speaker, suffix = folder.split("_", 1)
    return f"tess_{speaker}", TESS_SUFFIXES[suffix.lower()]


def labelled_clip(corpus: str, row: dict) -> tuple[str, str, str]:
    """``(speaker, emotion, split)`` of one ``metadata.csv`` row of any corpus in :data:`CORPORA`."""
    if corpus in ("emovo", "urdu"):  # their metadata names the speaker and the emotion
        speaker = f"{corpus}_{row['speaker']}"
        split = "test" if corpus in TEST_ONLY_CORPORA or speaker in EMOVO_TEST_SPEAKERS else "train"
        return speaker, row["emotion"], split
    speaker, emotion = parse_clip(corpus, row["file"])
    actor = int(speaker.split("_")[1]) if corpus != "tess" else -1
    return speaker, emotion, split_of(corpus, actor)


def list_clips(data_dir: Path, corpora: tuple[str, ...] = CORPORA) -> list[dict]:
    """Every clip of ``corpora``: ``{path, corpus, speaker, label, split}`` (label = EMOTIONS index).

    URDU clips are always ``"test"``: every caller that trains, calibrates or chooses uses the
    ``"train"`` / ``"val"`` splits only.
    """
    clips = []
    for corpus in corpora:
        folder = Path(data_dir) / "audio" / corpus
        with open(folder / "metadata.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            speaker, emotion, split = labelled_clip(corpus, row)
            clips.append({"path": str(folder / row["file"]), "corpus": corpus, "speaker": speaker,
                          "label": EMOTION_INDEX[emotion], "split": split})
    return clips


def baseline_mfcc(samples: np.ndarray) -> np.ndarray:
    """The prototype's input: 40 MFCCs of the first 2.5 s (zero padded), ``(40, 79)`` float32."""
    import librosa

    head = np.zeros(BASELINE_SAMPLES, dtype=np.float32)
    head[: min(samples.size, BASELINE_SAMPLES)] = samples[:BASELINE_SAMPLES]
    return librosa.feature.mfcc(y=head, sr=SAMPLE_RATE, n_mfcc=BASELINE_N_MFCC).astype(np.float32)


def clip_features(path: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Decode one clip -> ``(trimmed speech's log-mel (frames, 64) dB, baseline MFCC, raw and kept sample counts)``."""
    samples, rate = load_audio(path)
    samples = resample(samples, rate)
    speech = trim_silence(samples)
    return log_mel(speech).astype(np.float16), baseline_mfcc(samples), samples.size, speech.size


def build_cache(clips: list[dict], processes: int = 2) -> dict[str, np.ndarray]:
    """Features of every clip, as flat arrays: ragged log-mels are concatenated with ``mel_offsets``."""
    with Pool(processes) as pool:
        results = pool.map(clip_features, [clip["path"] for clip in clips], chunksize=64)
    mels = [mel for mel, _, _, _ in results]
    offsets = np.concatenate([[0], np.cumsum([len(mel) for mel in mels])]).astype(np.int64)
    return {
        "path": np.array([clip["path"] for clip in clips]),
        "corpus": np.array([clip["corpus"] for clip in clips]),
        "speaker": np.array([clip["speaker"] for clip in clips]),
        "label": np.array([clip["label"] for clip in clips], dtype=np.int64),
        "split": np.array([clip["split"] for clip in clips]),
        "mel": np.concatenate(mels).astype(np.float16),
        "mel_offsets": offsets,
        "mfcc": np.stack([mfcc for _, mfcc, _, _ in results]),
        "raw_samples": np.array([raw for _, _, raw, _ in results], dtype=np.int64),
        "kept_samples": np.array([kept for _, _, _, kept in results], dtype=np.int64),
    }


def load_cache(path: Path = DEFAULT_OUT) -> dict[str, np.ndarray]:
    """The cached arrays written by :func:`build_cache`."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def clip_mel(cache: dict[str, np.ndarray], index: int) -> np.ndarray:
    """Log-mel (dB, ``(frames, 64)`` float32) of clip ``index`` of the cache."""
    start, stop = cache["mel_offsets"][index], cache["mel_offsets"][index + 1]
    return cache["mel"][start:stop].astype(np.float32)


def summary(cache: dict[str, np.ndarray]) -> str:
    """Clip counts per corpus and split, and how much silence trimming removed."""
    lines = []
    for corpus in np.unique(cache["corpus"]):
        for split in ("train", "val", "test"):
            mask = (cache["corpus"] == corpus) & (cache["split"] == split)
            if mask.any():
                counts = np.bincount(cache["label"][mask], minlength=7).tolist()
                speakers = len(np.unique(cache["speaker"][mask]))
                lines.append(f"{corpus:8s} {split:5s} clips={mask.sum():5d} speakers={speakers:3d} per class={counts}")
    kept = cache["kept_samples"].sum() / cache["raw_samples"].sum()
    hours = cache["raw_samples"].sum() / SAMPLE_RATE / 3600
    lines.append(f"audio kept after silence trimming: {kept:.1%} of {hours:.2f} h")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    started = time.time()
    clips = list_clips(args.data_dir)
    cache = build_cache(clips, args.processes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **cache)
    print(summary(cache))
    print(f"wrote {args.out} ({len(clips)} clips) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
