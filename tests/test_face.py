"""Face detection, crop framing and the face model on real photos."""

import numpy as np
import pytest

import emotion_core
from emotion_core import EMOTIONS, face
from emotion_core.images import load_image
from harness import FIXTURES


def test_the_astronaut_has_one_face_inside_the_frame(face_photo):
    faces = emotion_core.analyze_frame(face_photo)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert all(isinstance(v, int) for v in faces[0].box)
    assert 0 <= x and 0 <= y and x + w <= face_photo.shape[1] and y + h <= face_photo.shape[0]
    # Her face is in the upper middle of the photo (about x 0.45-0.65, y 0.13-0.33 of the frame).
    centre_x, centre_y = (x + w / 2) / face_photo.shape[1], (y + h / 2) / face_photo.shape[0]
    assert 0.4 < centre_x < 0.7 and 0.1 < centre_y < 0.4
    assert set(faces[0].scores) == set(EMOTIONS)
    assert sum(faces[0].scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert faces[0].label in EMOTIONS


def test_a_photo_without_faces_gives_an_empty_list():
    assert emotion_core.analyze_frame(load_image(FIXTURES / "no_face.jpg")) == []


def test_several_faces_give_several_boxes(face_photo):
    from PIL import Image

    # BlazeFace short range is made for webcam distance: each head fills about half the frame height.
    head = np.asarray(Image.fromarray(face_photo[0:160, 60:220]).resize((300, 300)))
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[100:400, 10:310] = head
    frame[100:400, 330:630] = head[:, ::-1]
    faces = sorted(emotion_core.analyze_frame(frame), key=lambda f: f.box[0])
    assert len(faces) == 2
    assert faces[0].box[0] + faces[0].box[2] <= 320 <= faces[1].box[0]


def test_classify_face_takes_grey_and_colour_crops_of_any_size(face_photo):
    crop = face_photo[30:110, 100:180]
    for image in (crop, face.to_grey(crop), face.to_grey(crop)[:20, :20], np.zeros((48, 48), np.uint8)):
        scores = emotion_core.classify_face(image)
        assert tuple(scores) == EMOTIONS
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_soften_blurs_without_moving_brightness_and_sigma_zero_keeps_the_face():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (48, 48, 1)).astype(np.float32)
    blurred = face.soften(image, 0.7)
    assert blurred.shape == image.shape and blurred.dtype == np.float32
    assert blurred.std() < 0.8 * image.std()  # noise is smoothed
    assert abs(blurred.mean() - image.mean()) < 1.0
    assert face.soften(image, 0.0) is image
    assert np.array_equal(face.face_model_input(image[:, :, 0].astype(np.uint8), 0.7),
                          face.soften(face.face_model_input(image[:, :, 0].astype(np.uint8)), 0.7))


def test_classify_face_blurs_as_the_manifest_says(face_photo):
    from emotion_core.analysis import FACE_MODEL, face_blur_sigma, load_classifier
    from emotion_core.weights import model_entry

    sigma = face_blur_sigma()
    assert sigma == model_entry(FACE_MODEL)["preprocessing"].get("blur_sigma", 0.0)
    crop = face.to_grey(face_photo[30:110, 100:180])
    served = np.array(list(emotion_core.classify_face(crop).values()))
    runner = load_classifier(FACE_MODEL)
    scores = lambda image: runner.predict(image) / runner.predict(image).sum()  # noqa: E731 (as scores_to_dict)
    np.testing.assert_allclose(served, scores(face.face_model_input(crop, sigma)), atol=1e-6)
    if sigma > 0:  # the blur is really applied: without it the scores differ
        assert not np.allclose(served, scores(face.face_model_input(crop)), atol=1e-6)


def test_bad_crops_and_frames_are_refused():
    with pytest.raises(ValueError):
        emotion_core.classify_face(np.zeros((48, 48), np.float32))
    with pytest.raises(ValueError):
        emotion_core.classify_face(np.zeros((0, 0), np.uint8))
    with pytest.raises(ValueError):
        emotion_core.analyze_frame(np.zeros((10, 10, 5), np.uint8))


def test_crop_near_the_edge_is_padded_square():
    frame = np.arange(100 * 100 * 3, dtype=np.uint8).reshape(100, 100, 3)
    crop = face.crop_face(frame, (0, 0, 40, 40))
    assert crop.shape[0] == crop.shape[1] == round(40 * face.CROP_SCALE)


def test_lfw_faces_are_found_after_upscaling():
    from skimage.data import lfw_subset

    crops = lfw_subset()[:20]  # 25x25 grey face crops in [0, 1]
    found = 0
    for crop in crops:
        image = (np.kron(crop, np.ones((8, 8))) * 255).astype(np.uint8)
        frame = np.pad(np.repeat(image[:, :, None], 3, axis=2), ((100, 100), (100, 100), (0, 0)), mode="edge")
        found += len(emotion_core.analyze_frame(frame)) >= 1
    assert found >= 15
