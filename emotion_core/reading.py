"""What a set of scores reads as, said the same way everywhere: an emotion, "uncertain", or nothing.

Every place that shows a result to a person goes through this module: the Image, Audio, Video and
Live tabs, the command line's tables, and the annotated image and video. So there is one threshold
(:data:`UNCERTAIN_BELOW`), one word (:data:`UNCERTAIN`), one phrase for a voice drowned in noise
(:data:`LOUD_NOISE`) and one rule for the face that speaks for a
frame (:func:`main_face`, the largest).

- :func:`reading`: the top emotion; "uncertain" when the top score is under UNCERTAIN_BELOW;
  ``None`` when there are no scores (no face, no speech).
- :func:`caption`: the reading with its score, as drawn on boxes and printed in tables
  ("happy 87%", "uncertain", or ``None``).
- :func:`disagreement`: "face: happy · voice: sad" when both channels are sure and name different
  emotions; :func:`fused_reading` says it instead of a fused reading, which could otherwise turn two
  confident readings into a confident third.

Labels and readings in results and exports: a result's ``label`` (``Face.label``,
``SpeechResult.label``, a video segment's ``face_label`` / ``voice_label`` / ``fused_label``) stays
the raw top emotion whatever its score, so the API and the files keep their meaning. Every
dictionary that carries a ``label`` carries the ``reading`` beside it (``Face.to_dict``,
``SpeechResult.to_dict``; in a video's JSON each channel of a segment and each voice window), and a
video's CSV has a ``*_reading`` column beside each ``*_label`` column. The scores are always kept at
full precision, so whoever wants another threshold can apply it to them. A video's summary (share of
time per emotion, dominant emotion) is a statistic of the scores, not a reading: it counts each
segment's top emotion, sure or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from .labels import top_label

UNCERTAIN_BELOW = 0.40  # a top score under this is shown as "uncertain" (7 classes: chance is 0.14)
UNCERTAIN = "uncertain"
LOUD_NOISE = "speech in loud noise"  # why a voice reads uncertain when the noise term softened it
CHANNEL_SEPARATOR = " · "


class _Boxed(Protocol):
    @property
    def box(self) -> tuple[int, int, int, int]: ...


BoxedT = TypeVar("BoxedT", bound=_Boxed)


def is_uncertain(scores: dict[str, float], threshold: float = UNCERTAIN_BELOW) -> bool:
    """True when there are no scores or the top score is below ``threshold``."""
    return not scores or max(scores.values()) < threshold


def reading(scores: dict[str, float] | None) -> str | None:
    """The word to show for some scores: the top emotion, "uncertain", or ``None`` for no scores."""
    if not scores:
        return None
    return UNCERTAIN if is_uncertain(scores) else top_label(scores)


def caption(scores: dict[str, float] | None) -> str | None:
    """The reading with its score: ``"happy 87%"``, ``"uncertain"``, or ``None`` for no scores."""
    word = reading(scores)
    if word is None or word == UNCERTAIN:
        return word
    return f"{word} {scores[word]:.0%}"


def disagreement(face_scores: dict[str, float] | None, voice_scores: dict[str, float] | None) -> str | None:
    """``"face: happy · voice: sad"`` when both channels read a (sure) emotion and differ; else ``None``.

    An "uncertain" or missing channel does not disagree: the other one speaks alone.
    """
    face, voice = reading(face_scores), reading(voice_scores)
    if face in (None, UNCERTAIN) or voice in (None, UNCERTAIN) or face == voice:
        return None
    return f"face: {face}{CHANNEL_SEPARATOR}voice: {voice}"


def fused_reading(face_scores: dict[str, float] | None, voice_scores: dict[str, float] | None,
                  fused_scores: dict[str, float] | None) -> str | None:
    """What the fused channel says: the :func:`disagreement` when there is one, else the fused :func:`reading`."""
    return disagreement(face_scores, voice_scores) or reading(fused_scores)


def main_face(faces: Sequence[BoxedT]) -> BoxedT | None:
    """The largest face (by box area; the first of equals), the one the face channel follows; ``None`` if none."""
    return max(faces, key=lambda face: face.box[2] * face.box[3]) if faces else None
