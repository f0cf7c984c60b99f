"""The BlazeFace pipeline run through LiteRT: anchors, letterbox input, box decoding, weighted NMS,
and agreement with the MediaPipe Tasks detector it replaces."""

import numpy as np
import pytest

from emotion_core import face
from emotion_core.images import load_image
from emotion_core.weights import resolve_weight
from harness import FIXTURES


def test_anchor_centres_follow_each_models_grid():
    full = face.anchor_centres(192)  # one anchor per 4x4 cell of a 48x48 grid
    assert full.shape == (2304, 2) and full.dtype == np.float32
    assert full[0].tolist() == [2.0, 2.0] and full[1].tolist() == [6.0, 2.0] and full[-1].tolist() == [190.0, 190.0]
    assert len(np.unique(full, axis=0)) == 2304
    short = face.anchor_centres(128)  # 16x16 cells x 2, then 8x8 cells x 6
    assert short.shape == (896, 2)
    assert short[0].tolist() == short[1].tolist() == [4.0, 4.0]
    assert short[512].tolist() == short[517].tolist() == [8.0, 8.0] and short[518].tolist() == [24.0, 8.0]
    with pytest.raises(ValueError, match="known: \\[128, 192\\]"):
        face.anchor_centres(256)


def test_a_model_that_is_not_blazeface_is_refused():
    with pytest.raises(ValueError, match="no BlazeFace anchor layout for a 48x48 input"):
        face.FaceDetector(str(resolve_weight("face_emotion")))


def test_letterbox_centres_the_frame_in_the_square():
    assert face.letterbox(1280, 720, 192) == (0.15, 0.0, -280.0)
    assert face.letterbox(480, 640, 128) == (0.2, -80.0, 0.0)
    assert face.letterbox(64, 64, 192) == (3.0, 0.0, 0.0)


def test_detector_input_is_the_letterboxed_frame_in_minus_one_to_one():
    frame = np.full((720, 1280, 3), 255, np.uint8)
    frame[300:340, 600:640] = 0  # a dark square at (600..640, 300..340): input (90..96, 87..93)
    values, (scale, left, top) = face.detector_input(frame, 192)
    assert values.shape == (1, 192, 192, 3) and values.dtype == np.float32
    assert (scale, left, top) == face.letterbox(1280, 720, 192)
    image = values[0, :, :, 0]
    assert np.all(image[:40] == -1.0) and np.all(image[-40:] == -1.0)  # the padding above and below the frame
    assert np.all(image[50:80] == 1.0)  # white frame
    dark = np.argwhere(image < 0.0)
    dark = dark[(dark[:, 0] > 45) & (dark[:, 0] < 147)]  # inside the frame's rows
    assert dark[:, 0].min() >= 86 and dark[:, 0].max() <= 93 and dark[:, 1].min() >= 89 and dark[:, 1].max() <= 96


def test_decode_boxes_keeps_confident_anchors_as_corner_boxes():
    anchors = np.array([[10.0, 10.0], [50.0, 50.0], [90.0, 30.0]], np.float32)
    raw = np.zeros((3, face.BOX_VALUES), np.float32)
    raw[1, :4] = [3.0, -2.0, 20.0, 10.0]  # centre shift (3, -2), size 20 x 10
    raw[2, :4] = [0.0, 0.0, 8.0, 8.0]
    logits = np.array([-5.0, 2.0, 0.0], np.float32)  # scores 0.007, 0.881, 0.5
    boxes, scores = face.decode_boxes(raw, logits, anchors, 0.5)
    assert boxes.tolist() == [[43.0, 43.0, 63.0, 53.0], [86.0, 26.0, 94.0, 34.0]]
    assert scores == pytest.approx([1 / (1 + np.exp(-2.0)), 0.5])
    assert len(face.decode_boxes(raw, np.full(3, 1e6, np.float32), anchors, 0.99)[0]) == 3  # no overflow
    assert face.decode_boxes(raw, logits, anchors, 0.9)[0].shape == (0, 4)


@pytest.mark.parametrize("min_score", [0.0, 0.3, 0.5, 0.55, 0.99, 1.0])
def test_decode_boxes_keeps_exactly_the_anchors_the_sigmoid_of_every_score_keeps(min_score):
    # the sigmoid runs only near and past min_score's logit: the kept anchors, boxes and scores must be
    # the ones a sigmoid over every anchor gives, threshold ties included
    rng = np.random.default_rng(22)
    anchors = face.anchor_centres(192)
    raw = rng.normal(0.0, 10.0, (len(anchors), face.BOX_VALUES)).astype(np.float32)
    logits = rng.normal(-2.0, 8.0, len(anchors)).astype(np.float32)
    if 0.0 < min_score < 1.0:
        logits[:8] = np.float32(np.log(min_score / (1.0 - min_score)))  # on the threshold
    logits[8:12] = [1e6, -1e6, 40.0, 36.0]  # clipped, and past the point where the sigmoid rounds to 1
    every = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -face.LOGIT_CLIP, face.LOGIT_CLIP)))
    keep = np.flatnonzero(every >= min_score)
    boxes, scores = face.decode_boxes(raw, logits, anchors, min_score)
    centres, half = raw[keep, :2] + anchors[keep], raw[keep, 2:4] / 2.0
    assert np.array_equal(scores, every[keep])
    assert np.array_equal(boxes, np.concatenate([centres - half, centres + half], axis=1))


def test_weighted_nms_averages_each_face_by_score_and_keeps_the_best_score():
    boxes = np.array([[0, 0, 10, 10], [100, 100, 120, 120], [1, 1, 11, 11], [40, 0, 50, 10]], np.float64)
    scores = np.array([0.6, 0.7, 0.9, 0.55])
    faces = face.weighted_nms(boxes, scores)
    assert [score for _, score in faces] == [0.9, 0.7, 0.55]
    expected = (0.9 * boxes[2] + 0.6 * boxes[0]) / 1.5  # IoU 81/119 > 0.3: one face
    np.testing.assert_allclose(faces[0][0], expected)
    np.testing.assert_allclose(faces[1][0], boxes[1])
    np.testing.assert_allclose(faces[2][0], boxes[3])
    assert face.weighted_nms(np.zeros((0, 4)), np.zeros(0)) == []


def mediapipe_boxes(name: str, frame: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
    """What MediaPipe Tasks' FaceDetector (this package's detector before LiteRT) finds in ``frame``."""
    vision = pytest.importorskip("mediapipe.tasks.python.vision")
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions

    options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(resolve_weight(name))),
                                         min_detection_confidence=face.MIN_DETECTION_CONFIDENCE)
    with vision.FaceDetector.create_from_options(options) as detector:
        result = detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame)))
    height, width = frame.shape[:2]
    found = [(face.clip_box((d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.width,
                             d.bounding_box.height), width, height), d.categories[0].score) for d in result.detections]
    return sorted(found)


@pytest.mark.parametrize("name", [face.FULL_RANGE_DETECTOR, face.SHORT_RANGE_DETECTOR])
def test_the_litert_pipeline_finds_what_mediapipe_found(name):
    import cv2

    photo = load_image(FIXTURES / "face.jpg")
    two = np.full((720, 1280, 3), 90, np.uint8)  # two faces about 100 and 190 px wide in a 720p frame
    two[100:612, 100:612] = cv2.resize(photo, (512, 512), interpolation=cv2.INTER_CUBIC)
    two[200:456, 800:1056] = photo
    detector = face.FaceDetector(str(resolve_weight(name)))
    counts = []
    for frame in (photo, two, np.ascontiguousarray(two[:, ::-1]), two[100:612, 100:612]):
        expected = mediapipe_boxes(name, frame)
        found = sorted(detector.detect(frame))
        assert len(found) == len(expected), (found, expected)
        counts.append(len(found))
        for (box, score), (want, want_score) in zip(found, expected, strict=True):
            assert np.abs(np.subtract(box, want)).max() <= 3, (box, want)
            assert score == pytest.approx(want_score, abs=0.02)
    assert counts[0] == counts[3] == 1 and counts[1] == counts[2]  # short range misses the 720p faces
