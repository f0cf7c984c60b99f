"""Audio loading, resampling and the voice model's log-mel features (what counts as speech: :mod:`.speech`).

Every function here is pure (array in, array out) except :func:`load_audio`, the only file I/O.
Training calls these same functions, so the voice model is served exactly as it was trained.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft

from . import media

SAMPLE_RATE = 16000  # Hz; every model input is resampled to this
N_FFT = 512  # samples per FFT (32 ms)
WIN_LENGTH = 400  # 25 ms analysis window
HOP_LENGTH = 160  # 10 ms between frames
N_MELS = 64
FMIN, FMAX = 20.0, 8000.0
WINDOW_SECONDS = 3.0  # the voice model sees this much audio at once (where windows lie: emotion_core.windows)
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 96000
LOG_FLOOR = 1e-10  # power floor before log10, i.e. -100 dB

WINDOW_SAMPLES = int(WINDOW_SECONDS * SAMPLE_RATE)
WINDOW_FRAMES = 1 + WINDOW_SAMPLES // HOP_LENGTH  # frames of a centred STFT over one window
assert WINDOW_SAMPLES % HOP_LENGTH == 0, "a window must hold a whole number of hops"

# Per-window normalisation of the log-mel (a voice model's manifest ``preprocessing.normalisation``):
# "band_mean" (the default): zero mean per band, one shared scale; "band_mean_var": zero mean and unit
# spread per band, both measured on the window's active frames (:func:`standardize_bands`);
# "mfcc_deltas": the prototype's MFCC input done right (:func:`mfcc_with_deltas`), to measure it against log-mels.
NORMALISATIONS = ("band_mean", "band_mean_var", "mfcc_deltas")
DEFAULT_NORMALISATION = NORMALISATIONS[0]
ACTIVE_RANGE_DB = 30.0  # a frame within this much of the window's loudest frame counts as voice
BAND_STD_FLOOR_DB = 3.0  # spread below this is not scaled up (band-limited or noise-only bands)
CONTRAST_PERCENTILES = (10.0, 90.0)  # a band's quiet and loud frames, for band_contrast_db
N_MFCC = 21  # cepstral coefficients kept; with first and second differences 63 columns, one zero pad to N_MELS

MAX_AUDIO_SECONDS = 600.0  # load_audio refuses longer recordings (10 minutes, as for videos)
RESAMPLE_QUALITY = "HQ"  # soxr's default quality, for whole signals and streams alike


def load_audio(path: str | Path, max_seconds: float = MAX_AUDIO_SECONDS) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32 in [-1, 1]; returns ``(samples, sample_rate)``.

    WAV, FLAC, Ogg and MP3 are read by libsndfile, anything else FFmpeg reads (WebM and M4A from
    browsers and phones, the sound of a video) through PyAV; either way at the file's own rate.
    Only a rate outside MIN_SAMPLE_RATE..MAX_SAMPLE_RATE is brought to SAMPLE_RATE here (by the same
    resampler as everywhere). Channels are averaged; NaN and infinite samples become 0. Raises
    ``ValueError`` for files that cannot be decoded, have no sound, or last longer than ``max_seconds``.
    """
    import soundfile as sf

    path = Path(path)
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        info = None  # not a format libsndfile knows
    if info is None:
        samples, rate = media.read_audio_track(path, max_seconds)
        samples = to_mono_float(samples)
    else:
        samples, rate = _read_soundfile(path, info, max_seconds)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        return _soxr_resample(samples, rate, SAMPLE_RATE), SAMPLE_RATE
    return samples, rate


def _read_soundfile(path: Path, info, max_seconds: float) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if info.frames > max_seconds * info.samplerate:
        raise ValueError(f"{path.name} is longer than {max_seconds / 60:g} minutes "
                         f"({info.frames / info.samplerate / 60:.1f} min): cut it into shorter clips")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as error:  # the message names the reason, not the server's path
        reason = getattr(error, "error_string", None) or type(error).__name__
        raise ValueError(f"cannot decode audio file {path.name}: {reason}") from error
    return to_mono_float(samples.mean(axis=1)), int(rate)


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """Any PCM array (int16/int32/float, mono ``(n,)`` or ``(n, channels)``) -> mono float32 in [-1, 1].

    Integer input is scaled by its type's full range; NaN and infinities become 0; values are clipped.
    """
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise ValueError(f"audio must be 1-D or 2-D, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max + 1)
    elif not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"audio samples must be integers or floats, got {array.dtype}")
    array = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if array.ndim == 2:
        # Gradio gives (n, channels); a few callers give (channels, n) with few channels.
        array = array.mean(axis=1 if array.shape[1] <= array.shape[0] else 0)
    return np.clip(array, -1.0, 1.0).astype(np.float32)


def check_sample_rate(sample_rate: int) -> int:
    """``sample_rate`` as an int, or ValueError when outside MIN_SAMPLE_RATE..MAX_SAMPLE_RATE."""
    if not MIN_SAMPLE_RATE <= int(sample_rate) <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"sample rate {sample_rate} Hz is outside the supported {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    return int(sample_rate)


def resample(samples: np.ndarray, sample_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 ``samples`` from ``sample_rate`` to ``target_rate`` Hz with soxr (the one resampler).

    Gives exactly what :func:`stream_resampler` gives for the same samples fed in pieces.
    """
    return _soxr_resample(samples, check_sample_rate(sample_rate), target_rate)


def _soxr_resample(samples: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if sample_rate == target_rate or samples.size == 0:
        return samples
    import soxr

    return soxr.resample(samples, int(sample_rate), int(target_rate), quality=RESAMPLE_QUALITY).astype(np.float32)


def stream_resampler(sample_rate: int, target_rate: int = SAMPLE_RATE):
    """A soxr stream from ``sample_rate`` to ``target_rate`` Hz for audio that arrives in pieces.

    ``.resample_chunk(piece)`` gives the float32 output that is complete so far and
    ``.resample_chunk(empty, last=True)`` the rest; together exactly :func:`resample` of the whole.
    Any rate FFmpeg decodes is accepted (callers with a user-given rate check it first).
    """
    import soxr

    return soxr.ResampleStream(int(sample_rate), int(target_rate), 1, dtype="float32", quality=RESAMPLE_QUALITY)


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (as librosa's default)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = 3.0 * hz / 200.0
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) * 27.0 / np.log(6.4)
    return np.where(hz >= 1000.0, log, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((mel - 15.0) * np.log(6.4) / 27.0), 200.0 * mel / 3.0)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """Slaney-normalised triangular mel filters, ``(N_MELS, N_FFT // 2 + 1)`` float32.

    The same filters as ``librosa.filters.mel`` (checked in the tests), without needing librosa.
    """
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2.0, N_FFT // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(FMIN), hz_to_mel(FMAX), N_MELS + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # equal area per filter
    return filters.astype(np.float32)


@lru_cache(maxsize=1)
def _analysis_window() -> np.ndarray:
    # A Hann window of WIN_LENGTH, zero-padded to N_FFT and centred, exactly as librosa pads it.
    window = np.zeros(N_FFT, dtype=np.float32)
    start = (N_FFT - WIN_LENGTH) // 2
    window[start : start + WIN_LENGTH] = np.hanning(WIN_LENGTH + 1)[:-1]
    return window


@lru_cache(maxsize=1)
def blas_pools():
    """This process's BLAS thread pools (threadpoolctl), found once."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Log-mel power spectrogram of 16 kHz mono float32 audio.

    Returns ``(frames, N_MELS)`` float32 in dB (10*log10 of power, floored at -100 dB), one frame per
    HOP_LENGTH samples with centred, zero-padded frames, matching
    ``librosa.power_to_db(librosa.feature.melspectrogram(...), ref=1, top_db=None)``.
    An empty input gives ``(0, N_MELS)``.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    padded = np.pad(samples, N_FFT // 2)
    n_frames = 1 + (padded.size - N_FFT) // HOP_LENGTH
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[:: HOP_LENGTH][:n_frames]
    spectrum = scipy.fft.rfft(frames * _analysis_window(), axis=1)  # float32 in, complex64 out: fast
    power = spectrum.real**2 + spectrum.imag**2
    # One BLAS thread for the one matrix product: it is as fast on one, and OpenBLAS's other threads,
    # once woken, spin after every call (the command line spent about twice its analysis CPU on them).
    # The setting is put back after; a multi-threaded server sets it once for the process (app.calm_server).
    with blas_pools().limit(limits=1, user_api="blas"):
        mel = power @ mel_filterbank().T
    return (10.0 * np.log10(np.maximum(mel, LOG_FLOOR))).astype(np.float32)


def normalize_features(features: np.ndarray) -> np.ndarray:
    """Per-utterance normalisation of ``(frames, N_MELS)`` log-mels: zero mean per band, unit overall std.

    Removing each band's mean takes out the microphone's and room's fixed colouring (cepstral mean
    normalisation); one shared scale keeps the relative loudness of the bands.
    """
    if features.shape[0] == 0:
        return features.astype(np.float32)
    centred = features - features.mean(axis=0, keepdims=True)
    return (centred / (centred.std() + 1e-3)).astype(np.float32)


def active_frames(features: np.ndarray, range_db: float = ACTIVE_RANGE_DB) -> np.ndarray:
    """``(frames,)`` bool: the frames of a ``(frames, N_MELS)`` dB log-mel whose level (mean dB over the
    bands) lies within ``range_db`` of the loudest frame's; pauses and breaths below it are left out.

    A mean of dB, not of power: a fixed colouring (microphone, room) then moves every frame's level
    by the same amount and leaves the choice of frames unchanged.
    """
    if features.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    level = features.astype(np.float64).mean(axis=1)
    return level >= level.max() - range_db


def standardize_bands(features: np.ndarray) -> np.ndarray:
    """Per-utterance mean and variance normalisation of ``(frames, N_MELS)`` dB log-mels, float32.

    Each band's mean and standard deviation are measured on the :func:`active_frames` (the voice,
    not the pauses), then every frame has that mean removed and is divided by that deviation
    (at least BAND_STD_FLOOR_DB). The mean takes out the microphone's and room's colouring, the
    deviation how widely this voice and channel swing in each band.
    """
    if features.shape[0] == 0:
        return features.astype(np.float32)
    active = features[active_frames(features)].astype(np.float64)
    spread = np.maximum(active.std(axis=0), BAND_STD_FLOOR_DB)
    return ((features - active.mean(axis=0)) / spread).astype(np.float32)


def time_difference(features: np.ndarray) -> np.ndarray:
    """``(frames, n)`` change per frame along time (central differences, one-sided at the ends)."""
    if features.shape[0] < 2:
        return np.zeros_like(features)
    return np.gradient(features, axis=0)


def unit_spread(block: np.ndarray) -> np.ndarray:
    """``block`` divided by its overall standard deviation, so that blocks of different scales weigh alike."""
    return block / (block.std() + 1e-3)


def mfcc_with_deltas(features: np.ndarray) -> np.ndarray:
    """``(frames, N_MELS)`` dB log-mels -> ``(frames, N_MELS)`` MFCCs with first and second differences.

    After :func:`normalize_features` (the same band-mean step as the log-mel input, so the channel is
    removed alike), an orthonormal DCT-II of each frame's bands keeps N_MFCC coefficients; their first
    and second time differences follow, each block at unit spread, and one zero column keeps the
    model's input shape, so the network and every augmentation (applied to the log-mel before this
    step) stay the same for both inputs.
    """
    cepstra = scipy.fft.dct(normalize_features(features), type=2, norm="ortho", axis=1)[:, :N_MFCC]
    delta = time_difference(cepstra)
    blocks = [unit_spread(cepstra), unit_spread(delta), unit_spread(time_difference(delta))]
    pad = np.zeros((features.shape[0], N_MELS - 3 * N_MFCC), dtype=np.float32)
    return np.concatenate(blocks + [pad], axis=1).astype(np.float32)


def known_normalisation(normalisation: str) -> str:
    """``normalisation`` itself when it is one of :data:`NORMALISATIONS`; else a ValueError naming them."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r} (voice); known: {', '.join(NORMALISATIONS)}")
    return normalisation


def normalized(features: np.ndarray, normalisation: str = DEFAULT_NORMALISATION) -> np.ndarray:
    """``(frames, N_MELS)`` dB log-mels normalised as ``normalisation`` (one of :data:`NORMALISATIONS`) says."""
    chosen = known_normalisation(normalisation)
    if chosen == "band_mean_var":
        return standardize_bands(features)
    if chosen == "mfcc_deltas":
        return mfcc_with_deltas(features)
    return normalize_features(features)


def fit_to_window(features: np.ndarray, frames: int = WINDOW_FRAMES) -> np.ndarray:
    """Tile a short ``(n, N_MELS)`` matrix (or cut a long one) to exactly ``frames`` rows.

    Tiling keeps the statistics of short speech, where zero padding would dilute them.
    """
    if features.shape[0] == 0:
        return np.zeros((frames, features.shape[1]), dtype=np.float32)
    repeats = -(-frames // features.shape[0])
    return np.tile(features, (repeats, 1))[:frames].astype(np.float32)


def band_contrast_db(features: np.ndarray) -> float:
    """How far a window's speech stands above what fills its gaps: the median over mel bands of the spread
    between each band's loud and quiet frames (CONTRAST_PERCENTILES) of a ``(frames, N_MELS)`` dB log-mel.

    Speech switches each band on and off (syllables, formant moves), so even a window with no pause keeps
    its quiet frames far below its loud ones (validation speakers' clean windows: 18 dB and more in 95 % of
    them); noise fills the gaps (pink noise at 10 dB SNR: 9.5-13 dB, 5th-50th percentile). The median, not
    the mean: the bands a telephone line or a small microphone does not carry hold no speech to switch, and
    must not make clean speech look noisy. Fewer than two frames give 0.
    """
    if features.shape[0] < 2:
        return 0.0
    quiet, loud = np.percentile(features, CONTRAST_PERCENTILES, axis=0)
    return float(np.median(loud - quiet))


def mel_to_input(features: np.ndarray, normalisation: str = DEFAULT_NORMALISATION) -> np.ndarray:
    """A window's ``(frames, N_MELS)`` dB log-mel -> the voice model's ``(WINDOW_FRAMES, N_MELS)`` input.

    :func:`normalized` (the model's ``normalisation``), then :func:`fit_to_window`; training applies
    its log-mel augmentations before this step, so what the model learns from is made as it is served.
    """
    return fit_to_window(normalized(features, normalisation))
