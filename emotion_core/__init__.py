"""emotion_core: face and voice emotion recognition with small int8 models.

Public surface (stable)::

    EMOTIONS                      the 7 labels, in model order
    analyze_frame(frame)          RGB uint8 frame -> list[Face] (box, scores, label)
    classify_face(crop)           face crop -> {emotion: probability}
    classify_speech(samples, sr)  mono float32 audio -> {emotion: probability}
    voice_activity(samples, sr)   VoiceActivity (has_speech, speech_seconds)
    analyze_speech(samples, sr)   SpeechResult (activity + scores, empty when no speech)
    fuse(face_scores, voice_scores), smooth(previous, current)

Importing the package loads nothing; models load on first use or with ``load_models()``.
"""

from .analysis import (
    analyze_frame,
    analyze_speech,
    classify_face,
    classify_speech,
    load_models,
    voice_activity,
)
from .fusion import Fused, fuse, is_uncertain, smooth
from .labels import EMOTIONS
from .results import Face, SpeechResult, VoiceActivity

__all__ = [
    "EMOTIONS",
    "Face",
    "Fused",
    "SpeechResult",
    "VoiceActivity",
    "analyze_frame",
    "analyze_speech",
    "classify_face",
    "classify_speech",
    "fuse",
    "is_uncertain",
    "load_models",
    "smooth",
    "voice_activity",
]
