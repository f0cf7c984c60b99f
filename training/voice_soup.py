"""Weight soups of the voice CNN, averaged in one int8 graph (``training.soup`` makes each soup).

Run:
    python -m training.voice_soup --group weights/voice_emotion_float.tflite:0 weights/voice_emotion_float.tflite:3 \
        --group ... --name voice_soup

Each ``--group`` lists ingredients that began as the same network (a served network and its fine-tunes):
``FILE.tflite:N`` is network N of an exported ensemble, ``FILE.keras`` a training checkpoint. A group
becomes one network, the mean of its ingredients' weights (:func:`training.soup.soup_into`); the groups'
networks are averaged in one graph as ``training.voice_export`` does, and written int8
(``artifacts/<name>.tflite``, calibrated on training windows without EMOVO) with a float copy beside it.
Printed: the soup's top-1 agreement with the average of its ingredients' outputs on those training
windows (a soup of networks that do not share a basin disagrees here first).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from training.soup import soup_into
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import load_cache
from training.voice_export import averaged, calibration_windows, convert
from training.voice_train import ARTIFACTS, build_ours, limit_threads


def soup_model(groups: list[list[str]], sample_inputs: np.ndarray):
    """One network per group (its ingredients' mean weights), all averaged in one graph."""
    return averaged([soup_into(build_ours(name=f"voice_emotion_{index}"), group, sample_inputs)
                     for index, group in enumerate(groups)])


def ingredients_model(groups: list[list[str]], sample_inputs: np.ndarray):
    """Every ingredient as its own network, all averaged in one graph (what the soup is compared with)."""
    ingredients = [spec for group in groups for spec in group]
    return averaged([soup_into(build_ours(name=f"voice_ingredient_{index}"), [spec], sample_inputs)
                     for index, spec in enumerate(ingredients)])


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
