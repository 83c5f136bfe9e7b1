"""The HTTP/1.1 parser of every server we run (the API, the simulators): httptools (llhttp, in
C) when installed, h11 otherwise.

h11 costs about a third of the server's CPU on a cached GET; httptools parses the same request
several times faster. h11 refuses a request head (request line and headers) over uvicorn's
`h11_max_incomplete_event_size` (16 KiB); uvicorn's httptools protocol has no such bound (llhttp
keeps a header value growing in memory until its line ends). `BoundedHttpToolsProtocol` adds it:
a head still incomplete past the limit is answered 400 and the connection closed, as with h11.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from typing import Any, Literal

log = logging.getLogger(__name__)

HttpChoice = Literal["auto", "httptools", "h11"]
DEFAULT_HEAD_LIMIT = 16 * 1024  # h11's default, which uvicorn keeps


def http_protocol(choice: HttpChoice = "auto") -> str | type[Any]:
    """uvicorn's `http` for `choice`: the bounded httptools protocol when it can be imported
    (`auto` or `httptools`), else `"h11"`."""
    if choice == "h11":
        return "h11"
    if importlib.util.find_spec("httptools") is None:
        if choice == "httptools":
            log.warning("api_http is httptools but httptools is not installed: using h11")
        return "h11"
    return _bounded_protocol()


@functools.cache
def _bounded_protocol() -> type[Any]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with the request head bounded like h11's.

        Bytes are counted after each feed while a head is open; the chunk a head began in is
        not counted (part of it may be the previous request), so at most the limit plus two
        reads (256 KiB each) is ever buffered for one head.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_limit = self.config.h11_max_incomplete_event_size or DEFAULT_HEAD_LIMIT
            self._head_bytes = 0
            self._head_open = False  # until llhttp sees a request's first byte
            self._head_fresh = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0
            self._head_open = True
            self._head_fresh = True

        def on_headers_complete(self) -> None:
            self._head_open = False
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._head_open or self.transport.is_closing():
                return
            if self._head_fresh:
                self._head_fresh = False
                return
            self._head_bytes += len(data)
            if self._head_bytes > self._head_limit:
                message = "Invalid HTTP request received."
                self.logger.warning("%s (request head over %d bytes)", message, self._head_limit)
                self._head_open = False
                self.send_400_response(message)

    return BoundedHttpToolsProtocol
