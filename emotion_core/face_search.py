"""The served face search. The live view (``small_faces=False``): short range on the whole frame first,
full range only where short range sees no large face. Files (images, video, command line, batch):
full range and its tiles, short range only where full range finds nothing.

Short range (a 128 px input) costs about a third of full range's run (192 px) and finds faces of a
fifth of the frame or more as reliably; full range, with its tiles (:func:`emotion_core.face.search_tiles`),
is what finds smaller ones. So in the live view a frame where short range sees a large face (the
webcam user) costs one short-range run, and any other frame pays for full range as before.
A face only short range sees (a face photo filling the picture, no head or shoulders around it)
still comes back with short range's own box and framing, as before the cascade.

The price: a small face beside a large sure one is found only if short range sees it. In the
benchmark's mixed frames (faces 8-12 % of the width beside one 20 % wide) 38-54 % of the small
faces were found, against 88-100 % by full range with tiles; running full range on such frames too
would cost a 720p frame with one face its whole gain (full range's run is the larger part of it).
So the cascade serves only the live view, where the face is the user's own, close to the camera, and
a reading is due every 80 ms; files, where people beside and behind a speaker are what is analysed
and one full-range run more per frame is small against decoding, keep full range's search.

The live view also follows its faces: a face of the last frame is looked for again with one short-range
run on a square around its box (:func:`search_near`), where the face is large in the input whatever its
size in the frame, instead of searching the whole frame. A frame whose faces are all found again that
way costs one short-range run per face; where one is not (it moved away, turned, left), the whole search
runs, and the caller runs it anyway at least every so often so that a newcomer is seen
(:data:`emotion_core.live.WHOLE_SEARCH_SECONDS`).
"""

from __future__ import annotations

import numpy as np

from .face import FaceDetector, clip_box

# Short range alone is trusted when it finds a face whose box is at least TRUST_SHARE of the frame's
# longer side with at least TRUST_CONFIDENCE. It finds 98-100 % of the benchmark's faces 20 % of the
# width but 80 % at 15 %, where its boxes already reach 16 %: trusting any such box lost the second
# face of 5-8 % of the benchmark's two- and four-face frames at 12-15 % (the recall target). The lost
# frames' boxes scored 0.5-0.8; at 0.85 none was lost, while large real faces (two photos at 14-40 %
# of the width) score 0.91-0.96. A larger share instead (0.18-0.2) sent a third of the real ones on.
TRUST_SHARE = 0.16
TRUST_CONFIDENCE = 0.85
# A trusted short-range box is moved into full range's box convention, so a face keeps one box (and
# one crop, full range's calibrated framing) whichever model saw it: for the same face, full range's
# box is about 5 % larger and its centre about 7 % of the box height higher (medians over the
# benchmark's portraits and two real photos, faces 14-40 % of the width; benchmarks/detection.py
# reports the map's residual against full range's own boxes).
CLOSE_TO_FAR_SCALE = 1.05
CLOSE_TO_FAR_SHIFT_Y = -0.07
# Following a face: short range on a square FOLLOW_FACE_SHARE of whose side is the last box (about 50 px
# of its 128 px input, where it is surest), at its own threshold: the face was there a frame ago. On the
# benchmark's portraits (faces 12-30 % of 480p and 720p, moved a few px) it found 98-100 % of them again.
# Each followed face costs one run, so beyond MAX_FOLLOWED faces the whole search (one or two runs) is cheaper.
FOLLOW_FACE_SHARE = 0.4
MAX_FOLLOWED = 3

Found = tuple[tuple[int, int, int, int], float, FaceDetector]  # box, confidence, the detector whose framing crops it


def sees_close_face(found: list[tuple[tuple[int, int, int, int], float]], width: int, height: int) -> bool:
    """Whether short range's ``(box, confidence)`` pairs hold a face large (TRUST_SHARE) and sure
    (TRUST_CONFIDENCE) enough for its pass alone to serve."""
    return any(max(box[2], box[3]) >= TRUST_SHARE * max(width, height) and score >= TRUST_CONFIDENCE
               for box, score in found)


def as_far_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int] | None:
    """A short-range box ``(x, y, w, h)`` as full range would box the same face, clipped to the frame."""
    x, y, w, h = box
    side_w, side_h = w * CLOSE_TO_FAR_SCALE, h * CLOSE_TO_FAR_SCALE
    centre_x, centre_y = x + w / 2.0, y + h / 2.0 + CLOSE_TO_FAR_SHIFT_Y * h
    return clip_box((centre_x - side_w / 2.0, centre_y - side_h / 2.0, side_w, side_h), width, height)


def search_near(close: FaceDetector, far: FaceDetector, frame: np.ndarray,
                boxes: list[tuple[int, int, int, int]]) -> list[Found] | None:
    """The faces of the last frame's ``boxes`` (``far``'s convention) found again in ``frame``: ``close`` once
    on the square around each box (:meth:`FaceDetector.look_around`), its surest face centred in the box,
    served in ``far``'s convention as the cascade serves it. ``None`` when any of them is not found again,
    or there are none or more than MAX_FOLLOWED (then the whole frame is searched)."""
    if not boxes or len(boxes) > MAX_FOLLOWED:
        return None
    height, width = frame.shape[:2]
    found = []
    for box in boxes:
        near = close.look_around(frame, box, FOLLOW_FACE_SHARE)
        if not near:
            return None
        close_box, score = max(near, key=lambda item: item[1])
        far_box = as_far_box(close_box, width, height)
        if far_box is None:
            return None
        found.append((far_box, score, far))
    return found


def search_faces(close: FaceDetector, far: FaceDetector, frame: np.ndarray, small_faces: bool = True,
                 near: list[tuple[int, int, int, int]] | None = None) -> list[Found]:
    """Every face in a checked RGB frame as ``(box, confidence, detector)``.

    ``small_faces`` (files): ``far`` (full range) with its tiles; where it finds nothing, ``close``'s
    faces (a face filling the picture) with ``close``'s own boxes. Otherwise (the live view) cheapest
    pass first: ``close`` (short range) on the whole frame; when it sees a large face
    (:func:`sees_close_face`) its faces are served in ``far``'s box convention (:func:`as_far_box`),
    else ``far``'s whole-frame pass runs, and ``close``'s faces serve where that finds none. ``near`` (the live
    view's faces of the last frame, boxes in ``far``'s convention): those faces followed (:func:`search_near`)
    when every one of them is found again, before any whole-frame pass.
    """
    height, width = frame.shape[:2]
    if near and not small_faces:
        followed = search_near(close, far, frame, near)
        if followed is not None:
            return followed
    seen_close = None
    if not small_faces:
        seen_close = close.detect(frame)
        if sees_close_face(seen_close, width, height):
            mapped = [(as_far_box(box, width, height), score) for box, score in seen_close]
            return [(box, score, far) for box, score in mapped if box is not None]
    found = far.detect(frame, tiled=small_faces)
    if found:
        return [(box, score, far) for box, score in found]
    return [(box, score, close) for box, score in (close.detect(frame) if seen_close is None else seen_close)]
