"""ASGI middleware: every multipart upload is charged to its client in an UploadCache, and refused past a cap.

The declared Content-Length is checked before a byte of the body is read. The body is then counted
as it arrives, so a request without a length, or with more than it declared, is stopped as well:
the parser reading it gets ``abort_error`` (Gradio's parser then deletes what it had written) and
the client gets HTTP 429 with the message. On the upload route the stored paths come back in the
answer and stay charged to the client until the sweep finds them gone; on other multipart routes
(their files are temporary) the charge ends with the request.

Plain ASGI: it wraps any ASGI app (Gradio's FastAPI app in ``app.py``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError

from .upload_cache import FILE_OVERHEAD, UploadCache, client_address

UPLOAD_ROUTE = "/gradio_api/upload"  # Gradio's: its answer lists where the files were stored
MULTIPART = "multipart/form-data"
REFUSED_STATUS = 429  # "try again later": a quota, not a server error
DRAIN_MAX_BYTES = 64 * 2**20  # a refused body up to this size is read and dropped: the client then gets the answer,
# not a connection reset in the middle of sending

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), decoded as latin-1, or None."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def is_multipart_post(scope: Scope) -> bool:
    """A POST with a multipart body: the only kind of request that streams files to disk."""
    content_type = (header(scope, b"content-type") or "").lower()
    return scope["type"] == "http" and scope.get("method") == "POST" and content_type.startswith(MULTIPART)


def declared_length(scope: Scope) -> int:
    """Content-Length, or 0 when absent or not a number (the body is counted as it arrives anyway)."""
    value = header(scope, b"content-length") or ""
    return int(value) if value.strip().isdigit() else 0


def scope_client(scope: Scope) -> str:
    """The client as the server sees it (``scope["client"]``, after uvicorn's own proxy handling),
    or the address its proxy forwarded (see :func:`client_address`)."""
    peer = scope.get("client")
    return client_address(peer[0] if peer else None, header(scope, b"x-forwarded-for"))


def stored_paths(body: bytes) -> list[str]:
    """The paths in the upload route's answer (a JSON list of strings); [] for anything else."""
    try:
        paths = json.loads(body)
    except ValueError:
        return []
    return [path for path in paths if isinstance(path, str)] if isinstance(paths, list) else []


@dataclass
class _Exchange:
    """One guarded request as it goes: bytes received, whether the body is over, the refusal, the answer."""

    declared: int = 0
    received: int = 0
    body_done: bool = False
    refused: str | None = None
    answered: bool = False
    status: int = 0
    answer: list[bytes] = field(default_factory=list)


class UploadGuard:
    """Wrap ``app``: multipart POSTs go through ``cache``'s quotas; everything else passes untouched."""

    def __init__(self, app: Callable, cache: UploadCache, route: str = UPLOAD_ROUTE,
                 abort_error: type[Exception] = MultipartParseError):
        self.app, self.cache, self.route, self.abort_error = app, cache, route, abort_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_multipart_post(scope):
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(declared=declared_length(scope))
        upload, reason = self.cache.admit(scope_client(scope), exchange.declared + FILE_OVERHEAD)
        if upload is None:
            await self._refuse(reason, exchange, receive, send)
            return
        is_upload_route = scope["path"].rstrip("/").endswith(self.route)

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.received += len(message.get("body", b""))
                exchange.body_done = not message.get("more_body", False)
                extra = exchange.received + FILE_OVERHEAD - upload.reserved
                if extra > 0 and (why := self.cache.extend(upload, extra)) is not None:
                    exchange.refused = why
                    raise self.abort_error(why)
            return message

        async def watched_send(message: Message) -> None:
            if exchange.refused is not None:  # the app's answer to the aborted body is replaced by ours
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    await self._refuse(exchange.refused, exchange, receive, send)
                return
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
            elif is_upload_route and exchange.status == 200:
                exchange.answer.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except self.abort_error:  # a parser that does not turn it into an answer of its own
            if exchange.refused is None:
                raise
        finally:
            if exchange.answer:
                self.cache.settle(upload, stored_paths(b"".join(exchange.answer)))
            self.cache.release(upload)
        if exchange.refused is not None and not exchange.answered:
            await self._refuse(exchange.refused, exchange, receive, send)

    @staticmethod
    async def _refuse(reason: str, exchange: _Exchange, receive: Receive, send: Send) -> None:
        """Read and drop what is left of the body (up to DRAIN_MAX_BYTES), then answer 429 with ``reason``."""
        while not exchange.body_done and max(exchange.declared, exchange.received) <= DRAIN_MAX_BYTES:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            exchange.received += len(message.get("body", b""))
            exchange.body_done = not message.get("more_body", False)
        body = reason.encode()
        await send({"type": "http.response.start", "status": REFUSED_STATUS,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), (b"retry-after", b"60")]})
        await send({"type": "http.response.body", "body": body})
        exchange.answered = True
