"""Weight soups: networks fine-tuned from one start, their weights averaged into one network.

An ingredient is ``FILE.tflite:N`` (network N of an exported file, e.g. a served ensemble) or a training
checkpoint ``FILE.keras``. Every ingredient is taken in its exported form, batch norms folded into the
convolution before them, so that a served network and a fine-tune of it mix as the functions they
compute, whatever statistics each one's batch norms kept. The soup's every conv/dense layer is the mean
of the ingredients' layers; it is restored into a fresh network of the same architecture
(:func:`training.warm_start.restore_folded`), ready to export or to save as a checkpoint.

    python -m training.soup face --group weights/face_emotion_float.tflite:0 artifacts/face_ft_m0/best.keras \
        --out artifacts/face_soup_m0.keras

(the voice's soups, averaged in one int8 graph: ``training.voice_soup``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from training import quantize
from training.warm_start import member_weights, network_of, restore_folded, tflite_layer_weights, weighted_layers

Folded = list[tuple[str, np.ndarray, np.ndarray]]  # (op, kernel, bias) per conv/dense layer, batch norms folded


def folded_weights(spec: str, layers_per_network: int) -> Folded:
    """One ingredient's conv/dense weights with its batch norms folded in, as an exported float file holds them."""
    path, network = network_of(spec)
    if path.suffix == ".tflite":
        return member_weights(tflite_layer_weights(path), layers_per_network, network)
    import keras

    model = keras.models.load_model(path)
    with tempfile.TemporaryDirectory() as folder:  # the converter does the folding, as for a served file
        exported = Path(folder) / "ingredient.tflite"
        exported.write_bytes(quantize.to_tflite(model, [1, *model.input_shape[1:]], None))
        return tflite_layer_weights(exported)


def mean_folded(ingredients: list[Folded]) -> Folded:
    """Layer by layer, the mean of the ingredients' kernels and biases."""
    if len({len(found) for found in ingredients}) != 1:
        raise ValueError("the ingredients do not have the same layers")
    return [(layers[0][0], np.mean([kernel for _, kernel, _ in layers], axis=0),
             np.mean([bias for _, _, bias in layers], axis=0))
            for layers in zip(*ingredients, strict=True)]


def soup_into(network, group: list[str], sample_inputs: np.ndarray):
    """``network`` (a fresh model of the ingredients' architecture) set to the mean of ``group``'s weights;
    ``sample_inputs`` (training inputs) set its batch norms' statistics as a warm start does."""
    layers = len(weighted_layers(network))
    restore_folded(network, mean_folded([folded_weights(spec, layers) for spec in group]), sample_inputs,
                   " + ".join(group))
    return network


def face_soup(group: list[str], out: Path, width: int = 16, data_folder: str | None = None) -> Path:
    """The soup of face networks ``group`` saved as the checkpoint ``out`` (``training.face_export`` takes it)."""
    from training.face_data import data_dir, load_arrays, split
    from training.face_train import build_model

    sample = split(load_arrays(data_dir(data_folder)), "Training")["x"][:4000].astype(np.float32)
    soup_into(build_model(width), group, sample).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("face",), help="which model's networks (voice: training.voice_soup)")
    parser.add_argument("--group", nargs="+", required=True, metavar="INGREDIENT",
                        help="FILE.tflite:N or FILE.keras, all fine-tuned from one network")
    parser.add_argument("--width", type=int, default=16, help="the face networks' first-stage channels")
    parser.add_argument("--out", type=Path, required=True, help="the soup's .keras checkpoint")
    parser.add_argument("--data-dir", default=None, help="shared data folder (default ../shared/data)")
    args = parser.parse_args()
    started = time.time()
    face_soup(args.group, args.out, args.width, args.data_dir)
    print(f"{args.out}: the mean of {len(args.group)} networks ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
