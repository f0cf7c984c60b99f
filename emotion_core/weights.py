"""Find model files by name through ``weights/manifest.json``, from the Hub or the bundled copies.

A Hub repo is used when one is configured (``EMOTION_WEIGHTS_REPO``, pinned to
``EMOTION_WEIGHTS_REVISION``); every file, downloaded or bundled, is loaded only after its sha256
matches the manifest. If the Hub cannot give a verified file, the bundled copy is used and one
warning line says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
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
    """Where on the Hub the weights live: a model repo pinned to a revision (commit hash or tag)."""

    repo_id: str
    revision: str = DEFAULT_REVISION


def file_sha256(path: str | Path) -> str:
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
        raise ChecksumError(f"{path.name}: sha256 {actual[:12]}... does not match the manifest's {expected_sha256[:12]}...")
    return path


def download_from_hub(filename: str, expected_sha256: str, source: HubSource) -> Path:
    """Fetch ``filename`` at the pinned revision (through the local Hub cache) and verify it."""
    from huggingface_hub import hf_hub_download

    path = Path(hf_hub_download(repo_id=source.repo_id, filename=filename, revision=source.revision))
    return verify(path, expected_sha256)


def resolve_weight(name: str, source: HubSource | None = None) -> Path:
    """Local path of model ``name``'s verified file: from the Hub if configured, else bundled.

    ``source`` defaults to the environment's setting. Results are cached per (name, source).
    """
    return _resolve(name, source if source is not None else hub_source_from_env())


@lru_cache(maxsize=None)
def _resolve(name: str, source: HubSource | None) -> Path:
    entry = model_entry(name)
    if source is not None:
        try:
            return download_from_hub(entry["file"], entry["sha256"], source)
        except Exception as error:  # any Hub failure (network, offline, missing, checksum) -> bundled copy
            log.warning("weights %s: Hub %s@%s unusable (%s: %s); using the bundled copy",
                        name, source.repo_id, source.revision, type(error).__name__, str(error).splitlines()[0] if str(error) else "")
    return verify(WEIGHTS_DIR / entry["file"], entry["sha256"])
