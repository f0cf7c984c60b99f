"""Publish the bundled weights, their manifest and model card to a Hub model repo, in one commit.

    python -m training.publish --repo-id USER/NAME [--token hf_...] [--private]

Uploads exactly the files ``weights/manifest.json`` names (each checked against its sha256 first),
the manifest itself and ``weights/README.md`` (the model card) when there is one; ``.tflite`` files
in the repo that the manifest no longer names are deleted in the same commit. Prints the commit
hash: pin it in the Space's settings as ``EMOTION_WEIGHTS_REVISION`` next to
``EMOTION_WEIGHTS_REPO=USER/NAME``. The token comes from ``--token``, ``HF_TOKEN`` or ``hf auth login``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emotion_core.weights import MANIFEST_NAME, WEIGHTS_DIR, load_manifest, verify

MODEL_CARD = "README.md"
STALE_PATTERNS = ["*.tflite"]  # remote files of these kinds that are not uploaded are deleted


def files_to_publish(weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    """Names (relative to ``weights_dir``) of what to upload: every manifest file, verified, then the
    manifest and the model card if present. Raises ChecksumError or FileNotFoundError before any upload.
    """
    weights_dir = Path(weights_dir)
    models = load_manifest(weights_dir)["models"]
    names = []
    for name, entry in sorted(models.items()):
        path = weights_dir / entry["file"]
        if not path.is_file():
            raise FileNotFoundError(f"{name}: {path} is named in the manifest but missing")
        verify(path, entry["sha256"])
        names.append(entry["file"])
    names.append(MANIFEST_NAME)
    if (weights_dir / MODEL_CARD).is_file():
        names.append(MODEL_CARD)
    return list(dict.fromkeys(names))


def publish(repo_id: str, token: str | None = None, private: bool = False,
            weights_dir: Path = WEIGHTS_DIR, api=None) -> str:
    """Create ``repo_id`` if needed and upload :func:`files_to_publish` in one commit; returns its hash.

    ``api`` defaults to ``huggingface_hub.HfApi(token=token)``.
    """
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    files = files_to_publish(weights_dir)
    models = ", ".join(sorted(load_manifest(Path(weights_dir))["models"]))
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id, repo_type="model", folder_path=str(weights_dir), allow_patterns=files,
        delete_patterns=STALE_PATTERNS, commit_message=f"Publish weights: {models}",
    )
    return commit.oid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo-id", required=True, help="Hub model repo, USER/NAME (created if missing)")
    parser.add_argument("--token", help="Hub token with write access (default: HF_TOKEN or the saved login)")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    files = files_to_publish(args.weights_dir)
    if MODEL_CARD not in files:
        print(f"note: no {args.weights_dir / MODEL_CARD}; the repo gets no model card")
    print(f"uploading to {args.repo_id}: {', '.join(files)}")
    commit = publish(args.repo_id, args.token, args.private, args.weights_dir)
    print(f"commit {commit}")
    print(f"pin it:  EMOTION_WEIGHTS_REPO={args.repo_id}  EMOTION_WEIGHTS_REVISION={commit}")


if __name__ == "__main__":
    main()
