"""Train the voice emotion models: the prototype baseline and our log-mel CNN.

``python -m training.voice_train --model ours [--minutes 25] [--exclude-corpus crema-d]``
``python -m training.voice_train --model baseline``

Training uses the runtime's own window functions: each example is a random 3 s crop of a clip's
16 kHz samples put through the served per-window steps (:func:`emotion_core.windows.window_mel`:
the crop's own silence cut, then the log-mel), the log-mel augmentations, then
:func:`emotion_core.audio.mel_to_input` (normalised, tiled), as :func:`emotion_core.windows.window_input`
makes every served window. Validation scores each clip's served windows
(:func:`training.voice_data.clip_windows`), pooled as the runtime pools them (the windows with
speech). Checkpoints are chosen on the validation speakers only (mean of the per-corpus UARs; with
``--choose-under-babble``, its mean with the same under babble of other validation speakers).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from emotion_core.audio import (
    DEFAULT_NORMALISATION,
    N_MELS,
    NORMALISATIONS,
    WINDOW_FRAMES,
    WINDOW_SAMPLES,
    log_mel,
    mel_to_input,
)
from emotion_core.labels import EMOTIONS, NUM_EMOTIONS
from emotion_core.reader import pooled
from emotion_core.windows import window_mel
from training.metrics import uar
from training.voice_adversary import (
    adversarial_trainer,
    adversary_scale,
    ramped_scale,
    set_adversary_scale,
    speaker_indices,
)
from training.voice_augment import RoomMicSettings, room_and_microphone
from training.voice_babble import BABBLE_SNRS_DB, add_babble, seeded
from training.voice_codec_cache import DEFAULT_OUT as CODEC_COPIES
from training.voice_codec_cache import load as load_codec_copies
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import PROJECT_ROOT, clip_audio, clip_windows, load_cache
from training.voice_tilt import (
    band_means,
    cache_profiles,
    calm_members,
    drawn_enrolment,
    drawn_profile,
    enrolled_clips,
    heard_so_far,
    speaker_members,
    tilted_clip,
    tilted_input,
)
from training.warm_start import warm_start, weighted_layers

ARTIFACTS = PROJECT_ROOT / "artifacts"
# Named augmentation recipes: "studio" is the recipe of the served model; "rooms" adds rooms and
# microphones and the 0-20 dB noise of issue 17; "voices" adds vocal tract length perturbation; "calls"
# adds what a video call brings besides: its codec, and other people talking behind the speaker.
AUGMENT_PRESETS = {"studio": {},
                   "rooms": {"room_mic": RoomMicSettings(), "noise_probability": 0.4, "snr_db": (0.0, 20.0)},
                   "calls": {"room_mic": RoomMicSettings(), "noise_probability": 0.4, "snr_db": (0.0, 20.0),
                             "codec_probability": 0.3, "babble_probability": 0.3},
                   "voices": {"room_mic": RoomMicSettings(voice_scale_probability=0.6), "noise_probability": 0.4,
                              "snr_db": (0.0, 20.0)}}  # rooms, and voices deeper or higher than the actors


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run of our model (the baseline uses its own, fixed recipe)."""

    minutes: float = 25.0  # wall-clock budget; the LR schedule is sized to fit it
    batch_size: int = 48
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    class_power: float = 0.7  # sampling weight of a clip = count(its class) ** -class_power
    ravdess_boost: float = 2.0  # RAVDESS is small: draw its clips this much more often
    mixup_alpha: float = 0.2
    noise_probability: float = 0.3
    snr_db: tuple[float, float] = (10.0, 40.0)
    room_mic: RoomMicSettings | None = None  # rooms and microphones (training.voice_augment); None = off
    codec_probability: float = 0.0  # a clip heard through its Opus copy (training.voice_codec_cache)
    codec_copies: str = str(CODEC_COPIES)
    babble_probability: float = 0.0  # other voices behind the speaker (training.voice_babble)
    babble_snr_db: tuple[float, float] = (5.0, 20.0)
    babble_voices: tuple[int, int] = (2, 6)  # how many talk at once, both ends included
    corpus_power: float = 0.0  # 1.0 = every corpus drawn equally often in total (after the class weights)
    exclude_corpus: str = ""
    normalisation: str = DEFAULT_NORMALISATION  # per-window input normalisation (emotion_core.audio.NORMALISATIONS)
    init: str = ""  # warm start from a .keras checkpoint or exported float .tflite, e.g. for a new cycle
    init_member: int = 0  # which network of a .tflite holding several (the served ensemble): the first by default
    ibn_blocks: int = 0  # the first blocks whose batch norm is IBN-Net's half instance, half batch norm
    speaker_adversary: float = 0.0  # > 0: train against a speaker classifier, its gradient reversed at this scale
    adversary_ramp: bool = False  # the reversal scale rises from 0 to speaker_adversary (DANN's schedule)
    voice_tilt: bool = False  # keep each window's tilt against its voice's profile (training.voice_tilt)
    voice_enrol: bool = False  # the same input, the profile from the voice's calm clips (training.voice_tilt)
    choose_under_babble: bool = False  # checkpoint on the mean of the clean and the babbled validation scores
    seed: int = 0


def limit_threads(threads: int = 1) -> None:
    """Keep TensorFlow on ``threads`` intra-op and inter-op threads (the machine is shared)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def noise_profile() -> np.ndarray:
    """Mean log-mel (dB, ``(N_MELS,)``) of unit-variance white noise: the shape of the added noise."""
    noise = np.random.default_rng(1).standard_normal(48000).astype(np.float32)
    return log_mel(noise).mean(axis=0)


def add_noise(mel: np.ndarray, rng: np.random.Generator, profile: np.ndarray,
              snr_db: tuple[float, float]) -> np.ndarray:
    """Add coloured noise to a ``(frames, N_MELS)`` dB log-mel at a random SNR, in the power domain."""
    tilt = rng.uniform(-12.0, 6.0) * np.linspace(0.0, 1.0, N_MELS)  # white .. brown-ish
    noise_db = profile + tilt
    signal_power = np.mean(10.0 ** (mel / 10.0))
    offset = 10.0 * np.log10(signal_power / np.mean(10.0 ** (noise_db / 10.0)) + 1e-20) - rng.uniform(*snr_db)
    noise = noise_db + offset + rng.normal(0.0, 2.0, size=mel.shape)  # frame-to-frame fluctuation
    return (10.0 * np.log10(10.0 ** (mel / 10.0) + 10.0 ** (noise / 10.0))).astype(np.float32)


def draw_warp(rng: np.random.Generator) -> tuple[float, int]:
    """A random tempo rate (0.85-1.15) and band shift (up to 2 mel bands either way) for :func:`apply_warp`."""
    return rng.uniform(0.85, 1.15), int(rng.integers(-2, 3))


def shift_bands(mel: np.ndarray, shift: int) -> np.ndarray:
    """``(frames, N_MELS)`` moved up (``shift`` > 0) or down by ``shift`` bands, the edge band repeated."""
    if shift > 0:
        return np.concatenate([np.repeat(mel[:, :1], shift, axis=1), mel[:, :-shift]], axis=1)
    if shift < 0:
        return np.concatenate([mel[:, -shift:], np.repeat(mel[:, -1:], -shift, axis=1)], axis=1)
    return mel


def apply_warp(mel: np.ndarray, rate: float, shift: int) -> np.ndarray:
    """A tempo change by frame resampling at ``rate``, then :func:`shift_bands`."""
    return shift_bands(mel[np.minimum((np.arange(0, len(mel), rate)).astype(int), len(mel) - 1)], shift)


def warp(mel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random tempo change (0.85-1.15, by frame resampling) and a shift of up to 2 mel bands."""
    return apply_warp(mel, *draw_warp(rng))


def spec_augment(x: np.ndarray, rng: np.random.Generator, time_masks: int = 2, freq_masks: int = 2) -> np.ndarray:
    """Zero (the normalised mean) up to 20-frame time stripes and 6-band frequency stripes of ``(301, 64)``."""
    x = x.copy()
    for _ in range(time_masks):
        width, start = int(rng.integers(0, 21)), int(rng.integers(0, x.shape[0]))
        x[start : start + width] = 0.0
    for _ in range(freq_masks):
        width, start = int(rng.integers(0, 7)), int(rng.integers(0, x.shape[1]))
        x[:, start : start + width] = 0.0
    return x


def random_crop(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random window-long stretch of a clip's 16 kHz samples (the whole clip when shorter), as float32."""
    if len(samples) > WINDOW_SAMPLES:
        start = int(rng.integers(0, len(samples) - WINDOW_SAMPLES + 1))
        samples = samples[start : start + WINDOW_SAMPLES]
    return np.asarray(samples, dtype=np.float32)


BABBLE_CORPORA = ("ravdess", "crema-d")  # babble's talkers; TESS's two are the noise check's babble


VALIDATION_TALKER_STEP = 10


def babbled_validation(cache: dict, val: np.ndarray, talker_step: int = VALIDATION_TALKER_STEP) -> list[np.ndarray]:
    """The validation clips' samples, each under four-talker babble at one of
    :data:`~training.voice_babble.BABBLE_SNRS_DB` in turn (the calls experiment's SNRs, whose talkers are
    TESS's), seeded by its path. The talkers, every ``talker_step``-th validation clip of RAVDESS and CREMA-D,
    are other speakers than the clip's: never a training speaker, never TESS (the experiment's check babble)."""
    pool = [i for i in val if cache["corpus"][i] in BABBLE_CORPORA][::talker_step]
    voices = [(cache["speaker"][i], np.asarray(clip_audio(cache, i))) for i in pool]
    babbled = []
    for turn, i in enumerate(val):
        snr = BABBLE_SNRS_DB[turn % len(BABBLE_SNRS_DB)]
        talkers = [samples for speaker, samples in voices if speaker != cache["speaker"][i]]
        babbled.append(add_babble(np.asarray(clip_audio(cache, i)), seeded(str(cache["path"][i]), f"val b{snr:g}"),
                                  snr, talkers))
    return babbled


def heard_on_a_call(samples: np.ndarray, rng: np.random.Generator, config: TrainConfig,
                    codec_copy: np.ndarray | None = None, talkers: list[np.ndarray] | None = None) -> np.ndarray:
    """A training clip's 16 kHz samples as a call may carry them: perhaps its ``codec_copy``, perhaps with
    babble of 2-6 ``talkers`` clips behind it. On a call the babble would go through the codec too; the
    copies are made ahead of training, so here it comes after."""
    # a recipe without codec or babble draws nothing, so its runs repeat as before
    if config.codec_probability and codec_copy is not None and rng.random() < config.codec_probability:
        samples = codec_copy
    if config.babble_probability and talkers and rng.random() < config.babble_probability:
        voices = int(rng.integers(config.babble_voices[0], config.babble_voices[1] + 1))
        samples = add_babble(samples, rng, rng.uniform(*config.babble_snr_db), talkers, voices)
    return samples


def training_example(samples: np.ndarray, rng: np.random.Generator, profile: np.ndarray,
                     config: TrainConfig, voice_profile: np.ndarray | None = None) -> np.ndarray:
    """One augmented model input ``(WINDOW_FRAMES, N_MELS)`` from a clip's 16 kHz float32 samples.

    crop -> the served per-window log-mel (its own silence cut) -> warp, noise -> normalise and tile
    as served -> SpecAugment. With a ``voice_profile`` (:mod:`training.voice_tilt`) the window keeps
    its clean tilt against it, the profile band-shifted with the window.
    """
    mel = window_mel(random_crop(samples, rng))
    rate, shift = draw_warp(rng)
    mel = apply_warp(mel, rate, shift)
    tilt = None if voice_profile is None else band_means(mel) - shift_bands(voice_profile[None], shift)[0]
    if config.room_mic is not None:  # rooms and microphones colour the whole window
        mel = room_and_microphone(mel, rng, config.room_mic)
    if rng.random() < config.noise_probability:
        mel = add_noise(mel, rng, profile, config.snr_db)
    return spec_augment(mel_to_input(mel, config.normalisation) if tilt is None else tilted_input(mel, tilt), rng)


def sampling_weights(labels: np.ndarray, corpora: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Probability of drawing each training clip: rarer classes and RAVDESS more often; sums to 1."""
    counts = np.bincount(labels, minlength=NUM_EMOTIONS).astype(float)
    weights = counts[labels] ** -config.class_power
    weights *= np.where(corpora == "ravdess", config.ravdess_boost, 1.0)
    for corpus in np.unique(corpora):  # corpus_power 1: each corpus gets the same total weight
        weights[corpora == corpus] /= weights[corpora == corpus].sum() ** config.corpus_power
    return weights / weights.sum()


def make_batch(clips: list[np.ndarray], labels: np.ndarray, rng: np.random.Generator, profile: np.ndarray,
               config: TrainConfig, speakers: np.ndarray | None = None, speaker_count: int = 0,
               voice_profiles: list[np.ndarray] | None = None):
    """Inputs ``(b, 301, 64, 1)`` and soft targets ``(b, 7)`` of one mixup batch of the given clips' samples;
    with ``speakers`` (indices) the targets are a pair, the second the speakers ``(b, speaker_count)``
    mixed alike (for the speaker adversary, ``training.voice_adversary``); ``voice_profiles``, one per
    clip, for ``config.voice_tilt``."""
    voice_profiles = voice_profiles or [None] * len(clips)
    x = np.stack([training_example(clip, rng, profile, config, voice)
                  for clip, voice in zip(clips, voice_profiles, strict=True)])[..., None]
    targets = [np.eye(NUM_EMOTIONS, dtype=np.float32)[labels]]
    if speakers is not None:
        targets.append(np.eye(speaker_count, dtype=np.float32)[speakers])
    lam = rng.beta(config.mixup_alpha, config.mixup_alpha, size=(len(x), 1)).astype(np.float32)
    lam = np.maximum(lam, 1.0 - lam)  # the first clip stays the main one
    order = rng.permutation(len(x))
    x = lam[:, :, None, None] * x + (1.0 - lam[:, :, None, None]) * x[order]
    mixed = [lam * target + (1.0 - lam) * target[order] for target in targets]
    return x.astype(np.float32), (mixed[0] if speakers is None else tuple(mixed))


def predict_clips(model, windows: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Clip probabilities ``(n, 7)`` from each clip's :func:`~training.voice_data.clip_windows`,
    pooled as the runtime pools them (:func:`emotion_core.reader.pooled`: the windows with speech)."""
    owner = np.concatenate([np.full(len(inputs), i) for i, (inputs, _) in enumerate(windows)])
    probs = model.predict(np.concatenate([inputs for inputs, _ in windows])[..., None], batch_size=128, verbose=0)
    clips = []
    for i, (_, voiced) in enumerate(windows):
        scores = pooled(probs[owner == i], voiced)
        clips.append([scores[name] for name in EMOTIONS])
    return np.array(clips)


def build_ours(weight_decay: float = 1e-3, name: str = "voice_emotion", ibn_blocks: int = 0):
    """Our CNN: 4 x (conv 3x3, BN, ReLU, 2x2 down-sampling), 16-64 channels, mean+max over time, softmax.

    The first block down-samples by a stride-2 convolution (cheaper than convolving at full
    resolution), the others by max-pooling: ``(301, 64, 1) -> (19, 4, 64) -> (time 19, 256) -> 512 -> 7``.
    The first ``ibn_blocks`` blocks normalise with :func:`instance_batch_norm` instead of a batch norm.
    """
    import keras
    from keras import layers

    inputs = keras.Input((WINDOW_FRAMES, N_MELS, 1))
    x = inputs
    for block, channels in enumerate((16, 32, 48, 64)):
        x = layers.Conv2D(channels, 3, strides=2 if block == 0 else 1, padding="same", use_bias=False,
                          kernel_regularizer=keras.regularizers.l2(weight_decay))(x)
        # momentum 0.9: short runs, so the running statistics settle fast
        x = instance_batch_norm(x) if block < ibn_blocks else layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU()(x)
        if block > 0:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)  # (time, freq * channels)
    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(NUM_EMOTIONS, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def instance_batch_norm(x):
    """IBN-Net's normalisation (Pan et al. 2018): the first half of the channels by instance norm, the rest by
    batch norm. Instance norm scales each window's feature map to its own level and contrast, which a new
    voice, room or microphone shifts; the batch-norm half keeps the levels that tell emotions apart."""
    from keras import layers

    half = x.shape[-1] // 2
    instance = layers.GroupNormalization(groups=half, epsilon=1e-3)(x[..., :half])  # one group per channel
    batch = layers.BatchNormalization(momentum=0.9)(x[..., half:])
    return layers.Concatenate()([instance, batch])


def ibn_blocks_of(model) -> int:
    """How many blocks of our CNN ``model`` normalise with :func:`instance_batch_norm`."""
    import keras

    return sum(isinstance(layer, keras.layers.GroupNormalization) for layer in model.layers)


def copy_into_ibn(plain, ibn) -> None:
    """``plain``'s weights (our CNN with batch norms only) into ``ibn`` (the same CNN with IBN blocks).

    Convolutions and the head are copied; an IBN block's batch-norm half keeps its channels' batch norm,
    and its instance-norm half takes that batch norm's scale and shift, so each window comes out at the
    training corpora's level and contrast for that channel.
    """
    import keras

    def of(model, kind):
        return [layer for layer in model.layers if isinstance(layer, kind)]

    for source, target in zip(weighted_layers(plain), weighted_layers(ibn), strict=True):
        target.set_weights(source.get_weights())
    instance = iter(of(ibn, keras.layers.GroupNormalization))
    targets = iter(of(ibn, keras.layers.BatchNormalization))
    blocks = ibn_blocks_of(ibn)
    for block, source in enumerate(of(plain, keras.layers.BatchNormalization)):
        gamma, beta, mean, variance = source.get_weights()
        if block < blocks:
            half = len(gamma) // 2
            next(instance).set_weights([gamma[:half], beta[:half]])
            next(targets).set_weights([gamma[half:], beta[half:], mean[half:], variance[half:]])
        else:
            next(targets).set_weights([gamma, beta, mean, variance])


def build_baseline(input_shape: tuple[int, int, int]):
    """The prototype: Conv2D 256 4x4 -> MaxPool 4x4 -> BN -> Dropout .8 -> Dense 64 -> .2 -> 32 -> softmax."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(256, 4, padding="same", activation="relu"),
        layers.MaxPooling2D(4),
        layers.BatchNormalization(),
        layers.Dropout(0.8),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(32, activation="relu"),
        layers.Dense(NUM_EMOTIONS, activation="softmax"),
    ], name="voice_baseline")


def validation_score(probs: np.ndarray, labels: np.ndarray, corpora: np.ndarray) -> dict[str, float]:
    """Per-corpus validation UAR and their mean (``"score"``), the checkpoint criterion."""
    return corpus_uars(labels, probs.argmax(axis=1), corpora)


def babble_and_clean(clean: dict[str, float], babbled: dict[str, float]) -> dict[str, float]:
    """The checkpoint criterion of a recipe trained for calls: the mean of the clean and the babbled
    validation scores (``"score"``), each kept beside it."""
    return {**clean, "clean_score": clean["score"], "babble_score": babbled["score"],
            "score": 0.5 * (clean["score"] + babbled["score"])}


def corpus_uars(labels: np.ndarray, predicted: np.ndarray, corpora: np.ndarray) -> dict[str, float]:
    """UAR per corpus of predicted classes, and their mean (``"score"``)."""
    scores = {corpus: uar(labels[corpora == corpus], predicted[corpora == corpus]) for corpus in np.unique(corpora)}
    return {**scores, "score": float(np.mean(list(scores.values())))}


def split_indices(cache: dict, split: str, exclude_corpus: str = "") -> np.ndarray:
    """Indices of the clips of one split, leaving out ``exclude_corpus``."""
    return np.flatnonzero((cache["split"] == split) & (cache["corpus"] != exclude_corpus))


def learning_rate_at(progress: float, peak: float, warmup: float = 0.05, floor: float = 0.02) -> float:
    """Linear warm-up then cosine decay to ``floor * peak``, by the fraction of the time budget spent."""
    if progress < warmup:
        return peak * max(progress / warmup, 0.02)
    cosine = 0.5 * (1.0 + np.cos(np.pi * min((progress - warmup) / (1.0 - warmup), 1.0)))
    return peak * (floor + (1.0 - floor) * cosine)


def train_ours(cache: dict, config: TrainConfig, out: Path, log, epoch_steps: int = 100) -> dict:
    """Train our CNN for ``config.minutes`` (LR follows the clock) and keep the best validation checkpoint."""
    import keras

    rng = np.random.default_rng(config.seed)
    keras.utils.set_random_seed(config.seed)
    train = split_indices(cache, "train", config.exclude_corpus)
    val = split_indices(cache, "val", config.exclude_corpus)
    clips = [clip_audio(cache, i) for i in train]
    codec = load_codec_copies(Path(config.codec_copies), cache) if config.codec_probability else {}
    talkers = ([clip_audio(cache, i) for i in train if cache["corpus"][i] in BABBLE_CORPORA]
               if config.babble_probability else [])
    labels, weights = cache["label"][train], sampling_weights(cache["label"][train], cache["corpus"][train], config)
    if config.voice_tilt or config.voice_enrol:
        voices = cache_profiles(cache)
    if config.voice_enrol:  # the validation speakers enrolled, their enrolment clips not scored
        val, enrolled_with = enrolled_clips(cache, val)
        heard = [voices[enrol].mean(axis=0) for enrol in enrolled_with]
        val_windows = [tilted_clip(clip_audio(cache, i), voice) for i, voice in zip(val, heard, strict=True)]
    elif config.voice_tilt:  # the validation speakers read as sessions, as the tilt's test sets are
        heard = heard_so_far(voices[val], cache["speaker"][val])
        val_windows = [tilted_clip(clip_audio(cache, i), voice) for i, voice in zip(val, heard, strict=True)]
    else:
        val_windows = [clip_windows(clip_audio(cache, i), config.normalisation) for i in val]
    babbled_windows = ([clip_windows(samples, config.normalisation) for samples in babbled_validation(cache, val)]
                       if config.choose_under_babble else [])
    profile, model = noise_profile(), build_ours(config.weight_decay, ibn_blocks=config.ibn_blocks)
    if config.init:  # a .keras checkpoint or an exported float .tflite
        samples = [clip_windows(clip, config.normalisation)[0][0] for clip in clips[:: len(clips) // 400]]
        plain = build_ours(config.weight_decay) if config.ibn_blocks else model
        warm_start(plain, config.init, np.stack(samples)[..., None], member=config.init_member)
        if config.ibn_blocks:
            copy_into_ibn(plain, model)
    speakers, speaker_count = speaker_indices(cache["speaker"][train])
    members = speaker_members(speakers) if config.voice_tilt else None  # each training clip's speaker's clips
    calm = calm_members(speakers, labels) if config.voice_enrol else None  # ... and its speaker's neutral ones
    trainer = adversarial_trainer(model, speaker_count, config.speaker_adversary) if config.speaker_adversary else model
    trainer.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                    loss=["categorical_crossentropy"] * len(trainer.outputs))
    log(f"{model.count_params()} parameters, {len(train)} training clips, {len(val)} validation clips"
        + (f", speaker adversary over {speaker_count} speakers at {config.speaker_adversary}"
           + (" (ramped from 0)" if config.adversary_ramp else "") if config.speaker_adversary else ""))
    best, history, started, budget = {"score": -1.0}, [], time.time(), config.minutes * 60
    while time.time() - started < budget:
        epoch_started, losses = time.time(), []
        for step in range(epoch_steps):
            if step % 10 == 0:
                progress = (time.time() - started) / budget
                trainer.optimizer.learning_rate.assign(learning_rate_at(progress, config.learning_rate))
                if config.speaker_adversary and config.adversary_ramp:
                    set_adversary_scale(trainer, ramped_scale(progress, config.speaker_adversary))
            batch = rng.choice(len(clips), config.batch_size, p=weights)
            drawn = None
            if config.voice_tilt:
                drawn = [drawn_profile(rng, voices, train[i], train[members[i]]) for i in batch]
            elif config.voice_enrol:
                drawn = [drawn_enrolment(rng, voices, train[i], train[calm[i]]) for i in batch]
            heard = [heard_on_a_call(clips[i], rng, config, codec.get(int(train[i])), talkers) for i in batch]
            x, y = make_batch(heard, labels[batch], rng, profile, config,
                              speakers[batch] if config.speaker_adversary else None, speaker_count, drawn)
            losses.append(np.ravel(trainer.train_on_batch(x, y)).astype(float))
        scores = validation_score(predict_clips(model, val_windows), cache["label"][val], cache["corpus"][val])
        if babbled_windows:
            scores = babble_and_clean(scores, validation_score(predict_clips(model, babbled_windows),
                                                               cache["label"][val], cache["corpus"][val]))
        history.append({"epoch": len(history) + 1, "loss": np.mean(losses, axis=0).round(4).tolist(), **scores,
                        "learning_rate": float(trainer.optimizer.learning_rate.numpy()),
                        **({"adversary_scale": adversary_scale(trainer)} if config.speaker_adversary else {}),
                        "seconds": time.time() - epoch_started})
        log(json.dumps(history[-1]))
        if scores["score"] > best["score"]:
            best = {"epoch": len(history), **scores}
            model.save(out)
    model.save(out.with_name(f"{out.stem}_last.keras"))  # the run's end, whatever in-corpus validation chose
    return {"best": best, "history": history, "config": asdict(config), "parameters": model.count_params(),
            "steps": len(history) * epoch_steps, "batch_size": config.batch_size}


def train_baseline(cache: dict, out: Path, log, epochs: int = 40, batch_size: int = 32, minutes: float = 1e9,
                   init: Path | None = None) -> dict:
    """Train the prototype on its MFCCs (no augmentation, plain cross-entropy); keep the best validation epoch.

    Stops after ``epochs`` or once ``minutes`` have passed; the summary is rewritten after every epoch.
    ``init`` continues from a saved checkpoint (fresh optimizer state).
    """
    import keras

    keras.utils.set_random_seed(0)
    train, val = split_indices(cache, "train"), split_indices(cache, "val")
    x, labels = cache["mfcc"][..., None], cache["label"]
    model = build_baseline(x.shape[1:])
    if init:
        model.set_weights(keras.models.load_model(init).get_weights())
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    best, history, begun = {"score": -1.0}, [], time.time()
    for epoch in range(epochs):
        if time.time() - begun > minutes * 60:
            break
        started = time.time()
        fit = model.fit(x[train], labels[train], batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
        probs = model.predict(x[val], batch_size=256, verbose=0)
        scores = validation_score(probs, labels[val], cache["corpus"][val])
        history.append({"epoch": epoch + 1, "loss": fit.history["loss"][0], **scores, "seconds": time.time() - started})
        log(json.dumps(history[-1]))
        if scores["score"] > best["score"]:
            best = {"epoch": epoch + 1, **scores}
            model.save(out)
        summary = {"best": best, "history": history, "parameters": model.count_params(),
                   "minutes": (time.time() - begun) / 60}
        out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("ours", "baseline"), default="ours")
    parser.add_argument("--features", type=Path, default=FEATURES)
    parser.add_argument("--minutes", type=float, default=TrainConfig.minutes, help="wall-clock budget")
    parser.add_argument("--epochs", type=int, default=40, help="epochs for the baseline")
    parser.add_argument("--exclude-corpus", default="", help="train ours without this corpus (cross-corpus test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    parser.add_argument("--init", type=Path, default=None,
                        help="warm start from this .keras checkpoint or exported float .tflite")
    parser.add_argument("--init-member", type=int, default=0,
                        help="with --init on a .tflite of several averaged networks: which one to start from")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint path (.keras)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--augment", choices=tuple(AUGMENT_PRESETS), default="studio")
    parser.add_argument("--normalisation", choices=NORMALISATIONS, default=DEFAULT_NORMALISATION,
                        help="per-window input normalisation (export and evaluate with the same)")
    parser.add_argument("--corpus-power", type=float, default=0.0, help="1.0 = every corpus drawn equally often")
    parser.add_argument("--ibn-blocks", type=int, default=0,
                        help="the first N blocks normalise half their channels per window (IBN-Net)")
    parser.add_argument("--speaker-adversary", type=float, default=0.0,
                        help="> 0: a speaker classifier on the pooled embedding, its gradient reversed at this scale")
    parser.add_argument("--voice-tilt", action="store_true",
                        help="keep each window's spectral tilt against its voice's profile (training.voice_tilt)")
    parser.add_argument("--voice-enrol", action="store_true",
                        help="as --voice-tilt, the profile from a few of the voice's calm clips (training.voice_tilt)")
    parser.add_argument("--adversary-ramp", action="store_true",
                        help="with --speaker-adversary: raise the scale from 0 to it along DANN's schedule")
    parser.add_argument("--choose-under-babble", action="store_true",
                        help="keep the checkpoint with the best mean of clean and babbled validation scores")
    args = parser.parse_args()
    if args.voice_tilt and args.voice_enrol:
        parser.error("--voice-tilt and --voice-enrol are two profiles for one input: choose one")
    if args.choose_under_babble and (args.voice_tilt or args.voice_enrol):
        parser.error("--choose-under-babble reads plain windows: not with --voice-tilt or --voice-enrol")
    limit_threads(args.threads)
    suffix = f"_no_{args.exclude_corpus}" if args.exclude_corpus else ""
    out = args.out or ARTIFACTS / f"voice_{args.model}{suffix}.keras"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = lambda line: print(time.strftime("%H:%M:%S"), line, flush=True)  # noqa: E731
    started, cache = time.time(), load_cache(args.features)
    if args.model == "baseline":
        result = train_baseline(cache, out, log, epochs=args.epochs, minutes=args.minutes, init=args.init)
    else:
        config = TrainConfig(minutes=args.minutes, exclude_corpus=args.exclude_corpus, seed=args.seed,
                             learning_rate=args.learning_rate, init=str(args.init or ""),
                             init_member=args.init_member,
                             corpus_power=args.corpus_power, normalisation=args.normalisation,
                             speaker_adversary=args.speaker_adversary, adversary_ramp=args.adversary_ramp,
                             ibn_blocks=args.ibn_blocks, voice_tilt=args.voice_tilt,
                             voice_enrol=args.voice_enrol, choose_under_babble=args.choose_under_babble,
                             **AUGMENT_PRESETS[args.augment])
        result = train_ours(cache, config, out, log)
    result["minutes"] = (time.time() - started) / 60
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    log(f"best {result['best']} -> {out} ({result['minutes']:.1f} min)")


if __name__ == "__main__":
    main()
