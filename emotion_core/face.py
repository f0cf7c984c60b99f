"""Face detection (MediaPipe BlazeFace), crop framing and the face model's input.

The crop taken from a detector box is framed like a FER2013 image (a loose, square crop of the
whole face); training calls :func:`face_model_input` on its 48x48 images, so the live crop and the
training crop meet the model in the same form.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np

FACE_INPUT_SIZE = 48  # FER2013's own resolution: the face model sees 48x48 grey
# Manifest names of the bundled detectors. Full range (faces from about 3 % of the frame width up to
# a face filling a webcam frame) serves every path, live view included: it costs a few ms more per
# frame than short range, which misses faces under about a tenth of the frame width.
FULL_RANGE_DETECTOR = "face_detector_full_range"
SHORT_RANGE_DETECTOR = "face_detector"
DEFAULT_DETECTOR = FULL_RANGE_DETECTOR
# BlazeFace's box runs from the brows to the chin; FER2013 crops also hold forehead and cheeks. Each
# detector's manifest entry gives the framing calibrated for its boxes (training/face_calibrate.py);
# these defaults are short range's, for a detector file outside the manifest.
CROP_SCALE = 1.35  # side of the square crop / the larger side of the detector box
CROP_SHIFT_Y = -0.05  # move the crop centre up by this share of the box height
MIN_DETECTION_CONFIDENCE = 0.5
# BlazeFace's SSD anchors, as MediaPipe's graphs lay them out for each input side: (stride, anchors per
# cell) per feature map, every anchor 1x1 and centred on its cell (short range 896, full range 2304).
ANCHOR_LAYOUTS = {128: ((8, 2), (16, 6)), 192: ((4, 1),)}
BOX_VALUES = 16  # per anchor: box centre, size, then six (x, y) keypoints this package does not use
LOGIT_CLIP = 100.0  # MediaPipe clips the raw scores before the sigmoid
LOGIT_MARGIN = 1e-6  # anchors this close below the threshold's logit still get the exact sigmoid test
NMS_OVERLAP = 0.3  # boxes overlapping more (IoU) are one face, averaged by score (MediaPipe's weighted NMS)
DETECTOR_THREADS = 1  # LiteRT threads per run: a second one costs CPU time (about +25 % under load) for latency
# Full range sees the frame at 192x192, and finds a face reliably only from about 35 px there (a fifth
# of the frame's longer side). Smaller faces are searched for in overlapping square tiles, each
# enlarged to the 192 px input, at two scales: fine tiles TILE_SHARE of the longer side (a face 6 % of
# the width becomes ~35 px) and coarse ones COARSE_SHARE (2x: faces 10-20 % wide, which fine tiles can
# cut in every tile). Neighbours share *_OVERLAP of the longer side, so a face cut by one tile's border
# is whole in the next. Chosen with benchmarks/detection.py (recall against detector runs per frame).
TILE_SHARE, TILE_OVERLAP = 0.33, 0.08
COARSE_SHARE, COARSE_OVERLAP = 0.55, 0.1
TILE_MIN_SIDE = 192  # the full-range input: smaller tiles would only be enlarged
TILE_MIN_GAIN = 1.7  # tiles must enlarge faces at least this much over the whole pass (16:9 coarse: 1.78x)
TILE_MIN_CONFIDENCE = 0.55  # each tile is one more chance of a false face: 0.4-0.5 also finds chests and badges
# Which tiles run (the one rule, :func:`search_tiles`) follows what the whole pass found. Its smallest
# box at least SEEN_WELL_SHARE of the longer side: none (the whole pass found every face 18 % wide in
# the benchmark, so the neighbours of such a face too); a close webcam face, or one face of normal size
# in 720p, costs one detector run. Smallest box at least COARSE_ONLY_SHARE: the coarse tiles (faces
# around that size are the ones it may have missed). No face, or a smaller one: both scales. 0.2
# tiled most 720p frames with a face 20 % wide (boxes run 0.8-1.1x the face); 0.15 lost 15 % faces.
SEEN_WELL_SHARE = 0.16
COARSE_ONLY_SHARE = 0.1
# A second look: full range's score for one face swings with the face's size and place in its input
# (alone and centred, each one size from 24 to 100 px in the input found 72-95 % of the benchmark's portraits
# at 0.5, some size 99 %). So a face that the whole pass or a tile only half sees (a weak box: WEAK_CONFIDENCE
# up to that pass's threshold, no found face on it) is searched again once, in a square centred on it,
# at a tile's threshold. It finds the face beside a found one of its size (where the rule above runs no
# tiles) and the face just under the threshold in every tile; a frame whose faces are all sure, as the
# one close face of a webcam or an interview, has no weak box and pays nothing. 0.25-0.3 is where the
# benchmark's missed faces still scored; 0.5 in the look found no more of them, and more false faces.
WEAK_CONFIDENCE = 0.3
LOOK_FACE_SHARE = 0.25  # weak box side / the look's side: the face about 48 px in full range's 192 px input
MAX_LOOKS = 4  # weak boxes looked at per frame, strongest first: bounds what a busy frame costs
SAME_FACE_OVERLAP = 0.5  # a box covering this share of a more confident box's area (or of its own) is that face
MAX_FRAME_SIDE = 8192  # larger frames are refused rather than run out of memory
BLUR_KERNEL = 5  # side of the input blur's kernel; its weights beyond 2 pixels are below 0.2 % at sigma 0.8


def to_grey(image: np.ndarray) -> np.ndarray:
    """``HxW`` or ``HxWx{1,3,4}`` uint8 -> ``HxW`` uint8 grey (ITU-R 601 luma, as OpenCV and PIL)."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.uint8)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected a grey HxW or colour HxWx3 image, got shape {image.shape}")
    if image.shape[2] == 1:
        return image[:, :, 0].astype(np.uint8)
    import cv2

    # OpenCV's fixed-point luma: a third of the float product's cost, at most one level off it on 0.1 % of pixels
    rgb = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def soften(face: np.ndarray, sigma: float) -> np.ndarray:
    """A ``(48, 48, 1)`` float face blurred by a Gaussian of ``sigma`` pixels; sigma 0 returns it unchanged.

    The face model was trained on faces smoothed by the interpolation of its augmentation (rotation,
    zoom, shift); a slight blur matches sharp served faces to them. Each model's manifest entry gives
    its sigma (``preprocessing.blur_sigma``), chosen on PublicTest at export.
    """
    import cv2

    if sigma <= 0:
        return face
    return cv2.GaussianBlur(face[:, :, 0], (BLUR_KERNEL, BLUR_KERNEL), sigma)[:, :, None]


def face_model_input(crop: np.ndarray, blur_sigma: float = 0.0) -> np.ndarray:
    """A face crop (grey or RGB uint8, any size) -> ``(48, 48, 1)`` float32 grey in [0, 255].

    Shrinking uses area averaging (no aliasing); enlarging uses bilinear interpolation. The served
    model's ``blur_sigma`` (see :func:`soften`) comes from its manifest entry; training passes none.
    """
    import cv2

    grey = to_grey(crop)
    if grey.size == 0:
        raise ValueError("the face crop is empty")
    if grey.shape != (FACE_INPUT_SIZE, FACE_INPUT_SIZE):
        shrinking = min(grey.shape) >= FACE_INPUT_SIZE
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        grey = cv2.resize(grey, (FACE_INPUT_SIZE, FACE_INPUT_SIZE), interpolation=interpolation)
    return soften(grey.astype(np.float32)[:, :, None], blur_sigma)


@dataclass(frozen=True)
class Framing:
    """How a detector's box becomes the FER-style square crop: its side and vertical shift."""

    scale: float = CROP_SCALE  # side of the square crop / the larger side of the detector box
    shift_y: float = CROP_SHIFT_Y  # move the crop centre up (negative) by this share of the box height

    @classmethod
    def from_entry(cls, entry: dict) -> Framing:
        """A detector's manifest ``framing`` (``crop_scale``, ``crop_shift_y``); absent: the defaults."""
        given = entry.get("framing", {})
        return cls(float(given.get("crop_scale", CROP_SCALE)), float(given.get("crop_shift_y", CROP_SHIFT_Y)))


DEFAULT_FRAMING = Framing()


def crop_square(box: tuple[int, int, int, int], scale: float = CROP_SCALE, shift_y: float = CROP_SHIFT_Y):
    """The square crop ``(x0, y0, side)`` around a detector box ``(x, y, w, h)``; may leave the frame."""
    x, y, w, h = box
    side = max(1, int(round(max(w, h) * scale)))
    centre_x = x + w / 2.0
    centre_y = y + h / 2.0 + shift_y * h
    return int(round(centre_x - side / 2.0)), int(round(centre_y - side / 2.0)), side


def crop_face(frame: np.ndarray, box: tuple[int, int, int, int], scale: float = CROP_SCALE,
              shift_y: float = CROP_SHIFT_Y) -> np.ndarray:
    """Cut the FER-style square crop for ``box`` out of ``frame``; parts outside the frame repeat its edge."""
    x0, y0, side = crop_square(box, scale, shift_y)
    height, width = frame.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    if pad:
        widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (frame.ndim - 2)
        frame = np.pad(frame, widths, mode="edge")
        x0, y0 = x0 + pad, y0 + pad
    return frame[y0 : y0 + side, x0 : x0 + side]


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int] | None:
    """Clip ``(x, y, w, h)`` to the frame as ints; ``None`` when nothing of it is inside."""
    x0 = int(max(0, min(width, round(box[0]))))
    y0 = int(max(0, min(height, round(box[1]))))
    x1 = int(max(0, min(width, round(box[0] + box[2]))))
    y1 = int(max(0, min(height, round(box[1] + box[3]))))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return x0, y0, x1 - x0, y1 - y0


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Validate an ``HxWx3`` RGB uint8 frame (grey and RGBA are converted); returns contiguous RGB."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"a frame must be HxWx3 RGB, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"a frame must be uint8, got {frame.dtype}")
    if min(frame.shape[:2]) < 1 or max(frame.shape[:2]) > MAX_FRAME_SIDE:
        raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} is outside 1..{MAX_FRAME_SIDE} pixels")
    return np.ascontiguousarray(frame[:, :, :3])


def anchor_centres(side: int) -> np.ndarray:
    """``(n, 2)`` float32 anchor centres ``(x, y)`` in input pixels of a BlazeFace model with input ``side``."""
    if side not in ANCHOR_LAYOUTS:
        raise ValueError(f"no BlazeFace anchor layout for a {side}x{side} input (known: {sorted(ANCHOR_LAYOUTS)})")
    centres = []
    for stride, per_cell in ANCHOR_LAYOUTS[side]:
        cells = side // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5
        centres.append(np.repeat(grid * stride, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def letterbox(width: int, height: int, side: int) -> tuple[float, float, float]:
    """``(scale, left, top)``: input pixel = (frame pixel - (left, top)) * scale, for a frame fitted whole and
    centred in a ``side`` square input (MediaPipe's keep-aspect-ratio square around the frame)."""
    span = max(width, height)
    return side / span, (width - span) / 2.0, (height - span) / 2.0


def detector_input(frame: np.ndarray, side: int) -> tuple[np.ndarray, tuple[float, float, float]]:
    """An RGB uint8 frame -> the detector's ``(1, side, side, 3)`` float32 input in [-1, 1] and its :func:`letterbox`.

    Sampled as MediaPipe's image-to-tensor step samples (bilinear, the square's corners on the input's
    corners, zeros outside the frame), so scores and boxes are the ones MediaPipe's graph gave; one
    warp does the resize and the padding, with no copy of the full frame.
    """
    import cv2

    scale, left, top = letterbox(frame.shape[1], frame.shape[0], side)
    warp = np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]], dtype=np.float32)
    image = cv2.warpAffine(frame, warp, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
    values = image.astype(np.float32)
    values *= 2.0 / 255.0
    values -= 1.0
    return values[None], (scale, left, top)


def decode_boxes(raw: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
                 min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(k, 4)`` ``(x0, y0, x1, y1)`` in input pixels and scores ``(k,)`` of the anchors scoring at least
    ``min_score``; ``raw`` is the model's ``(n, 16)`` regression, ``logits`` its ``(n,)`` raw scores."""
    clipped = np.clip(logits.astype(np.float64), -LOGIT_CLIP, LOGIT_CLIP)
    # the sigmoid only of the anchors past min_score's logit (a few of thousands), then the exact test on them
    floor = math.log(min_score / (1.0 - min_score)) if 0.0 < min_score < 1.0 else -np.inf
    near = np.flatnonzero(clipped >= floor - LOGIT_MARGIN)
    scores = 1.0 / (1.0 + np.exp(-clipped[near]))
    chosen = scores >= min_score
    keep, scores = near[chosen], scores[chosen]
    centres = raw[keep, :2] + anchors[keep]
    half = raw[keep, 2:4] / 2.0
    return np.concatenate([centres - half, centres + half], axis=1), scores


def weighted_nms(boxes: np.ndarray, scores: np.ndarray,
                 overlap: float = NMS_OVERLAP) -> list[tuple[np.ndarray, float]]:
    """One ``(box, score)`` per face, most confident first: each box with the boxes overlapping it more than
    ``overlap`` (IoU) becomes their score-weighted mean box, with the best score (MediaPipe's weighted NMS)."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    faces = []
    while len(scores):
        group = _iou(boxes[0], boxes) > overlap
        group[0] = True  # a degenerate (empty) box still stands for itself
        weights = scores[group]
        faces.append((weights @ boxes[group] / weights.sum(), float(scores[0])))
        boxes, scores = boxes[~group], scores[~group]
    return faces


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one ``(x0, y0, x1, y1)`` box with each of ``(n, 4)`` boxes."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(high - low, 0.0, None), axis=1)
    area = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / np.maximum(area - inter, 1e-9)


class FaceDetector:
    """A BlazeFace model (short or full range, MediaPipe's ``.tflite``) run through LiteRT, safe to share
    between threads. Preprocessing, anchor decoding and NMS follow MediaPipe's face detection graph.

    ``framing`` is how this model's boxes are cropped for the face model (:meth:`crop`).
    """

    def __init__(self, model_path: str, min_confidence: float = MIN_DETECTION_CONFIDENCE,
                 framing: Framing = DEFAULT_FRAMING):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(model_path), num_threads=DETECTOR_THREADS)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self.side = int(self._input["shape"][1])
        self._anchors = anchor_centres(self.side)
        details = self._interpreter.get_output_details()
        outputs = {int(o["shape"][-1]): o["index"] for o in details}
        if sorted(outputs) != [1, BOX_VALUES] or any(o["shape"][1] != len(self._anchors) for o in details):
            raise ValueError(f"{model_path} is not a BlazeFace detector with {len(self._anchors)} anchors")
        self._boxes, self._scores = outputs[BOX_VALUES], outputs[1]
        self.min_confidence = min_confidence
        self.framing = framing
        self._lock = threading.Lock()
        self._runs = 0

    def detect(self, frame: np.ndarray, tiled: bool = False) -> list[tuple[tuple[int, int, int, int], float]]:
        """Boxes ``(x, y, w, h)`` (ints, inside the frame) and confidences of the faces in an RGB frame.

        ``tiled`` also searches overlapping tiles for small faces where the whole pass may have missed
        some (:func:`search_tiles`), at the cost of one more detector run per tile, and takes a second
        look at each weak box (:func:`look_square`); boxes of the same face are merged (:func:`merge_faces`).
        """
        found, weak = self._detect_once(frame, weak=tiled)
        if not tiled:
            return found
        height, width = frame.shape[:2]
        tiles = search_tiles(width, height, [box for box, _ in found])
        for x, y, side in tiles:
            tile = frame[y : y + side, x : x + side]  # a view: the warp reads it in place
            sure, unsure = self._detect_once(tile, TILE_MIN_CONFIDENCE, weak=True)
            found, weak = found + shifted(sure, x, y), weak + shifted(unsure, x, y)
        looks = unseen(weak, found)
        for box, _ in looks:
            found += self._look_again(frame, box)
        return merge_faces(found) if tiles or looks else found

    @property
    def runs(self) -> int:
        """Detector runs so far, whole frames and tiles together: what frames cost in model calls."""
        return self._runs

    def _look_again(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> list:
        """Faces of a second run on :func:`look_square` around a weak ``box``, kept where centred in it."""
        return self.look_around(frame, box, LOOK_FACE_SHARE, TILE_MIN_SIDE, TILE_MIN_CONFIDENCE)  # as sure as a tile's

    def look_around(self, frame: np.ndarray, box: tuple[int, int, int, int], face_share: float,
                    min_side: int | None = None, min_score: float | None = None) -> list:
        """Faces of one run on the square around ``box`` (:func:`look_square`: the box ``face_share`` of its
        side, at least ``min_side``, default this detector's input), in frame coordinates, kept where centred
        in ``box``; ``min_score`` as :meth:`_detect_once`'s."""
        x, y, side = look_square(box, frame.shape[1], frame.shape[0], face_share, min_side or self.side)
        sure, _ = self._detect_once(frame[y : y + side, x : x + side], min_score)
        bx, by, bw, bh = box
        return [face for face in shifted(sure, x, y)
                if bx <= face[0][0] + face[0][2] / 2 <= bx + bw and by <= face[0][1] + face[0][3] / 2 <= by + bh]

    def _detect_once(self, frame: np.ndarray, min_score: float | None = None,
                     weak: bool = False) -> tuple[list[tuple[tuple[int, int, int, int], float]], list]:
        """The faces of one run scoring at least ``min_score`` (and the detector's own threshold), and with
        ``weak`` the weak ones: those under ``min_score``, and apart (so the faces stay MediaPipe's) the
        anchors from WEAK_CONFIDENCE up to the detector's own threshold."""
        values, (scale, left, top) = detector_input(frame, self.side)
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], values)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._boxes)[0]
            logits = self._interpreter.get_tensor(self._scores)[0, :, 0]
            self._runs += 1
        floor = min(self.min_confidence, WEAK_CONFIDENCE) if weak else self.min_confidence
        boxes, scores = decode_boxes(raw, logits, self._anchors, floor)
        own = scores >= self.min_confidence  # NMS over the detector's own anchors, as MediaPipe's graph
        fit, (height, width) = (scale, left, top), frame.shape[:2]
        faces = in_frame(weighted_nms(boxes[own], scores[own]), fit, width, height)
        unsure = in_frame(weighted_nms(boxes[~own], scores[~own]), fit, width, height) if weak else []
        threshold = max(self.min_confidence, min_score or 0.0)  # a tile's or a look's, never under its own
        sure = [face for face in faces if face[1] >= threshold]
        return sure, (unsure + [face for face in faces if face[1] < threshold]) if weak else []

    def crop(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The face model's square crop of one of this detector's boxes (:func:`crop_face` with its framing)."""
        return crop_face(frame, box, self.framing.scale, self.framing.shift_y)


def in_frame(faces: list[tuple[np.ndarray, float]], fit: tuple[float, float, float], width: int,
             height: int) -> list[tuple[tuple[int, int, int, int], float]]:
    """:func:`weighted_nms`'s corner boxes in input pixels -> ``(x, y, w, h)`` frame boxes (``fit``: the
    :func:`letterbox`)."""
    scale, left, top = fit
    out = []
    for corners, score in faces:
        x0, y0, x1, y1 = corners / scale + (left, top, left, top)
        # whole pixels as MediaPipe gave them: corner and size truncated
        box = clip_box((int(x0), int(y0), int(x1 - x0), int(y1 - y0)), width, height)
        if box is not None:
            out.append((box, score))
    return out


def shifted(faces: list[tuple[tuple[int, int, int, int], float]], x: int, y: int) -> list:
    """Boxes found in a tile at ``(x, y)`` in frame pixels."""
    return [((bx + x, by + y, bw, bh), score) for (bx, by, bw, bh), score in faces]


def look_square(box: tuple[int, int, int, int], width: int, height: int, face_share: float = LOOK_FACE_SHARE,
                min_side: int = TILE_MIN_SIDE) -> tuple[int, int, int]:
    """The square ``(x, y, side)`` of a second look at ``box``: centred on it (moved into the frame), the box
    ``face_share`` of its side, never under ``min_side`` (a detector's input) nor over the frame's shorter side."""
    side = min(max(min_side, int(round(max(box[2], box[3]) / face_share))), width, height)
    x = int(round(box[0] + box[2] / 2 - side / 2))
    y = int(round(box[1] + box[3] / 2 - side / 2))
    return min(max(x, 0), width - side), min(max(y, 0), height - side), side


def unseen(weak: list[tuple[tuple[int, int, int, int], float]],
           found: list[tuple[tuple[int, int, int, int], float]]) -> list[tuple[tuple[int, int, int, int], float]]:
    """The weak boxes worth a second look: one per face, none of a face already found, MAX_LOOKS at most."""
    looks = [(box, score) for box, score in merge_faces(weak)
             if all(_shared_share(box, other) < SAME_FACE_OVERLAP for other, _ in found)]
    return looks[:MAX_LOOKS]


def tile_grid(width: int, height: int, share: float = TILE_SHARE,
              overlap: float = TILE_OVERLAP) -> list[tuple[int, int, int]]:
    """Overlapping square tiles ``(x, y, side)`` covering a ``width`` x ``height`` frame; ``[]`` when
    tiles would not enlarge its faces at least TILE_MIN_GAIN times over the whole pass.

    Each side is ``share`` of the frame's longer side (at least the detector's input; the whole shorter
    side when that is close: a 16:9 frame gets coarse tiles of its height); neighbours share at least
    ``overlap`` of the longer side, spread evenly.
    """
    longer, shorter = max(width, height), min(width, height)
    side = max(TILE_MIN_SIDE, int(round(share * longer)))
    side = shorter if shorter <= 1.35 * side else side
    if longer < TILE_MIN_GAIN * side:
        return []
    shared = min(int(round(overlap * longer)), side // 2)

    def starts(extent: int) -> list[int]:
        count = 1 if extent <= side else math.ceil((extent - shared) / (side - shared))
        return [round(i * (extent - side) / max(count - 1, 1)) for i in range(count)]

    return [(x, y, side) for y in starts(height) for x in starts(width)]


def search_tiles(width: int, height: int, boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int]]:
    """The tiles to search after the whole-frame pass found ``boxes`` in a ``width`` x ``height`` frame
    (the rule at SEEN_WELL_SHARE): none, the coarse ones, or fine and coarse ones."""
    smallest = min((max(w, h) for _, _, w, h in boxes), default=0) / max(width, height)
    if smallest >= SEEN_WELL_SHARE:
        return []
    coarse = tile_grid(width, height, COARSE_SHARE, COARSE_OVERLAP)
    return coarse if smallest >= COARSE_ONLY_SHARE else tile_grid(width, height) + coarse


def merge_faces(found: list[tuple[tuple[int, int, int, int], float]]) -> list[tuple[tuple[int, int, int, int], float]]:
    """Keep the most confident box of each face: a box mostly inside a kept one, or mostly covering it, is dropped."""
    kept: list[tuple[tuple[int, int, int, int], float]] = []
    for box, score in sorted(found, key=lambda item: -item[1]):
        if all(_shared_share(box, other) < SAME_FACE_OVERLAP for other, _ in kept):
            kept.append((box, score))
    return kept


def _shared_share(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """The intersection of two boxes as a share of the smaller one."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0) / max(min(a[2] * a[3], b[2] * b[3]), 1)


@cache
def named_detector(name: str) -> FaceDetector:
    """The bundled detector of manifest entry ``name`` with its framing, created once per name."""
    from .weights import model_entry, resolve_weight

    return FaceDetector(str(resolve_weight(name)), framing=Framing.from_entry(model_entry(name)))


def default_detector() -> FaceDetector:
    """The served detector (BlazeFace full range), created once."""
    return named_detector(DEFAULT_DETECTOR)
