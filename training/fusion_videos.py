"""Generated audio-visual clips for fusion, read through ``analyze_video`` and tabled per segment.

Each clip is a run of 3 s turns, one per emotion of its voice source in a seeded random order (7
turns, 21 s; 4 for URDU). In a turn the picture is a FER2013 face of that emotion (validation:
PublicTest, test: PrivateTest; drawn with a seed among the faces the detector finds, never by what
the emotion model reads), enlarged on a grey frame, and the sound is a speech clip of the same
emotion from the same split (silence trimmed, centred in the turn, cut to fit). Voice sources per
condition are those of :mod:`training.fusion_data` (new speaker, validation: EMOVO f1 m1 only; test:
EMOVO f2 f3 m2 m3 and URDU, alternate clips). Every clip goes through ``emotion_core.analyze_video``
at 2 frames/s, as the app reads an upload; each 0.5 s segment's face and voice scores are kept with
the emotion of the turn it starts in. ``training/fusion_fit.py`` fits on the validation clips,
``benchmarks/fusion_video.py`` measures on the test clips.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from emotion_core import analyze_video
from emotion_core.labels import EMOTION_INDEX, EMOTIONS, NUM_EMOTIONS
from harness.videos import write_turns
from training.face_data import fer_root, list_images
from training.fusion_data import FACE_USAGE, PAIR_SEED, Clip, Pairs, in_corpus_clips, new_speaker_clips

TURN_SECONDS, FRAMES_PER_SECOND = 3.0, 2.0
SIZE, FACE_SIDE, RATE = (320, 240), 200, 48000
SPEECH_SECONDS = 2.8  # at most this much speech per turn, centred: a turn's voice stays in its turn
SPLIT_SEEDS = {"val": 1, "test": 2}  # mixed into the seed: each split and condition draws its own clips
CONDITION_SEEDS = {"in_corpus": 1, "new_speaker": 2}


@dataclass(frozen=True)
class Segments:
    """Per analysed segment: face, voice and fused probabilities ``(n, 7)`` as ``analyze_video`` gave
    them (NaN rows: no face / no speech / nothing), the turn's emotion index, and which clip it came from."""

    face: np.ndarray
    voice: np.ndarray
    fused: np.ndarray
    label: np.ndarray
    video: np.ndarray

    def both(self) -> Pairs:
        """The segments with a face and a voice, as pairs (what fusion can change)."""
        keep = ~np.isnan(self.face[:, 0]) & ~np.isnan(self.voice[:, 0])
        return Pairs(self.face[keep], self.voice[keep], self.label[keep], self.video[keep].astype(str))


def face_decks(data_dir: Path, split: str, rng: np.random.Generator) -> dict[str, list[Path]]:
    """The split's FER2013 face files per emotion, in a seeded random order."""
    folder = fer_root(data_dir)
    files: dict[str, list[Path]] = {e: [] for e in EMOTIONS}
    for path, label, usage in list_images(folder):
        if usage == FACE_USAGE[split]:
            files[EMOTIONS[label]].append(folder / path)
    return {e: [paths[i] for i in rng.permutation(len(paths))] for e, paths in files.items()}


def framed_face(path: Path) -> np.ndarray | None:
    """The face enlarged on a grey 320x240 frame, or ``None`` when the detector does not find it there."""
    import cv2

    from emotion_core.face import default_detector
    from emotion_core.images import load_image

    frame = np.full((SIZE[1], SIZE[0], 3), 110, np.uint8)
    top, left = (SIZE[1] - FACE_SIDE) // 2, (SIZE[0] - FACE_SIDE) // 2
    frame[top : top + FACE_SIDE, left : left + FACE_SIDE] = cv2.resize(
        load_image(path), (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_CUBIC)
    return frame if default_detector().detect(frame) else None


def next_face(decks: dict[str, list[Path]], emotion: str, dealt: dict[str, list[Path]]) -> np.ndarray:
    """The next face of ``emotion`` in its deck that the detector finds; when the deck is used up (FER2013
    has 55 disgust faces per test split), the faces already dealt come round again, in the same order."""
    while decks[emotion] or dealt.get(emotion):
        if not decks[emotion]:
            decks[emotion], dealt[emotion] = dealt[emotion][::-1], []
        path = decks[emotion].pop()
        frame = framed_face(path)
        if frame is not None:
            dealt.setdefault(emotion, []).append(path)
            return frame
    raise RuntimeError(f"no detectable {emotion} face")


def turn_sound(clip: Clip) -> np.ndarray:
    """A clip's speech (silence trimmed), centred in a turn of TURN_SECONDS at RATE, cut to SPEECH_SECONDS."""
    from scipy.signal import resample_poly

    from emotion_core.audio import SAMPLE_RATE, load_audio, resample
    from emotion_core.speech import trim_silence

    samples, rate = load_audio(clip.path)
    speech = trim_silence(resample(samples, rate))[: int(SPEECH_SECONDS * SAMPLE_RATE)]
    speech = resample_poly(speech, RATE, SAMPLE_RATE).astype(np.float32)
    out = np.zeros(int(TURN_SECONDS * RATE), np.float32)
    start = (out.size - speech.size) // 2
    out[start : start + speech.size] = speech
    return out


def voice_pools(data_dir: Path, split: str, condition: str) -> list[list[Clip]]:
    """The clip pools that a condition's videos take turns drawing from (one pool per corpus for new speakers)."""
    clips = [c for c in in_corpus_clips(data_dir) + new_speaker_clips(data_dir)
             if c.split == split and c.condition == condition]
    if condition == "in_corpus":
        return [clips]
    return [pool for corpus in ("emovo", "urdu") if (pool := [c for c in clips if c.corpus == corpus])]


def script(pool: list[Clip], rng: np.random.Generator) -> list[tuple[str, Clip]]:
    """One video's turns: each emotion the pool has, in random order, with a random clip of it."""
    emotions = sorted({EMOTIONS[c.label] for c in pool}, key=EMOTION_INDEX.get)
    chosen = []
    for emotion in rng.permutation(emotions):
        candidates = [c for c in pool if EMOTIONS[c.label] == emotion]
        chosen.append((str(emotion), candidates[rng.integers(len(candidates))]))
    return chosen


def vector(scores: dict[str, float]) -> list[float]:
    return [scores[e] for e in EMOTIONS] if scores else [np.nan] * NUM_EMOTIONS


def read_segments(path: Path, emotions: list[str], video: int) -> Segments:
    """``analyze_video`` at FRAMES_PER_SECOND; each segment with the emotion of the turn it starts in."""
    analysis = analyze_video(path, FRAMES_PER_SECOND)
    turns = [min(int((s.start + 1e-6) // TURN_SECONDS), len(emotions) - 1) for s in analysis.segments]
    return Segments(np.array([vector(s.face_scores) for s in analysis.segments]),
                    np.array([vector(s.voice_scores) for s in analysis.segments]),
                    np.array([vector(s.fused.scores) for s in analysis.segments]),
                    np.array([EMOTION_INDEX[emotions[t]] for t in turns]),
                    np.full(len(turns), video))


def generated_segments(data_dir: Path, split: str, condition: str, videos: int, seed: int = PAIR_SEED,
                       keep: Path | None = None) -> Segments:
    """Write ``videos`` clips of one split and condition (in ``keep``, else a temp folder) and table their segments."""
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], CONDITION_SEEDS[condition]])
    decks, pools, dealt = face_decks(data_dir, split, rng), voice_pools(data_dir, split, condition), {}
    tables = []
    with tempfile.TemporaryDirectory(prefix="fusion-videos-") as temporary:
        folder = keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(videos):
            turns = script(pools[index % len(pools)], rng)
            path = write_turns(folder / f"{split}_{condition}_{index}.mp4",
                               [(next_face(decks, e, dealt), turn_sound(c)) for e, c in turns], TURN_SECONDS)
            tables.append(read_segments(path, [e for e, _ in turns], index))
    return Segments(*(np.concatenate([getattr(t, f.name) for t in tables]) for f in fields(Segments)))

