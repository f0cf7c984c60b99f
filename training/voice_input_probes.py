"""Probes of the served voice model's input, without retraining: would another input step read new voices better?

Two probes; each keeps the served model and the served windows and changes one step of the input.

``speaker``: normalising per speaker. Issue 17 names adapting the features to the voice (not the label
prior) as a lever. The served input
normalises each 3 s window on its own (:func:`emotion_core.audio.normalize_features`: each mel band's
mean over the window removed, then one scale, the window's own spread). This probe keeps the served
model and the served windows (:func:`emotion_core.windows.cut`, :func:`~emotion_core.windows.window_mel`)
and swaps only that step for one that uses the speaker's statistics over all of their clips (an upper
bound on what "the speech heard so far from this voice" could give):

- ``scale``: the band means still removed per window, but the window divided by
  ``window_spread ** (1 - w) * speaker_spread ** w`` (speaker_spread: the RMS of the band-centred
  log-mels over the speaker's windows with speech), so a calm and an agitated window of one voice
  keep their different spreads;
- ``mean``: the subtracted band means mixed, ``(1 - w) * window means + w * speaker means``, so a
  window keeps how its spectrum differs from the speaker's usual one (the tilt that loud speech has);
  then the window's own spread, as served.

Scored on the choice sets only (the validation speakers, RAVDESS 17-18 and CREMA-D 1066-1075, and
EMOVO's speakers outside its test split, which the served model never heard); test speakers and
URDU are not read. The clips' windows are cached in ``--cache`` (about 10 s to make).

``denoise``: spectral subtraction before the log. Each window's mel power loses ``alpha`` times its
noise floor (the ``q``-th percentile of its frames, per band), kept at least ``beta`` of what it was
(over-subtraction with a spectral floor, the classic recipe); scored on the validation speakers under
``training.voice_conditions``' recording conditions (10 dB pink noise, a room, a telephone line, a
codec, a quiet cheap microphone, and clean), where a noise-robust front end would show.

Run: python -m training.voice_input_probes speaker [--cache /tmp/voice_input_probes_speaker.pkl]
     python -m training.voice_input_probes denoise [--per-corpus 150]
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np

from emotion_core import audio, windows
from emotion_core.analysis import default_reader
from emotion_core.reader import pooled, prepare_speech
from emotion_core.speech import trim_silence
from training import voice_conditions
from training.metrics import uar
from training.voice_crosscorpus import collapse
from training.voice_data import clip_samples, default_data_dir, list_clips

DENOISE_SETTINGS = {"served": None, "q10 a1 b0.1": (10.0, 1.0, 0.1), "q10 a2 b0.05": (10.0, 2.0, 0.05),
                    "q20 a1 b0.1": (20.0, 1.0, 0.1)}  # name -> (percentile q, alpha, beta)
VARIANTS = (("served", 0.0), ("scale", 0.25), ("scale", 0.5), ("scale", 0.75), ("scale", 1.0),
            ("mean", 0.25), ("mean", 0.5), ("mean", 1.0))
SPREAD_FLOOR = 1e-3  # as normalize_features


def choice_set(clip: dict) -> str | None:
    """The choice set a clip belongs to (``"ravdess:val"``, ``"crema-d:val"``, ``"emovo:dev"``), or None."""
    if clip["corpus"] == "emovo":
        return "emovo:dev" if clip["split"] != "test" else None
    return f"{clip['corpus']}:val" if clip["split"] == "val" else None


def clip_windows(path: str) -> tuple[list[np.ndarray], np.ndarray]:
    """A clip's windows as served: each window's trimmed log-mel, and which windows hold speech."""
    samples, rate = audio.load_audio(path)
    _, pieces, voiced = windows.cut(prepare_speech(samples, rate))
    return [windows.window_mel(piece) for piece in pieces], voiced


def centred(mel: np.ndarray) -> np.ndarray:
    return mel - mel.mean(axis=0, keepdims=True)


def speaker_statistics(clips: list[dict], mels: dict) -> dict[str, tuple[np.ndarray, float]]:
    """Per speaker: the mean log-mel per band and the RMS of the band-centred log-mels, over windows with speech."""
    sums: dict[str, list] = {}
    for index, (parts, voiced) in mels.items():
        for mel, speech in zip(parts, voiced, strict=True):
            if speech and mel.shape[0]:
                entry = sums.setdefault(clips[index]["speaker"], [np.zeros(mel.shape[1]), 0, 0.0, 0])
                entry[0] = entry[0] + mel.astype(np.float64).sum(axis=0)
                entry[1] += mel.shape[0]
                entry[2] += float((centred(mel).astype(np.float64) ** 2).sum())
                entry[3] += mel.size
    return {speaker: (total / frames, np.sqrt(squares / values))
            for speaker, (total, frames, squares, values) in sums.items()}


def model_input(mel: np.ndarray, variant: str, weight: float, speaker: tuple[np.ndarray, float] | None) -> np.ndarray:
    """One window's model input under ``variant`` (``served``, ``scale`` or ``mean``) at ``weight``."""
    if variant == "served" or mel.shape[0] == 0 or speaker is None:  # None: the speaker has no window with speech
        return audio.mel_to_input(mel)
    speaker_mean, speaker_spread = speaker
    if variant == "scale":
        window = centred(mel)
        spread = (window.std() + SPREAD_FLOOR) ** (1 - weight) * speaker_spread ** weight
    else:
        window = mel - ((1 - weight) * mel.mean(axis=0, keepdims=True) + weight * speaker_mean[None, :])
        spread = window.std() + SPREAD_FLOOR
    return audio.fit_to_window((window / spread).astype(np.float32))


def speaker_probe(args: argparse.Namespace) -> None:
    clips = list_clips(default_data_dir())
    chosen = {index: choice_set(clip) for index, clip in enumerate(clips) if choice_set(clip)}
    if args.cache.exists():
        mels = pickle.loads(args.cache.read_bytes())
    else:
        mels = {index: clip_windows(clips[index]["path"]) for index in chosen}
        args.cache.write_bytes(pickle.dumps(mels))
    statistics = speaker_statistics(clips, mels)
    model = default_reader().voice_model
    names = sorted(set(chosen.values()))
    print(f"{len(chosen)} clips: " + ", ".join(f"{name} {list(chosen.values()).count(name)}" for name in names))
    for variant, weight in VARIANTS:
        started, predicted = time.time(), {}
        for index in chosen:
            parts, voiced = mels[index]
            rows = np.stack([model.predict(model_input(mel, variant, weight, statistics.get(clips[index]["speaker"])))
                             for mel in parts])
            predicted[index] = int(np.argmax((rows[voiced] if voiced.any() else rows).mean(axis=0)))
        cells = []
        for name in names:
            members = [index for index, set_name in chosen.items() if set_name == name]
            labels = np.array([clips[index]["label"] for index in members])
            answers = np.array([predicted[index] for index in members])
            cells.append((name, 100 * uar(labels, answers), collapse(labels, answers).ratio))
        validation = np.mean([score for name, score, _ in cells if name.endswith(":val")])
        print(f"{variant:6s} w={weight:.2f}  validation {validation:.1f}  "
              + "  ".join(f"{name} {score:.1f} (collapse {ratio:.2f})" for name, score, ratio in cells)
              + f"  [{time.time() - started:.0f} s]", flush=True)



def subtract_noise(mel_db: np.ndarray, percentile: float, alpha: float, beta: float) -> np.ndarray:
    """``(frames, bands)`` dB log-mel with each band's noise floor (its ``percentile``-th frame power)
    subtracted ``alpha`` times, every value kept at least ``beta`` of its power; dB again."""
    if mel_db.shape[0] < 4:  # too few frames to tell a floor from the voice
        return mel_db
    power = np.power(10.0, mel_db.astype(np.float64) / 10.0)
    floor = np.percentile(power, percentile, axis=0, keepdims=True)
    cleaned = np.maximum(power - alpha * floor, beta * power)
    return (10.0 * np.log10(np.maximum(cleaned, audio.LOG_FLOOR))).astype(np.float32)


def denoised_scores(model, mono: np.ndarray, setting: tuple[float, float, float] | None) -> np.ndarray:
    """The served voice reading of 16 kHz mono audio, with :func:`subtract_noise` between each window's
    log-mel and its normalisation (``setting`` None: exactly the served input)."""
    _, pieces, voiced = windows.cut(mono)
    rows = []
    for piece in pieces:
        mel = audio.log_mel(trim_silence(np.asarray(piece, dtype=np.float32)))
        rows.append(model.predict(audio.mel_to_input(mel if setting is None else subtract_noise(mel, *setting))))
    scores = pooled(np.stack(rows), voiced)
    return np.array(list(scores.values()))


def denoise_probe(args: argparse.Namespace) -> None:
    clips = voice_conditions.validation_clips(per_corpus=args.per_corpus)
    model = default_reader().voice_model
    guesses = {name: {condition: np.zeros(len(clips), dtype=np.int64) for condition in voice_conditions.CONDITIONS}
               for name in DENOISE_SETTINGS}
    for index, clip in enumerate(clips):
        samples = clip_samples(clip.path)
        for condition in voice_conditions.CONDITIONS:
            heard = prepare_speech(voice_conditions.degrade(samples, condition, clip.path), audio.SAMPLE_RATE)
            for name, setting in DENOISE_SETTINGS.items():
                guesses[name][condition][index] = int(np.argmax(denoised_scores(model, heard, setting)))
    results = {name: voice_conditions.condition_scores(guesses[name], clips) for name in DENOISE_SETTINGS}
    print(f"{len(clips)} validation clips")
    print(voice_conditions.markdown_table(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    probes = parser.add_subparsers(dest="probe", required=True)
    speaker = probes.add_parser("speaker", help="per-speaker input normalisation, on the choice sets")
    speaker.add_argument("--cache", type=Path, default=Path("/tmp/voice_input_probes_speaker.pkl"))
    denoise = probes.add_parser("denoise", help="spectral subtraction, on validation under recording conditions")
    denoise.add_argument("--per-corpus", type=int, default=150, help="clips per corpus (0: all)")
    args = parser.parse_args()
    (speaker_probe if args.probe == "speaker" else denoise_probe)(args)


if __name__ == "__main__":
    main()
