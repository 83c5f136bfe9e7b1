"""Request bodies are bounded before anything reads them: before routing, auth and parsing.

A body larger than the limit is answered 413 as soon as its declared length or its bytes so far
exceed it; a JSON body (or one without a content type, which FastAPI parses as JSON) nested too
deep, malformed, or holding a NUL character in a string is answered 400 (a NUL in a query value
that the database stores or matches is the ``DataError`` answer's 422). All use the API's one
error shape. What passes is handed on unchanged, so the route's own parser only ever sees a
document known to be small and shallow.
"""

from __future__ import annotations

import email.message
import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.errors import error_body
from backend.core.untrusted import UntrustedInputError, loads

# No field of this API takes a NUL character, and PostgreSQL cannot store one in text: it is
# refused here, the same on either engine, rather than by the database as a 500.
NUL_REFUSED = "a value holds a NUL character (\\u0000), which no field accepts"
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # \u0000 not itself escaped


class BodyLimitMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware): the body is read once, in bounded memory."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        types = [value for name, value in scope["headers"] if name == b"content-type"]
        if len(types) > 1:  # which one a parser takes differs: refuse rather than guess
            await _refuse(send, 400, "bad_request", "more than one Content-Type header")
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _refuse(send, 400, "bad_request", "Content-Length is not a number")
                return
            if length > self.max_bytes:
                await _refuse(send, 413, "payload_too_large", self._too_large(length))
                return
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all: nothing to bound
            return
        body, passed = await self._read(receive)
        if body is None:
            await _refuse(send, 413, "payload_too_large", self._too_large(passed))
            return
        problem = self._check(body, headers.get(b"content-type"))
        if problem is not None:
            await _refuse(send, 400, "bad_request", problem)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes | None, int]:
        """The whole body, or (None, bytes so far) once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None, size
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), size

    def _check(self, body: bytes, content_type: bytes | None) -> str | None:
        """A JSON body must parse within the depth limit (other types were bounded in size)."""
        if not body or not _is_json(content_type):
            return None
        try:
            loads(body, max_bytes=self.max_bytes, max_depth=self.max_depth, what="body")
        except UntrustedInputError as exc:
            return f"request {exc}"
        if b"\\u0000" in body and _ESCAPED_NUL.search(body):
            return NUL_REFUSED
        return None

    def _too_large(self, size: int) -> str:
        return f"request body too large: {size} bytes, the limit is {self.max_bytes}"


def _is_json(content_type: bytes | None) -> bool:
    """Whether FastAPI will parse the body as JSON: no type, or the type read as it reads it
    (``email.message``: Unicode whitespace stripped, ``application/json`` or ``+json``). A
    rule of our own would let a type it reads as JSON past the depth check."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type.decode("latin-1")
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the client's disconnect, as usual

    return replay


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    payload = orjson.dumps(error_body(code, message))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
