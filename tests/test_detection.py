"""The full-range detector: small faces in large frames, the close webcam face, its manifest entry."""

import numpy as np
import pytest

import emotion_core
from emotion_core import EmotionReader, face, face_search
from emotion_core.images import load_image
from emotion_core.weights import WEIGHTS_DIR, file_sha256, model_entry
from harness import FIXTURES

WHEEL = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"


def scaled(image: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def test_six_faces_about_100_px_wide_are_all_found_in_a_1080p_frame():
    portrait = scaled(load_image(FIXTURES / "face.jpg"), 2.0)  # her face box is about 50 px in the photo
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    corners = [(60 + 620 * col, 20 + 540 * row) for row in range(2) for col in range(3)]
    for x, y in corners:
        frame[y : y + 512, x : x + 512] = portrait
    detector, short = face.default_detector(), emotion_core.default_reader().close_detector
    runs = detector.runs, short.runs
    faces = emotion_core.analyze_frame(frame)
    assert short.runs - runs[1] == 0  # a file's frame: full range's search, short range only where it finds none
    tiles = 1 + len(face.search_tiles(1920, 1080, []))  # the whole pass saw none: tiles, and second looks
    assert tiles <= detector.runs - runs[0] <= tiles + face.MAX_LOOKS
    assert len(faces) == 6
    assert all(85 <= f.box[2] <= 130 for f in faces), [f.box for f in faces]
    centres = [(f.box[0] + f.box[2] // 2, f.box[1] + f.box[3] // 2) for f in faces]
    for x, y in corners:  # one face in each portrait
        assert sum(x < cx < x + 512 and y < cy < y + 512 for cx, cy in centres) == 1
    # One run on the whole frame sees these faces at about 10 px: the tiles are what finds them.
    assert len(emotion_core.analyze_frame(frame, small_faces=False)) < 6


def webcam_frame() -> np.ndarray:
    """The astronaut photo enlarged to 480 px (her face about 95 px) in a 640x480 frame."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 80:560] = scaled(load_image(FIXTURES / "face.jpg"), 480 / 256)
    return frame


def test_a_close_webcam_face_gives_the_same_crop_as_short_range_did():
    frame = webcam_frame()
    full = EmotionReader.from_manifest(voice_name="").detector
    short = EmotionReader.from_manifest(voice_name="", detector_name=face.SHORT_RANGE_DETECTOR).detector
    assert full.framing != short.framing  # each detector's boxes have their own calibrated framing
    (full_box, _), = full.detect(frame, tiled=True)
    (short_box, _), = short.detect(frame)
    x_full, y_full, side_full = face.crop_square(full_box, full.framing.scale, full.framing.shift_y)
    x_short, y_short, side_short = face.crop_square(short_box, short.framing.scale, short.framing.shift_y)
    centre = lambda x, y, side: np.array([x + side / 2, y + side / 2])  # noqa: E731
    assert np.abs(centre(x_full, y_full, side_full) - centre(x_short, y_short, side_short)).max() <= 6
    assert abs(side_full - side_short) <= 0.06 * side_short
    faces = emotion_core.analyze_frame(frame)
    assert [f.box for f in faces] == [full_box]


def test_the_full_range_entry_names_its_file_source_and_licence():
    entry = model_entry(face.FULL_RANGE_DETECTOR)
    path = WEIGHTS_DIR / entry["file"]
    assert file_sha256(path) == entry["sha256"] and path.stat().st_size == entry["size_bytes"]
    assert entry["licence"].startswith("Apache-2.0")
    assert WHEEL in entry["source"] and WHEEL_SHA256 in entry["source"]
    assert "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite" in entry["source"]
    assert entry["input_shape"] == [1, 192, 192, 3]
    for name in (face.FULL_RANGE_DETECTOR, face.SHORT_RANGE_DETECTOR):
        framing = face.Framing.from_entry(model_entry(name))
        assert 1.0 <= framing.scale <= 1.7 and -0.2 <= framing.shift_y <= 0.1
    assert face.default_detector().framing == face.Framing.from_entry(entry)


@pytest.mark.parametrize(("zoom", "size"), [(3.0, (640, 480)), (5.0, (1280, 720))])
def test_live_one_large_face_costs_one_short_range_run_and_keeps_full_ranges_box(zoom, size):
    width, height = size  # her face about 150 px in a webcam frame, about 250 px (20 %) in a 720p one
    photo = scaled(load_image(FIXTURES / "face.jpg"), zoom)
    left = (photo.shape[1] - width) // 2
    frame = np.ascontiguousarray(photo[:height, left : left + width])
    full, short = face.default_detector(), emotion_core.default_reader().close_detector
    (full_box, _), = full.detect(frame)  # what full range alone, served before the cascade, boxed
    (short_box, score), = short.detect(frame)
    assert face_search.sees_close_face([(short_box, score)], width, height)
    assert np.abs(np.subtract(short_box, full_box)).max() > 0.06 * full_box[2]  # the raw boxes differ
    for small_faces, cost in ((False, (0, 1)), (True, (1, 0))):  # the live view; files: full range's own box
        runs = full.runs, short.runs
        (found,) = emotion_core.analyze_frame(frame, small_faces=small_faces)
        assert (full.runs - runs[0], short.runs - runs[1]) == cost
        assert np.abs(np.subtract(found.box, full_box)).max() <= 0.06 * full_box[2], (found.box, full_box)
    assert found.box == full_box


def test_a_small_face_is_still_found_through_full_range_and_its_tiles():
    frame = np.full((480, 640, 3), 90, np.uint8)
    portrait = scaled(load_image(FIXTURES / "face.jpg"), 0.5)  # her face about 25 px: 4 % of the width
    frame[200 : 200 + portrait.shape[0], 380 : 380 + portrait.shape[1]] = portrait
    assert emotion_core.analyze_frame(frame, small_faces=False) == []  # the whole pass does not see it
    detector, short = face.default_detector(), emotion_core.default_reader().close_detector
    runs = detector.runs, short.runs
    (found,) = emotion_core.analyze_frame(frame)
    assert short.runs - runs[1] == 0  # full range's tiles found it: short range never ran
    tiles = 1 + len(face.search_tiles(640, 480, []))  # and at most MAX_LOOKS second looks
    assert tiles <= detector.runs - runs[0] <= tiles + face.MAX_LOOKS
    x, y, w, h = found.box
    assert 380 + 35 <= x + w / 2 <= 380 + 95 and 200 + 10 <= y + h / 2 <= 200 + 70 and 18 <= w <= 40


def in_shade(image: np.ndarray, contrast: float) -> np.ndarray:
    """A photo as a darker, flatter light would give it: contrast (and some brightness) scaled by ``contrast``."""
    values = image.astype(np.float32)
    mean = values.mean()
    return np.clip((values - mean) * contrast + mean * (0.6 + 0.4 * contrast), 0, 255).astype(np.uint8)


def test_a_face_in_shade_that_every_tile_sees_only_weakly_is_found_by_a_second_look(monkeypatch):
    import cv2

    photo = cv2.resize(load_image(FIXTURES / "face.jpg"), (230, 230), interpolation=cv2.INTER_AREA)  # face ~45 px
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    contrasts = (1.0, 0.5, 1.0, 0.35, 0.7, 0.25)  # six people, some in shade
    corners = [(i * 320 + 45, 425) for i in range(len(contrasts))]
    for i, ((x, y), contrast) in enumerate(zip(corners, contrasts, strict=True)):
        frame[y : y + 230, x : x + 230] = in_shade(photo if i % 2 == 0 else photo[:, ::-1], contrast)
    detector = face.default_detector()

    def faces_found() -> int:
        boxes = [box for box, _ in detector.detect(frame, tiled=True)]
        return sum(any(x <= bx + bw / 2 <= x + 230 and y <= by + bh / 2 <= y + 140 for bx, by, bw, bh in boxes)
                   for x, y in corners)

    assert faces_found() == 6
    monkeypatch.setattr(face, "MAX_LOOKS", 0)  # the whole pass and the tiles alone
    assert faces_found() == 5


def test_a_second_look_is_centred_on_the_weak_box_inside_the_frame():
    side = round(60 / face.LOOK_FACE_SHARE)
    assert side > face.TILE_MIN_SIDE
    assert face.look_square((600, 300, 60, 60), 1280, 720) == (630 - side // 2, 330 - side // 2, side)
    assert face.look_square((0, 700, 20, 20), 1280, 720) == (0, 720 - face.TILE_MIN_SIDE, face.TILE_MIN_SIDE)
    assert face.look_square((100, 100, 400, 400), 1280, 720)[2] == 720  # never over the shorter side
    weak = [((10, 10, 40, 40), 0.4), ((12, 12, 38, 38), 0.35), ((300, 10, 40, 40), 0.45), ((600, 10, 40, 40), 0.3)]
    found = [((598, 5, 50, 50), 0.9)]
    assert face.unseen(weak, found) == [((300, 10, 40, 40), 0.45), ((10, 10, 40, 40), 0.4)]  # one per face, new ones


def test_tiles_run_only_where_the_whole_pass_found_no_face_or_only_small_ones():
    fine, coarse = face.tile_grid(640, 480), face.tile_grid(640, 480, face.COARSE_SHARE, face.COARSE_OVERLAP)
    assert len(fine) > len(coarse) > 1
    assert face.search_tiles(640, 480, []) == fine + coarse  # nothing seen: both scales
    assert face.search_tiles(640, 480, [(200, 50, 160, 160)]) == []  # a close webcam face
    assert face.search_tiles(640, 480, [(239, 62, 101, 101)]) == coarse  # a face 16 % wide: others may hide
    assert face.search_tiles(640, 480, [(200, 50, 160, 160), (10, 10, 40, 40)]) == fine + coarse  # and a small one
    assert face.search_tiles(1280, 720, [(500, 200, 270, 270)]) == []  # one face of normal size in 720p
    assert face.search_tiles(300, 300, []) == []  # too small for tiles to enlarge its faces


@pytest.mark.parametrize(("size", "count", "coarse"), [((1280, 720), 8, 2), ((1920, 1080), 8, 2), ((640, 480), 12, 4),
                                                       ((720, 1280), 8, 2), ((400, 300), 6, 4), ((300, 300), 0, 0)])
def test_tiles_overlap_and_cover_the_frame(size, count, coarse):
    assert len(face.tile_grid(*size, face.COARSE_SHARE, face.COARSE_OVERLAP)) == coarse
    width, height = size
    tiles = face.tile_grid(width, height)
    assert len(tiles) == count
    covered = np.zeros((height, width), bool)
    for x, y, side in tiles:
        assert 0 <= x and 0 <= y and x + side <= width and y + side <= height
        assert side >= face.TILE_MIN_SIDE and max(size) >= face.TILE_MIN_GAIN * side
        covered[y : y + side, x : x + side] = True
    assert covered.all() or not tiles
    shared = min(round(face.TILE_OVERLAP * max(size)), tiles[0][2] // 2) if tiles else 0
    for axis in (0, 1):  # neighbours share enough for a face cut by one border to be whole in the other
        starts = sorted({tile[axis] for tile in tiles})
        assert all(b - a <= tiles[0][2] - shared for a, b in zip(starts, starts[1:], strict=False))


def test_merging_keeps_the_most_confident_box_of_each_face():
    found = [((10, 10, 50, 50), 0.7), ((12, 8, 48, 52), 0.9), ((20, 20, 20, 20), 0.6), ((200, 10, 50, 50), 0.8)]
    assert face.merge_faces(found) == [((12, 8, 48, 52), 0.9), ((200, 10, 50, 50), 0.8)]


def test_a_face_filling_the_picture_that_full_range_misses_is_found_by_short_range():
    from skimage.data import lfw_subset

    reader = emotion_core.default_reader()
    rescued = []
    for crop in lfw_subset()[:20]:  # 25x25 grey faces, cropped tight: no head or shoulders around them
        image = (np.kron(crop, np.ones((8, 8))) * 255).astype(np.uint8)
        frame = np.pad(np.repeat(image[:, :, None], 3, axis=2), ((100, 100), (100, 100), (0, 0)), mode="edge")
        if not reader.detector.detect(frame, tiled=True):
            found = reader.detect_faces(frame)  # a file's frame: short range's faces with its own framing
            assert all(detector is reader.close_detector for _, _, detector in found)
            # live, a large sure face is served in full range's box convention and framing, another with short range's
            trusted = face_search.sees_close_face(reader.close_detector.detect(frame), 400, 400)
            live = reader.detect_faces(frame, small_faces=False)
            assert all(detector is (reader.detector if trusted else reader.close_detector) for _, _, detector in live)
            rescued += [trusted] if len(found) == 1 else []
    assert len(rescued) >= 3


def test_a_reader_on_candidate_files_takes_a_detector_by_its_manifest_name():
    assert EmotionReader.with_models(detector=face.DEFAULT_DETECTOR).detector is face.default_detector()
    short = EmotionReader.with_models(detector=face.SHORT_RANGE_DETECTOR).detector
    assert short.framing == face.Framing.from_entry(model_entry(face.SHORT_RANGE_DETECTOR))
    with pytest.raises(ValueError, match="not a face detector"):
        EmotionReader.with_models(detector="face_emotion")
