"""Prepare the voice data: list every clip, label and split it, and cache its features.

``python -m training.voice_data [--data-dir ../shared/data] [--out artifacts/voice_features.npz]``

Each clip is decoded and resampled to 16 kHz as the runtime does it (:func:`emotion_core.audio.load_audio`,
:func:`emotion_core.audio.resample`) and cached as float32 samples, untrimmed and unrounded (rounding
them to 16 bits moved the int8 model's scores by up to 0.027 on digital silence): what the model sees of a
clip is made from them by the runtime's own window functions (:mod:`emotion_core.windows`): the
served windows for validation (:func:`clip_windows`), random crops put through the same per-window
steps for training (``training.voice_train``). The prototype baseline's MFCCs are cached too.
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

from emotion_core.audio import DEFAULT_NORMALISATION, SAMPLE_RATE, load_audio, resample
from emotion_core.labels import EMOTION_INDEX
from emotion_core.windows import cut, window_input

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


def clip_table(data_dir: Path) -> dict[str, np.ndarray]:
    """:func:`list_clips` as arrays (``path``, ``corpus``, ``speaker``, ``label``, ``split``): what
    evaluation needs, without the feature cache."""
    clips = list_clips(data_dir)
    table = {key: np.array([clip[key] for clip in clips]) for key in ("path", "corpus", "speaker", "split")}
    return {**table, "label": np.array([clip["label"] for clip in clips], dtype=np.int64)}


def baseline_mfcc(samples: np.ndarray) -> np.ndarray:
    """The prototype's input: 40 MFCCs of the first 2.5 s (zero padded), ``(40, 79)`` float32."""
    import librosa

    head = np.zeros(BASELINE_SAMPLES, dtype=np.float32)
    head[: min(samples.size, BASELINE_SAMPLES)] = samples[:BASELINE_SAMPLES]
    return librosa.feature.mfcc(y=head, sr=SAMPLE_RATE, n_mfcc=BASELINE_N_MFCC).astype(np.float32)


def clip_samples(path: str) -> np.ndarray:
    """Decode one clip as the runtime does -> its 16 kHz float32 samples, untrimmed."""
    samples, rate = load_audio(path)
    return resample(samples, rate)


def clip_features(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one clip -> ``(16 kHz float32 samples, baseline MFCC)``."""
    samples = clip_samples(path)
    return samples, baseline_mfcc(samples)


def build_cache(clips: list[dict], processes: int = 2) -> dict[str, np.ndarray]:
    """Features of every clip, as flat arrays: ragged samples are concatenated with ``sample_offsets``."""
    with Pool(processes) as pool:
        results = pool.map(clip_features, [clip["path"] for clip in clips], chunksize=64)
    offsets = np.concatenate([[0], np.cumsum([len(samples) for samples, _ in results])]).astype(np.int64)
    return {
        "path": np.array([clip["path"] for clip in clips]),
        "corpus": np.array([clip["corpus"] for clip in clips]),
        "speaker": np.array([clip["speaker"] for clip in clips]),
        "label": np.array([clip["label"] for clip in clips], dtype=np.int64),
        "split": np.array([clip["split"] for clip in clips]),
        "samples": np.concatenate([samples for samples, _ in results]).astype(np.float32),
        "sample_offsets": offsets,
        "mfcc": np.stack([mfcc for _, mfcc in results]),
    }


def load_cache(path: Path = DEFAULT_OUT) -> dict[str, np.ndarray]:
    """The cached arrays written by :func:`build_cache`."""
    with np.load(path, allow_pickle=False) as data:
        if "samples" not in data.files:
            raise ValueError(f"{path} is a feature cache of the old format (log-mels): rebuild it with "
                             "python -m training.voice_data")
        return {key: data[key] for key in data.files}


def clip_audio(cache: dict[str, np.ndarray], index: int) -> np.ndarray:
    """The 16 kHz float32 samples of clip ``index`` of the cache (a view, not a copy)."""
    start, stop = cache["sample_offsets"][index], cache["sample_offsets"][index + 1]
    return cache["samples"][start:stop]


def clip_windows(samples: np.ndarray, normalisation: str = DEFAULT_NORMALISATION) -> tuple[np.ndarray, np.ndarray]:
    """The served windows of one clip's 16 kHz float32 samples: model inputs ``(k, 301, 64)`` and
    whether each holds speech ``(k,)``, made by the runtime's own window functions (with the model's
    ``normalisation``)."""
    _, pieces, voiced = cut(np.asarray(samples, dtype=np.float32))
    return np.stack([window_input(piece, normalisation) for piece in pieces]), voiced


def summary(cache: dict[str, np.ndarray]) -> str:
    """Clip counts per corpus and split, and the hours of audio."""
    lines = []
    for corpus in np.unique(cache["corpus"]):
        for split in ("train", "val", "test"):
            mask = (cache["corpus"] == corpus) & (cache["split"] == split)
            if mask.any():
                counts = np.bincount(cache["label"][mask], minlength=7).tolist()
                speakers = len(np.unique(cache["speaker"][mask]))
                lines.append(f"{corpus:8s} {split:5s} clips={mask.sum():5d} speakers={speakers:3d} per class={counts}")
    lines.append(f"audio: {cache['samples'].size / SAMPLE_RATE / 3600:.2f} h")
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
