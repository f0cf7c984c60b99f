"""A stand-in for the Hugging Face Hub's file endpoints on 127.0.0.1, for tests (point HF_ENDPOINT at it).

It answers ``HEAD`` and ``GET /{repo_id}/resolve/{revision}/{filename}`` the way huggingface_hub's
``hf_hub_download`` expects (see ``get_hf_file_metadata`` in its ``file_download.py``): ``X-Repo-Commit``
(required, else FileMetadataError), ``ETag`` (required; the sha256 of the bytes, as the Hub gives for
LFS files) and ``Content-Length``. Unknown repos, revisions and files get 404 with the Hub's
``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound), which huggingface_hub maps to its
error classes. Every request is recorded in ``requests`` as ``(method, path)``.

    with HubServer() as hub:
        commit = hub.add_repo("user/weights", {"model.tflite": data})
        env = {"HF_ENDPOINT": hub.url}
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

RESOLVE_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)$")


@dataclass
class FakeRepo:
    """One model repo at one commit: its files and the branch/tag names that point at that commit."""

    commit: str
    files: dict[str, bytes]
    refs: dict[str, str] = field(default_factory=dict)

    def commit_for(self, revision: str) -> str | None:
        if revision == self.commit:
            return revision
        return self.refs.get(revision)


class HubServer:
    """A threaded HTTP server on a free loopback port; use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> str:
        """Serve ``files`` as ``repo_id`` at a commit derived from their content; returns the 40-hex commit."""
        digest = hashlib.sha1()
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
        commit = digest.hexdigest()
        self.repos[repo_id] = FakeRepo(commit, dict(files), {"main": commit})
        return commit

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down and close the socket: later connections to the port are refused."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _handler_for(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects; every reply carries Content-Length

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def _answer(self, send_body: bool) -> None:
            path = urlsplit(self.path).path
            hub.requests.append((self.command, path))
            match = RESOLVE_PATH.match(path)
            if match is None:
                return self._error(404, None, "Not Found", send_body)
            repo = hub.repos.get(unquote(match["repo"]))
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found", send_body)
            commit = repo.commit_for(unquote(match["revision"]))
            if commit is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {unquote(match['revision'])}", send_body)
            data = repo.files.get(unquote(match["filename"]))
            if data is None:
                return self._error(404, "EntryNotFound", "Entry not found", send_body, {"X-Repo-Commit": commit})
            self._reply(200, data, send_body, {
                "Content-Type": "application/octet-stream",
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                "X-Repo-Commit": commit,
            })

        def _error(self, status: int, code: str | None, message: str, send_body: bool,
                   headers: dict | None = None) -> None:
            extra = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
            if code is not None:
                extra |= {"X-Error-Code": code, "X-Error-Message": message}
            self._reply(status, message.encode(), send_body, extra)

        def _reply(self, status: int, body: bytes, send_body: bool, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # requests are recorded, not printed
            pass

    return Handler
