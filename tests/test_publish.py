"""training/publish.py: what it uploads, and how it calls the Hub's upload API.

The Hub's upload endpoints (preupload, LFS/Xet transfer, commit) are not faked here: publish() is
checked against a recording stand-in for huggingface_hub.HfApi, and its file selection directly.
"""

from __future__ import annotations

import inspect
import shutil
from types import SimpleNamespace

import pytest
from huggingface_hub import HfApi

from emotion_core.weights import WEIGHTS_DIR, ChecksumError, load_manifest
from training.publish import files_to_publish, publish


class RecordingApi:
    """Records calls after checking their arguments against the real HfApi signatures."""

    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        inspect.signature(HfApi.create_repo).bind(self, repo_id, **kwargs)
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        inspect.signature(HfApi.upload_folder).bind(self, **kwargs)
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return SimpleNamespace(oid="c0ffee" * 6 + "abcd")


@pytest.fixture
def weights_copy(tmp_path):
    for entry in load_manifest()["models"].values():
        shutil.copy(WEIGHTS_DIR / entry["file"], tmp_path)
    shutil.copy(WEIGHTS_DIR / "manifest.json", tmp_path)
    (tmp_path / "stray.tflite").write_bytes(b"not in the manifest")
    return tmp_path


def test_publishes_the_manifest_files_and_the_manifest():
    files = files_to_publish()
    expected = {entry["file"] for entry in load_manifest()["models"].values()} | {"manifest.json"}
    if (WEIGHTS_DIR / "README.md").is_file():
        expected.add("README.md")
    assert set(files) == expected and len(files) == len(expected)


def test_model_card_is_published_when_present_and_strays_never(weights_copy):
    assert "README.md" not in files_to_publish(weights_copy)
    (weights_copy / "README.md").write_text("---\nlicense: other\n---\n# Emotion weights\n")
    files = files_to_publish(weights_copy)
    assert files[-1] == "README.md" and "stray.tflite" not in files


def test_a_file_that_does_not_match_the_manifest_is_never_uploaded(weights_copy):
    entry = load_manifest()["models"]["face_detector"]
    path = weights_copy / entry["file"]
    path.write_bytes(path.read_bytes()[:-1])
    api = RecordingApi()
    with pytest.raises(ChecksumError):
        publish("user/weights", weights_dir=weights_copy, api=api)
    assert api.calls == []


def test_publish_creates_the_repo_and_uploads_in_one_commit(weights_copy):
    api = RecordingApi()
    commit = publish("user/weights", weights_dir=weights_copy, api=api)
    assert commit == "c0ffee" * 6 + "abcd"
    (create, repo_id, create_args), (upload, _, upload_args) = api.calls
    assert (create, repo_id) == ("create_repo", "user/weights")
    assert create_args["exist_ok"] is True and create_args["repo_type"] == "model"
    assert upload == "upload_folder"
    assert upload_args["folder_path"] == str(weights_copy)
    assert upload_args["allow_patterns"] == files_to_publish(weights_copy)
    assert upload_args["delete_patterns"] == ["*.tflite"]
