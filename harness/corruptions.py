"""Webcam-like corruptions of a grey face crop, at three strengths each, seeded and pure.

A webcam face is darker or brighter than a FER2013 face, noisier, blurred by motion or focus,
JPEG-compressed, smaller, partly hidden (a hand, glasses), tilted, and framed by a detector rather
than by hand. Each function here takes a ``(h, w)`` uint8 grey face, a strength in ``STRENGTHS``
and a ``numpy.random.Generator``, and returns a new ``(h, w)`` uint8 face. With the same seed, a
stronger setting changes the face more: the random draws (direction, position, noise pattern) are
the same at every strength, only the magnitude grows.

The magnitudes are stated for a 48x48 face (FER2013's size); sizes in pixels scale with the side.
Used by ``benchmarks/face_corruptions.py`` and, as an option, by ``training/face_train.py``'s
augmentation.

    from harness.corruptions import corrupt
    noisy = corrupt(face, "noise", strength=2, seed=7)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

STRENGTHS = (1, 2, 3)
REFERENCE_SIDE = 48  # pixel sizes below are for this side and scale with the face
LOW_LIGHT_GAIN = (0.55, 0.35, 0.2)  # exposure left; the dark face is quantised to uint8 (lost detail)
LOW_LIGHT_GAMMA = (1.15, 1.3, 1.5)  # cheap sensors crush the shadows further
BRIGHT_GAMMA = (0.7, 0.5, 0.35)  # auto-exposure gone bright: washed-out skin, flat contrast
NOISE_SIGMA = (8.0, 16.0, 28.0)  # sensor noise, grey levels (read noise plus shot noise at low light)
MOTION_LENGTH = (3, 5, 8)  # motion blur streak length, px
DEFOCUS_RADIUS = (1.0, 1.6, 2.4)  # defocus disk radius, px
JPEG_QUALITY = (40, 30, 20)
DOWNSCALE_SIDE = (36, 30, 24)  # face side the camera delivered, px; bilinear back up to full size
HAND_AREA = (0.10, 0.18, 0.28)  # share of the face a hand-like blob covers
GLASSES_HEIGHT = (0.10, 0.15, 0.20)  # height of the dark band over the eyes, share of the side
GLASSES_DARKNESS = (0.55, 0.7, 0.85)  # how much of the light the lenses block
ROTATION_DEGREES = (7.0, 14.0, 20.0)
JITTER_SHIFT = (0.04, 0.08, 0.12)  # detector box offset, share of the side, in x and y
JITTER_SCALE = (0.06, 0.12, 0.18)  # detector box size error, share of the side


def _level(table: tuple, strength: int):
    """The entry of ``table`` for ``strength`` (1, 2 or 3); anything else is an error."""
    if strength not in STRENGTHS:
        raise ValueError(f"strength must be one of {STRENGTHS}, got {strength!r}")
    return table[strength - 1]


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _px(image: np.ndarray, size: float) -> float:
    """A size in pixels of a 48 px face, for this face's side."""
    return size * min(image.shape[:2]) / REFERENCE_SIDE


def low_light(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """Under-exposed: gain below 1 and a gamma above 1, quantised back to uint8."""
    scaled = 255.0 * (image.astype(np.float32) / 255.0) ** _level(LOW_LIGHT_GAMMA, strength)
    return _to_uint8(scaled * _level(LOW_LIGHT_GAIN, strength))


def gamma(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """Over-exposed: a gamma below 1 lifts the shadows and flattens the face."""
    return _to_uint8(255.0 * (image.astype(np.float32) / 255.0) ** _level(BRIGHT_GAMMA, strength))


def noise(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian sensor noise; the same noise pattern at every strength, scaled."""
    pattern = rng.standard_normal(image.shape).astype(np.float32)
    return _to_uint8(image.astype(np.float32) + _level(NOISE_SIGMA, strength) * pattern)


def _filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.filter2D(image, -1, (kernel / kernel.sum()).astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


def motion_blur(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """A straight streak in a random direction (the head or camera moving during the exposure)."""
    import cv2

    length = max(2.0, _px(image, _level(MOTION_LENGTH, strength)))
    size = int(np.ceil(length)) | 1
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1.0
    angle = float(rng.uniform(0.0, 180.0))
    rotation = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (size, size), flags=cv2.INTER_LINEAR)
    return _filter(image, kernel)


def defocus_blur(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """A disk kernel (an out-of-focus lens), anti-aliased at its rim."""
    radius = _px(image, _level(DEFOCUS_RADIUS, strength))
    half = int(np.ceil(radius))
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    kernel = np.clip(radius + 0.5 - np.hypot(x, y), 0.0, 1.0).astype(np.float32)
    return _filter(image, kernel)


def jpeg(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """Encoded and decoded as JPEG at quality 40, 30 or 20."""
    import cv2

    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _level(JPEG_QUALITY, strength)])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode the face")
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)


def downscale(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """Shrunk to 36, 30 or 24 px (a small, far face) and brought back with bilinear interpolation."""
    import cv2

    height, width = image.shape[:2]
    side = max(2, round(_px(image, _level(DOWNSCALE_SIDE, strength))))
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def occlusion_hand(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """A soft-edged, evenly lit, skin-toned ellipse over the lower face (a hand at the chin or mouth)."""
    import cv2

    height, width = image.shape[:2]
    aspect, angle = rng.uniform(1.2, 1.8), rng.uniform(-40.0, 40.0)
    centre = (rng.uniform(0.25, 0.75) * width, rng.uniform(0.6, 0.9) * height)
    tone, shade = rng.uniform(100.0, 200.0), rng.uniform(-25.0, 25.0)
    minor = np.sqrt(_level(HAND_AREA, strength) * height * width / (np.pi * aspect))
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, (centre, (2 * minor * aspect, 2 * minor), angle), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), _px(image, 0.8))
    hand = tone + shade * np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]  # light from above
    return _to_uint8((1.0 - mask) * image + mask * hand)


def occlusion_glasses(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """Dark lenses and a bridge across the eye line: a sunglasses band."""
    import cv2

    height, width = image.shape[:2]
    band = _level(GLASSES_HEIGHT, strength) * height
    eye_y = rng.uniform(0.33, 0.43) * height
    mask = np.zeros((height, width), np.float32)
    for side in (-1, 1):
        centre = (width * (0.5 + side * 0.19), eye_y)
        cv2.ellipse(mask, (centre, (0.34 * width, band), 0.0), 1.0, -1)
    cv2.line(mask, (round(0.4 * width), round(eye_y)), (round(0.6 * width), round(eye_y)), 1.0,
             max(1, round(_px(image, 1.0))))
    mask = cv2.GaussianBlur(mask, (0, 0), _px(image, 0.5))
    return _to_uint8(image * (1.0 - _level(GLASSES_DARKNESS, strength) * mask))


def _warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Affine warp, the border filled by reflection (a crop from a larger frame has content there)."""
    import cv2

    height, width = image.shape[:2]
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def rotation(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """An in-plane head tilt of 7, 14 or 20 degrees, either way."""
    import cv2

    height, width = image.shape[:2]
    angle = _level(ROTATION_DEGREES, strength) * rng.choice((-1.0, 1.0))
    return _warp(image, cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0))


def crop_jitter(image: np.ndarray, strength: int, rng: np.random.Generator) -> np.ndarray:
    """The crop a detector box gives: moved by up to 4-12 % of the side, and 6-18 % too large or small."""
    height, width = image.shape[:2]
    direction = rng.standard_normal(2)
    shift = _level(JITTER_SHIFT, strength) * direction / max(np.abs(direction).max(), 1e-6)
    zoom = 1.0 + _level(JITTER_SCALE, strength) * rng.choice((-1.0, 1.0))
    # Output pixel p samples the source at centre + zoom * (p - centre) + shift * side.
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    offset = centre - centre / zoom - shift * np.array([width, height]) / zoom
    matrix = np.array([[1 / zoom, 0.0, offset[0]], [0.0, 1 / zoom, offset[1]]])
    return _warp(image, matrix)


Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
CORRUPTIONS: dict[str, Corruption] = {
    "low_light": low_light, "gamma": gamma, "noise": noise, "motion_blur": motion_blur,
    "defocus_blur": defocus_blur, "jpeg": jpeg, "downscale": downscale, "occlusion_hand": occlusion_hand,
    "occlusion_glasses": occlusion_glasses, "rotation": rotation, "crop_jitter": crop_jitter,
}


def corrupt(image: np.ndarray, name: str, strength: int, seed: int) -> np.ndarray:
    """``image`` (``(h, w)`` or ``(h, w, 1)`` uint8 grey) corrupted by ``CORRUPTIONS[name]``; same shape.

    The same ``seed`` gives the same face at every call, and the same random draws at every strength.
    """
    if name not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 1):
        raise ValueError(f"expected a (h, w) or (h, w, 1) uint8 grey face, got {image.shape} {image.dtype}")
    out = CORRUPTIONS[name](np.ascontiguousarray(image.reshape(image.shape[:2])), strength,
                            np.random.default_rng(seed))
    return out.reshape(image.shape)
