"""Weight soups of the voice CNN: networks fine-tuned from one start, their weights averaged into one.

Run:
    python -m training.voice_soup --group weights/voice_emotion_float.tflite:0 weights/voice_emotion_float.tflite:3 \
        --group ... --name voice_soup

Each ``--group`` lists ingredients that began as the same network (a served network and its fine-tunes):
``FILE.tflite:N`` is network N of an exported ensemble, ``FILE.keras`` a training checkpoint. A group
becomes one network whose every conv/dense layer is the mean of its ingredients' layers, batch norms
folded first (the exported form), so a fine-tune and the network it started from mix as the functions
they compute. The groups' networks are averaged in one graph as ``training.voice_export`` does, and
written int8 (``artifacts/<name>.tflite``, calibrated on training windows without EMOVO) with a float
copy beside it. Printed: the soup's top-1 agreement with the average of its ingredients' outputs on
those training windows (a soup of networks that do not share a basin disagrees here first).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from training import quantize
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import load_cache
from training.voice_export import INPUT_SHAPE, averaged, calibration_windows, convert, load_model
from training.voice_train import ARTIFACTS, build_ours, limit_threads
from training.warm_start import member_weights, restore_folded, tflite_layer_weights, weighted_layers

Folded = list[tuple[str, np.ndarray, np.ndarray]]  # (op, kernel, bias) per conv/dense layer, batch norms folded


def ingredient_path(spec: str) -> tuple[Path, int | None]:
    """``FILE.tflite:N`` -> ``(FILE.tflite, N)``; any other ingredient -> ``(path, None)``."""
    stem, colon, index = spec.rpartition(":")
    if colon and stem.endswith(".tflite") and index.isdigit():
        return Path(stem), int(index)
    return Path(spec), None


def folded_weights(spec: str, sample_inputs: np.ndarray) -> Folded:
    """One ingredient's conv/dense weights with its batch norms folded in, as an exported float file holds them."""
    path, network = ingredient_path(spec)
    layers = len(weighted_layers(build_ours()))
    if path.suffix == ".tflite":
        return member_weights(tflite_layer_weights(path), layers, network)
    with tempfile.TemporaryDirectory() as folder:  # the converter does the folding, as for a served file
        exported = Path(folder) / "ingredient.tflite"
        exported.write_bytes(quantize.to_tflite(load_model([path], sample_inputs), INPUT_SHAPE, None))
        return tflite_layer_weights(exported)


def mean_folded(ingredients: list[Folded]) -> Folded:
    """Layer by layer, the mean of the ingredients' kernels and biases."""
    if len({len(found) for found in ingredients}) != 1:
        raise ValueError("the ingredients do not have the same layers")
    return [(layers[0][0], np.mean([kernel for _, kernel, _ in layers], axis=0),
             np.mean([bias for _, _, bias in layers], axis=0))
            for layers in zip(*ingredients, strict=True)]


def soup_model(groups: list[list[str]], sample_inputs: np.ndarray):
    """One network per group (its ingredients' mean weights), all averaged in one graph."""
    members = []
    for index, group in enumerate(groups):
        member = build_ours(name=f"voice_emotion_{index}")
        restore_folded(member, mean_folded([folded_weights(spec, sample_inputs) for spec in group]), sample_inputs,
                       " + ".join(group))
        members.append(member)
    return averaged(members)


def ingredients_model(groups: list[list[str]], sample_inputs: np.ndarray):
    """Every ingredient as its own network, all averaged in one graph (what the soup is compared with)."""
    members = []
    for spec in (spec for group in groups for spec in group):
        member = build_ours(name=f"voice_ingredient_{len(members)}")
        restore_folded(member, folded_weights(spec, sample_inputs), sample_inputs, spec)
        members.append(member)
    return averaged(members)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", nargs="+", action="append", required=True, metavar="INGREDIENT",
                        help="ingredients of one network: FILE.tflite:N or FILE.keras (repeat for each network)")
    parser.add_argument("--name", default="voice_soup", help="artifacts/<name>.tflite (int8) and <name>_float.tflite")
    parser.add_argument("--features", type=Path, default=FEATURES)
    args = parser.parse_args()
    limit_threads(1)
    started, cache = time.time(), load_cache(args.features)
    calibration = calibration_windows(cache, exclude_corpus="emovo")
    soup = soup_model(args.group, calibration)
    mixed = ingredients_model(args.group, calibration)
    agreement = float(np.mean(soup.predict(calibration, verbose=0).argmax(axis=1)
                              == mixed.predict(calibration, verbose=0).argmax(axis=1)))
    int8_path = ARTIFACTS / f"{args.name}.tflite"
    int8_path.write_bytes(convert(soup, calibration))
    (ARTIFACTS / f"{args.name}_float.tflite").write_bytes(convert(soup, None))
    print(f"{int8_path}: {int8_path.stat().st_size} bytes, {len(args.group)} networks; top-1 agreement with the "
          f"ingredients' average on {len(calibration)} training windows {agreement:.3f} "
          f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
