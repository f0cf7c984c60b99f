"""Face + voice over whole videos: generated clips through ``analyze_video``, scored per segment.

    python -m benchmarks.fusion_video [--videos 8] [--keep /tmp/fusion_videos]

Each clip is a run of 3 s turns, one per emotion in a seeded random order (7 turns, 21 s; 4 for
URDU, which has 4 emotions). In a turn the picture is a held-out FER2013 PrivateTest face of that
emotion (drawn with a seed among the faces the detector finds, never by what the emotion model
reads), enlarged on a grey frame, and the sound is a held-out speech clip of the same emotion
(silence trimmed, centred in the turn, cut to fit). Voices come from the two conditions of
``benchmarks.fusion_pairs``: in-corpus (RAVDESS 19-24, CREMA-D 1076-1091) and new speaker (EMOVO
f2 f3 m2 m3 and URDU, alternate clips). Every clip goes through ``emotion_core.analyze_video`` at
2 frames/s, as the app does; each 0.5 s segment is scored against the emotion of the turn it starts
in (a segment without a reading counts as wrong). The hand-set fusion the project had before is
measured on the same segments. Writes ``reports/fusion/video.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from emotion_core import analyze_video, fuse
from emotion_core.fusion import HAND_SET
from emotion_core.labels import EMOTION_INDEX, EMOTIONS, top_label
from harness import PROJECT_ROOT
from training.face_data import data_dir, fer_root, list_images
from training.fusion_data import PAIR_SEED, Clip, in_corpus_clips, new_speaker_clips

REPORT = PROJECT_ROOT / "reports" / "fusion" / "video.json"
TURN_SECONDS, FRAMES_PER_SECOND = 3.0, 2.0
FPS, SIZE, FACE_SIDE, RATE = 15, (320, 240), 200, 48000
SPEECH_SECONDS = 2.8  # at most this much speech per turn, centred: a turn's voice stays in its turn
CHANNELS = ("face", "voice", "fused", "hand_set_fused")


def turn_faces(folder: Path, rng: np.random.Generator) -> dict[str, list[Path]]:
    """PrivateTest face files per emotion, in a seeded random order."""
    files: dict[str, list[Path]] = {e: [] for e in EMOTIONS}
    for path, label, usage in list_images(folder):
        if usage == "PrivateTest":
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


def next_face(decks: dict[str, list[Path]], emotion: str) -> np.ndarray:
    """The next face of ``emotion`` in its deck that the detector finds (used faces leave the deck)."""
    while decks[emotion]:
        frame = framed_face(decks[emotion].pop())
        if frame is not None:
            return frame
    raise RuntimeError(f"ran out of detectable {emotion} faces in FER2013 PrivateTest")


def turn_sound(clip: Clip) -> np.ndarray:
    """A clip's speech (silence trimmed), centred in a turn of TURN_SECONDS at RATE, cut to SPEECH_SECONDS."""
    from scipy.signal import resample_poly

    from emotion_core.audio import SAMPLE_RATE, load_audio, resample, trim_silence

    samples, rate = load_audio(clip.path)
    speech = trim_silence(resample(samples, rate))[: int(SPEECH_SECONDS * SAMPLE_RATE)]
    speech = resample_poly(speech, RATE, SAMPLE_RATE).astype(np.float32)
    out = np.zeros(int(TURN_SECONDS * RATE), np.float32)
    start = (out.size - speech.size) // 2
    out[start : start + speech.size] = speech
    return out


def write_clip(path: Path, turns: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    """An mp4 (H.264 + AAC) of ``(frame, sound)`` turns, each TURN_SECONDS long."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        sound = container.add_stream("aac", rate=RATE, layout="mono")
        for turn, (frame, samples) in enumerate(turns):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for _ in range(int(TURN_SECONDS * FPS)):
                container.mux(video.encode(picture))
            block = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            block.sample_rate, block.time_base = RATE, Fraction(1, RATE)
            block.pts = int(turn * TURN_SECONDS * RATE)
            container.mux(sound.encode(block))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))
    return path


def voice_sources(root: Path) -> dict[str, list[list[Clip]]]:
    """Per condition, the clip pools that videos take turns drawing from (test speakers only)."""
    test = [c for c in in_corpus_clips(root) + new_speaker_clips(root) if c.split == "test"]
    return {"in_corpus": [[c for c in test if c.condition == "in_corpus"]],
            "new_speaker": [[c for c in test if c.corpus == corpus] for corpus in ("emovo", "urdu")]}


def script(pool: list[Clip], rng: np.random.Generator) -> list[tuple[str, Clip]]:
    """One video's turns: each emotion the pool has, in random order, with a random clip of it."""
    emotions = sorted({EMOTIONS[c.label] for c in pool}, key=EMOTION_INDEX.get)
    chosen = []
    for emotion in rng.permutation(emotions):
        candidates = [c for c in pool if EMOTIONS[c.label] == emotion]
        chosen.append((str(emotion), candidates[rng.integers(len(candidates))]))
    return chosen


def score_video(path: Path, emotions: list[str]) -> dict[str, np.ndarray]:
    """Per segment of ``analyze_video``: whether each channel's top emotion is the turn's emotion."""
    analysis = analyze_video(path, FRAMES_PER_SECOND)
    hits = {channel: [] for channel in CHANNELS}
    for segment in analysis.segments:
        turn = min(int((segment.start + 1e-6) // TURN_SECONDS), len(emotions) - 1)
        hand_set = fuse(segment.face_scores, segment.voice_scores, settings=HAND_SET).scores
        labels = {"face": segment.face_label, "voice": segment.voice_label, "fused": segment.fused_label,
                  "hand_set_fused": top_label(hand_set) if hand_set else None}
        for channel, label in labels.items():
            hits[channel].append(label == emotions[turn])
    return {channel: np.array(values) for channel, values in hits.items()}


def run_condition(pools: list[list[Clip]], videos: int, decks: dict, rng: np.random.Generator,
                  folder: Path, name: str) -> dict:
    """Write and score ``videos`` clips of one condition; accuracy per channel over all their segments."""
    hits = {channel: [] for channel in CHANNELS}
    for index in range(videos):
        turns = script(pools[index % len(pools)], rng)
        path = write_clip(folder / f"{name}_{index}.mp4",
                          [(next_face(decks, emotion), turn_sound(clip)) for emotion, clip in turns])
        for channel, values in score_video(path, [emotion for emotion, _ in turns]).items():
            hits[channel].append(values)
    merged = {channel: np.concatenate(values) for channel, values in hits.items()}
    return {"videos": videos, "segments": int(merged["face"].size),
            **{channel: float(values.mean()) for channel, values in merged.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--videos", type=int, default=8, help="generated clips per condition")
    parser.add_argument("--keep", type=Path, default=None, help="write the clips here instead of a temp folder")
    args = parser.parse_args()
    root = data_dir(args.data_dir)
    rng = np.random.default_rng(PAIR_SEED)
    decks = turn_faces(fer_root(root), rng)
    with tempfile.TemporaryDirectory(prefix="fusion-video-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        results = {name: run_condition(pools, args.videos, decks, rng, folder, name)
                   for name, pools in voice_sources(root).items()}
    results["settings"] = {"frames_per_second": FRAMES_PER_SECOND, "turn_seconds": TURN_SECONDS,
                           "seed": PAIR_SEED, "videos_per_condition": args.videos}
    results["targets"] = {f"{c}_fused_ge_face": results[c]["fused"] >= results[c]["face"]
                          for c in ("in_corpus", "new_speaker")}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
