"""Find model files by name through ``weights/manifest.json``, from the Hub or the bundled copies.

A Hub model repo is used when one is configured: ``EMOTION_WEIGHTS_REPO`` (``user/name``), pinned to
``EMOTION_WEIGHTS_REVISION`` (a commit hash; a branch or tag also works). Files come through
``hf_hub_download`` and its cache (``HF_HOME``), which also honours ``HF_ENDPOINT`` and
``HF_HUB_OFFLINE``. Every file, downloaded or bundled, is loaded only after its sha256 matches the
bundled manifest: a downloaded file that does not match is deleted from the cache. When the Hub
cannot give a verified file (unreachable, offline and not cached, missing file or revision, wrong
checksum) the bundled copy is used and one warning line says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST_NAME = "manifest.json"
REPO_ENV = "EMOTION_WEIGHTS_REPO"
REVISION_ENV = "EMOTION_WEIGHTS_REVISION"
DEFAULT_REVISION = "main"

log = logging.getLogger(__name__)


class ChecksumError(RuntimeError):
    """A weights file's sha256 does not match the manifest; such a file is never loaded."""


@dataclass(frozen=True)
class HubSource:
    """Where on the Hub the weights live: a model repo pinned to a revision (commit hash, tag or branch)."""

    repo_id: str
    revision: str = DEFAULT_REVISION


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def load_manifest(weights_dir: Path = WEIGHTS_DIR) -> dict:
    """The parsed manifest: ``{"models": {name: entry}}``; each entry names its ``file`` and ``sha256``."""
    return json.loads((weights_dir / MANIFEST_NAME).read_text())


def model_entry(name: str) -> dict:
    """The manifest entry for model ``name``; an unknown name fails listing the known ones."""
    models = load_manifest()["models"]
    if name not in models:
        raise KeyError(f"no model named {name!r} in the weights manifest; known: {', '.join(sorted(models))}")
    return models[name]


def hub_source_from_env() -> HubSource | None:
    """The Hub repo configured in the environment, or ``None`` for bundled weights only."""
    repo_id = os.environ.get(REPO_ENV, "").strip()
    if not repo_id:
        return None
    return HubSource(repo_id, os.environ.get(REVISION_ENV, "").strip() or DEFAULT_REVISION)


def verify(path: Path, expected_sha256: str) -> Path:
    """Return ``path`` if its sha256 is ``expected_sha256``, else raise ChecksumError."""
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise ChecksumError(
            f"{path.name}: sha256 {actual[:12]}... does not match the manifest's {expected_sha256[:12]}..."
        )
    return path


def _evict(path: Path) -> None:
    """Delete a cached file that failed verification: the snapshot link and the blob it points to."""
    blob = path.resolve()
    for doomed in {path, blob}:
        try:
            doomed.unlink(missing_ok=True)
        except OSError as error:  # a read-only cache: the file stays, but it is still never loaded
            log.debug("could not delete %s from the Hub cache: %s", doomed, error)


def _verified_or_evicted(path: Path, expected_sha256: str) -> Path:
    try:
        return verify(path, expected_sha256)
    except ChecksumError:
        _evict(path)
        raise


def download_from_hub(filename: str, expected_sha256: str, source: HubSource) -> Path:
    """The verified local path of ``filename`` at the pinned revision, from the Hub cache or a download.

    The cache is tried first, without network. Before downloading, one HEAD request without retries
    checks the file exists: an unreachable Hub fails at once instead of after hf_hub_download's backoff.
    Raises ChecksumError, ``OSError`` (offline, missing file or revision, HTTP errors) or
    ``httpx2.HTTPError`` (network).
    """
    import huggingface_hub as hub
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    where = {"repo_id": source.repo_id, "filename": filename, "revision": source.revision}
    try:
        return _verified_or_evicted(Path(hub.hf_hub_download(**where, local_files_only=True)), expected_sha256)
    except (LocalEntryNotFoundError, ChecksumError):
        if hub.is_offline_mode():
            raise OfflineModeIsEnabled(f"HF_HUB_OFFLINE is set and the Hub cache has no verified {filename}") from None
    hub.get_hf_file_metadata(hub.hf_hub_url(**where))
    return _verified_or_evicted(Path(hub.hf_hub_download(**where)), expected_sha256)


def _hub_errors() -> tuple[type[Exception], ...]:
    """What a Hub download can raise that means "use the bundled copy" (not programming errors)."""
    from httpx2 import HTTPError  # huggingface_hub's HTTP client: raised on network errors
    from huggingface_hub.errors import EntryNotFoundError, HFValidationError

    return ChecksumError, OSError, HTTPError, EntryNotFoundError, HFValidationError


def resolve_weight(name: str, source: HubSource | None = None) -> Path:
    """Local path of model ``name``'s verified file: from the Hub if configured, else bundled.

    ``source`` defaults to the environment's setting. Results are cached per (name, source).
    """
    return _resolve(name, source if source is not None else hub_source_from_env())


@cache
def _resolve(name: str, source: HubSource | None) -> Path:
    entry = model_entry(name)
    if source is not None:
        try:
            return download_from_hub(entry["file"], entry["sha256"], source)
        except _hub_errors() as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            log.warning("weights %s: using the bundled copy; the Hub (%s@%s) gave no verified file: %s: %s",
                        name, source.repo_id, source.revision, type(error).__name__, reason)
    bundled = WEIGHTS_DIR / entry["file"]
    if not bundled.is_file():
        raise FileNotFoundError(f"weights {name}: {bundled} is missing; restore it from git or set {REPO_ENV}")
    return verify(bundled, entry["sha256"])
