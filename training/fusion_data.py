"""Audio-visual pairs for fitting and measuring fusion: a face and a voice clip of the same emotion.

Faces are FER2013 (validation: PublicTest, test: PrivateTest), classified by the served face model
as served (:meth:`EmotionReader.face_probabilities`, the ``classify_face`` path). Voices are clips of
people the voice model never trained on, classified by the served voice path
(:meth:`EmotionReader.analyze_speech`: decode, resample, voice activity, 3 s windows), in two
conditions:

- ``in_corpus``: held-out speakers of the corpora the voice model trained on (validation: RAVDESS
  17-18 and CREMA-D 1066-1075; test: RAVDESS 19-24 and CREMA-D 1076-1091).
- ``new_speaker``: corpora the voice model never saw, the stand-in for a real user: EMOVO (Italian;
  validation speakers f1 and m1, test f2 f3 m2 m3) and URDU (natural speech; test only, never fit
  on). A leave-one-corpus-out voice model would give a third source here: pass its reader.

A pair joins each voice clip with a face of the same emotion from the same split, drawn with a
fixed seed (faces of a class are dealt in a shuffled order, so they repeat only when a class has
more clips than faces). Only classes the voice corpus has are paired. Scores are cached in
``artifacts/fusion_scores.npz`` (never committed) under the models' sha256, so fitting and
benchmarking are fast; classifying the ~3,600 clips takes a few minutes.

    python -m training.fusion_data [--data-dir ../shared/data] [--rebuild]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from emotion_core.audio import load_audio
from emotion_core.labels import EMOTION_INDEX, EMOTIONS, NUM_EMOTIONS
from emotion_core.reader import VOICE_MODEL, EmotionReader
from emotion_core.weights import file_sha256, load_manifest
from training.face_data import ARTIFACTS, fer_root, list_images, read_face
from training.voice_data import list_clips

CACHE = ARTIFACTS / "fusion_scores.npz"
CONDITIONS = ("in_corpus", "new_speaker")
SPLITS = ("val", "test")
FACE_USAGE = {"val": "PublicTest", "test": "PrivateTest"}
IN_CORPUS = ("ravdess", "crema-d")
EMOVO_VAL_SPEAKERS = ("f1", "m1")  # the other four EMOVO speakers are test
TEST_ONLY = ("urdu",)  # corpora never fit on
PAIR_SEED = 18


@dataclass(frozen=True)
class Clip:
    """One voice clip of a pair source: file, corpus, speaker, EMOTIONS index, split and condition."""

    path: str
    corpus: str
    speaker: str
    label: int
    split: str
    condition: str


@dataclass(frozen=True)
class Pairs:
    """``n`` face/voice pairs of one split and condition: probabilities ``(n, 7)`` (voice NaN when the
    served path found no speech), the true EMOTIONS index and the voice clip's corpus."""

    face: np.ndarray
    voice: np.ndarray
    label: np.ndarray
    corpus: np.ndarray

    def __len__(self) -> int:
        return int(self.label.size)

    def subset(self, keep: np.ndarray) -> Pairs:
        return Pairs(self.face[keep], self.voice[keep], self.label[keep], self.corpus[keep])


def in_corpus_clips(data_dir: Path) -> list[Clip]:
    """Validation and test clips of the corpora the voice model trained on (its held-out speakers)."""
    return [Clip(c["path"], c["corpus"], c["speaker"], c["label"], c["split"], "in_corpus")
            for c in list_clips(data_dir) if c["corpus"] in IN_CORPUS and c["split"] in SPLITS]


def new_speaker_clips(data_dir: Path) -> list[Clip]:
    """EMOVO (validation f1 m1, test the rest) and URDU (test only) clips, from their metadata.csv."""
    clips = []
    for corpus in ("emovo", "urdu"):
        folder = Path(data_dir) / "audio" / corpus
        with open(folder / "metadata.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                held = corpus in TEST_ONLY or row["speaker"] not in EMOVO_VAL_SPEAKERS
                clips.append(Clip(str(folder / row["file"]), corpus, f"{corpus}_{row['speaker']}",
                                  EMOTION_INDEX[row["emotion"]], "test" if held else "val", "new_speaker"))
    return clips


def _clip_scores(path: str) -> np.ndarray:
    """One clip through the bundled reader's ``analyze_speech``: 7 probabilities, NaN when no speech."""
    from emotion_core.analysis import default_reader

    scores = default_reader().analyze_speech(*load_audio(path)).scores
    return np.array([scores[name] for name in EMOTIONS]) if scores else np.full(NUM_EMOTIONS, np.nan)


def score_clips(reader: EmotionReader, paths: list[str], processes: int = 1) -> np.ndarray:
    """``(n, 7)`` voice probabilities through ``analyze_speech`` as served; a NaN row where it finds no speech.

    ``processes`` > 1 spreads the clips over worker processes, each with the bundled reader (only
    for the bundled reader: a reader object does not cross processes).
    """
    if processes > 1:
        with Pool(processes) as workers:
            return np.stack(workers.map(_clip_scores, paths, chunksize=32))
    rows = np.full((len(paths), NUM_EMOTIONS), np.nan)
    for index, path in enumerate(paths):
        scores = reader.analyze_speech(*load_audio(path)).scores
        if scores:
            rows[index] = [scores[name] for name in EMOTIONS]
    return rows


def face_table(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FER2013 PublicTest and PrivateTest: ``(n, 48, 48, 1)`` uint8 faces, EMOTIONS index, split name."""
    folder = fer_root(data_dir)
    usage_split = {usage: split for split, usage in FACE_USAGE.items()}
    items = [item for item in list_images(folder) if item[2] in usage_split]
    faces = np.stack([read_face(folder / path) for path, _, _ in items])
    labels = np.array([label for _, label, _ in items], dtype=np.int64)
    return np.clip(np.round(faces), 0, 255).astype(np.uint8), labels, np.array([usage_split[u] for _, _, u in items])


def models_key(reader: EmotionReader) -> str:
    """The sha256 of the reader's face and voice files, of the served voice features and windowing
    (the manifest's ``features``) and of the voice calibration: cached scores belong to these only."""
    features = json.dumps(load_manifest()["models"][VOICE_MODEL].get("features", {}), sort_keys=True)
    served = hashlib.sha256((features + repr(reader.voice_calibration)).encode()).hexdigest()
    return f"{file_sha256(reader.face_model.path)}+{file_sha256(reader.voice_model.path)}+{served}"


def build_scores(reader: EmotionReader, data_dir: Path, processes: int = 1) -> dict[str, np.ndarray]:
    """Every face's and clip's probabilities, with labels, splits, corpora and conditions."""
    faces, face_labels, face_splits = face_table(data_dir)
    clips = in_corpus_clips(data_dir) + new_speaker_clips(data_dir)
    return {
        "models": np.array(models_key(reader)),
        "face_probs": reader.face_probabilities(faces).astype(np.float64),
        "face_label": face_labels, "face_split": face_splits,
        "voice_probs": score_clips(reader, [clip.path for clip in clips], processes),
        "voice_label": np.array([clip.label for clip in clips], dtype=np.int64),
        "voice_split": np.array([clip.split for clip in clips]),
        "voice_corpus": np.array([clip.corpus for clip in clips]),
        "voice_speaker": np.array([clip.speaker for clip in clips]),
        "voice_condition": np.array([clip.condition for clip in clips]),
        "voice_path": np.array([clip.path for clip in clips]),
    }


def load_scores(reader: EmotionReader, data_dir: Path, cache: Path = CACHE, rebuild: bool = False,
                processes: int = 1) -> dict:
    """The cached scores of :func:`build_scores` for ``reader``'s models (rebuilt when the models changed)."""
    if cache.exists() and not rebuild:
        with np.load(cache, allow_pickle=False) as data:
            scores = {key: data[key] for key in data.files}
        if str(scores["models"]) == models_key(reader):
            return scores
    scores = build_scores(reader, data_dir, processes)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **scores)
    return scores


def draw_pairs(scores: dict, split: str, condition: str, seed: int = PAIR_SEED, faces_per_clip: int = 1) -> Pairs:
    """Each clip of ``split``/``condition`` joined with ``faces_per_clip`` faces of its emotion from the same split."""
    rng = np.random.default_rng(seed)
    clips = np.flatnonzero((scores["voice_split"] == split) & (scores["voice_condition"] == condition))
    in_split = np.flatnonzero(scores["face_split"] == split)
    decks = {label: rng.permutation(in_split[scores["face_label"][in_split] == label]) for label in range(NUM_EMOTIONS)}
    dealt = dict.fromkeys(decks, 0)
    face_rows, voice_rows = [], []
    for clip in np.repeat(clips, faces_per_clip):
        label = int(scores["voice_label"][clip])
        deck = decks[label]
        face_rows.append(deck[dealt[label] % deck.size])
        dealt[label] += 1
        voice_rows.append(clip)
    face_rows, voice_rows = np.array(face_rows, dtype=np.int64), np.array(voice_rows, dtype=np.int64)
    return Pairs(scores["face_probs"][face_rows], scores["voice_probs"][voice_rows],
                 scores["voice_label"][voice_rows], scores["voice_corpus"][voice_rows])


def summary(scores: dict) -> str:
    """Clips per split, condition and corpus, with how many had no speech; faces per split."""
    lines = []
    for split in SPLITS:
        faces = int((scores["face_split"] == split).sum())
        lines.append(f"{split:4s} faces ({FACE_USAGE[split]}): {faces}")
        for corpus in np.unique(scores["voice_corpus"]):
            mask = (scores["voice_split"] == split) & (scores["voice_corpus"] == corpus)
            if mask.any():
                silent = int(np.isnan(scores["voice_probs"][mask, 0]).sum())
                condition = scores["voice_condition"][mask][0]
                lines.append(f"{split:4s} {condition:11s} {corpus:8s} clips={mask.sum():5d} no speech={silent}")
    return "\n".join(lines)


def main() -> None:
    from emotion_core.analysis import default_reader
    from training.face_data import data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--rebuild", action="store_true", help="classify everything again even if cached")
    parser.add_argument("--processes", type=int, default=2, help="worker processes for the clips")
    args = parser.parse_args()
    started = time.perf_counter()
    reader = default_reader()
    scores = load_scores(reader, data_dir(args.data_dir), rebuild=args.rebuild, processes=args.processes)
    print(summary(scores))
    print(f"cache {CACHE} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
