"""Write one model's entry, or the fusion parameters, into weights/manifest.json (read-modify-write, keeps the rest)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest() -> dict:
    """The manifest as it is on disk (a fresh one when there is none yet)."""
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"schema": 1, "models": {}}


def write_manifest(manifest: dict) -> None:
    """Replace the manifest atomically (temp file in the same folder, then rename)."""
    handle, tmp = tempfile.mkstemp(dir=WEIGHTS_DIR, suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(manifest, out, indent=2)
        out.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the manifest is a public file
    os.replace(tmp, MANIFEST)


def update_entry(name: str, file: Path, **fields) -> dict:
    """Set ``models[name]`` to the file's name, sha256 and size plus ``fields``; returns the entry."""
    file = Path(file)
    manifest = read_manifest()
    entry = {"file": file.name, "sha256": sha256_of(file), "size_bytes": file.stat().st_size, **fields}
    manifest["models"][name] = entry
    manifest["models"] = dict(sorted(manifest["models"].items()))
    write_manifest(manifest)
    return entry


def update_fusion(fusion: dict) -> dict:
    """Set the manifest's top-level ``fusion`` object (the served fusion parameters and what they were fit on)."""
    manifest = read_manifest()
    manifest["fusion"] = fusion
    write_manifest(manifest)
    return fusion
