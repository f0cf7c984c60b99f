"""Drawing results onto frames (kept apart from predicting them)."""

from __future__ import annotations

import numpy as np

from .reading import caption
from .results import Face

BOX_COLOUR = (0, 220, 90)  # RGB
TEXT_COLOUR = (0, 0, 0)


def face_caption(face: Face) -> str:
    """A face's caption: its top emotion and score ("happy 87%"), or "uncertain" (emotion_core.reading)."""
    return caption(face.scores) or ""


def draw_faces(frame: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A copy of an RGB uint8 frame with each face's box and caption (:func:`face_caption`) drawn on it."""
    return draw_boxes(frame, [(face.box, face_caption(face)) for face in faces])


def draw_boxes(frame: np.ndarray, boxes: list[tuple[tuple[int, int, int, int], str]]) -> np.ndarray:
    """A copy of an RGB uint8 frame with each ``(x, y, w, h)`` box drawn, its text on a strip above it."""
    import cv2

    canvas = np.ascontiguousarray(frame[:, :, :3]).copy()
    thickness = max(1, round(min(canvas.shape[:2]) / 240))
    font_scale = max(0.4, min(canvas.shape[:2]) / 800)
    for (x, y, w, h), text in boxes:
        cv2.rectangle(canvas, (x, y), (x + w, y + h), BOX_COLOUR, thickness)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y - th - base - 2 if y - th - base - 2 >= 0 else y + h
        cv2.rectangle(canvas, (x, top), (x + tw + 4, top + th + base + 2), BOX_COLOUR, -1)
        cv2.putText(canvas, text, (x + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, TEXT_COLOUR,
                    thickness, cv2.LINE_AA)
    return canvas


CAPTION_BACKGROUND = (0, 0, 0)
CAPTION_TEXT_COLOUR = (255, 255, 255)


def draw_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of an RGB uint8 frame with ``text`` in white on a dark strip along its bottom edge."""
    import cv2

    canvas = np.ascontiguousarray(frame[:, :, :3]).copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 480))
    font_scale = max(0.35, min(height, width) / 900)
    (text_width, text_height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    if text_width > width - 8:  # long captions on small frames: shrink to fit
        font_scale *= (width - 8) / text_width
        (text_width, text_height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    top = max(0, height - text_height - base - 8)
    strip = canvas[top:].astype(np.float32)
    canvas[top:] = (0.35 * strip + 0.65 * np.array(CAPTION_BACKGROUND, dtype=np.float32)).astype(np.uint8)
    cv2.putText(canvas, text, (4, height - base - 4), cv2.FONT_HERSHEY_SIMPLEX, font_scale, CAPTION_TEXT_COLOUR,
                thickness, cv2.LINE_AA)
    return canvas
