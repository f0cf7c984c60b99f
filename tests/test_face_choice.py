"""The face selection figures: files read through the served path, named on the command line."""

import argparse

import numpy as np
import pytest

from emotion_core import EmotionReader
from emotion_core.weights import WEIGHTS_DIR
from training.face_choice import file_figures, named_file
from training.face_evaluate import predict_images


def test_a_file_is_read_as_served_and_scored_by_the_exports_objective():
    served = WEIGHTS_DIR / "face_emotion.tflite"
    faces = np.random.default_rng(3).integers(0, 256, (40, 48, 48, 1), dtype=np.uint8)
    own = predict_images(EmotionReader.with_models(face_model=served, face_blur_sigma=0.6), faces).argmax(axis=1)
    figures = file_figures(served, faces, own)  # its own answers as labels: every face right
    assert figures["accuracy"] == 1.0
    seen = {name for index, name in enumerate(figures["per_class_recall"]) if index in set(own.tolist())}
    assert all(figures["per_class_recall"][name] == 1.0 for name in seen)
    if len(seen) < 7:  # a class the labels never hold reads as recall 0, under the export's floor: it costs
        assert figures["objective"] < figures["accuracy"] + 0.5 * figures["macro_recall"]
    wrong = file_figures(served, faces, (own + 1) % 7)
    assert wrong["accuracy"] == 0.0 and wrong["objective"] < figures["objective"]


def test_files_are_named_name_equals_path():
    assert named_file("served=weights/face_emotion.tflite")[0] == "served"
    with pytest.raises(argparse.ArgumentTypeError):
        named_file("weights/face_emotion.tflite")
