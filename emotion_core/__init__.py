"""emotion_core: face and voice emotion recognition with small int8 models.

Public surface (stable)::

    EMOTIONS                      the 7 labels, in model order
    analyze_frame(frame)          RGB uint8 frame -> list[Face] (box, scores, label)
    classify_face(crop)           face crop -> {emotion: probability}
    classify_speech(samples, sr)  mono float32 audio -> {emotion: probability}
    voice_activity(samples, sr)   VoiceActivity (has_speech, speech_seconds)
    analyze_speech(samples, sr)   SpeechResult (activity + scores, empty when no speech)
    fuse(face_scores, voice_scores), smooth(previous, current)
    is_uncertain(scores)          True when the top score is under the one threshold (emotion_core.reading)
    analyze_video(path, fps)      video file -> VideoAnalysis (per-segment face, voice, fused scores)
    summarize(analysis)           VideoSummary (dominant emotion, share of time per emotion, per channel)
    write_annotated_video(path, analysis, out)   an .mp4 with boxes and labels drawn, sound kept
    EmotionReader                 the models as an object: from_manifest(...) / with_models(...), same calls
    default_reader()              the cached EmotionReader of the bundled models that the calls above use

Command line: ``python -m emotion_core FILE`` (image, audio or video; ``--help`` for options).

Importing the package loads nothing; models load on first use or with ``load_models()``.
"""

from .analysis import (
    analyze_frame,
    analyze_speech,
    classify_face,
    classify_speech,
    default_reader,
    load_models,
    voice_activity,
)
from .annotate import write_annotated_video
from .fusion import Fused, fuse, smooth
from .labels import EMOTIONS
from .reader import EmotionReader
from .reading import is_uncertain
from .results import Face, SpeechResult, VoiceActivity
from .timeline import VideoSummary, summarize
from .video import VideoAnalysis, VideoError, VideoSegment, analyze_video

__all__ = [
    "EMOTIONS",
    "EmotionReader",
    "Face",
    "Fused",
    "SpeechResult",
    "VideoAnalysis",
    "VideoError",
    "VideoSegment",
    "VideoSummary",
    "VoiceActivity",
    "analyze_frame",
    "analyze_speech",
    "analyze_video",
    "classify_face",
    "classify_speech",
    "default_reader",
    "fuse",
    "is_uncertain",
    "load_models",
    "smooth",
    "summarize",
    "voice_activity",
    "write_annotated_video",
]
