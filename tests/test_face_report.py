"""The face report's training paragraph, for one run or several combined in one export."""

from training.face_evaluate import training_notes


def run_summary(seed: int, epochs: int, init: str = "") -> dict:
    return {"model": "face_vgg16", "params": 295575, "epochs_run": epochs, "best_epoch": epochs - 1,
            "train_seconds": 6900.0, "args": {"seed": seed, "init": init}}


def test_one_run_is_described_without_its_seed():
    text = training_notes([run_summary(2, 32, init="weights/face_emotion_float.tflite")])
    assert "32 epochs in 115 min" in text and "epoch 31" in text
    assert "warm-started from `weights/face_emotion_float.tflite`" in text
    assert "seed" not in text


def test_several_runs_are_each_described_with_their_seed():
    text = training_notes([run_summary(5, 70), run_summary(6, 71, init="r3.tflite")])
    assert "seed 5" in text and "seed 6" in text
    assert "70 epochs" in text and "71 epochs" in text
    assert text.count("warm-started") == 1
