"""The face confidence probe's figures: accuracy, the share given a reading, and how often those are right."""

import numpy as np
import pytest

from training.face_confidence_probe import confidence_figures


def test_figures_count_only_sure_readings_as_given():
    sure_right = [0.9, 0.1, 0, 0, 0, 0, 0]
    sure_wrong = [0.1, 0.8, 0.1, 0, 0, 0, 0]
    unsure_right = [0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05]
    found = confidence_figures(np.array([sure_right, sure_wrong, unsure_right]), np.array([0, 0, 0]))
    assert found == pytest.approx({"accuracy": 2 / 3, "stated": 2 / 3, "right_when_stated": 0.5})
    assert confidence_figures(np.array([unsure_right]), np.array([0]))["right_when_stated"] is None
