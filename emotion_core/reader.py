"""The model object: a face model, a voice model and a face detector, with the calls that use them.

An :class:`EmotionReader` is built from a weights manifest (:meth:`EmotionReader.from_manifest`) or
from candidate model files (:meth:`EmotionReader.with_models`, what training scores its exports
with). Either way each classifier is checked when it loads: its labels, input shape and, for voice,
the feature parameters it was trained on must match the runtime, so a mismatched file fails at
once. A voice file that the manifest serves carries its calibration (the entry's ``calibration``),
applied to every voice window before anyone sees it, whichever way the reader was built. The
module-level calls in :mod:`emotion_core.analysis` use one cached default reader.

A reader holds no per-call state: one reader serves any number of threads at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from . import audio, face, face_search, speech, windows
from .calibration import UNCALIBRATED, ChannelCalibration
from .classifier import LiteClassifier
from .fusion import HAND_SET, Fused, FusionSettings, fuse
from .labels import EMOTIONS, NUM_EMOTIONS, check_labels, scores_to_dict
from .results import Face, SpeechResult, VoiceActivity, mostly_in_loud_noise
from .weights import WEIGHTS_DIR, file_sha256, load_manifest, resolve_weight, verify

FACE_MODEL = "face_emotion"  # manifest names of the served models
VOICE_MODEL = "voice_emotion"
DETECTOR_MODEL = face.DEFAULT_DETECTOR  # full range: faces from about 6 % of the frame width to a close webcam face
# Short range finds the faces full range, trained on whole scenes, often misses (a face filling the
# picture without a head or shoulders around it: a cropped face photo), and runs first in the live view,
# where it alone serves a large face (:mod:`emotion_core.face_search`).
CLOSE_DETECTOR_MODEL = face.SHORT_RANGE_DETECTOR
# The feature parameters a voice model's manifest entry must state, as the runtime computes them.
VOICE_FEATURES = {"sample_rate": audio.SAMPLE_RATE, "n_fft": audio.N_FFT, "hop_length": audio.HOP_LENGTH,
                  "win_length": audio.WIN_LENGTH, "n_mels": audio.N_MELS}


def check_voice_features(features: dict) -> None:
    """Raise unless a voice model's manifest ``features`` match the runtime's (:data:`VOICE_FEATURES`)."""
    wrong = {k: (features.get(k), v) for k, v in VOICE_FEATURES.items() if features.get(k) != v}
    if wrong:  # the model is only valid for the features it was trained on
        raise ValueError(f"voice model was trained with other features (manifest, runtime): {wrong}")


def checked_classifier(path: str | Path, entry: dict, voice: bool = False) -> LiteClassifier:
    """The LiteRT runner of ``path``, checked against its manifest ``entry``: labels, input shape, features."""
    check_labels(entry["labels"])
    runner = LiteClassifier(path)
    if list(runner.input_shape) != list(entry["input_shape"][1:]):
        raise ValueError(f"{Path(path).name}: model input {runner.input_shape} does not match "
                         f"the manifest {entry['input_shape']}")
    if voice:
        check_voice_features(entry.get("features", {}))
    return runner


def blur_sigma_of(entry: dict) -> float:
    """A face model's input blur from its manifest entry (``preprocessing.blur_sigma``; 0 = none)."""
    return float(entry.get("preprocessing", {}).get("blur_sigma", 0.0))


def voice_normalisation_of(entry: dict) -> str:
    """A voice model's per-window normalisation from its manifest entry (``preprocessing.normalisation``;
    absent = :data:`~emotion_core.audio.DEFAULT_NORMALISATION`, what every earlier model was trained with)."""
    return audio.known_normalisation(entry.get("preprocessing", {}).get("normalisation", audio.DEFAULT_NORMALISATION))


def calibration_of_file(path: str | Path, manifest: dict) -> ChannelCalibration:
    """The calibration ``manifest`` gives the model file with this content (by sha256); none for any other
    file: a calibration is fitted on one network's outputs and means nothing for another's."""
    digest = file_sha256(path)
    entries = [entry for entry in manifest["models"].values() if entry.get("sha256") == digest]
    return ChannelCalibration.from_entry(entries[0]) if entries else UNCALIBRATED


def prepare_speech(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Any mono/stereo int or float PCM at 8-96 kHz -> 16 kHz mono float32 in [-1, 1]."""
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError, OverflowError):  # NaN, infinity, None
        raise ValueError(f"the sample rate must be a whole number of Hz, got {sample_rate!r}") from None
    return audio.resample(audio.to_mono_float(samples), rate)


def pooling_mask(voiced: np.ndarray) -> np.ndarray:
    """Which of a clip's windows its scores average: those with speech, or all when none has speech."""
    voiced = np.asarray(voiced, dtype=bool)
    return voiced if voiced.any() else np.ones_like(voiced)


def pooled(probabilities: np.ndarray, voiced: np.ndarray) -> dict[str, float]:
    """Mean of the windows :func:`pooling_mask` picks, as ``{emotion: p}``."""
    return scores_to_dict(probabilities[pooling_mask(voiced)].mean(axis=0))


def _activity(mono: np.ndarray) -> VoiceActivity:
    return VoiceActivity(speech.speech_seconds(mono), mono.size / audio.SAMPLE_RATE)


def _entry(manifest: dict, name: str) -> dict:
    models = manifest["models"]
    if name not in models:
        raise KeyError(f"no model named {name!r} in the weights manifest; known: {', '.join(sorted(models))}")
    return models[name]


def _detector_from(path: Path, framing: face.Framing = face.DEFAULT_FRAMING) -> Callable[[], face.FaceDetector]:
    return lambda: face.FaceDetector(str(path), framing=framing)


def _detector_named_or_file(manifest: dict, detector: str | Path | None) -> Callable[[], face.FaceDetector]:
    if detector is None:
        return face.default_detector
    if isinstance(detector, str) and detector in manifest["models"]:
        if not _entry(manifest, detector).get("kind", "").startswith("face detector"):
            raise ValueError(f"manifest entry {detector!r} is not a face detector")
        return lambda: face.named_detector(detector)
    return _detector_from(Path(detector))


class EmotionReader:
    """Face and voice emotion models with the calls of :mod:`emotion_core` (``analyze_frame``, ...).

    Build one with :meth:`from_manifest` or :meth:`with_models`; either may leave a channel out
    (its calls then raise). The face detectors load on first use (only the calls that need them pay for it);
    each one's faces are cropped with the framing calibrated for its boxes (manifest ``framing``).
    """

    def __init__(self, face_model: LiteClassifier | None, voice_model: LiteClassifier | None,
                 detector: Callable[[], face.FaceDetector] | None = face.default_detector, *,
                 close_detector: Callable[[], face.FaceDetector] | None = None,
                 face_blur_sigma: float = 0.0, fusion: FusionSettings = HAND_SET,
                 voice_normalisation: str = audio.DEFAULT_NORMALISATION,
                 voice_calibration: ChannelCalibration = UNCALIBRATED) -> None:
        """Runners already checked by :func:`checked_classifier`; ``detector`` makes the detector once,
        ``close_detector`` the second one (:func:`emotion_core.face_search.search_faces`; none: ``detector``
        alone);
        ``voice_normalisation`` and ``voice_calibration`` are the voice model's (its manifest entry's
        ``preprocessing.normalisation`` and ``calibration``)."""
        self.face_model = face_model
        self.voice_model = voice_model
        self.voice_normalisation = audio.known_normalisation(voice_normalisation)
        self.voice_calibration = voice_calibration
        self.face_blur_sigma = float(face_blur_sigma)
        self.fusion = fusion
        self._makers = {"detector": detector, "close_detector": close_detector}
        self._made: dict[str, face.FaceDetector] = {}
        self._detector_lock = threading.Lock()

    @classmethod
    def from_manifest(cls, manifest: str | Path | dict | None = None, weights_dir: str | Path | None = None, *,
                      face_name: str = FACE_MODEL, voice_name: str = VOICE_MODEL,
                      detector_name: str = DETECTOR_MODEL, close_name: str = CLOSE_DETECTOR_MODEL) -> EmotionReader:
        """The reader of a manifest's models (a ``manifest.json`` path or its parsed dict; default: bundled).

        Files come from ``weights_dir`` (default: the manifest file's folder, the bundled folder for a
        dict) and must match their sha256; the bundled manifest without ``weights_dir`` resolves its
        files like the app does (the Hub when configured, else bundled). ``*_name`` pick other entries,
        e.g. ``face_name="face_emotion_float"`` or ``detector_name="face_detector"`` (short range); an
        empty name leaves that model out. A detector comes with its entry's crop ``framing``;
        ``close_name`` is the second detector of :func:`emotion_core.face_search.search_faces` (none when the
        names are the same or either is empty).
        """
        bundled = manifest is None and weights_dir is None
        if isinstance(manifest, str | Path):
            weights_dir = Path(manifest).parent if weights_dir is None else weights_dir
            manifest = json.loads(Path(manifest).read_text())
        manifest = load_manifest() if manifest is None else manifest
        folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR

        def path_of(name: str) -> Path:
            entry = _entry(manifest, name)
            return resolve_weight(name) if bundled else verify(folder / entry["file"], entry["sha256"])

        face_entry = _entry(manifest, face_name) if face_name else {}
        face_model = checked_classifier(path_of(face_name), face_entry) if face_name else None
        voice_entry = _entry(manifest, voice_name) if voice_name else {}
        voice_model = checked_classifier(path_of(voice_name), voice_entry, voice=True) if voice_name else None
        def detector_of(name: str) -> Callable[[], face.FaceDetector] | None:
            if not name:
                return None
            if bundled:
                return lambda: face.named_detector(name)  # shared with every bundled user
            return _detector_from(path_of(name), face.Framing.from_entry(_entry(manifest, name)))

        close_name = close_name if detector_name and close_name != detector_name else ""
        return cls(face_model, voice_model, detector_of(detector_name), close_detector=detector_of(close_name),
                   face_blur_sigma=blur_sigma_of(face_entry), fusion=FusionSettings.from_manifest(manifest),
                   voice_normalisation=voice_normalisation_of(voice_entry),
                   voice_calibration=ChannelCalibration.from_entry(voice_entry))

    @classmethod
    def with_models(cls, face_model: str | Path | None = None, voice_model: str | Path | None = None,
                    detector: str | Path | None = None, *, face_blur_sigma: float | None = None,
                    voice_normalisation: str | None = None) -> EmotionReader:
        """A reader on candidate model files (e.g. a training export), served exactly as the app serves its own.

        Each file is checked against the bundled manifest's entry for its channel (labels, input shape,
        voice features); no checksum, as a candidate is not in the manifest yet. ``face_blur_sigma``
        defaults to the served face model's. A channel without a file is left out; the detectors are the
        served ones unless ``detector`` is a manifest name (a bundled detector with its framing, alone)
        or a file (cropped with the default framing, alone). ``voice_normalisation`` is the candidate
        voice model's (default: the served voice model's). A voice file the bundled manifest serves reads
        with its calibration, so the served file reads as served; any other file reads uncalibrated.
        """
        manifest = load_manifest()
        face_entry = _entry(manifest, FACE_MODEL)
        return cls(
            checked_classifier(face_model, face_entry) if face_model is not None else None,
            checked_classifier(voice_model, _entry(manifest, VOICE_MODEL), voice=True)
            if voice_model is not None else None,
            _detector_named_or_file(manifest, detector),
            close_detector=(lambda: face.named_detector(CLOSE_DETECTOR_MODEL)) if detector is None else None,
            face_blur_sigma=blur_sigma_of(face_entry) if face_blur_sigma is None else face_blur_sigma,
            fusion=FusionSettings.from_manifest(manifest),
            voice_normalisation=voice_normalisation or voice_normalisation_of(_entry(manifest, VOICE_MODEL)),
            voice_calibration=calibration_of_file(voice_model, manifest) if voice_model is not None else UNCALIBRATED)

    def __repr__(self) -> str:
        name = lambda runner: runner.path.name if runner is not None else None  # noqa: E731
        return (f"EmotionReader(face={name(self.face_model)}, voice={name(self.voice_model)}, "
                f"face_blur_sigma={self.face_blur_sigma:g}, voice_calibration={self.voice_calibration}, "
                f"fusion={self.fusion})")

    def _made_detector(self, role: str) -> face.FaceDetector:
        """The detector of ``role``, created on first use (once, whichever thread gets here first)."""
        if role not in self._made:
            if self._makers[role] is None:
                raise RuntimeError("this reader has no face detector: build it with one to analyse frames")
            with self._detector_lock:
                if role not in self._made:
                    self._made[role] = self._makers[role]()
        return self._made[role]

    @property
    def detector(self) -> face.FaceDetector:
        """The face detector, created on first use."""
        return self._made_detector("detector")

    @property
    def close_detector(self) -> face.FaceDetector | None:
        """The second detector (short range), created on first use; ``None`` if none."""
        return None if self._makers["close_detector"] is None else self._made_detector("close_detector")

    def load(self) -> None:
        """Start the face detectors now (e.g. at app start-up) instead of on the first frame."""
        for role, maker in self._makers.items():
            if maker is not None:
                self._made_detector(role)

    def detect_faces(self, frame: np.ndarray, small_faces: bool = True,
                     near: list[tuple[int, int, int, int]] | None = None) -> list[face_search.Found]:
        """``(box, confidence, detector)`` of each face in a checked RGB frame, ``detector`` being the one whose
        framing crops the box (:func:`emotion_core.face_search.search_faces`). ``small_faces`` and ``near``:
        see :meth:`analyze_frame`."""
        close = self.close_detector
        if close is not None:
            return face_search.search_faces(close, self.detector, frame, small_faces, near)
        return [(box, score, self.detector) for box, score in self.detector.detect(frame, tiled=small_faces)]

    def _face(self) -> LiteClassifier:
        if self.face_model is None:
            raise RuntimeError("this reader has no face model: build it with one to classify faces")
        return self.face_model

    def _voice(self) -> LiteClassifier:
        if self.voice_model is None:
            raise RuntimeError("this reader has no voice model: build it with one to classify speech")
        return self.voice_model

    def face_probabilities(self, crops: Iterable[np.ndarray]) -> np.ndarray:
        """The face model's ``(n, 7)`` probabilities (EMOTIONS order) for already-cropped faces.

        Each crop is grey ``HxW`` (or ``HxWx1``) or RGB ``HxWx3`` uint8, fed to the model as the app
        feeds it (:func:`emotion_core.face.face_model_input` with this reader's input blur).
        """
        inputs = []
        for crop in crops:
            crop = np.asarray(crop)
            if crop.dtype != np.uint8:
                raise ValueError(f"a face crop must be uint8, got {crop.dtype}")
            inputs.append(face.face_model_input(crop, self.face_blur_sigma))
        if not inputs:
            return np.zeros((0, NUM_EMOTIONS), dtype=np.float32)
        return self._face().predict_batch(np.stack(inputs))

    def classify_face(self, crop: np.ndarray) -> dict[str, float]:
        """Scores over EMOTIONS (summing to 1) for an already-cropped face: grey ``HxW`` or RGB ``HxWx3`` uint8."""
        return scores_to_dict(self.face_probabilities([crop])[0])

    def analyze_frame(self, frame: np.ndarray, *, small_faces: bool = True,
                      near: list[tuple[int, int, int, int]] | None = None) -> list[Face]:
        """Every face in an RGB uint8 ``HxWx3`` frame, with its box and emotion scores; no face gives ``[]``.

        ``small_faces`` (files): full range, also in overlapping tiles (faces down to about 6 % of the
        width, a few ms more per tile) where the whole-frame pass found no face or only small ones
        (:func:`emotion_core.face.search_tiles`). ``False`` (the live view's choice): short range first,
        full range once only where it sees no large face (:func:`emotion_core.face_search.search_faces`).
        ``near`` (with ``small_faces=False``): the boxes of the faces of the stream's last frame, followed
        with one short-range run each where all are found again (:func:`emotion_core.face_search.search_near`);
        a reader with one detector searches the whole frame.
        """
        frame = face.check_frame(frame)
        faces = []
        for box, detection_score, detector in self.detect_faces(frame, small_faces, near):
            scores = self.classify_face(detector.crop(frame, box))
            faces.append(Face(box=box, scores=scores, detection_score=detection_score))
        return faces

    def voice_activity(self, samples: np.ndarray, sample_rate: int) -> VoiceActivity:
        """How many seconds of the input are speech (WebRTC VAD); ``.has_speech`` says whether to classify."""
        return _activity(prepare_speech(samples, sample_rate))

    def voice_probabilities(self, pieces: Iterable[np.ndarray]) -> np.ndarray:
        """The voice channel's ``(n, 7)`` probabilities (EMOTIONS order) for voice windows
        (:meth:`read_voice_windows`, without the noise flags)."""
        return self.read_voice_windows(pieces)[0]

    def read_voice_windows(self, pieces: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The voice channel's ``(n, 7)`` probabilities (EMOTIONS order) for voice windows, and whether each
        window's speech is drowned in noise (``(n,)`` bool: its scores were softened by the noise term).

        Each piece is 16 kHz mono float32 audio of at most one window, fed to the model as every
        path feeds it (:func:`emotion_core.windows.window_input`: trimmed, log-mel, normalised as the
        model's manifest says, tiled); the model's output is then calibrated (``voice_calibration``, with each
        window's speech contrast, :func:`emotion_core.audio.band_contrast_db`, for its noise term).
        Every voice reading (Audio, video, live, the fusion's input) comes from here.
        """
        rows, contrast = self.raw_voice_windows(pieces)
        return self.voice_calibration.apply(rows, contrast), self.voice_calibration.drowned(contrast)

    def raw_voice_windows(self, pieces: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """What the voice calibration takes: the network's own ``(n, 7)`` outputs for voice windows and each
        window's speech contrast ``(n,)`` (:func:`emotion_core.audio.band_contrast_db`), its log-mel made once."""
        runner = self._voice()
        mels = [windows.window_mel(piece) for piece in pieces]
        if not mels:
            return np.zeros((0, NUM_EMOTIONS), dtype=np.float32), np.zeros(0)
        rows = np.stack([runner.predict(audio.mel_to_input(mel, self.voice_normalisation)) for mel in mels])
        return rows, np.array([audio.band_contrast_db(mel) for mel in mels])

    def window_probabilities(self, mono: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-window probabilities ``(windows, 7)`` of 16 kHz mono audio, whether each window holds
        speech, and each window's ``(start, end)`` in seconds ``(windows, 2)``.

        The windows are :func:`emotion_core.windows.window_bounds` of the whole recording, on its
        own timeline (each window's silence is cut when its input is made, not the recording's).
        """
        probabilities, voiced, times, _ = self._read_recording(mono)
        return probabilities, voiced, times

    def _read_recording(self, mono: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`window_probabilities`, and whether each window is drowned in noise."""
        bounds, pieces, voiced = windows.cut(mono)
        times = np.array(bounds, dtype=np.float64).reshape(-1, 2) / audio.SAMPLE_RATE
        probabilities, drowned = self.read_voice_windows(pieces)
        return probabilities, voiced, times, drowned

    def classify_speech(self, samples: np.ndarray, sample_rate: int) -> dict[str, float]:
        """Scores over EMOTIONS (summing to 1) for mono float32 audio of any length at 8-96 kHz.

        Input is cut into 3 s windows 0.5 s apart (:mod:`emotion_core.windows`); the windows with speech
        are averaged (all of them if none has speech). Empty input gives uniform scores: use
        :meth:`voice_activity` first.
        """
        self._voice()
        mono = prepare_speech(samples, sample_rate)
        if mono.size == 0:
            return {name: 1.0 / len(EMOTIONS) for name in EMOTIONS}
        return pooled(*self.window_probabilities(mono)[:2])

    def analyze_speech(self, samples: np.ndarray, sample_rate: int) -> SpeechResult:
        """Voice activity plus, when there is speech, the pooled scores; no speech gives empty scores."""
        self._voice()
        mono = prepare_speech(samples, sample_rate)
        activity = _activity(mono)
        if not activity.has_speech:
            return SpeechResult(scores={}, activity=activity)
        probabilities, voiced, times, drowned = self._read_recording(mono)
        window_scores = tuple(scores_to_dict(p) for p in probabilities)
        window_times = tuple((float(start), float(end)) for start, end in times)
        in_loud_noise = mostly_in_loud_noise(drowned[pooling_mask(voiced)])
        return SpeechResult(pooled(probabilities, voiced), activity, len(probabilities), window_scores, window_times,
                            tuple(bool(v) for v in voiced), in_loud_noise)

    def fuse(self, face_scores: dict[str, float] | None, voice_scores: dict[str, float] | None) -> Fused:
        """:func:`emotion_core.fuse` with this reader's fusion parameters (:class:`FusionSettings`)."""
        return fuse(face_scores, voice_scores, settings=self.fusion)
