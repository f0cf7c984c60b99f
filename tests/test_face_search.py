"""The served face search: full range (and tiles) for files, short range first in the live view."""

import numpy as np
import pytest

from emotion_core import face, face_search
from emotion_core.images import load_image
from emotion_core.live import box_overlap
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


def test_live_a_face_of_the_last_frame_is_followed_with_one_short_range_run():
    """The next frame (the face a few px on): short range once around the last box finds it again, in full
    range's convention, where the whole search of that frame (two runs here) puts it."""
    close, far = detectors()
    frame = webcam_frame()
    (last, _, _), = face_search.search_faces(close, far, frame, small_faces=False)
    moved = np.roll(frame, (6, -9), axis=(0, 1))
    close_runs, far_runs = close.runs, far.runs
    (box, score, detector), = face_search.search_faces(close, far, moved, small_faces=False, near=[last])
    assert (close.runs - close_runs, far.runs - far_runs) == (1, 0) and detector is far
    assert score >= close.min_confidence
    (whole, _, _), = face_search.search_faces(*detectors(), moved, small_faces=False)
    assert box_overlap(box, whole) > 0.7
    assert box_overlap(box, last) < box_overlap(box, (last[0] - 9, last[1] + 6, last[2], last[3]))  # it moved along


def test_a_face_not_found_again_sends_the_frame_to_the_whole_search():
    close, far = detectors()
    (last, _, _), = face_search.search_faces(close, far, webcam_frame(), small_faces=False)
    empty = np.full((480, 640, 3), 90, np.uint8)
    assert face_search.search_near(close, far, empty, [last]) is None
    close_runs, far_runs = close.runs, far.runs
    assert face_search.search_faces(close, far, empty, small_faces=False, near=[last]) == []
    assert (close.runs - close_runs, far.runs - far_runs) == (2, 1)  # the look, then short and full range whole
    # one of two faces lost: both are searched for again in the whole frame
    assert face_search.search_near(close, far, webcam_frame(), [last, (10, 10, 60, 60)]) is None


def test_following_is_the_live_views_and_has_a_limit():
    close, far = detectors()
    frame = webcam_frame()
    (last, _, _), = face_search.search_faces(close, far, frame, small_faces=False)
    runs = close.runs, far.runs
    assert face_search.search_near(close, far, frame, []) is None
    assert face_search.search_near(close, far, frame, [last] * (face_search.MAX_FOLLOWED + 1)) is None
    assert (close.runs, far.runs) == runs  # neither ran
    files = face_search.search_faces(close, far, frame, near=[last])  # files never follow: their search as before
    assert [(box, score) for box, score, _ in files] == far.detect(frame, tiled=True)


def test_the_following_benchmarks_next_frame_is_the_picture_moved_by_its_step():
    from benchmarks.live_following import FOLLOW_STEP, moved

    frame = np.full((120, 160, 3), 50, np.uint8)
    frame[40:60, 70:90] = 200
    nxt = moved(frame)
    dy, dx = FOLLOW_STEP
    assert (nxt[40 + dy : 60 + dy, 70 + dx : 90 + dx] == 200).all() and nxt.sum() == frame.sum()


def test_the_following_benchmarks_streams_follow_as_the_live_session_does():
    from benchmarks.live_following import STREAM_FPS, stream_readings
    from emotion_core.live import WHOLE_SEARCH_SECONDS

    class Detector:
        @staticmethod
        def crop(frame, box):
            return frame

    class Reader:  # a face at one place in every frame; records what each frame was given to follow
        def __init__(self):
            self.near = []

        def detect_faces(self, frame, small_faces, near):
            self.near.append(list(near))
            return [((10, 10, 50, 50), 0.9, Detector)]

        def face_probabilities(self, crops):
            return np.eye(7)[[3]]

    reader, frames = Reader(), [np.zeros((60, 80, 3), np.uint8)] * 30
    labels, _ = stream_readings(reader, frames, following=True)
    whole = [index for index, near in enumerate(reader.near) if not near]
    period = int(round(WHOLE_SEARCH_SECONDS * STREAM_FPS))
    assert labels == [3] * 30 and whole == list(range(0, 30, period))  # whole once a second, followed between
    reader.near.clear()
    stream_readings(reader, frames, following=False)
    assert not any(reader.near)  # every frame searched whole
