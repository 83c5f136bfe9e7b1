"""The SDK's HTTP side: one httpx client, the typed errors, and every answer decoded under the
untrusted-input policy and parsed into its contract model.

`ApiTransport` is the base every area's calls build on (`_get`, `_managed`, `request`, `_call`);
the error mapping lives here once, so every call reports a refused key, an API error, a reply
that does not fit and a backend that does not answer the same way.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from backend.core.http import retry_after_seconds
from backend.core.untrusted import loads

# A backend's answers are bounded like any input from the network: the largest real one (a
# 10,000-miner page) is a few MiB.
MAX_ANSWER_BYTES = 64 << 20

_M = TypeVar("_M", bound=BaseModel)
_SHOWN_PROBLEMS = 3


def decode_answer(data: bytes | str) -> Any:
    """An answer or frame from the backend, parsed under the untrusted-input policy."""
    return loads(data, max_bytes=MAX_ANSWER_BYTES, what="answer")


def path_segment(segment: str) -> str:
    """An id as one URL path segment; ids such as "[fd00::7]:4028" keep their brackets."""
    return quote(segment, safe=":[]")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AuthError(ApiError):
    """The key is missing, invalid, revoked, or lacks the scope."""


class InvalidAnswer(ApiError):
    """The backend answered, but not in the contract's shape (an older, newer or foreign
    server): reported as a bad gateway with where the answer went wrong, never its values."""

    def __init__(self, what: str, model: str, problems: list[str]) -> None:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = len(problems) - _SHOWN_PROBLEMS
        if more > 0:
            shown += f" (and {more} more)"
        super().__init__(502, "invalid_answer", f"{what}: the answer is not a {model}: {shown}")


def parse_answer(model: type[_M], data: Any, what: str) -> _M:
    """A decoded answer as its contract model; InvalidAnswer when it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'answer'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidAnswer(what, model.__name__, problems) from None


class ConnectionLost(Exception):
    """The backend did not answer (down, unreachable, or the stream dropped)."""


def error_fields(response: httpx.Response) -> tuple[str, str]:
    """The API's error code and message from an error answer; the HTTP reason when it has none."""
    try:
        error = decode_answer(response.content)["error"]
        return error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        return "error", response.reason_phrase


def answer_of(response: httpx.Response) -> Any:
    """A complete answer decoded (None when empty), or its error raised typed."""
    if response.status_code >= 400:
        code, message = error_fields(response)
        kind = AuthError if response.status_code in (401, 403) else ApiError
        raise kind(response.status_code, code, message)
    if not response.content:
        return None
    return decode_answer(response.content)


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What the last answer said about the key's limits (X-RateLimit-*)."""

    limit: int
    remaining: int
    reset: int  # unix epoch seconds
    policy: str

    @classmethod
    def from_headers(cls, headers: httpx.Headers) -> RateLimitState | None:
        try:
            return cls(
                int(headers["x-ratelimit-limit"]),
                int(headers["x-ratelimit-remaining"]),
                int(headers["x-ratelimit-reset"]),
                headers.get("ratelimit-policy", ""),
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class RawExchange:
    """One Playground request's answer, exactly as it came (not a contract shape)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    elapsed_ms: float

    def json(self) -> Any:
        return decode_answer(self.body)


@dataclass
class ApiTransport:
    """The connection to one backend with one key; the area classes add their calls to it."""

    base_url: str
    api_key: str = field(repr=False)
    timeout_s: float = 10.0
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    _http: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    # The key's limits as the last answer of the managed calls reported them.
    rate_limit: RateLimitState | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url.rstrip("/"),
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=self.timeout_s,
                transport=self.transport,
                trust_env=False,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange; ConnectionLost when the backend does not answer."""
        try:
            return await self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            waited = kwargs.get("timeout", self.timeout_s)
            raise ConnectionLost(f"{self.base_url}: no answer within {waited:g}s") from None
        except httpx.HTTPError as exc:
            raise ConnectionLost(f"{self.base_url}: {type(exc).__name__}") from None

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; returns decoded JSON or raises a typed error."""
        return answer_of(await self._send(method, path, **kwargs))

    async def _get(self, model: type[_M], method: str, path: str, **kwargs: Any) -> _M:
        """One call whose answer is parsed as its contract model."""
        return parse_answer(model, await self.request(method, path, **kwargs), f"{method} {path}")

    # The managed calls (keys, partners, webhooks, exports, analytics) retry a 429 after its
    # Retry-After (up to `max_rate_wait_s`) and a lost connection once for reads; `rate_limit`
    # holds the limits the last answer reported.

    async def _call(
        self, method: str, path: str, *, max_rate_wait_s: float = 30.0, **kwargs: Any
    ) -> Any:
        attempts = 0
        while True:
            attempts += 1
            try:
                response = await self._send(method, path, **kwargs)
            except ConnectionLost:
                if method == "GET" and attempts < 2:
                    continue
                raise
            limits = RateLimitState.from_headers(response.headers)
            if limits is not None:
                self.rate_limit = limits
            if response.status_code == 429 and attempts < 4:
                wait = retry_after_s(response.headers.get("retry-after"))
                if wait <= max_rate_wait_s:
                    await asyncio.sleep(wait)
                    continue
            return answer_of(response)

    async def _managed(self, model: type[_M], method: str, path: str, **kwargs: Any) -> _M:
        """`_get` through `_call` (rate-limit waits, one retry of a lost read)."""
        return parse_answer(model, await self._call(method, path, **kwargs), f"{method} {path}")

    def last_rate_limit(self) -> RateLimitState | None:
        """The key's limits as the last answer of these calls reported them."""
        return self.rate_limit

    async def raw(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        api_key: str | None = None,
    ) -> RawExchange:
        """One request exactly as given (the Playground): status, headers, timing, body."""
        merged = dict(headers or {})
        if api_key is not None:
            merged["Authorization"] = f"Bearer {api_key}"
        started = asyncio.get_running_loop().time()
        try:
            response = await self.http.request(method, url, headers=merged, content=content)
        except httpx.HTTPError as exc:
            raise ConnectionLost(f"{url}: {type(exc).__name__}") from None
        elapsed_ms = (asyncio.get_running_loop().time() - started) * 1000
        return RawExchange(
            status=response.status_code,
            reason=response.reason_phrase,
            headers=tuple(response.headers.items()),
            body=response.content,
            elapsed_ms=elapsed_ms,
        )


def retry_after_s(value: str | None) -> float:
    """A 429's `Retry-After` in seconds (1 when absent), read as the backend's HTTP client reads
    it; one that cannot be read, or says a past time, NaN or a negative wait, is taken as a wait
    too long to sit out."""
    if value is None:
        return 1.0
    wait = retry_after_seconds(value, time.time())
    return wait if wait is not None and 0 <= wait < math.inf else math.inf
