"""ASGI middleware: the live page's webcam frames and microphone chunks as plain POSTs, outside Gradio.

A frame is the JPEG's own bytes and a microphone chunk raw 16-bit PCM, each in one request whose
query string says whose it is (the page's token) and what it is (frame number, sample rate); the
answer is a few hundred bytes of JSON. Nothing goes through Gradio's upload, queue, event stream or
page state, nothing is written to disk, and the handlers run on threads of their own (their own
limit, not the one Gradio's events share), so a frame never waits behind another tab's request.

Plain ASGI, like :mod:`emotion_core.upload_guard`: it wraps Gradio's FastAPI app in ``app.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from .upload_guard import Receive, Scope, Send, declared_length

MAX_BODY_BYTES = 512 * 1024  # a 224-px JPEG is a few kB, a 0.25 s chunk 8 kB (2 s at 96 kHz: 384 kB); refuse more
THREADS = 8  # handlers run at once (each analyses one frame or chunk); more wait for a thread
TOO_LARGE = 413


@dataclass(frozen=True)
class LivePost:
    """One request: its body and its query parameters (each name's last value)."""

    body: bytes
    params: dict[str, str]


Handler = Callable[[LivePost], str]  # -> the answer, as JSON text


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or ``None`` once it passes ``limit`` bytes (the rest is left unread)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def answer(send: Send, status: int, text: str, seconds: float | None = None) -> None:
    """Send ``text`` as JSON; ``seconds`` (waiting for a thread and handling) as a Server-Timing header,
    which the page's Resource Timing shows (the live benchmark splits a frame's time with it)."""
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    if seconds is not None:
        headers.append((b"server-timing", f"handler;dur={seconds * 1000:.1f}".encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})


def route_path(scope: Scope) -> str:
    """The request's path below the app's root (a proxy may mount the app under a prefix)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


class LiveRoutes:
    """Answer POSTs to ``routes``' paths with their handlers; pass everything else to ``app``."""

    def __init__(self, app, routes: dict[str, Handler], threads: int = THREADS, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.routes, self.threads, self.max_bytes = app, routes, threads, max_bytes
        self._limiter = None  # made on the first request: an anyio limiter belongs to the running loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http" and scope.get("method") == "POST":
            handler = self.routes.get(route_path(scope))
        if handler is None:
            await self.app(scope, receive, send)
            return
        body = None if declared_length(scope) > self.max_bytes else await read_body(receive, self.max_bytes)
        if body is None:
            await answer(send, TOO_LARGE, f'{{"error":"at most {self.max_bytes} bytes"}}')
            return
        import anyio

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        start = time.perf_counter()
        text = await anyio.to_thread.run_sync(handler, LivePost(body, params), limiter=self._limiter)
        await answer(send, 200, text, time.perf_counter() - start)
