"""A voice input that keeps each window's spectral tilt against the voice heard so far (issue 17; an experiment).

The served input removes each window's own band means (:func:`emotion_core.audio.normalize_features`).
That takes out the microphone and the room, and with them how this window's spectrum differs from
the voice's usual one: a raised voice lifts the upper bands, a sad one lowers them. Issue 17 names
normalising "over the speech heard so far from that voice". Here a window keeps that difference,
its *tilt*: the window's band means minus the voice's *profile*, the band means of the speech heard
so far from that voice (every speech window of its clips so far, the current one included). The
window and the profile come through the same microphone and room, so the channel still cancels.
Served, the profile would be a running mean per voice: the live view's session, a long file.

Training (``training.voice_train --voice-tilt``) draws each example's profile from its own clip and
k - 1 other training clips of its speaker (k log-uniform in 1..MAX_HEARD): from a voice heard for one
clip (tilt near zero, the served input) to one heard at length. The tilt is measured on the clean
window, before the room and microphone augmentation, which colours window and profile alike.
Test sets are read as sessions (:func:`heard_so_far`). Nothing here is served.

A voice that stays in one mood makes its profile heard so far that mood (measured 2026-12-07: URDU at
chance). The *enrolment* variant (``voice_train --voice-enrol``) takes the profile from a few clips of
the voice's calm speech given before the session instead (:func:`enrolment`), so a tilt reads as "away
from this voice at rest"; a voice that did not enrol gets no tilt, i.e. the served input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotion_core.audio import fit_to_window
from emotion_core.labels import EMOTIONS
from emotion_core.reader import pooling_mask
from emotion_core.windows import cut, window_mel
from training.voice_data import PROJECT_ROOT, clip_audio

MAX_HEARD = 32  # the most clips a training profile averages
SPREAD_FLOOR = 1e-3  # as normalize_features: a silent window is not blown up
ENROL_CLIPS = 3  # the calm clips a test voice enrols with (about 6-10 s of speech)
MAX_ENROL = 8  # the most calm clips a training enrolment averages
NO_ENROL_SHARE = 0.25  # training examples read as a voice that did not enrol: no tilt, the served input
CALM = EMOTIONS.index("neutral")
PROFILES = PROJECT_ROOT / "artifacts" / "voice_profiles.npz"  # every cached clip's profile (cache_profiles)


def band_means(mel: np.ndarray) -> np.ndarray:
    """``(N_MELS,)`` float64: the mean dB per band of a window's ``(frames, N_MELS)`` log-mel (what
    :func:`~emotion_core.audio.normalize_features` removes); zeros for a window without frames."""
    return mel.astype(np.float64).mean(axis=0) if mel.shape[0] else np.zeros(mel.shape[1])


def tilted_input(mel: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """A window's ``(frames, N_MELS)`` dB log-mel and its ``(N_MELS,)`` tilt -> the ``(WINDOW_FRAMES, N_MELS)``
    model input: band-centred, the tilt added back to every frame, one shared scale, tiled as served."""
    if mel.shape[0] == 0:
        return fit_to_window(mel)
    window = mel - mel.mean(axis=0, keepdims=True) + tilt[None, :]
    return fit_to_window((window / (window.std() + SPREAD_FLOOR)).astype(np.float32))


def clip_mels(samples: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """A clip's served windows (:func:`emotion_core.windows.cut`): each one's trimmed log-mel, and which hold speech."""
    _, pieces, voiced = cut(np.asarray(samples, dtype=np.float32))
    return [window_mel(piece) for piece in pieces], voiced


def clip_profile(mels: list[np.ndarray], voiced: np.ndarray) -> np.ndarray:
    """``(N_MELS,)``: the mean of the band means of the windows a clip's reading pools (its speech windows)."""
    return np.mean([band_means(mels[i]) for i in np.flatnonzero(pooling_mask(voiced))], axis=0)


def clip_inputs(mels: list[np.ndarray], voice_profile: np.ndarray) -> np.ndarray:
    """``(k, WINDOW_FRAMES, N_MELS)`` model inputs of a clip's windows, each tilted against ``voice_profile``."""
    return np.stack([tilted_input(mel, band_means(mel) - voice_profile) for mel in mels])


def tilted_clip(samples: np.ndarray, voice_profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`training.voice_data.clip_windows`, tilted: a clip's inputs ``(k, 301, 64)``, which hold speech."""
    mels, voiced = clip_mels(samples)
    return clip_inputs(mels, voice_profile), voiced


def heard_so_far(profiles: np.ndarray, sessions: np.ndarray, seed: int = 0) -> np.ndarray:
    """``(n, N_MELS)``: for each clip, the mean profile of its session's clips heard up to and including it,
    each session's clips (e.g. one speaker's) heard in a seeded random order."""
    rng = np.random.default_rng(seed)
    heard = np.zeros_like(profiles, dtype=np.float64)
    for session in np.unique(sessions):
        order = rng.permutation(np.flatnonzero(sessions == session))
        running = np.cumsum(profiles[order], axis=0) / np.arange(1, order.size + 1)[:, None]
        heard[order] = running
    return heard


def drawn_profile(rng: np.random.Generator, profiles: np.ndarray, own: int, same_speaker: np.ndarray) -> np.ndarray:
    """A training example's voice profile: its own clip's and k - 1 random clips' of ``same_speaker``
    (indices into ``profiles``), k log-uniform in 1..MAX_HEARD."""
    heard = int(np.exp(rng.uniform(0.0, np.log(MAX_HEARD + 1))))
    others = rng.choice(same_speaker, heard - 1) if heard > 1 else np.zeros(0, dtype=int)
    return (profiles[own] + profiles[others].sum(axis=0)) / heard


def speaker_members(speakers: np.ndarray) -> list[np.ndarray]:
    """For each clip, the indices of every clip of its speaker (itself included)."""
    names, inverse = np.unique(speakers, return_inverse=True)
    groups = [np.flatnonzero(inverse == k) for k in range(len(names))]
    return [groups[k] for k in inverse]


def cache_profiles(cache: dict, path: Path = PROFILES) -> np.ndarray:
    """``(clips, N_MELS)``: every cached clip's :func:`clip_profile`, computed once and kept at ``path``
    (with the cache's clip count, so a rebuilt cache is noticed)."""
    count = len(cache["label"])
    if path.exists():
        with np.load(path) as stored:
            if stored["profiles"].shape[0] == count:
                return stored["profiles"]
    profiles = np.stack([clip_profile(*clip_mels(clip_audio(cache, i))) for i in range(count)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, profiles=profiles)
    return profiles


def calm_members(speakers: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """For each clip, the indices of every neutral clip of its speaker (itself included if neutral)."""
    return [members[labels[members] == CALM] for members in speaker_members(speakers)]


def drawn_enrolment(rng: np.random.Generator, profiles: np.ndarray, own: int,
                    calm_clips: np.ndarray) -> np.ndarray | None:
    """A training example's enrolment: the mean profile of k (1..MAX_ENROL) of its speaker's neutral clips
    other than itself (``calm_clips``, indices into ``profiles``); None (no tilt: a voice that did not
    enrol) for a share NO_ENROL_SHARE of examples and for a speaker with no other neutral clip."""
    others = calm_clips[calm_clips != own]
    if others.size == 0 or rng.random() < NO_ENROL_SHARE:
        return None
    count = min(int(rng.integers(1, MAX_ENROL + 1)), others.size)
    return profiles[rng.choice(others, count, replace=False)].mean(axis=0)


def enrolment(speakers: np.ndarray, labels: np.ndarray, seed: int = 0, calm: bool = True,
              clips: int = ENROL_CLIPS) -> tuple[np.ndarray, list[np.ndarray]]:
    """How a test set is read with enrolment: for each speaker, ``clips`` clips drawn (seeded) from its
    neutral clips (``calm``) or, as a check, from its clips of one other emotion drawn at random (a user
    who enrolled upset). Returns the positions that are scored (never an enrolment clip; speakers without
    ``clips`` + 1 such clips are left out) and, for each, the positions of its speaker's enrolment."""
    rng, scored, enrolled_with = np.random.default_rng(seed), [], []
    for speaker in np.unique(speakers):
        own = speakers == speaker
        moods = [CALM] if calm else [m for m in np.unique(labels[own]) if m != CALM
                                     and np.sum(own & (labels == m)) > clips]
        if not moods:
            continue
        pool = np.flatnonzero(own & (labels == moods[int(rng.integers(len(moods)))]))
        if pool.size <= clips:
            continue
        enrol = rng.choice(pool, clips, replace=False)
        rest = np.setdiff1d(np.flatnonzero(own), enrol)
        scored.extend(rest)
        enrolled_with.extend([enrol] * rest.size)
    order = np.argsort(scored, kind="stable")
    return np.asarray(scored, dtype=int)[order], [enrolled_with[i] for i in order]


def enrolled_clips(cache: dict, index: np.ndarray, seed: int = 0, calm: bool = True,
                   clips: int = ENROL_CLIPS) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`enrolment` of the cached clips ``index``, in cache indices: the clips scored, and each one's
    enrolment clips."""
    scored, enrolled_with = enrolment(cache["speaker"][index], cache["label"][index], seed, calm, clips)
    return index[scored], [index[enrol] for enrol in enrolled_with]
