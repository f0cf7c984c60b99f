"""The app's cache folder: where uploads and results live, for how long, and how many bytes at most.

The folder is the app's own (``<temp>/emotion-reader-cache``, or ``GRADIO_TEMP_DIR`` when set) and
carries a marker file; a folder that holds other files and no marker is refused, so that the sweep
never deletes what belongs to someone else. The sweep deletes every file and folder in it older
than the retention, whoever wrote it (an earlier run that crashed included), except what a running
request holds (:meth:`UploadCache.hold`). It never follows a symbolic link out of the folder.

Bytes are counted for the whole folder and per client: an upload that would take the folder past
``max_bytes``, or its client past ``client_max_bytes``, is refused before it is stored
(:meth:`UploadCache.admit`); nothing stored is ever evicted to make room. Each file is charged
``FILE_OVERHEAD`` on top of its size, so a flood of tiny files is bounded too. The sweep measures
the folder again, so the count includes results and files whose request never finished.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FOLDER_NAME = "emotion-reader-cache"  # under the system temp folder, unless GRADIO_TEMP_DIR is set
FOLDER_ENV = "GRADIO_TEMP_DIR"  # Gradio's own setting: the app and Gradio share the one folder
MARKER_NAME = ".emotion-reader-cache"  # marks a folder the app owns; never swept
MARKER_TEXT = "This folder is the emotion reader's cache: files older than the retention are deleted.\n"
DEFAULT_MAX_AGE = 600.0  # seconds a file is kept (EMOTION_CACHE_MAX_AGE)
DEFAULT_MAX_BYTES = 2_000_000_000  # the whole folder (EMOTION_CACHE_MAX_BYTES): fits a small Space's disk
CLIENT_SHARE = 8  # one client may hold 1/CLIENT_SHARE of the cap (EMOTION_CACHE_CLIENT_MAX_BYTES overrides)
FILE_OVERHEAD = 8192  # bytes charged per file on top of its size: its disk block and its folder
SWEEP_EVERY_SHARE = 0.1  # the sweep runs every tenth of the retention, ...
SWEEP_EVERY_RANGE = (1.0, 10.0)  # ... 1 to 10 s apart: the byte count is never more than 10 s old
MAX_AGE_ENV, MAX_BYTES_ENV, CLIENT_MAX_BYTES_ENV = (
    "EMOTION_CACHE_MAX_AGE", "EMOTION_CACHE_MAX_BYTES", "EMOTION_CACHE_CLIENT_MAX_BYTES")
# A connection from these networks is a proxy (Spaces' own, a local reverse proxy): the client is
# the last address it forwarded that is not one of them. Documentation ranges (203.0.113.0/24) are clients.
PROXY_NETWORKS = tuple(ipaddress.ip_network(network) for network in (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
BUSY_MESSAGE = "The server is busy with other uploads; try again in a few minutes."
TOO_LARGE_MESSAGE = "This upload is larger than the server accepts at once ({mb:.0f} MB); send a smaller file."

log = logging.getLogger(__name__)


class CacheFolderError(RuntimeError):
    """The cache folder holds files that are not the app's: sweeping it could delete someone else's data."""


@dataclass(frozen=True)
class CacheLimits:
    """How long files are kept (seconds) and how many bytes the folder, and one client, may hold."""

    max_age: float = DEFAULT_MAX_AGE
    max_bytes: int = DEFAULT_MAX_BYTES
    client_max_bytes: int = DEFAULT_MAX_BYTES // CLIENT_SHARE

    def __post_init__(self):
        if self.max_age <= 0 or self.max_bytes <= 0 or not 0 < self.client_max_bytes <= self.max_bytes:
            raise ValueError(f"cache limits must be positive, the client share at most the cap: {self}")

    @property
    def sweep_every(self) -> float:
        """Seconds between sweeps: a tenth of the retention, kept within SWEEP_EVERY_RANGE."""
        low, high = SWEEP_EVERY_RANGE
        return min(high, max(low, self.max_age * SWEEP_EVERY_SHARE))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CacheLimits:
        """Limits from EMOTION_CACHE_MAX_AGE, EMOTION_CACHE_MAX_BYTES and EMOTION_CACHE_CLIENT_MAX_BYTES."""
        max_bytes = int(environ.get(MAX_BYTES_ENV) or DEFAULT_MAX_BYTES)
        return cls(max_age=float(environ.get(MAX_AGE_ENV) or DEFAULT_MAX_AGE), max_bytes=max_bytes,
                   client_max_bytes=int(environ.get(CLIENT_MAX_BYTES_ENV) or max_bytes // CLIENT_SHARE))


def cache_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The cache folder: GRADIO_TEMP_DIR when set, else a folder of the app's own in the temp folder."""
    return Path(environ.get(FOLDER_ENV) or Path(tempfile.gettempdir()) / FOLDER_NAME).absolute()


def claim_folder(folder: Path) -> Path:
    """Make ``folder`` the app's cache: create it, or accept it if marked or without files; returns it.

    Raises CacheFolderError for a folder with other files and no marker (``/tmp``, Gradio's shared
    ``/tmp/gradio``, a link to somewhere else): the sweep would delete whatever is old there. Empty
    folders (Gradio makes one when it is imported) are no one's data.
    """
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER_NAME
    if marker.is_file():
        return folder
    if holds_files(folder):
        raise CacheFolderError(
            f"{folder} already holds files that are not the app's, and the app deletes anything older than "
            f"the retention in its cache folder: set {FOLDER_ENV} to a new or empty folder (or unset it)")
    marker.write_text(MARKER_TEXT)
    return folder


def holds_files(folder: Path) -> bool:
    """Whether anything but folders is under ``folder`` (links count as files and are not followed)."""
    for root, folders, files in os.walk(folder):
        if files or any(Path(root, name).is_symlink() for name in folders):
            return True
    return False


def client_address(peer: str | None, forwarded_for: str | None = None) -> str:
    """The client's address: ``peer`` (the connection's), or, when the peer is a proxy (PROXY_NETWORKS),
    the last address in its X-Forwarded-For header that is not a proxy (earlier ones can be forged)."""
    if not peer or not forwarded_for or not is_proxy(peer):
        return peer or "unknown"
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_proxy(hop):
            return hop
    return hops[0] if hops else peer


def is_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # a host name, or garbage in a forwarded header
        return False
    return any(ip in network for network in PROXY_NETWORKS)


def refusal(size: int, total: int, client_total: int, limits: CacheLimits) -> str | None:
    """Why storing ``size`` more bytes is refused (the message for the client), or None if it fits.

    ``total`` and ``client_total``: bytes already charged to the folder and to this client.
    """
    if size > limits.client_max_bytes:
        return TOO_LARGE_MESSAGE.format(mb=limits.client_max_bytes / 1e6)
    if total + size > limits.max_bytes or client_total + size > limits.client_max_bytes:
        return BUSY_MESSAGE
    return None


@dataclass(frozen=True)
class CachedPath:
    """A file or folder found in the cache: its size (0 for a folder), and when it last changed (epoch s)."""

    path: Path
    is_dir: bool
    size: int
    changed: float


def scan(folder: Path) -> list[CachedPath]:
    """Every file and folder under ``folder`` (not the folder itself, nor its marker), children before
    their parents. Links are listed as files and never followed, so nothing outside is reached."""
    found: list[CachedPath] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):  # removed meanwhile
        return found
    for entry in entries:
        if entry.name == MARKER_NAME and Path(entry.path).parent == folder:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            is_dir = entry.is_dir(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if is_dir:
            found.extend(scan(Path(entry.path)))
        # ctime too: Gradio renames an upload into place, which keeps the client's old mtime
        found.append(CachedPath(Path(entry.path), is_dir, 0 if is_dir else info.st_size,
                                max(info.st_mtime, info.st_ctime)))
    return found


def charged(size: int) -> int:
    """Bytes charged for a file of ``size`` bytes (FILE_OVERHEAD on top)."""
    return size + FILE_OVERHEAD


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did: files and folders deleted, and what the folder holds afterwards."""

    deleted_files: int
    deleted_bytes: int
    deleted_folders: int
    kept_files: int
    kept_bytes: int  # file sizes, without FILE_OVERHEAD
    seconds: float


@dataclass
class Upload:
    """One request's reservation: ``reserved`` bytes charged to ``client`` while its body arrives."""

    client: str
    reserved: int


@dataclass(frozen=True)
class _Stored:
    client: str
    charge: int
    since: float  # when it was recorded (epoch s)


class UploadCache:
    """The cache folder's bytes, in all and per client, its sweep, and the files running requests hold.

    Thread-safe: the server's event loop admits uploads while the sweep runs in a thread of its own.
    Counts: bytes charged to stored uploads (by path, per client) and to uploads still arriving,
    plus what the last sweep found in the folder besides the uploads (results, unfinished uploads).
    """

    def __init__(self, folder: str | Path, limits: CacheLimits | None = None):
        self.folder = Path(folder).absolute()
        self.limits = limits or CacheLimits()
        self._lock = threading.Lock()
        self._stored: dict[Path, _Stored] = {}
        self._client_bytes: Counter[str] = Counter()  # stored and arriving, per client
        self._tracked = 0  # stored and arriving, all clients
        self._other = 0  # the rest of the folder at the last sweep
        self._held: Counter[Path] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def usage(self, client: str | None = None) -> int:
        """Bytes charged to the folder, or to ``client``."""
        with self._lock:
            return self._tracked + self._other if client is None else self._client_bytes[client]

    def admit(self, client: str, size: int) -> tuple[Upload | None, str | None]:
        """Reserve ``size`` bytes for an upload from ``client``: (the reservation, None), or (None, why not)."""
        with self._lock:
            reason = refusal(size, self._tracked + self._other, self._client_bytes[client], self.limits)
            if reason is not None:
                return None, reason
            self._charge(client, size)
        return Upload(client, size), None

    def extend(self, upload: Upload, extra: int) -> str | None:
        """Reserve ``extra`` more bytes for an upload whose body outgrew its reservation; None, or why not."""
        with self._lock:
            reason = refusal(upload.reserved + extra, self._tracked + self._other - upload.reserved,
                             self._client_bytes[upload.client] - upload.reserved, self.limits)
            if reason is None:
                self._charge(upload.client, extra)
                upload.reserved += extra
        return reason

    def release(self, upload: Upload) -> None:
        """End a reservation (the request is over; what it stored, if anything, was settled)."""
        with self._lock:
            self._charge(upload.client, -upload.reserved)
            upload.reserved = 0

    def settle(self, upload: Upload, paths: Iterable[str | Path]) -> None:
        """The upload is stored at ``paths``: charge their sizes to its client instead of the reservation."""
        sizes = {}
        for path in map(Path, paths):
            path = path.absolute()
            if path.is_relative_to(self.folder):  # only the folder's files are ever looked at
                try:
                    sizes[path] = charged(path.stat().st_size)
                except FileNotFoundError:
                    continue
        now = time.time()
        with self._lock:
            for path, charge in sizes.items():
                self._forget(path)  # the same content uploaded again lands on the same path
                self._stored[path] = _Stored(upload.client, charge, now)
                self._charge(upload.client, charge)
        self.release(upload)

    @contextmanager
    def hold(self, *paths: str | Path | None) -> Iterator[None]:
        """Keep ``paths`` (files, or folders and all they hold) from the sweep while the block runs."""
        held = [Path(path).absolute() for path in paths if path]
        with self._lock:
            self._held.update(held)
        try:
            yield
        finally:
            with self._lock:
                self._held.subtract(held)
                self._held = +self._held  # drop the zeros

    def in_use(self, path: str | Path) -> bool:
        """Whether a running request holds ``path`` (or a folder above it)."""
        with self._lock:
            return self._is_held(Path(path).absolute())

    def sweep(self, now: float | None = None) -> SweepReport:
        """Delete whatever in the folder is older than the retention and not held; count what is left."""
        started = time.time()
        now = started if now is None else now
        deleted_files = deleted_bytes = deleted_folders = 0
        kept: dict[Path, int] = {}
        emptied: set[Path] = set()  # folders this sweep emptied: they go too, whatever their age
        for item in scan(self.folder):  # children first
            expired = now - item.changed > self.limits.max_age
            if item.is_dir:
                if (expired or item.path in emptied) and self._remove(item, now):
                    deleted_folders += 1
                    emptied.add(item.path.parent)
            elif expired and self._remove(item, now):
                deleted_files, deleted_bytes = deleted_files + 1, deleted_bytes + item.size
                emptied.add(item.path.parent)
            else:
                kept[item.path] = item.size
        self._recount(kept, started)
        return SweepReport(deleted_files, deleted_bytes, deleted_folders, len(kept), sum(kept.values()),
                           time.time() - started)

    def start(self) -> SweepReport:
        """Claim the folder, sweep it (leftovers of earlier runs go now), then sweep every ``sweep_every`` s."""
        claim_folder(self.folder)
        report = self.sweep()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sweep_until_stopped, name="cache-sweep", daemon=True)
        self._thread.start()
        return report

    def stop(self) -> None:
        """Stop the periodic sweep (the current one finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _sweep_until_stopped(self) -> None:
        while not self._stop.wait(self.limits.sweep_every):
            try:
                self.sweep()
            except OSError as error:  # an unreadable folder: say so, and try again next time
                log.warning("cache sweep of %s failed: %s", self.folder, error)

    def _remove(self, item: CachedPath, now: float) -> bool:
        """Delete one expired entry unless a request holds it or it changed since the scan (a new upload
        of the same content replaces the old file at the same path)."""
        with self._lock:
            if self._is_held(item.path):
                return False
            try:
                info = item.path.lstat()
                if not item.is_dir and now - max(info.st_mtime, info.st_ctime) <= self.limits.max_age:
                    return False
                if item.is_dir:
                    item.path.rmdir()
                else:
                    item.path.unlink()
            except FileNotFoundError:  # gone already (the app deleted it, or another sweep)
                return False
            except OSError:  # a folder that is not empty (a file arrived, or one is held)
                return False
            self._forget(item.path)
        return True

    def _recount(self, kept: dict[Path, int], started: float) -> None:
        """Bring the counts in line with the folder as the sweep found it."""
        with self._lock:
            for path, stored in list(self._stored.items()):
                if path in kept:
                    self._charge(stored.client, charged(kept[path]) - stored.charge)
                    self._stored[path] = _Stored(stored.client, charged(kept[path]), stored.since)
                elif stored.since < started:  # deleted (by the app, or this sweep) since it was stored
                    self._forget(path)
            self._other = sum(charged(size) for path, size in kept.items() if path not in self._stored)

    def _charge(self, client: str, size: int) -> None:
        self._client_bytes[client] += size
        self._tracked += size
        if self._client_bytes[client] <= 0:
            del self._client_bytes[client]

    def _forget(self, path: Path) -> None:
        stored = self._stored.pop(path, None)
        if stored is not None:
            self._charge(stored.client, -stored.charge)

    def _is_held(self, path: Path) -> bool:
        return path in self._held or any(parent in self._held for parent in path.parents)
