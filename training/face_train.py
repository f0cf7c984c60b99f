"""Train the face emotion CNN on FER2013 ``Training``; the checkpoint is chosen on ``PublicTest``.

The network takes what :func:`emotion_core.face.face_model_input` gives, ``(48, 48, 1)`` float grey in
[0, 255], and rescales inside itself, so its int8 input quantization has a scale of about 1.
Augmentation imitates webcam crops (shift, scale, tilt, mirror, light, blur) and runs only in training.

``--arch separable`` builds a cheaper network of depthwise-separable convolutions (the per-crop cost of
plain 3x3 convolutions is high on AVX2-only CPUs); ``--teacher`` distils an exported float ``.tflite``
(e.g. the served pair) into it: the targets mix the teacher's probabilities on the clean faces, as served,
with the label targets, while the student sees the augmented and corrupted faces.

    python -m training.face_train [--minutes 40] [--width 16] [--out artifacts/face]
    python -m training.face_train --arch separable --width 24 --teacher weights/face_emotion_float.tflite \
        --corrupt-share 0.4 --out artifacts/face_student
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emotion_core.face import FACE_INPUT_SIZE
from emotion_core.labels import NUM_EMOTIONS
from harness.corruptions import CORRUPTIONS, STRENGTHS, corrupt
from training.face_data import ARTIFACTS, data_dir, load_arrays, split
from training.warm_start import warm_start

INPUT_SHAPE = (FACE_INPUT_SIZE, FACE_INPUT_SIZE, 1)
ARCHS = ("vgg", "separable")  # plain 3x3 convolutions; depthwise 3x3 + pointwise 1x1 (cheaper per crop)
TEACHER_CACHE = "teacher_probs.npz"  # in --out: the teacher's Training probabilities, reused by warm restarts


def set_threads(intra: int = 1, inter: int = 1) -> None:
    """Limit TensorFlow's CPU threads (the machine is shared with other training runs)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """``(7,)`` weights ``(mean count / count) ** power``, normalised to a mean of 1 over the samples."""
    counts = np.bincount(labels, minlength=NUM_EMOTIONS).astype(np.float64)
    weights = (counts.mean() / np.maximum(counts, 1.0)) ** power
    return (weights / np.mean(weights[labels])).astype(np.float32)


def train_targets(labels: np.ndarray, ferplus: np.ndarray, ferplus_weight: float, smoothing: float) -> np.ndarray:
    """``(n, 7)`` targets: one-hot FER2013 label mixed with FER+ vote shares, then label-smoothed."""
    onehot = np.eye(NUM_EMOTIONS, dtype=np.float32)[labels]
    mixed = (1.0 - ferplus_weight) * onehot + ferplus_weight * ferplus
    return ((1.0 - smoothing) * mixed + smoothing / NUM_EMOTIONS).astype(np.float32)


def soften_probs(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``(n, 7)`` probabilities raised to ``1 / temperature`` and renormalised (> 1 flattens, 1 keeps them)."""
    logs = np.log(np.clip(probs, 1e-8, 1.0)) / temperature
    logs -= logs.max(axis=1, keepdims=True)
    soft = np.exp(logs)
    return (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32)


def distill_targets(targets: np.ndarray, teacher: np.ndarray, weight: float, temperature: float = 1.0) -> np.ndarray:
    """``(n, 7)`` targets: ``weight`` of the teacher's (softened) probabilities, the rest the label targets."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"teacher weight must be in [0, 1], got {weight}")
    return ((1.0 - weight) * targets + weight * soften_probs(teacher, temperature)).astype(np.float32)


def teacher_probs(path: Path, images: np.ndarray, blur_sigma: float | None, cache: Path | None = None) -> np.ndarray:
    """``(n, 7)`` probabilities of the float ``.tflite`` at ``path`` on uint8 ``(n, 48, 48, 1)`` clean faces, as served.

    The runtime's own preprocessing and input blur (the served model's when ``blur_sigma`` is None).
    With ``cache``, the probabilities are kept there, keyed by the teacher file's sha256 and the faces.
    """
    import hashlib

    from emotion_core import EmotionReader

    key = hashlib.sha256(Path(path).read_bytes() + images.tobytes() + repr(blur_sigma).encode()).hexdigest()
    if cache is not None and cache.exists():
        stored = np.load(cache)
        if str(stored["key"]) == key:
            return stored["probs"]
    reader = EmotionReader.with_models(face_model=path, face_blur_sigma=blur_sigma)
    probs = np.concatenate([reader.face_probabilities(images[i : i + 512]) for i in range(0, len(images), 512)])
    if cache is not None:
        np.savez(cache, key=key, probs=probs)
    return probs.astype(np.float32)


def downscale_blur(images, max_factor: float = 0.5, rate: float = 0.3):
    """Blur a random ``rate`` of a ``(b, 48, 48, 1)`` batch by resizing it down (to >= ``max_factor``) and back."""
    import tensorflow as tf

    size = tf.cast(tf.random.uniform([], max_factor, 1.0) * FACE_INPUT_SIZE, tf.int32)
    small = tf.image.resize(images, tf.stack([size, size]), method="area")
    blurred = tf.image.resize(small, INPUT_SHAPE[:2], method="bilinear")
    pick = tf.random.uniform([tf.shape(images)[0], 1, 1, 1]) < rate
    return tf.where(pick, blurred, images)


def light_layers() -> list:
    """Mirror, brightness and contrast: changes that interpolate nothing, so faces stay sharp."""
    import keras

    return [keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomBrightness(0.15, value_range=(0, 255)),
            keras.layers.RandomContrast(0.3, value_range=(0, 255))]


def augmenter():
    """Random webcam-like changes for a ``(b, 48, 48, 1)`` float batch in [0, 255] (train time only)."""
    import keras

    flip, brightness, contrast = light_layers()
    return keras.Sequential([
        flip,
        keras.layers.RandomRotation(12 / 360, fill_mode="nearest"),
        keras.layers.RandomZoom((-0.15, 0.15), fill_mode="nearest"),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"),
        brightness,
        contrast,
    ], name="augment")


def corrupt_some(images: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of uint8 ``(b, 48, 48, 1)`` faces where a random ``share`` got one webcam corruption each.

    The corruption (``harness.corruptions``) and its strength are drawn uniformly per face.
    """
    out = images.copy()
    names = tuple(CORRUPTIONS)
    for index in np.flatnonzero(rng.random(len(images)) < share):
        name, strength = names[rng.integers(len(names))], STRENGTHS[rng.integers(len(STRENGTHS))]
        out[index] = corrupt(images[index], name, strength, seed=int(rng.integers(2**31)))
    return out


def corruption_step(share: float, seed: int):
    """A tf.data-friendly function: uint8 image batch -> the batch through :func:`corrupt_some`."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def step(images):
        out = tf.numpy_function(lambda batch: corrupt_some(batch, share, rng), [images], tf.uint8, stateful=True)
        return tf.ensure_shape(out, images.shape)

    return step


def conv_block(x, filters: int, convs: int, pool: bool):
    """``convs`` x (3x3 conv -> batch norm -> ReLU), then an optional 2x2 max pool."""
    import keras

    for _ in range(convs):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    return keras.layers.MaxPooling2D()(x) if pool else x


def separable_block(x, filters: int, convs: int, pool: bool):
    """``convs`` x (3x3 depthwise -> BN -> ReLU -> 1x1 pointwise to ``filters`` -> BN -> ReLU), then a 2x2 max pool."""
    import keras

    for _ in range(convs):
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.Conv2D(filters, 1, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    return keras.layers.MaxPooling2D()(x) if pool else x


def build_model(width: int = 16, dropout: float = 0.3, name: str = "", arch: str = "vgg"):
    """CNN: ``(b, 48, 48, 1)`` grey in [0, 255] -> ``(b, 7)`` softmax over EMOTIONS.

    Four stages of two convolutions (``width``, 2x, 4x, 8x channels) at 48, 24, 12 and 6 pixels,
    global average pooling, dropout and one dense layer. ``arch="vgg"``: plain 3x3 convolutions;
    ``"separable"``: one plain 3x3 stem convolution, then depthwise-separable ones.
    """
    import keras

    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHS}")
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    if arch == "separable":  # a depthwise conv on one grey channel would learn only 9 weights
        x = conv_block(x, width, convs=1, pool=False)
    block = separable_block if arch == "separable" else conv_block
    for stage in range(4):
        x = block(x, width * 2**stage, convs=2, pool=stage < 3)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(NUM_EMOTIONS, activation="softmax", name="emotion")(x)
    prefix = "face_vgg" if arch == "vgg" else "face_sep"
    return keras.Model(inputs, outputs, name=name or f"{prefix}{width}")


def light_augmenter():
    """The un-warping part of :func:`augmenter`: mirror and light only."""
    import keras

    return keras.Sequential(light_layers(), name="light")


def keep_sharp(sharp, warped, share: float):
    """Per face, take the ``sharp`` version for a random ``share`` of a batch, else the ``warped`` one.

    Rotation, zoom and shift interpolate, which smooths every face they touch; a network that only
    sees those learns the statistics of smoother faces than the sharp ones it is served.
    """
    import tensorflow as tf

    pick = tf.random.uniform([tf.shape(sharp)[0], 1, 1, 1]) < share
    return tf.where(pick, sharp, warped)


def mix_batch(images, targets, weights, alpha: float):
    """Mixup (Zhang et al., ICLR 2018): each face of a batch blended with another face of it, its targets and
    sample weight alike, by a share drawn from Beta(alpha, alpha); the face keeps the larger share."""
    import tensorflow as tf

    count = tf.shape(images)[0]
    first, second = tf.random.gamma([count], alpha), tf.random.gamma([count], alpha)
    share = first / (first + second)
    share = tf.maximum(share, 1.0 - share)
    partner = tf.random.shuffle(tf.range(count))

    def blend(values):
        kept = tf.reshape(share, tf.concat([[count], tf.ones([tf.rank(values) - 1], tf.int32)], axis=0))
        return kept * values + (1.0 - kept) * tf.gather(values, partner)

    return blend(images), blend(targets), blend(weights)


def train_dataset(x: np.ndarray, targets: np.ndarray, weights: np.ndarray, batch: int, seed: int,
                  sharp_share: float = 0.0, corrupt_share: float = 0.0, mixup: float = 0.0):
    """Shuffled, augmented ``(images, targets, sample weights)`` batches from uint8 ``(n, 48, 48, 1)``.

    ``corrupt_share`` of the faces first get one webcam corruption (:func:`corrupt_some`); ``mixup`` > 0
    blends the augmented faces in pairs (:func:`mix_batch` with that alpha).
    """
    import tensorflow as tf

    augment, light = augmenter(), light_augmenter()
    corrupted = corruption_step(corrupt_share, seed) if corrupt_share > 0 else (lambda images: images)

    def transform(images, y, w):
        images = tf.cast(corrupted(images), tf.float32)
        warped = augment(images, training=True)
        images = keep_sharp(light(images, training=True), warped, sharp_share) if sharp_share > 0 else warped
        images = downscale_blur(images)
        if mixup > 0:
            images, y, w = mix_batch(images, y, tf.cast(w, tf.float32), mixup)
        return tf.clip_by_value(images, 0.0, 255.0), y, w

    data = tf.data.Dataset.from_tensor_slices((x, targets, weights))
    data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch, drop_remainder=True)
    return data.map(transform, num_parallel_calls=1).prefetch(2)


def eval_dataset(x: np.ndarray, labels: np.ndarray, batch: int = 512):
    """Un-augmented ``(float images, one-hot labels)`` batches."""
    import tensorflow as tf

    onehot = np.eye(NUM_EMOTIONS, dtype=np.float32)[labels]
    return tf.data.Dataset.from_tensor_slices((x.astype(np.float32), onehot)).batch(batch)


class TimeBudget:
    """Keras callback: warm-up + cosine learning rate over a wall-clock budget, then stop training.

    The schedule follows elapsed time, not steps, so a run on a busy shared CPU still anneals fully
    within ``minutes``.
    """

    def __new__(cls, minutes: float, lr: float, warmup: float = 0.03, floor: float = 0.01):
        import keras

        class _TimeBudget(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.start = time.perf_counter()

            def on_train_batch_begin(self, batch, logs=None):
                done = (time.perf_counter() - self.start) / (60.0 * minutes)
                if done >= 1.0:
                    self.model.stop_training = True
                rate = lr * min(1.0, (done + 1e-3) / warmup)
                if done > warmup:
                    cosine = 0.5 * (1 + np.cos(np.pi * min(1.0, (done - warmup) / (1 - warmup))))
                    rate = lr * (floor + (1 - floor) * cosine)
                self.model.optimizer.learning_rate.assign(rate)

        return _TimeBudget()


def compile_model(model, lr: float, weight_decay: float) -> None:
    """AdamW (learning rate set per batch by :class:`TimeBudget`); categorical cross-entropy."""
    import keras

    model.compile(keras.optimizers.AdamW(lr, weight_decay=weight_decay),
                  loss="categorical_crossentropy", metrics=["accuracy"])


def run_targets(args: argparse.Namespace, train: dict, out: Path) -> np.ndarray:
    """The training targets of ``args``: labels with FER+ votes, mixed with ``--teacher``'s probabilities if given."""
    targets = train_targets(train["y"], train["ferplus"], args.ferplus_weight, args.smoothing)
    if not args.teacher:
        return targets
    probs = teacher_probs(Path(args.teacher), train["x"], args.teacher_blur, out / TEACHER_CACHE)
    return distill_targets(targets, probs, args.teacher_weight, args.temperature)


def run(args: argparse.Namespace) -> dict:
    """Train, keep the best-PublicTest-accuracy checkpoint in ``args.out``; returns a summary."""
    import keras

    set_threads(args.threads, 1)
    keras.utils.set_random_seed(args.seed)
    arrays = load_arrays(data_dir(args.data_dir))
    train, public = split(arrays, "Training"), split(arrays, "PublicTest")
    if args.limit:
        train = {key: value[: args.limit] for key, value in train.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    targets = run_targets(args, train, out)
    weights = class_weights(train["y"], args.class_weight_power)[train["y"]]
    data = train_dataset(train["x"], targets, weights, args.batch, args.seed, args.sharp_share, args.corrupt_share,
                         args.mixup)
    model = build_model(args.width, args.dropout, arch=args.arch)
    if args.init:  # continue an earlier run with a fresh learning-rate cycle (new optimizer state)
        member = None if args.init_member < 0 else args.init_member
        warm_start(model, args.init, train["x"][:1000].astype(np.float32), member)
    compile_model(model, args.lr, args.weight_decay)
    callbacks = [
        keras.callbacks.ModelCheckpoint(out / "best.keras", monitor="val_accuracy", mode="max", save_best_only=True),
        keras.callbacks.CSVLogger(out / "history.csv"),
        TimeBudget(args.minutes, args.lr),
    ]
    start = time.perf_counter()
    history = model.fit(data, epochs=args.epochs, validation_data=eval_dataset(public["x"], public["y"]),
                        callbacks=callbacks, verbose=2)
    best = int(np.argmax(history.history["val_accuracy"]))
    model.save(out / "last.keras")
    summary = {"model": model.name, "params": model.count_params(), "epochs_run": len(history.epoch),
               "best_epoch": best + 1, "public_accuracy": float(history.history["val_accuracy"][best]),
               "train_seconds": round(time.perf_counter() - start, 1), "args": vars(args)}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--out", default=str(ARTIFACTS / "face"), help="checkpoint folder")
    parser.add_argument("--minutes", type=float, default=40.0, help="wall-clock training budget")
    parser.add_argument("--epochs", type=int, default=200, help="upper bound; the time budget usually stops first")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=16, help="channels of the first stage")
    parser.add_argument("--arch", choices=ARCHS, default=ARCHS[0], help="plain or depthwise-separable convolutions")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--smoothing", type=float, default=0.05, help="label smoothing")
    parser.add_argument("--ferplus-weight", type=float, default=0.2, help="share of FER+ votes in the targets")
    parser.add_argument("--class-weight-power", type=float, default=0.5, help="0 = none, 1 = fully balanced")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixup", type=float, default=0.0, help="> 0: mixup with this Beta alpha (e.g. 0.2)")
    parser.add_argument("--sharp-share", type=float, default=0.0,
                        help="share of training faces left un-warped (no rotation, zoom or shift smoothing)")
    parser.add_argument("--init", default="",
                        help="warm start from this .keras checkpoint or exported float .tflite (same --width)")
    parser.add_argument("--init-member", type=int, default=-1,
                        help="which network of a --init .tflite holding several (served face model: 0 face, 1 mirror)")
    parser.add_argument("--corrupt-share", type=float, default=0.0,
                        help="share of training faces given one webcam corruption (harness.corruptions) first")
    parser.add_argument("--teacher", default="", help="distil this exported float .tflite (e.g. the served pair)")
    parser.add_argument("--teacher-weight", type=float, default=0.7, help="share of the teacher in the targets")
    parser.add_argument("--teacher-blur", type=float, default=None,
                        help="the teacher's input blur sigma (default: the served face model's)")
    parser.add_argument("--temperature", type=float, default=1.0, help="> 1 flattens the teacher's probabilities")
    return parser.parse_args(argv)


def main() -> None:
    print(json.dumps(run(parse_args()), indent=2))


if __name__ == "__main__":
    main()
