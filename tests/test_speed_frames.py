"""The speed benchmark's webcam-like frame: the astronaut's face at the asked share of a 640x480 frame,
found by the live view's search with short range alone (what ``live_frame_close_face`` times)."""

from benchmarks.speed import close_face_frame, close_face_served_by_short_range
from emotion_core import analyze_frame


def test_the_close_face_frame_holds_one_face_of_the_asked_size():
    frame = close_face_frame(0.3)
    assert frame.shape == (480, 640, 3)
    faces = analyze_frame(frame, small_faces=False)
    assert len(faces) == 1
    assert 0.25 * 640 <= faces[0].box[2] <= 0.4 * 640
    assert close_face_served_by_short_range(frame)


def test_a_far_face_is_not_served_by_short_range_alone():
    assert not close_face_served_by_short_range(close_face_frame(0.08))
