"""Export the trained voice CNN to LiteRT: full-integer int8 (served) and float32 (the reference).

``python -m training.voice_export [--checkpoint artifacts/voice_ours.keras [more ...]]``

A checkpoint is a ``.keras`` file or an exported float ``.tflite`` of our CNN (an exported ensemble
brings all of its networks). Given several, the exported graph runs each on the same window and
averages their probabilities (an ensemble in one file).

The int8 model is calibrated on windows of TRAINING clips only, made by the runtime's own window
functions (:func:`training.voice_data.clip_windows`). Both files are written to ``weights/`` and registered
in ``weights/manifest.json`` with their feature parameters, data, licence, and the float-vs-int8
top-1 agreement and validation UAR on the validation speakers, both measured through the app's own
calls on a reader built with each exported file (``EmotionReader.with_models``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emotion_core import EmotionReader, audio, windows
from emotion_core.audio import load_audio
from emotion_core.labels import EMOTIONS
from emotion_core.reader import prepare_speech
from training import quantize
from training.manifest import WEIGHTS_DIR, update_entry
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import clip_audio, clip_windows, load_cache
from training.voice_train import ARTIFACTS, build_ours, ibn_blocks_of, limit_threads, split_indices, validation_score
from training.warm_start import network_of, tflite_layer_weights, warm_start, weighted_layers

INPUT_SHAPE = [1, audio.WINDOW_FRAMES, audio.N_MELS, 1]
MAX_FLOAT_BYTES = 1_500_000  # the float reference ships only while it stays this small
TRAINING_DATA = (
    "RAVDESS speech (actors 1-16 train, 17-18 validation; calm -> neutral), "
    "CREMA-D audio (actors 1001-1065 train, 1066-1075 validation; no surprise), "
    "TESS (both speakers, train; pleasant surprise -> surprise). "
    "Held out for test: RAVDESS actors 19-24, CREMA-D actors 1076-1091. 16 kHz Ogg Opus copies."
)
LICENCE = (
    "Weights for non-commercial research/demo use only: trained on RAVDESS (CC BY-NC-SA 4.0), "
    "TESS (CC BY-NC-ND 4.0) and CREMA-D (ODbL 1.0 / DbCL 1.0)."
)


NORMALISATION_TEXT = {
    "band_mean": "per window: zero mean per mel band, unit overall std (normalize_features); ",
    "band_mean_var": "per window: zero mean and unit std per mel band, measured on the frames within "
                     f"{audio.ACTIVE_RANGE_DB:g} dB of the loudest, std floored at {audio.BAND_STD_FLOOR_DB:g} dB "
                     "(standardize_bands); ",
    "mfcc_deltas": f"per window: band-mean log-mels (normalize_features), then {audio.N_MFCC} MFCCs (orthonormal "
                   "DCT-II) with first and second time differences, each block at unit std, one zero column "
                   "(mfcc_with_deltas); "}


def feature_parameters(normalisation: str = audio.DEFAULT_NORMALISATION) -> dict:
    """The runtime feature settings the model was trained with (all from ``emotion_core.audio``)."""
    return {
        "sample_rate": audio.SAMPLE_RATE, "n_fft": audio.N_FFT, "win_length": audio.WIN_LENGTH,
        "hop_length": audio.HOP_LENGTH, "n_mels": audio.N_MELS, "fmin": audio.FMIN, "fmax": audio.FMAX,
        "window_seconds": audio.WINDOW_SECONDS, "window_hop_seconds": windows.WINDOW_HOP_SECONDS,
        "log": "10*log10(mel power), floor -100 dB",
        "normalisation": NORMALISATION_TEXT[normalisation] + "shorter speech tiled to the window (fit_to_window)",
        "silence": "each window's own leading/trailing non-speech trimmed with the VAD (windows.window_input); "
                   "the mean is over the windows with speech (speech.has_speech)",
    }


def calibration_windows(cache: dict, count: int = 400, seed: int = 0, exclude_corpus: str = "",
                        normalisation: str = audio.DEFAULT_NORMALISATION) -> np.ndarray:
    """``(count, 301, 64, 1)`` float32 model inputs: the first window of random training clips.

    ``exclude_corpus`` keeps a cross-corpus model's int8 ranges free of the corpus it must never hear.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.choice(split_indices(cache, "train", exclude_corpus), count, replace=False)
    inputs = [clip_windows(clip_audio(cache, i), normalisation)[0][0] for i in chosen]
    return np.stack(inputs)[..., None].astype(np.float32)


def convert(model, calibration: np.ndarray | None) -> bytes:
    """The Keras model as a ``.tflite`` flatbuffer: float32, or full-integer int8 when calibrated."""
    return quantize.to_tflite(model, INPUT_SHAPE, calibration)


def window_agreement(first: EmotionReader, second: EmotionReader, paths: list[str]) -> tuple[float, int]:
    """Top-1 agreement of two readers over the served windows of the clips at ``paths``, and the window count."""
    same = []
    for path in paths:
        speech = prepare_speech(*load_audio(path))
        same.extend(first.window_probabilities(speech)[0].argmax(axis=1)
                    == second.window_probabilities(speech)[0].argmax(axis=1))
    return float(np.mean(same)), len(same)


def register(name: str, path: Path, members: int, extra: dict,
             normalisation: str = audio.DEFAULT_NORMALISATION, training_note: str = "") -> dict:
    """Write (or replace) the manifest entry of one voice model file (an average of ``members`` CNNs);
    ``preprocessing.normalisation`` tells the reader how to normalise its windows."""
    kind = "log-mel CNN" if members == 1 else f"average of {members} log-mel CNNs in one graph"
    return update_entry(name, path, kind=f"voice emotion classifier ({kind})", labels=list(EMOTIONS),
                        input_shape=INPUT_SHAPE, features=feature_parameters(normalisation),
                        preprocessing={"normalisation": normalisation},
                        training_data=" ".join(filter(None, (TRAINING_DATA, training_note))),
                        licence=LICENCE, **extra)


def validation_paths(cache: dict, exclude_corpus: str = "") -> list[str]:
    """The audio files of the validation speakers' clips."""
    return [str(path) for path in cache["path"][split_indices(cache, "val", exclude_corpus)]]


def validation_uar(reader: EmotionReader, cache: dict, exclude_corpus: str = "") -> dict[str, float]:
    """Per-corpus validation UAR of an exported model, each clip scored by the reader's ``classify_speech``."""
    val = split_indices(cache, "val", exclude_corpus)
    scores = [reader.classify_speech(*load_audio(path)) for path in cache["path"][val]]
    probs = np.array([[clip[name] for name in EMOTIONS] for clip in scores])
    return validation_score(probs, cache["label"][val], cache["corpus"][val])


def networks_in(checkpoint: Path, layers_per_network: int) -> int:
    """How many of our CNNs a checkpoint holds: an exported ensemble ``.tflite`` holds several."""
    if checkpoint.suffix != ".tflite":
        return 1
    ops = len(tflite_layer_weights(checkpoint))
    if ops == 0 or ops % layers_per_network:
        raise ValueError(f"{checkpoint}: {ops} conv/dense ops are not a whole number of our CNNs "
                         f"({layers_per_network} each)")
    return ops // layers_per_network


def ibn_blocks_in(checkpoint: Path) -> int:
    """The IBN blocks of a ``.keras`` checkpoint (:func:`training.voice_train.ibn_blocks_of`).

    An exported ``.tflite`` is read as plain blocks (its instance norms are not folded batch norms), so IBN
    networks are exported or continued from their ``.keras`` checkpoints.
    """
    if checkpoint.suffix != ".keras":
        return 0
    import keras

    return ibn_blocks_of(keras.models.load_model(checkpoint))


def load_model(checkpoints: list[Path], sample_inputs: np.ndarray):
    """Our CNN from one checkpoint, or the average of several in one graph (every network of an ensemble file,
    or only network N of it, named ``FILE.tflite:N``)."""
    members, layers_per_network = [], len(weighted_layers(build_ours()))
    for checkpoint in checkpoints:
        path, picked = network_of(checkpoint)
        count = 1 if picked is not None else networks_in(path, layers_per_network)
        for network in range(count):
            member = build_ours(name=f"voice_emotion_{len(members)}", ibn_blocks=ibn_blocks_in(path))
            warm_start(member, path, sample_inputs, picked if picked is not None else network if count > 1 else None)
            members.append(member)
    return averaged(members)


def averaged(members: list):
    """One network as it is, several in one graph that averages their probabilities (an ensemble file)."""
    import keras

    if len(members) == 1:
        return members[0]
    inputs = keras.Input(INPUT_SHAPE[1:])
    return keras.Model(inputs, keras.layers.Average()([member(inputs) for member in members]), name="voice_ensemble")


def network_count(model) -> int:
    """How many CNNs an exported graph averages."""
    import keras

    return max(1, sum(isinstance(layer, keras.Model) for layer in model.layers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, nargs="+", default=[ARTIFACTS / "voice_ours.keras"],
                        help=".keras checkpoints or exported float .tflite files; several are averaged")
    parser.add_argument("--features", type=Path, default=FEATURES)
    parser.add_argument("--name", default="voice_emotion", help="<out-dir>/<name>.tflite and manifest key")
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR, help="registered in the manifest only if weights/")
    parser.add_argument("--exclude-corpus", default="",
                        help="a cross-corpus model: calibrate and validate without this corpus")
    parser.add_argument("--normalisation", choices=audio.NORMALISATIONS, default=audio.DEFAULT_NORMALISATION,
                        help="the per-window normalisation the checkpoint was trained with")
    parser.add_argument("--training-note", default="",
                        help="how the checkpoints were trained beyond the data (recipe, warm start), for the manifest")
    parser.add_argument("--int8-only", action="store_true",
                        help="write the int8 file only, without the validation checks (a test candidate outside "
                             "weights/, measured by training.voice_crosscorpus)")
    args = parser.parse_args()
    limit_threads(1)
    started, cache = time.time(), load_cache(args.features)
    calibration = calibration_windows(cache, exclude_corpus=args.exclude_corpus, normalisation=args.normalisation)
    model = load_model(args.checkpoint, calibration)
    int8_path, float_path = args.out_dir / f"{args.name}.tflite", args.out_dir / f"{args.name}_float.tflite"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    int8_path.write_bytes(convert(model, calibration))
    if args.int8_only:
        print(f"{int8_path.name}: {int8_path.stat().st_size} bytes ({time.time() - started:.0f} s)")
        return
    float_bytes = convert(model, None)
    (ARTIFACTS / f"{args.name}_float.tflite").write_bytes(float_bytes)
    readers = {kind: EmotionReader.with_models(voice_model=path, voice_normalisation=args.normalisation)
               for kind, path in (("int8", int8_path), ("float", ARTIFACTS / f"{args.name}_float.tflite"))}
    agreement, windows = window_agreement(readers["float"], readers["int8"],
                                          validation_paths(cache, args.exclude_corpus))
    common = {"training_run": "+".join(c.stem for c in args.checkpoint), "parameters": model.count_params(),
              "float_int8_top1_agreement": agreement,
              "agreement_examples": f"{windows} served windows of the validation speakers' clips"}
    scores = {kind: validation_uar(reader, cache, args.exclude_corpus) for kind, reader in readers.items()}
    if args.out_dir.resolve() == WEIGHTS_DIR.resolve():
        members = network_count(model)
        register(args.name, int8_path, members, {"quantization": "full integer int8 (input and output int8)",
                                                 "metrics": {"validation_uar": scores["int8"]}, **common},
                 args.normalisation, args.training_note)
        if len(float_bytes) <= MAX_FLOAT_BYTES:
            float_path.write_bytes(float_bytes)
            register(f"{args.name}_float", float_path, members, {"quantization": "none (float32 reference for tests)",
                                                                 "metrics": {"validation_uar": scores["float"]},
                                                                 **common}, args.normalisation, args.training_note)
    print(f"{int8_path.name}: {int8_path.stat().st_size} bytes; float {len(float_bytes)} bytes; "
          f"top-1 agreement {agreement:.4f}; validation UAR {json.dumps(scores)} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
