"""A cross-corpus voice model's int8 calibration never sees the corpus it is tested on."""

import numpy as np

from emotion_core.audio import N_MELS
from training.voice_export import calibration_windows


def tiny_cache(frames: int = 120) -> dict[str, np.ndarray]:
    """Six training clips (two per corpus) and one validation clip; CREMA-D's log-mels are all NaN."""
    corpora = np.array(["ravdess", "ravdess", "crema-d", "crema-d", "tess", "tess", "ravdess"])
    splits = np.array(["train"] * 6 + ["val"])
    rng = np.random.default_rng(0)
    mels = [np.full((frames, N_MELS), np.nan) if corpus == "crema-d" else rng.normal(-40, 10, (frames, N_MELS))
            for corpus in corpora]
    return {"corpus": corpora, "split": splits, "mel": np.concatenate(mels).astype(np.float32),
            "mel_offsets": np.arange(len(mels) + 1) * frames}


def test_calibration_draws_every_training_clip_when_nothing_is_excluded():
    windows = calibration_windows(tiny_cache(), count=6)
    assert windows.shape == (6, 301, N_MELS, 1)
    assert np.isnan(windows).reshape(6, -1).all(axis=1).sum() == 2  # the two CREMA-D clips


def test_calibration_without_crema_d_holds_none_of_its_clips():
    windows = calibration_windows(tiny_cache(), count=4, exclude_corpus="crema-d")
    assert windows.shape == (4, 301, N_MELS, 1) and np.isfinite(windows).all()
