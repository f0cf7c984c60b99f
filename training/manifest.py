"""Write a model's entry, or the fusion parameters, into weights/manifest.json (read-modify-write, keeps the rest)."""

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


def update_entry(name: str, file: Path, **fields) -> dict:
    """Set ``models[name]`` to the file's name, sha256 and size plus ``fields``; returns the entry."""
    file = Path(file)
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"schema": 1, "models": {}}
    entry = {"file": file.name, "sha256": sha256_of(file), "size_bytes": file.stat().st_size, **fields}
    manifest["models"][name] = entry
    manifest["models"] = dict(sorted(manifest["models"].items()))
    _write(manifest)
    return entry


def _write(manifest: dict) -> None:
    handle, tmp = tempfile.mkstemp(dir=WEIGHTS_DIR, suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(manifest, out, indent=2)
        out.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the manifest is a public file
    os.replace(tmp, MANIFEST)


def update_fields(name: str, **fields) -> dict:
    """Set ``fields`` in the existing entry ``models[name]``, keeping its other fields; returns the entry."""
    manifest = json.loads(MANIFEST.read_text())
    if name not in manifest["models"]:
        raise KeyError(f"no model named {name!r} in {MANIFEST}")
    manifest["models"][name].update(fields)
    _write(manifest)
    return manifest["models"][name]


def update_fusion(fusion: dict) -> dict:
    """Set the manifest's top-level ``fusion`` object (the served fusion parameters and what they were fit on)."""
    manifest = json.loads(MANIFEST.read_text())
    manifest["fusion"] = fusion
    _write(manifest)
    return fusion
