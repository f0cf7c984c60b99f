"""What the live page is sent back for one webcam frame: boxes and captions in the preview's pixels, and the readings.

The browser sends a small copy of the frame it shows and draws the answer over its own live video,
so a reading is a few hundred bytes instead of an annotated frame. Boxes found on the small copy
are scaled to the preview's size; captions and readings come from :mod:`emotion_core.reading`, as
on every annotated image, so the overlay says what an annotated snapshot would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .live import LiveState
from .overlay import face_caption
from .reading import caption, disagreement


@dataclass(frozen=True)
class OverlayBox:
    """One face on the preview: its ``(x, y, w, h)`` box in preview pixels and its caption ("happy 87%")."""

    box: tuple[int, int, int, int]
    caption: str


@dataclass(frozen=True)
class FrameReading:
    """The answer to frame ``number``: faces to draw and what each channel reads as (``None``: nothing to read).

    ``dropped``: the frame was not analysed (a newer one of the session came first, or the session is
    stopped); the page only learns that the frame is no longer in flight.
    """

    number: int
    width: int = 0
    height: int = 0
    boxes: tuple[OverlayBox, ...] = ()
    face: str | None = None
    voice: str | None = None
    fused: str | None = None
    dropped: bool = False

    def to_dict(self) -> dict:
        if self.dropped:
            return {"number": self.number, "dropped": True}
        return {"number": self.number, "size": [self.width, self.height],
                "boxes": [[*b.box, b.caption] for b in self.boxes],
                "face": self.face, "voice": self.voice, "fused": self.fused}

    def to_json(self) -> str:
        """Compact JSON (no spaces): what goes over the network."""
        return json.dumps(self.to_dict(), separators=(",", ":"))


@dataclass(frozen=True)
class ChannelReadings:
    """What the face, the voice and both together read as now (captions; ``None``: nothing to read):
    the answer to a microphone chunk, for the readings under the preview."""

    face: str | None
    voice: str | None
    fused: str | None

    @classmethod
    def of(cls, state: LiveState) -> ChannelReadings:
        return cls(*channel_captions(state))

    def to_json(self) -> str:
        return json.dumps({"face": self.face, "voice": self.voice, "fused": self.fused}, separators=(",", ":"))

    @staticmethod
    def dropped_json() -> str:
        """The answer to a chunk that was not taken (no such session, stopped, or not a chunk)."""
        return '{"dropped":true}'


def channel_captions(state: LiveState) -> tuple[str | None, str | None, str | None]:
    """The face, voice and fused captions of a session state ("happy 87%", "uncertain", or ``None``);
    the fused one says so when face and voice disagree."""
    return (caption(state.face_scores), caption(state.voice_scores),
            disagreement(state.face_scores, state.voice_scores) or caption(state.fused_scores))


def scale_box(box: tuple[int, int, int, int], sx: float, sy: float) -> tuple[int, int, int, int]:
    """An ``(x, y, w, h)`` box from the sent frame's pixels to the preview's (``sx``, ``sy``: preview / sent)."""
    x, y, w, h = box
    return round(x * sx), round(y * sy), round(w * sx), round(h * sy)


def frame_reading(state: LiveState, number: int, frame_size: tuple[int, int],
                  preview_size: tuple[int, int]) -> FrameReading:
    """The reading of frame ``number`` from the session state after it; sizes are ``(width, height)``.

    ``frame_size`` is the frame that was analysed, ``preview_size`` the video the page shows it on.
    """
    sx, sy = preview_size[0] / frame_size[0], preview_size[1] / frame_size[1]
    boxes = tuple(OverlayBox(scale_box(face.box, sx, sy), face_caption(face)) for face in state.faces)
    return FrameReading(number, preview_size[0], preview_size[1], boxes, *channel_captions(state))
