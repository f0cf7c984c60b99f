"""The served face search: full range (and tiles) for files, short range first in the live view."""

import numpy as np
import pytest

from emotion_core import face, face_search
from emotion_core.images import load_image
from emotion_core.weights import resolve_weight
from harness import FIXTURES


def webcam_frame() -> np.ndarray:
    """The astronaut photo enlarged to 480 px (her face about 95 px, under TRUST_SHARE) in a 640x480 frame."""
    import cv2

    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 80:560] = cv2.resize(load_image(FIXTURES / "face.jpg"), (480, 480), interpolation=cv2.INTER_CUBIC)
    return frame


def test_short_range_alone_serves_only_a_large_sure_face():
    trusted, sure = int(np.ceil(face_search.TRUST_SHARE * 1280)), face_search.TRUST_CONFIDENCE
    assert face_search.sees_close_face([((100, 100, trusted, trusted - 10), sure)], 1280, 720)
    assert face_search.sees_close_face([((0, 0, 20, 20), 0.99), ((400, 100, 10, trusted), sure)], 1280, 720)
    assert not face_search.sees_close_face([((100, 100, trusted - 1, trusted - 1), 0.99)], 1280, 720)  # of 1280
    assert not face_search.sees_close_face([((100, 100, trusted, trusted), sure - 0.01)], 1280, 720)  # not sure enough
    assert not face_search.sees_close_face([((0, 0, 20, 20), 0.99), ((400, 100, trusted, trusted), 0.6)], 1280, 720)
    assert face_search.sees_close_face([((100, 100, 80, 80), 0.9)], 480, 480)
    assert not face_search.sees_close_face([], 640, 480)


def test_a_short_range_box_moves_into_full_ranges_convention():
    x, y, w, h = face_search.as_far_box((100, 200, 200, 200), 1280, 720)
    assert (w, h) == (round(200 * face_search.CLOSE_TO_FAR_SCALE),) * 2
    assert x + w / 2 == pytest.approx(200, abs=1)  # same centre across
    assert y + h / 2 == pytest.approx(300 + face_search.CLOSE_TO_FAR_SHIFT_Y * 200, abs=1)  # higher
    assert face_search.as_far_box((0, 0, 100, 100), 1280, 720)[:2] == (0, 0)  # clipped to the frame
    assert face_search.as_far_box((1270, 0, 10, 10), 1280, 720)[0] + face_search.as_far_box((1270, 0, 10, 10), 1280,
                                                                                           720)[2] == 1280


def detectors(far_confidence: float = face.MIN_DETECTION_CONFIDENCE) -> tuple[face.FaceDetector, face.FaceDetector]:
    """Fresh short- and full-range detectors with their manifest framing (a full range that finds nothing above 1)."""
    close, far = face.named_detector(face.SHORT_RANGE_DETECTOR), face.named_detector(face.FULL_RANGE_DETECTOR)
    return (face.FaceDetector(str(resolve_weight(face.SHORT_RANGE_DETECTOR)), framing=close.framing),
            face.FaceDetector(str(resolve_weight(face.FULL_RANGE_DETECTOR)), far_confidence, framing=far.framing))


def test_live_a_face_under_the_trust_share_goes_on_to_full_range():
    close, far = detectors()
    frame = webcam_frame()
    assert not face_search.sees_close_face(close.detect(frame), 640, 480)
    (box, score, detector), = face_search.search_faces(close, far, frame, small_faces=False)
    assert detector is far and [(box, score)] == far.detect(frame)  # full range's own box, unmapped
    assert (close.runs, far.runs) == (2, 2)  # the live view: no tiles


def test_a_files_frame_gets_full_ranges_search_first():
    """Files: full range and its tiles whatever short range would see (small faces beside a large one
    are looked for); short range does not run where full range finds a face."""
    close, far = detectors()
    frame = webcam_frame()
    (box, score, detector), = face_search.search_faces(close, far, frame)
    assert detector is far and [(box, score)] == far.detect(frame)
    tiles = face.search_tiles(640, 480, [box])  # full range's own rule for its tiles still applies
    assert close.runs == 0 and 2 + len(tiles) <= far.runs <= 2 + len(tiles) + face.MAX_LOOKS  # + second looks


def test_where_full_range_finds_nothing_short_ranges_faces_keep_their_own_box():
    close, far = detectors(far_confidence=1.1)  # a full range that finds no face at all
    frame = webcam_frame()
    assert far.detect(frame, tiled=True) == []
    (box, score, detector), = face_search.search_faces(close, far, frame)
    assert detector is close and [(box, score)] == close.detect(frame)
    assert face_search.search_faces(close, far, np.full((480, 640, 3), 90, np.uint8)) == []
