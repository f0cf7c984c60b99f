"""A probe of the served voice model: each voice's frequencies warped towards the training voices' (no labels).

Why: the probe of 2026-12-04 (``reports/voice/CROSS_CORPUS.md``, "EMOVO's collapse follows the voice's
frequencies") scaled every frequency of EMOVO's dev clips by one factor and found 0.8-0.9 lifted UAR by 5
points and took a third of the *fear* readings away: the served model ties *fear* to where harmonics and
formants sit. One factor for a corpus is a label-free but corpus-wide choice; a live user is one voice.
So this probe estimates one factor per voice, from that voice's speech alone, and applies it before the
served input step (vocal tract length normalisation at run time; the networks are not retrained).

The estimate (no labels): a voice's *spectrum* is the mean of its log-mel band levels over its windows
with speech (``voice_input_probes.speaker_statistics``; here over all of a speaker's clips, an upper
bound on what the speech heard so far would give). The *reference* is the mean spectrum of the served
networks' training voices (RAVDESS, CREMA-D and TESS training speakers, up to REFERENCE_CLIPS clips each,
each voice weighted alike). The factor is the one of WARP_FACTORS whose warped voice spectrum
(``voice_augment.scale_frequencies``) is nearest the reference over the bands ALIGN_HZ, both spectra
with their straight-line trend over those bands removed (a microphone's or a room's tilt is not a
voice's size).

Scoring is the served path's: the served windows (``windows.cut``) and their trimmed log-mels, warped or
not, the served input step (``audio.mel_to_input``), the served six-network file, its channel calibration,
the served pooling over windows with speech (``reader.pooled``).

Rule, written and committed before any result (the margin and choice score of the tilt and IBN rules):
``choice = 0.5 x validation UAR (mean of RAVDESS 17-18 and CREMA-D 1066-1075) + 0.5 x EMOVO dev UAR (f1,
f2, m1, m2)``. The warp counts as helping only if its choice is at least **1.0 point** above the same
windows read unwarped. Nothing is served from this probe; if it helps, the next step is the factor from
the speech heard so far (live view and files) as a reader step, measured again. Read after the choice,
whatever it says: EMOVO all and f3+m3, URDU (its speaker tags as voices), RAVDESS 19-24, CREMA-D
1076-1091, the collapse ratios, URDU's share read as a class it lacks, and the factors found per corpus.

``--estimate formants`` (a second estimate, its rule written after the first one's result and before its
own run, ``reports/voice/REPORT.md``): the factor from where a voice's formants sit. Each clip's voiced
frames (FRAME_SECONDS, at FORMANT_RATE) give F1-F3 from the roots of an LPC_ORDER predictor; a voice's
formants are their medians over its clips. The training voices' formants fall in two groups (two means on
their log formants: roughly women's and men's vocal tracts, found without labels); a voice is warped to the
group that needs the smaller warp, by the median ratio of that group's formants to its own, kept in
FORMANT_FACTORS. So a voice is moved only by how far it lies from the nearer kind of training voice, not
towards one voice of the whole population.

``--estimate average`` (a third arm, its rule written after the formant estimate's result and before its own
run, ``reports/voice/REPORT.md``): no factor is estimated at all. Every window is read at each of
AVERAGE_FACTORS (the middle of the voices' spread, 1.0 among them) and the model's outputs averaged before
the calibration, as the six networks' outputs are averaged inside the served file: the reading no longer
hangs on where one voice's formants happen to sit, whoever is speaking, from the first window on.

Run: python -m training.voice_warp_probe [--estimate spectrum|formants|average] [--cache /tmp/voice_warp_probe.pkl]
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np

from emotion_core import audio
from emotion_core.analysis import default_reader
from emotion_core.labels import EMOTIONS
from emotion_core.reader import pooled
from training.metrics import uar
from training.voice_augment import BAND_CENTRES_HZ, scale_frequencies
from training.voice_crosscorpus import collapse, evaluation_sets
from training.voice_data import default_data_dir, list_clips
from training.voice_input_probes import choice_set, clip_windows, speaker_statistics

WARP_FACTORS = np.round(np.arange(0.80, 1.2001, 0.02), 2)  # < 1: the voice lowered (a larger vocal tract)
ALIGN_HZ = (150.0, 5000.0)  # the bands compared: the formants' range, below where a warp runs out of bands
REFERENCE_CORPORA = ("ravdess", "crema-d", "tess")  # the served networks' training corpora (EMOVO left out)
REFERENCE_CLIPS = 10  # training clips per reference voice
CHOICE_SETS = ("ravdess:val", "crema-d:val", "emovo:dev")
AFTER_SETS = ("emovo:all", "emovo:test", "urdu:all", "ravdess:test", "crema-d:test")
MARGIN = 1.0  # choice points the warp must gain
FORMANT_RATE = 10_000  # Hz: formants up to 5 kHz, Praat's ceiling for a mixed population
LPC_ORDER = 12  # two poles per kHz of the band, and two more
FRAME_SECONDS, HOP_SECONDS = 0.025, 0.010
MAX_VOICED_FRAMES = 200  # per clip, evenly spaced: enough for medians
VOICED_BELOW_LOUDEST_DB = 25.0  # a voiced frame: within this of the clip's loud frames, and few zero crossings
VOICED_MAX_CROSSINGS = 0.25  # zero crossings per sample (at FORMANT_RATE, before pre-emphasis)
FORMANT_RANGE_HZ, FORMANT_MAX_BANDWIDTH_HZ = (90.0, 4800.0), 500.0
FORMANT_FACTORS = (0.85, 1.15)  # the warp is kept in this range
AVERAGE_FACTORS = (0.95, 1.0, 1.05)  # about the 10th-90th percentiles of the formant estimate's factors


def probe_sets(clips: list[dict]) -> dict[str, list[int]]:
    """Set name -> clip indices: the cross-corpus sets of a model that never heard EMOVO
    (:func:`training.voice_crosscorpus.evaluation_sets`) and the validation speakers' choice sets
    (:func:`training.voice_input_probes.choice_set`)."""
    sets = {name: index.tolist() for name, index in evaluation_sets(clips, ("emovo",)).items()}
    for index, clip in enumerate(clips):
        name = choice_set(clip)
        if name is not None and name.endswith(":val"):
            sets.setdefault(name, []).append(index)
    return sets


def reference_clips(clips: list[dict], per_voice: int = REFERENCE_CLIPS, seed: int = 0) -> list[int]:
    """Up to ``per_voice`` training clips of each training voice of the reference corpora (seeded)."""
    rng = np.random.default_rng(seed)
    by_voice: dict[str, list[int]] = {}
    for index, clip in enumerate(clips):
        if clip["corpus"] in REFERENCE_CORPORA and clip["split"] == "train":
            by_voice.setdefault(clip["speaker"], []).append(index)
    chosen = []
    for voice in sorted(by_voice):
        members = by_voice[voice]
        chosen += [members[i] for i in sorted(rng.permutation(len(members))[:per_voice])]
    return chosen


def align_bands(low_hz: float = ALIGN_HZ[0], high_hz: float = ALIGN_HZ[1]) -> np.ndarray:
    """Indices of the bands whose centres lie in ``[low_hz, high_hz]``."""
    return np.flatnonzero((BAND_CENTRES_HZ >= low_hz) & (BAND_CENTRES_HZ <= high_hz))


def detrended(levels: np.ndarray) -> np.ndarray:
    """``levels`` (1-D) less their least-squares straight line over the band index."""
    x = np.arange(levels.size, dtype=np.float64)
    slope, intercept = np.polyfit(x, levels.astype(np.float64), 1)
    return levels - (slope * x + intercept)


def warp_factor(spectrum: np.ndarray, reference: np.ndarray, factors: np.ndarray = WARP_FACTORS,
                bands: np.ndarray | None = None) -> float:
    """The factor whose warped ``spectrum`` (mean dB per band) is nearest ``reference`` over ``bands``,
    each detrended (:func:`detrended`); ties go to the factor nearest 1."""
    bands = align_bands() if bands is None else bands
    target = detrended(reference[bands])
    distances = [float(np.sum((detrended(scale_frequencies(spectrum[None, :], factor)[0][bands]) - target) ** 2))
                 for factor in factors]
    order = sorted(range(len(factors)), key=lambda i: (round(distances[i], 9), abs(factors[i] - 1.0)))
    return float(factors[order[0]])


def frame_formants(frame: np.ndarray, rate: int = FORMANT_RATE, order: int = LPC_ORDER) -> np.ndarray | None:
    """F1-F3 (Hz) of one windowed frame from its LPC roots, or None where fewer than three are found."""
    import librosa

    coefficients = librosa.lpc(frame.astype(np.float64), order=order)
    if not np.all(np.isfinite(coefficients)):
        return None
    roots = np.roots(coefficients)
    roots = roots[np.imag(roots) > 0.01]
    frequencies = np.angle(roots) * rate / (2 * np.pi)
    bandwidths = -rate / np.pi * np.log(np.abs(roots))
    keep = ((frequencies > FORMANT_RANGE_HZ[0]) & (frequencies < FORMANT_RANGE_HZ[1])
            & (bandwidths < FORMANT_MAX_BANDWIDTH_HZ))
    found = np.sort(frequencies[keep])
    return found[:3] if found.size >= 3 else None


def clip_formants(mono: np.ndarray, sample_rate: int = audio.SAMPLE_RATE) -> np.ndarray:
    """``(frames, 3)`` F1-F3 of a clip's voiced frames (loud, few zero crossings), at most MAX_VOICED_FRAMES."""
    from scipy.signal import resample_poly

    signal = resample_poly(np.asarray(mono, dtype=np.float64), FORMANT_RATE, sample_rate)
    size, hop = int(FRAME_SECONDS * FORMANT_RATE), int(HOP_SECONDS * FORMANT_RATE)
    if signal.size < size:
        return np.zeros((0, 3))
    starts = np.arange(0, signal.size - size + 1, hop)
    frames = np.stack([signal[start : start + size] for start in starts])
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    crossings = np.mean(np.abs(np.diff(np.sign(frames), axis=1)) > 0, axis=1)
    frames = np.concatenate([frames[:, :1], frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)  # pre-emphasis
    voiced = np.flatnonzero((level >= np.percentile(level, 95) - VOICED_BELOW_LOUDEST_DB)
                            & (crossings <= VOICED_MAX_CROSSINGS))
    if voiced.size > MAX_VOICED_FRAMES:
        voiced = voiced[np.linspace(0, voiced.size - 1, MAX_VOICED_FRAMES).astype(int)]
    window = np.hamming(size)
    found = [frame_formants(frames[i] * window) for i in voiced]
    found = [f for f in found if f is not None]
    return np.stack(found) if found else np.zeros((0, 3))


def voice_formants(per_clip: list[np.ndarray]) -> np.ndarray | None:
    """A voice's F1-F3: the medians over its clips' voiced frames (None without any)."""
    frames = np.concatenate([f for f in per_clip if len(f)]) if any(len(f) for f in per_clip) else np.zeros((0, 3))
    return np.median(frames, axis=0) if len(frames) else None


def formant_groups(voices: np.ndarray, rounds: int = 50) -> np.ndarray:
    """Two group centres (F1-F3, Hz) of ``(voices, 3)`` formants: two means on their log formants."""
    logs = np.log(voices)
    size = logs.mean(axis=1)
    centres = np.stack([logs[size <= np.median(size)].mean(axis=0), logs[size > np.median(size)].mean(axis=0)])
    for _ in range(rounds):
        nearest = np.argmin(((logs[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        centres = np.stack([logs[nearest == k].mean(axis=0) if np.any(nearest == k) else centres[k] for k in (0, 1)])
    return np.exp(centres)


def formant_factor(formants: np.ndarray, groups: np.ndarray, limits: tuple[float, float] = FORMANT_FACTORS) -> float:
    """The warp that brings a voice's formants to the nearer group's (the smaller warp), kept in ``limits``
    (< 1: the voice lowered)."""
    factors = [float(np.exp(np.median(np.log(group) - np.log(formants)))) for group in groups]
    return float(np.clip(min(factors, key=lambda f: abs(np.log(f))), *limits))


def warped_input(mel: np.ndarray, factor: float) -> np.ndarray:
    """The served input of one window's log-mel, its frequencies scaled by ``factor`` first."""
    return audio.mel_to_input(scale_frequencies(mel, factor) if factor != 1.0 and len(mel) else mel)


def clip_scores(model, calibration, parts: list[np.ndarray], voiced: np.ndarray,
                factors: tuple[float, ...]) -> dict[str, float]:
    """The served scores of a clip's windows, each read with its log-mel warped by every one of ``factors`` and
    the model's outputs averaged (one factor: that warp alone), then calibrated and pooled as served."""
    rows = np.stack([np.mean([model.predict(warped_input(mel, factor)) for factor in factors], axis=0)
                     for mel in parts])
    return pooled(calibration.apply(rows), voiced)


def clip_reading(model, calibration, parts: list[np.ndarray], voiced: np.ndarray,
                 factors: tuple[float, ...]) -> int:
    """The served reading (label index) of :func:`clip_scores`."""
    scores = clip_scores(model, calibration, parts, voiced, factors)
    return EMOTIONS.index(max(scores, key=scores.get))


def scores_of(clips: list[dict], members: list[int], answers: dict[int, int]) -> dict:
    labels = np.array([clips[i]["label"] for i in members])
    predicted = np.array([answers[i] for i in members])
    result = collapse(labels, predicted)
    return {"clips": len(members), "uar": 100 * uar(labels, predicted), "collapse": result.ratio,
            "collapse_class": result.worst_class, "absent_share": 100 * result.foreign_share}


def formant_cache(clips: list[dict], indices: list[int], path: Path) -> dict[int, np.ndarray]:
    """Each clip's voiced frames' F1-F3 (:func:`clip_formants`), kept in ``path`` between runs."""
    from emotion_core.reader import prepare_speech

    cached = pickle.loads(path.read_bytes()) if path.exists() else {}
    missing = [i for i in indices if i not in cached]
    for i in missing:
        samples, rate = audio.load_audio(clips[i]["path"])
        cached[i] = clip_formants(prepare_speech(samples, rate))
    if missing:
        path.write_bytes(pickle.dumps(cached))
    return cached


def formants_by_voice(clips: list[dict], indices: list[int], formants: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
    """Each voice's F1-F3 (:func:`voice_formants`) over its clips among ``indices``; voices without any left out."""
    per_voice: dict[str, list[np.ndarray]] = {}
    for i in indices:
        per_voice.setdefault(clips[i]["speaker"], []).append(formants[i])
    found = {voice: voice_formants(parts) for voice, parts in per_voice.items()}
    return {voice: f for voice, f in found.items() if f is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", choices=("spectrum", "formants", "average"), default="spectrum")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voice_warp_probe.pkl"))
    parser.add_argument("--out", type=Path, default=None,
                        help="default reports/voice/warp_probe.json (spectrum), warp_probe_formants.json")
    args = parser.parse_args()
    if args.out is None:
        name = "warp_probe.json" if args.estimate == "spectrum" else f"warp_probe_{args.estimate}.json"
        args.out = Path("reports/voice") / name
    started = time.time()
    clips = list_clips(default_data_dir())
    sets = probe_sets(clips)
    reference = reference_clips(clips)
    needed = sorted(set(reference) | {i for members in sets.values() for i in members})
    mels = pickle.loads(args.cache.read_bytes()) if args.cache.exists() else {}
    missing = [i for i in needed if i not in mels]
    for i in missing:
        mels[i] = clip_windows(clips[i]["path"])
    if missing:
        args.cache.write_bytes(pickle.dumps(mels))
    print(f"{len(needed)} clips' windows ({len(missing)} made) [{time.time() - started:.0f} s]", flush=True)

    evaluated = {i: mels[i] for members in sets.values() for i in members}
    if args.estimate == "spectrum":
        reference_voices = speaker_statistics(clips, {i: mels[i] for i in reference})
        reference_spectrum = np.mean([mean for mean, _ in reference_voices.values()], axis=0)
        voices = speaker_statistics(clips, evaluated)
        factors = {voice: warp_factor(mean, reference_spectrum) for voice, (mean, _) in voices.items()}
        groups = None
    elif args.estimate == "average":
        reference_voices, factors, groups = {}, {}, None
    else:
        formants = formant_cache(clips, needed, args.cache.with_name(args.cache.stem + "_formants.pkl"))
        reference_voices = formants_by_voice(clips, reference, formants)
        groups = formant_groups(np.stack(list(reference_voices.values())))
        found = formants_by_voice(clips, list(evaluated), formants)
        factors = {voice: formant_factor(f, groups) for voice, f in found.items()}
        print(f"formant groups (F1-F3, Hz): {np.round(groups).tolist()} [{time.time() - started:.0f} s]", flush=True)
    reader = default_reader()
    answers: dict[str, dict[int, int]] = {"unwarped": {}, "warped": {}}
    for i, (parts, voiced) in evaluated.items():
        warps = AVERAGE_FACTORS if args.estimate == "average" else (factors.get(clips[i]["speaker"], 1.0),)
        answers["unwarped"][i] = clip_reading(reader.voice_model, reader.voice_calibration, parts, voiced, (1.0,))
        answers["warped"][i] = clip_reading(reader.voice_model, reader.voice_calibration, parts, voiced, warps)
    result = {"rule": {"choice": "0.5 x mean(ravdess:val, crema-d:val) UAR + 0.5 x emovo:dev UAR", "margin": MARGIN},
              "estimate": args.estimate, "reference_voices": len(reference_voices), "factors": factors, "arms": {}}
    if args.estimate == "average":
        result["average_factors"] = list(AVERAGE_FACTORS)
    if groups is not None:
        result["formant_groups_hz"] = np.round(groups, 1).tolist()
    for arm, answered in answers.items():
        table = {name: scores_of(clips, sets[name], answered) for name in CHOICE_SETS + AFTER_SETS}
        validation = (table["ravdess:val"]["uar"] + table["crema-d:val"]["uar"]) / 2
        result["arms"][arm] = {"choice": 0.5 * validation + 0.5 * table["emovo:dev"]["uar"], "sets": table}
    gain = result["arms"]["warped"]["choice"] - result["arms"]["unwarped"]["choice"]
    result["gain"], result["helps"] = gain, gain >= MARGIN
    result["seconds"] = round(time.time() - started, 1)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for arm, entry in result["arms"].items():
        print(f"{arm:9s} choice {entry['choice']:.2f}  " + "  ".join(
            f"{name} {s['uar']:.1f} ({s['collapse']:.2f} {s['collapse_class']})" for name, s in entry["sets"].items()))
    print(f"gain {gain:+.2f}: {'helps' if result['helps'] else 'does not help'} by the rule (margin {MARGIN})")
    for corpus in ("ravdess", "crema-d", "emovo", "urdu"):
        found = [f for voice, f in factors.items() if voice.startswith(corpus)]
        if found:
            print(f"{corpus}: factors {np.min(found):.2f}-{np.max(found):.2f}, median {np.median(found):.2f}")


if __name__ == "__main__":
    main()
