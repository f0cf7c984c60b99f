"""Validation under recording conditions: the validation speakers' clips through rooms, phones and codecs.

``python -m training.voice_conditions --model A.tflite B.tflite --names a b [--per-corpus N]``

The checkpoint rule (``training.voice_export.validation_uar``) hears only clean studio audio, so a model
that holds up better in real rooms and on real microphones cannot win on it. Here every validation clip
(RAVDESS actors 17-18, CREMA-D 1066-1075; never a test speaker, never URDU or EMOVO) is also heard
through five waveform-level degradations of its 16 kHz samples, each seeded by the clip's path, so
every model hears exactly the same degraded audio. The selection score is the mean over the
conditions (clean is one of them) of the per-corpus-mean UAR.

The degradations are written here on waveforms, independently of the training augmentation
(``training.voice_augment`` works on log-mels), so this check is not the training recipe scoring itself.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import signal

from emotion_core import EmotionReader
from emotion_core.audio import SAMPLE_RATE, resample
from emotion_core.labels import EMOTIONS
from training.metrics import uar
from training.voice_codec import opus_round_trip
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import PROJECT_ROOT, clip_samples, load_cache
from training.voice_train import split_indices

SNR_DB = 10.0  # a busy room or a laptop fan: clearly audible noise that a listener still understands
T60_SECONDS = 0.6  # a furnished living room or office; studios are ~0.2 s, halls > 1 s
DIRECT_TO_REVERB_DB = 0.0  # a speaker about 1-2 m from the microphone: as much reverberant energy as direct
DECAY_DB = 60.0  # T60 is, by definition, the time the energy takes to fall by 60 dB
PHONE_RATE = 8000  # narrowband telephony samples at 8 kHz
PHONE_BAND_HZ = (300.0, 3400.0)  # the ITU-T narrowband telephone passband
PHONE_FILTER_ORDER = 8  # steep enough to remove the 3.4-4 kHz band a phone line does not carry
CODEC_KBPS = 12  # Opus at 12 kbit/s in its speech mode: a video call on a poor link
MIC_GAIN_DB = -20.0  # a cheap microphone far from the mouth, with the OS input gain low
MIC_BAND_HZ = (150.0, 6000.0)  # small capsules lose the bass and the top octave
MIC_FILTER_ORDER = 4  # a gentle roll-off, as a capsule's response is
PCM_LEVELS = 32768.0  # a browser delivers 16-bit PCM, so a quiet signal loses resolution
REPORT_DIR = PROJECT_ROOT / "reports" / "voice"


def pink_noise(count: int, rng: np.random.Generator) -> np.ndarray:
    """``(count,)`` float64 noise with power falling as 1/f (equal energy per octave), unit RMS."""
    spectrum = rng.standard_normal(count // 2 + 1) + 1j * rng.standard_normal(count // 2 + 1)
    frequencies = np.fft.rfftfreq(count)
    spectrum /= np.sqrt(np.maximum(frequencies, frequencies[1] if count > 1 else 1.0))
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, count)
    return noise / max(float(np.sqrt(np.mean(noise ** 2))), 1e-12)


def add_noise(samples: np.ndarray, rng: np.random.Generator, snr_db: float = SNR_DB) -> np.ndarray:
    """Pink noise added at ``snr_db`` below the clip's mean power (the whole clip, pauses included)."""
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    noise = pink_noise(samples.size, rng) * np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (samples + noise).astype(np.float32)


def room_impulse_response(rng: np.random.Generator, t60: float = T60_SECONDS,
                          sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room: a direct path, then Gaussian noise whose energy falls 60 dB in ``t60`` s."""
    times = np.arange(1, int(t60 * sample_rate)) / sample_rate
    tail = rng.standard_normal(times.size) * 10.0 ** (-DECAY_DB / 20.0 * times / t60)
    tail *= np.sqrt(10.0 ** (-DIRECT_TO_REVERB_DB / 10.0) / np.sum(tail ** 2))
    return np.concatenate([[1.0], tail])


def reverberate(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The clip played in a :func:`room_impulse_response` room, same length and RMS as the input."""
    wet = signal.fftconvolve(samples.astype(np.float64), room_impulse_response(rng))[: samples.size]
    return _match_rms(wet, samples)


def telephone(samples: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """A narrowband phone line: down to 8 kHz, 300-3400 Hz band-pass, back to 16 kHz (the runtime's resampler)."""
    narrow = resample(samples.astype(np.float32), SAMPLE_RATE, PHONE_RATE).astype(np.float64)
    sos = signal.butter(PHONE_FILTER_ORDER, PHONE_BAND_HZ, btype="bandpass", fs=PHONE_RATE, output="sos")
    return resample(signal.sosfilt(sos, narrow).astype(np.float32), PHONE_RATE, SAMPLE_RATE)[: samples.size]


def codec_round_trip(samples: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """The clip through Opus at :data:`CODEC_KBPS` (:func:`opus_round_trip`)."""
    return opus_round_trip(samples, CODEC_KBPS)


def cheap_microphone(samples: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """A quiet cheap microphone: :data:`MIC_GAIN_DB` gain, 150-6000 Hz band, 16-bit PCM."""
    sos = signal.butter(MIC_FILTER_ORDER, MIC_BAND_HZ, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    quiet = signal.sosfilt(sos, samples.astype(np.float64)) * 10.0 ** (MIC_GAIN_DB / 20.0)
    return (np.round(np.clip(quiet, -1.0, 1.0) * PCM_LEVELS) / PCM_LEVELS).astype(np.float32)


def clean(samples: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """The clip as recorded."""
    return samples


DEGRADATIONS = {"clean": clean, "noise": add_noise, "reverb": reverberate, "telephone": telephone,
                "codec": codec_round_trip, "cheap_mic": cheap_microphone}
CONDITIONS = tuple(DEGRADATIONS)


def degrade(samples: np.ndarray, condition: str, key: str, seed: int = 0) -> np.ndarray:
    """16 kHz float32 ``samples`` heard under ``condition``; the random parts depend only on
    (``seed``, ``key`` e.g. the clip's path, ``condition``), so every model hears the same audio."""
    if condition not in DEGRADATIONS:
        raise ValueError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")
    rng = np.random.default_rng([seed, zlib.crc32(key.encode()), zlib.crc32(condition.encode())])
    return DEGRADATIONS[condition](np.asarray(samples, dtype=np.float32), rng)


def _match_rms(signal_: np.ndarray, reference: np.ndarray) -> np.ndarray:
    scale = np.sqrt(np.mean(np.square(reference, dtype=np.float64)) / max(float(np.mean(signal_ ** 2)), 1e-20))
    return (signal_ * scale).astype(np.float32)


@dataclass(frozen=True)
class Clip:
    """One validation clip: its audio file, true label index (in ``EMOTIONS``) and corpus."""

    path: str
    label: int
    corpus: str


@dataclass(frozen=True)
class ConditionScores:
    """One model's UAR per condition and corpus (``uar[condition][corpus]``) and the selection ``score``:
    the mean over conditions of the per-corpus-mean UAR."""

    uar: dict[str, dict[str, float]]
    score: float


def validation_clips(features: Path = FEATURES, per_corpus: int = 0) -> list[Clip]:
    """The validation speakers' clips from the feature cache, as ``validation_uar`` takes them; with
    ``per_corpus`` > 0, at most that many per corpus, evenly spaced in cache order (deterministic)."""
    cache = load_cache(features)
    val = split_indices(cache, "val")
    clips = [Clip(str(cache["path"][i]), int(cache["label"][i]), str(cache["corpus"][i])) for i in val]
    if per_corpus <= 0:
        return clips
    kept = []
    for corpus in sorted({clip.corpus for clip in clips}):
        of_corpus = [clip for clip in clips if clip.corpus == corpus]
        step = max(1, -(-len(of_corpus) // per_corpus))  # ceiling division: at most per_corpus clips
        kept.extend(of_corpus[::step])
    return kept


def predictions(readers: dict[str, EmotionReader], clips: list[Clip], conditions: tuple[str, ...] = CONDITIONS,
                seed: int = 0, log=None) -> dict[str, dict[str, np.ndarray]]:
    """Predicted label index ``[model][condition]`` ``(len(clips),)`` int: each clip is degraded once per
    condition and that same audio is scored by every reader's ``classify_speech``."""
    out = {name: {condition: np.zeros(len(clips), dtype=np.int64) for condition in conditions} for name in readers}
    started = time.time()
    for index, clip in enumerate(clips):
        samples = clip_samples(clip.path)
        for condition in conditions:
            heard = degrade(samples, condition, clip.path, seed)
            for name, reader in readers.items():
                scores = reader.classify_speech(heard, SAMPLE_RATE)
                out[name][condition][index] = int(np.argmax([scores[e] for e in EMOTIONS]))
        if log is not None and (index + 1) % 100 == 0:
            log(f"{index + 1}/{len(clips)} clips ({time.time() - started:.0f} s)")
    return out


def condition_scores(predicted: dict[str, np.ndarray], clips: list[Clip]) -> ConditionScores:
    """Per-condition, per-corpus UAR (plus each condition's per-corpus ``"mean"``) and the selection score."""
    labels = np.array([clip.label for clip in clips])
    corpora = np.array([clip.corpus for clip in clips])
    table = {}
    for condition, guess in predicted.items():
        row = {corpus: uar(labels[corpora == corpus], guess[corpora == corpus]) for corpus in np.unique(corpora)}
        table[condition] = {**row, "mean": float(np.mean(list(row.values())))}
    return ConditionScores(table, float(np.mean([row["mean"] for row in table.values()])))


def condition_uar(reader: EmotionReader, clips: list[Clip], conditions: tuple[str, ...] = CONDITIONS,
                  seed: int = 0) -> ConditionScores:
    """One reader's per-condition, per-corpus UAR on ``clips`` and its selection score."""
    return condition_scores(predictions({"model": reader}, clips, conditions, seed)["model"], clips)


def markdown_table(results: dict[str, ConditionScores]) -> str:
    """Models as rows; per condition the corpus-mean UAR (per-corpus UARs in brackets); the score last."""
    first = next(iter(results.values()))
    conditions = list(first.uar)
    corpora = [key for key in first.uar[conditions[0]] if key != "mean"]
    lines = [f"| model | {' | '.join(conditions)} | score |", "|---" * (len(conditions) + 2) + "|"]
    for name, result in results.items():
        cells = [f"{100 * row['mean']:.1f} ({' / '.join(f'{100 * row[c]:.1f}' for c in corpora)})"
                 for row in result.uar.values()]
        lines.append(f"| {name} | {' | '.join(cells)} | **{100 * result.score:.1f}** |")
    return "\n".join(lines) + f"\n\nUAR in %: corpus mean ({' / '.join(corpora)}); score = mean over the conditions."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, nargs="+", required=True, help="voice .tflite files to compare")
    parser.add_argument("--names", nargs="+", help="a name per model (default: the file stems)")
    parser.add_argument("--normalisation", default="band_mean", help="every model's voice_normalisation")
    parser.add_argument("--features", type=Path, default=FEATURES, help="the voice feature cache (splits, labels)")
    parser.add_argument("--per-corpus", type=int, default=0, help="at most this many clips per corpus (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPORT_DIR / "conditions.json")
    args = parser.parse_args()
    names = args.names or [path.stem for path in args.model]
    if len(names) != len(args.model):
        parser.error("give one name per model")
    started, clips = time.time(), validation_clips(args.features, args.per_corpus)
    readers = {name: EmotionReader.with_models(voice_model=path, voice_normalisation=args.normalisation)
               for name, path in zip(names, args.model, strict=True)}
    predicted = predictions(readers, clips, seed=args.seed, log=print)
    results = {name: condition_scores(predicted[name], clips) for name in names}
    seconds = time.time() - started
    report = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "seconds": round(seconds),
              "clips": {c: sum(clip.corpus == c for clip in clips) for c in sorted({x.corpus for x in clips})},
              "seed": args.seed, "normalisation": args.normalisation, "conditions": list(CONDITIONS),
              "models": {name: {"file": str(path), "uar": results[name].uar, "score": results[name].score}
                         for name, path in zip(names, args.model, strict=True)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    print(f"{len(clips)} clips {report['clips']}, {seconds / 60:.1f} min; written {args.out}")


if __name__ == "__main__":
    main()
