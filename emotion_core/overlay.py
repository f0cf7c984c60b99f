"""Drawing results onto frames (kept apart from predicting them)."""

from __future__ import annotations

import numpy as np

from .results import Face

BOX_COLOUR = (0, 220, 90)  # RGB
TEXT_COLOUR = (0, 0, 0)


def draw_faces(frame: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A copy of an RGB uint8 frame with each face's box and "label 87%" drawn on it."""
    import cv2

    canvas = np.ascontiguousarray(frame[:, :, :3]).copy()
    thickness = max(1, round(min(canvas.shape[:2]) / 240))
    font_scale = max(0.4, min(canvas.shape[:2]) / 800)
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(canvas, (x, y), (x + w, y + h), BOX_COLOUR, thickness)
        text = f"{face.label} {face.scores[face.label]:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y - th - base - 2 if y - th - base - 2 >= 0 else y + h
        cv2.rectangle(canvas, (x, top), (x + tw + 4, top + th + base + 2), BOX_COLOUR, -1)
        cv2.putText(canvas, text, (x + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, TEXT_COLOUR,
                    thickness, cv2.LINE_AA)
    return canvas
