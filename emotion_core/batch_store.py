"""The batch output: a folder of Parquet parts, written as files finish, that a later run resumes.

``--out results.parquet`` is a folder (a Parquet dataset, as Dask and Spark write them) holding two
tables, each a set of part files that ``pandas.read_parquet`` reads as one table:

* ``segments/``: one row per segment (:data:`SEGMENT_SCHEMA`; the columns of the command line's ``--csv``
  after the file's path and content hash);
* ``files/``: one row per input file (:data:`FILE_SCHEMA`): its summary, status and error message.

Finished files are buffered and written every ``flush_seconds`` as one pair of parts. Each part is
written under a hidden name and renamed into place, the segments part first: a ``files`` part is
what commits its files, so a segments part without its twin (a run killed between the two) is
deleted when the folder is next opened, and nothing is ever half written or counted twice.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .batch import FileOutcome
from .labels import EMOTIONS
from .timeline import CHANNELS, channel_scores

FLUSH_SECONDS = 10.0  # a killed batch loses at most this much finished work
FLUSH_FILES = 200  # ... or this many files, whichever comes first
TABLES = ("segments", "files")

_LABEL = pa.string()
SEGMENT_SCHEMA = pa.schema(
    [("file", pa.string()), ("file_hash", pa.string()), ("start", pa.float64()), ("end", pa.float64()),
     ("faces", pa.int32()), *((f"{c}_label", _LABEL) for c in CHANNELS),
     ("face_weight", pa.float64()), ("voice_weight", pa.float64()),
     *((f"{c}_{name}", pa.float64()) for c in CHANNELS for name in EMOTIONS)])
FILE_SCHEMA = pa.schema(
    [("file", pa.string()), ("file_hash", pa.string()), ("status", pa.string()), ("error", pa.string()),
     ("duplicate_of", pa.string()), ("kind", pa.string()), ("duration", pa.float64()), ("segments", pa.int32()),
     ("dominant", _LABEL), *((f"share_{name}", pa.float64()) for name in EMOTIONS),
     ("face_coverage", pa.float64()), ("voice_coverage", pa.float64()), ("frames_per_second", pa.float64()),
     ("analysis_seconds", pa.float64()), ("finished", pa.timestamp("ms", tz="UTC")), ("worker", pa.string()),
     ("run", pa.string())])
SCHEMAS = {"segments": SEGMENT_SCHEMA, "files": FILE_SCHEMA}


def segment_rows(outcome: FileOutcome) -> list[dict]:
    """One row per segment of an analysed file (none for an error or a duplicate); None: no reading."""
    if outcome.analysis is None or outcome.status != "ok":
        return []
    rows = []
    for segment in outcome.analysis.segments:
        row = {"file": outcome.file, "file_hash": outcome.file_hash, "start": segment.start, "end": segment.end,
               "faces": len(segment.faces), "face_label": segment.face_label, "voice_label": segment.voice_label,
               "fused_label": segment.fused_label}
        row["face_weight"], row["voice_weight"] = segment.fused.face_weight, segment.fused.voice_weight
        for channel in CHANNELS:
            scores = channel_scores(segment, channel)
            row.update({f"{channel}_{name}": scores.get(name) for name in EMOTIONS})
        rows.append(row)
    return rows


def file_row(outcome: FileOutcome, frames_per_second: float, run: str) -> dict:
    """The summary row of one input file (figures are None unless it was analysed here)."""
    row = {"file": outcome.file, "file_hash": outcome.file_hash, "status": outcome.status, "error": outcome.error,
           "duplicate_of": outcome.duplicate_of, "frames_per_second": frames_per_second,
           "analysis_seconds": outcome.seconds if outcome.status != "duplicate" else None,
           "finished": datetime.fromtimestamp(outcome.finished, UTC) if outcome.finished else None,
           "worker": outcome.worker, "run": run}
    analysis = outcome.analysis if outcome.status == "ok" else None
    if analysis is not None:
        row.update(kind=analysis.kind, duration=analysis.duration, segments=len(analysis.segments),
                   dominant=analysis.dominant, face_coverage=analysis.face_coverage,
                   voice_coverage=analysis.voice_coverage)
        row.update({f"share_{name}": analysis.fused.shares.get(name) for name in EMOTIONS} if analysis.fused.shares
                   else {})
    return row


def new_run_id() -> str:
    """A run's name: its UTC start time, then random digits (sorts by time, never repeats)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


class ResultStore:
    """The output folder of one batch run: read what earlier runs wrote, append what this one finishes."""

    def __init__(self, root: str | Path, frames_per_second: float, flush_seconds: float = FLUSH_SECONDS,
                 run: str | None = None):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"{self.root} is a file; --out names a folder of Parquet parts (it is created)")
        for table in TABLES:
            (self.root / table).mkdir(parents=True, exist_ok=True)
        self.frames_per_second, self.flush_seconds = frames_per_second, flush_seconds
        self.run = run or new_run_id()
        self._buffer: list[FileOutcome] = []
        self._last_flush = time.monotonic()
        self._parts = 0
        self._clean_up()

    def _clean_up(self) -> None:
        """Delete what a killed run left: hidden half-written parts, and segment parts never committed."""
        for table in TABLES:
            for leftover in (self.root / table).glob(".*.tmp"):
                leftover.unlink()
        committed = {path.name for path in (self.root / "files").glob("*.parquet")}
        for part in (self.root / "segments").glob("*.parquet"):
            if part.name not in committed:
                part.unlink()

    def read(self, table: str = "files") -> pa.Table:
        """Every committed row of ``table`` ("files" or "segments")."""
        return ds.dataset(self.root / table, schema=SCHEMAS[table], format="parquet").to_table()

    def check_frames_per_second(self) -> None:
        """Refuse to mix sampling rates in one output: resumed files would not match the rest."""
        rates = set(self.read().column("frames_per_second").drop_null().to_pylist())
        if rates - {self.frames_per_second}:
            raise ValueError(f"{self.root} holds results at {sorted(rates)} frames/s: resume it with that --fps, "
                             "or write to another --out")

    def forget_failures(self, paths: set[str]) -> int:
        """Drop the "error" rows of ``paths`` (they are about to be tried again); returns how many went."""
        dropped = 0
        for part in sorted((self.root / "files").glob("*.parquet")):
            table = pq.read_table(part, schema=FILE_SCHEMA)
            rows = table.to_pylist()
            keep = [row for row in rows if not (row["status"] == "error" and row["file"] in paths)]
            if len(keep) == len(rows):
                continue
            dropped += len(rows) - len(keep)
            if keep:
                self._write(part, pa.Table.from_pylist(keep, schema=FILE_SCHEMA))
            else:  # nothing left to commit: the twin segments part has no rows of these files either
                part.unlink()
                (self.root / "segments" / part.name).unlink(missing_ok=True)
        return dropped

    def add(self, outcomes: list[FileOutcome]) -> None:
        """Buffer finished files; they are written when :meth:`flush_due` says so, or by :meth:`flush`."""
        self._buffer.extend(outcomes)

    def flush_due(self) -> bool:
        return bool(self._buffer) and (len(self._buffer) >= FLUSH_FILES
                                       or time.monotonic() - self._last_flush >= self.flush_seconds)

    def flush(self) -> None:
        """Write the buffered files as one pair of parts: segments first, then the files part that commits them."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        name = f"part-{self.run}-{self._parts:05d}.parquet"
        segments = [row for outcome in self._buffer for row in segment_rows(outcome)]
        files = [file_row(outcome, self.frames_per_second, self.run) for outcome in self._buffer]
        self._write(self.root / "segments" / name, pa.Table.from_pylist(segments, schema=SEGMENT_SCHEMA))
        self._write(self.root / "files" / name, pa.Table.from_pylist(files, schema=FILE_SCHEMA))
        self._parts += 1
        self._buffer.clear()

    @staticmethod
    def _write(path: Path, table: pa.Table) -> None:
        hidden = path.with_name(f".{path.name}.tmp")  # readers skip names that start with "."
        pq.write_table(table, hidden)
        os.replace(hidden, path)
