"""Batch analysis of many files, independent of the engine that runs it: what to analyse, and how.

The inputs are listed (:func:`list_inputs`), each file's content hashed (:func:`content_hash`), and
:class:`BatchPlan` decides, from the hash and from what an earlier run already wrote, whether a file
is analysed, skipped, or recorded as a copy of another. :func:`analyse_task` is the work done for
one file on a worker: the command line's analysis (:func:`emotion_core.file_analysis.analyze_file`),
with any failure turned into a :class:`FileOutcome` that carries the message. The engine
(:mod:`emotion_core.batch_dask`) only moves these calls and their results around; the output is
written by :mod:`emotion_core.batch_store`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .classifier import check_threads
from .file_analysis import IMAGE_SUFFIXES, FileAnalysis, analyze_file
from .video import VIDEO_SUFFIXES

AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".aif", ".aiff")
# Inside folders: the app's video suffixes and the other containers archives hold (FFmpeg reads them all).
FOLDER_VIDEO_SUFFIXES = VIDEO_SUFFIXES + (".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".3gp", ".flv")
MEDIA_SUFFIXES = IMAGE_SUFFIXES + AUDIO_SUFFIXES + FOLDER_VIDEO_SUFFIXES  # what is picked up inside folders
LIST_SUFFIXES = (".txt", ".list")  # an input with this suffix is a list of paths, one a line
HASH_CHUNK_BYTES = 1 << 20
# Threads of work per worker process on a cluster this command joins (--scheduler): its layout is not
# known here, and the README starts one worker per core there. A local cluster shares this machine's
# cores out among its workers instead (threads_per_worker). (The LiteRT interpreters run one thread
# each whatever the count, classifier.DEFAULT_THREADS, as in the single-file command; BLAS gets
# OMP/OPENBLAS/MKL_NUM_THREADS=1 from Dask's nanny, set before the worker process starts.)
WORKER_THREADS = 1


@dataclass(frozen=True)
class FileOutcome:
    """What became of one input file.

    ``status``: "ok" (``analysis`` holds the result), "error" (``error`` says why) or "duplicate"
    (the same content was analysed as ``duplicate_of``). ``seconds``: wall time of the analysis,
    ``finished``: when it ended (seconds since the epoch); ``worker``: ``host:pid`` of the process that did it.
    """

    file: str
    file_hash: str | None
    status: str
    analysis: FileAnalysis | None = field(default=None, repr=False)
    error: str | None = None
    duplicate_of: str | None = None
    seconds: float = 0.0
    finished: float | None = None
    worker: str | None = None

    @property
    def media_seconds(self) -> float:
        return self.analysis.duration if self.analysis else 0.0


# --- the inputs -------------------------------------------------------------------------------------

def list_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files, folders (searched recursively for MEDIA_SUFFIXES) and lists of paths -> absolute file paths.

    A list is a text file (LIST_SUFFIXES) with one path a line; blank lines and lines starting with
    ``#`` are ignored, relative paths are taken from the list's folder, and a listed path may itself
    be a folder. Files named directly or in a list are kept whatever their suffix (and, if missing,
    get an error row); hidden files in folders are not. Order: as given, folders sorted; each path once.
    Raises ``FileNotFoundError`` for an input given on the command line that does not exist.
    """
    found: dict[Path, None] = {}
    for item in inputs:
        path = Path(item).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {item}")
        for file in _expand(path.absolute(), listed=False):
            found.setdefault(file)
    return list(found)


def _expand(path: Path, listed: bool) -> list[Path]:
    if path.is_dir():
        return [file for file in sorted(path.rglob("*")) if file.is_file() and _is_media(file.relative_to(path))]
    if path.suffix.lower() in LIST_SUFFIXES and not listed:
        return [file for line in read_list(path) for file in _expand(line, listed=True)]
    return [path]


def _is_media(relative: Path) -> bool:
    return relative.suffix.lower() in MEDIA_SUFFIXES and not any(part.startswith(".") for part in relative.parts)


def read_list(path: Path) -> list[Path]:
    """The paths in a list file, absolute (relative ones are taken from the list's folder)."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [(path.parent / Path(line).expanduser()).absolute() for line in lines if line and not line.startswith("#")]


def content_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as 64 hex digits (read in 1 MiB pieces)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def hash_task(path: str) -> str | None:
    """:func:`content_hash`, or ``None`` when the file cannot be read (its analysis then says why)."""
    try:
        return content_hash(path)
    except OSError:
        return None


def dedupe_key(path: str, file_hash: str) -> tuple[str, bool]:
    """Files with the same key give the same analysis: same bytes, and both read (or not) as a picture."""
    return file_hash, Path(path).suffix.lower() in IMAGE_SUFFIXES


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system tells it, else all of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_worker(cores: int, workers: int) -> int:
    """Threads of work for each of ``workers`` processes sharing ``cores``: an equal share, at least one.

    Two workers on two cores get one thread each (a second thread would only take time from the
    other worker); a lone worker gets both cores, as the single-file command uses them.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return max(1, cores // workers)


def worker_cores(index: int, workers: int, cores: list[int]) -> set[int] | None:
    """The cores worker ``index`` of a local cluster of ``workers`` keeps to, of this machine's ``cores``.

    Each worker gets its own :func:`threads_per_worker` cores when they go round (two workers on two
    cores: one each), so the system never moves a worker off the core whose caches hold its file; the
    batch's own process (scheduler, nannies) runs wherever there is room. None: no pinning (a lone worker
    already has every core; more workers than cores must share them).
    """
    share = threads_per_worker(len(cores), workers)
    if workers < 2 or workers * share > len(cores) or not 0 <= index < workers:
        return None
    return set(cores[index * share:(index + 1) * share])


def task_threads(workers: int, scheduler: str | None) -> int:
    """Threads of work for each analysis of a batch: a local cluster of ``workers`` processes shares this
    machine's cores (:func:`threads_per_worker`); on the cluster at ``scheduler``, WORKER_THREADS (how many
    workers share each of its hosts is not asked)."""
    return WORKER_THREADS if scheduler else threads_per_worker(usable_cores(), workers)


def hold_threads(threads: int) -> None:
    """Keep this process's OpenCV to ``threads`` threads (set again only when the count changes)."""
    import cv2

    if cv2.getNumThreads() != threads:
        cv2.setNumThreads(threads)


def analyse_task(path: str, file_hash: str | None, frames_per_second: float, threads: int) -> FileOutcome:
    """Analyse one file on a worker, its decoder and OpenCV in ``threads`` threads (:func:`threads_per_worker`).

    A file that cannot be analysed gives an "error" outcome with the command line's message; the models
    are the worker process's own, loaded on its first file.
    """
    hold_threads(check_threads(threads, "threads"))
    started = time.perf_counter()
    try:
        analysis = analyze_file(path, frames_per_second, decode_threads=threads)
        status, message = "ok", None
    except (ValueError, KeyError, OSError) as error:  # the exceptions the command line reports as "error:"
        analysis, status, message = None, "error", str(error) or type(error).__name__
    return FileOutcome(path, file_hash, status, analysis, message, seconds=time.perf_counter() - started,
                       finished=time.time(), worker=worker_name())


def failed_outcome(path: str, file_hash: str | None, error: BaseException) -> FileOutcome:
    """The outcome of a task that did not return (its worker died, or it raised something unexpected)."""
    return FileOutcome(path, file_hash, "error", error=f"the analysis failed ({type(error).__name__}: {error})",
                       finished=time.time())


# --- the plan ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What to do with an input once its hash is known: "analyse", "skip" (already in the output),
    "duplicate" (write a copy row now: ``original`` was analysed) or "wait" (a copy is being analysed)."""

    action: str
    original: str | None = None


class BatchPlan:
    """Which inputs to analyse, from their content hashes and the rows an earlier run wrote.

    A file is skipped when the output already holds it under this path with this content; a file
    whose content was analysed under another name (earlier, or in this run) gets a "duplicate" row
    instead of a second analysis. Failed files are not remembered, so they are tried again. Feed it
    each hash as it arrives (:meth:`hashed`) and each finished analysis (:meth:`finished`).
    """

    def __init__(self, rows: Sequence[dict] = ()):
        self._done: dict[tuple[str, bool], str] = {}  # dedupe key -> path analysed with that content
        self._present: set[tuple[str, str]] = set()  # (path, hash) with an "ok" or "duplicate" row
        for row in rows:
            if row["status"] in ("ok", "duplicate") and row["file_hash"]:
                self._present.add((row["file"], row["file_hash"]))
            if row["status"] == "ok" and row["file_hash"]:
                self._done.setdefault(dedupe_key(row["file"], row["file_hash"]), row["file"])
        self._running: dict[tuple[str, bool], str] = {}
        self._waiting: dict[tuple[str, bool], list[str]] = {}
        self._failed: set[tuple[str, bool]] = set()

    def hashed(self, path: str, file_hash: str | None) -> Step:
        if file_hash is None:
            return Step("analyse")
        if (path, file_hash) in self._present:
            return Step("skip")
        key = dedupe_key(path, file_hash)
        if key in self._done:
            return Step("duplicate", self._done[key])
        if key in self._running and key not in self._failed:
            self._waiting.setdefault(key, []).append(path)
            return Step("wait")
        self._running.setdefault(key, path)
        return Step("analyse")

    def finished(self, outcome: FileOutcome) -> tuple[list[FileOutcome], list[str]]:
        """After an analysis: the duplicate rows it settles, and the waiting paths to analyse after all
        (when it failed: a copy under another name may not fail the same way, and its message names it)."""
        if outcome.file_hash is None:
            return [], []
        key = dedupe_key(outcome.file, outcome.file_hash)
        waiting = self._waiting.pop(key, [])
        if outcome.status != "ok":
            self._failed.add(key)
            return [], waiting
        self._done[key] = outcome.file
        return [FileOutcome(path, outcome.file_hash, "duplicate", duplicate_of=outcome.file) for path in waiting], []


# --- progress ---------------------------------------------------------------------------------------

@dataclass
class BatchTally:
    """Running counts of a batch (updated as files finish), and its progress line."""

    total: int
    started: float = field(default_factory=time.monotonic)
    analysed: int = 0
    failed: int = 0
    duplicates: int = 0
    skipped: int = 0
    media_seconds: float = 0.0
    interrupted: bool = False

    @property
    def done(self) -> int:
        return self.analysed + self.failed + self.duplicates + self.skipped

    def count(self, outcome: FileOutcome) -> None:
        if outcome.status == "ok":
            self.analysed += 1
        elif outcome.status == "error":
            self.failed += 1
        else:
            self.duplicates += 1
        self.media_seconds += outcome.media_seconds

    def line(self, now: float | None = None) -> str:
        """``"12/40 files, 1.52 h of media, 14.1x real time, 1 failed"``."""
        elapsed = max((now if now is not None else time.monotonic()) - self.started, 1e-9)
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"{self.done}/{self.total} files, {media_time(self.media_seconds)} of media, "
                f"{self.media_seconds / elapsed:.1f}x real time{failed}")

    def report(self, now: float | None = None) -> str:
        """The closing summary: what was analysed, failed, skipped, and how fast."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        state = "interrupted" if self.interrupted else "done"
        return (f"{state}: {self.done}/{self.total} files ({self.analysed} analysed, {self.failed} failed, "
                f"{self.duplicates} duplicates, {self.skipped} already done) in {elapsed:.1f} s; "
                f"{media_time(self.media_seconds)} of media, {self.media_seconds / max(elapsed, 1e-9):.1f}x real time")


def media_time(seconds: float) -> str:
    """A length of media for people: "42 s", "12.5 min", "3.20 h"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"
