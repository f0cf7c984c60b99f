"""Probe (issue 17): adapt the served networks' batch norms to each session's speech, without retraining.

The embedding probe (``training.voice_embedding_shift``) moved a session's centre after the last
convolution, where the linear head lets a shift act only along the seven emotion directions. A batch
norm sits after every convolution, and its statistics are those of the training corpora: a new voice,
language or microphone moves them. Test-time batch-norm adaptation (AdaBN, Li et al. 2016) re-estimates
them on the unlabelled speech of the new domain, here each session's, so the shift acts before the
non-linearities of the later layers rather than after them.

For a session, each network runs layer by layer over the session's windows; at each batch norm the
per-channel mean and variance of its input over the session's windows with speech are mixed with the
training population's (the batch norm's own moving statistics) as
``w = strength * n / (n + prior_clips)`` for a session of ``n`` clips, and used in its place. ``layers``
picks which batch norms adapt: the first (closest to the microphone and the voice's spectrum) or all
four. Sessions are read three ways, as in ``training.voice_functionals``: balanced (all of a speaker's
clips), neutral-heavy, one mood.

Rule fixed before the run: half the validation UAR (balanced reading) plus half the mean of EMOVO dev's
UAR over the three readings; the unadapted networks are the baseline; test sets and URDU are read for
the chosen variant and the baseline only. Float networks (their int8 file agrees on 98.8 % of the clips).

``python -m training.voice_batch_norm_adaptation``  (reports/voice/batch_norm_adaptation.json)
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np

from training.voice_data import DEFAULT_OUT as CACHE
from training.voice_data import PROJECT_ROOT, clip_audio, clip_windows, load_cache
from training.voice_embedding_shift import SERVED_FLOAT, clip_means, pooled_windows
from training.voice_functionals import SESSION_READINGS, choice_score, evaluation_sets, measured, neutral_heavy
from training.voice_train import corpus_uars

RESULTS = PROJECT_ROOT / "reports" / "voice" / "batch_norm_adaptation.json"
POPULATION_WINDOWS = 800  # training windows that set the batch norms' population statistics
LAYERS = ("first", "all")
STRENGTHS = (0.5, 1.0)
PRIOR_CLIPS = (0, 20)


@dataclass(frozen=True)
class Adaptation:
    """How far a session's own statistics replace the population's, and in which batch norms."""

    layers: str = "all"  # "first" or "all"
    strength: float = 0.0  # 0: the served networks unchanged
    prior_clips: float = 0.0  # the population weighs as much as this many clips of the session

    @property
    def name(self) -> str:
        return f"{self.layers} batch norms, strength {self.strength}, shrink {self.prior_clips:g}"

    def weight(self, clips: int) -> float:
        return self.strength * clips / (clips + self.prior_clips) if clips else 0.0


def mixed_statistics(features: np.ndarray, reference: np.ndarray, population: tuple[np.ndarray, np.ndarray],
                     weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance of ``features`` (windows, ..., channels) over the ``reference``
    windows, mixed with the population's as ``weight * session + (1 - weight) * population``."""
    mean, variance = population
    if weight == 0.0 or not reference.any():
        return mean, variance
    axes = tuple(range(features.ndim - 1))
    own = features[reference]
    return (weight * own.mean(axis=axes) + (1 - weight) * mean,
            weight * own.var(axis=axes) + (1 - weight) * variance)


def adapted_probabilities(network, windows: np.ndarray, reference: np.ndarray, weight: float,
                          layers: str) -> np.ndarray:
    """``(windows, 7)``: one network (``training.voice_train.build_ours``) run layer by layer, each
    adapted batch norm normalising with the mixed statistics of its input."""
    import keras

    x, sequence, pooled_parts, norms_seen = windows[..., None], None, [], 0
    for layer in network.layers[1:]:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, moving_mean, moving_variance = layer.get_weights()
            adapt = layers == "all" or norms_seen == 0
            mean, variance = mixed_statistics(x, reference, (moving_mean, moving_variance), weight if adapt else 0.0)
            x = gamma * (x - mean) / np.sqrt(variance + layer.epsilon) + beta
            norms_seen += 1
        elif isinstance(layer, keras.layers.GlobalAveragePooling1D | keras.layers.GlobalMaxPooling1D):
            pooled_parts.append(np.asarray(layer(sequence)))
        elif isinstance(layer, keras.layers.Concatenate):
            x = np.concatenate(pooled_parts, axis=-1)
        elif isinstance(layer, keras.layers.Dropout):
            continue  # inference
        else:
            x = np.asarray(layer(x))
            if isinstance(layer, keras.layers.Reshape):
                sequence = x
    return x


@dataclass(frozen=True)
class Sessions:
    """One session's clips and their windows, stacked so that the session runs as one batch."""

    clips: np.ndarray  # cache rows
    windows: np.ndarray  # (windows, 301, 64)
    voiced: np.ndarray
    offsets: np.ndarray  # clip k's windows are windows[offsets[k]:offsets[k + 1]]


def clip_inputs(cache: dict, clips: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each clip's served windows and which hold speech, computed once for every variant."""
    return {int(i): clip_windows(clip_audio(cache, i)) for i in np.unique(clips)}


def stacked(inputs: dict, clips: np.ndarray) -> Sessions:
    pieces = [inputs[int(i)] for i in clips]
    return Sessions(clips, np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces]),
                    np.cumsum([0] + [len(p[0]) for p in pieces]))


def read_session(networks: list, session: Sessions, adaptation: Adaptation) -> np.ndarray:
    """Each clip's class (the networks averaged, the windows pooled as the runtime pools them)."""
    window_clip, used = pooled_windows(session.offsets, session.voiced)
    weight = adaptation.weight(len(session.clips))
    probabilities = np.mean([adapted_probabilities(net, session.windows, used, weight, adaptation.layers)
                             for net in networks], axis=0)
    return clip_means(probabilities, window_clip, used, len(session.clips)).argmax(axis=1)


def read_clips(networks: list, inputs: dict, clips: np.ndarray, session_of: np.ndarray,
               adaptation: Adaptation) -> np.ndarray:
    """Classes of ``clips`` (cache rows), each session (``session_of``, per clip) adapted on its own."""
    predicted = np.full(len(clips), -1)
    for session in np.unique(session_of):
        rows = np.flatnonzero(session_of == session)
        predicted[rows] = read_session(networks, stacked(inputs, clips[rows]), adaptation)
    return predicted


def session_readings(cache: dict, clips: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """reading -> (clips read, their sessions): balanced, neutral-heavy (a subset), one mood."""
    labels, speakers = cache["label"][clips], cache["speaker"][clips]
    half = neutral_heavy(labels, speakers, np.random.default_rng(0))
    return {"balanced": (clips, speakers), "neutral-heavy": (clips[half], speakers[half]),
            "one mood": (clips, np.char.add(speakers, labels.astype(str)))}


def figures(networks: list, inputs: dict, cache: dict, index: np.ndarray, reading: str,
            adaptation: Adaptation) -> dict:
    """UAR, collapse and foreign share of one set's clips under one session reading."""
    clips, sessions = session_readings(cache, index)[reading]
    return measured(cache["label"][clips], read_clips(networks, inputs, clips, sessions, adaptation))


def served_networks(cache: dict) -> list:
    """The served float file's networks, their batch norms holding the training corpora's statistics."""
    import keras

    from training.voice_export import load_model

    training = np.flatnonzero((cache["split"] == "train") & ~np.isin(cache["corpus"], ("emovo", "urdu")))
    rng = np.random.default_rng(0)
    windows = np.concatenate([clip_windows(clip_audio(cache, i))[0] for i in rng.choice(training, 600, replace=False)])
    sample = windows[rng.choice(len(windows), min(POPULATION_WINDOWS, len(windows)), replace=False)][..., None]
    return [layer for layer in load_model([SERVED_FLOAT], sample).layers if isinstance(layer, keras.Model)]


def variants() -> list[Adaptation]:
    return [Adaptation()] + [Adaptation(layers, strength, prior) for layers in LAYERS for strength in STRENGTHS
                             for prior in PRIOR_CLIPS]


def main() -> None:
    from training.voice_train import limit_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    limit_threads(parser.parse_args().threads)
    cache, started = load_cache(CACHE), time.time()
    networks = served_networks(cache)
    sets = evaluation_sets(cache, "emovo")
    validation = np.flatnonzero(cache["split"] == "val")
    dev = sets["emovo:dev"]
    inputs = clip_inputs(cache, np.concatenate([validation, *sets.values()]))
    print(f"{len(inputs)} clips' windows, {time.time() - started:.0f} s", flush=True)
    grid, candidates = [], variants()
    for adaptation in candidates:
        predicted = read_clips(networks, inputs, validation, cache["speaker"][validation], adaptation)
        val = 100 * corpus_uars(cache["label"][validation], predicted, cache["corpus"][validation])["score"]
        devs = {reading: figures(networks, inputs, cache, dev, reading, adaptation)["uar"]
                for reading in SESSION_READINGS}
        grid.append({"variant": adaptation.name, "validation": round(val, 1), "dev": devs,
                     "choice": round(choice_score(val, float(np.mean(list(devs.values())))), 1)})
        print(grid[-1], f"{time.time() - started:.0f} s", flush=True)
    chosen = max(range(1, len(grid)), key=lambda n: grid[n]["choice"])
    tests = {}
    for adaptation in (candidates[0], candidates[chosen]):
        tests[adaptation.name] = {
            reading: {name: figures(networks, inputs, cache, index, reading, adaptation)
                      for name, index in sets.items() if name != "emovo:dev"}
            for reading in SESSION_READINGS}
        print(adaptation.name, tests[adaptation.name], flush=True)
    RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                   "model": SERVED_FLOAT.name, "grid": grid, "chosen": grid[chosen]["variant"],
                                   "tests": tests}, indent=1) + "\n")
    print(f"{RESULTS}: chosen {grid[chosen]['variant']} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
