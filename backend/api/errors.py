"""One JSON error shape for every failure: `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("hashinsight.api")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by routes and dependencies; rendered as the JSON error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message
        self.headers = headers


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(
            error_body("invalid_request", f"{where}: {first.get('msg')}"), status_code=422
        )

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        # Answered here, not by the catch-all, so no traceback carrying the statement's
        # parameters (a key's hash, its sealed copy) reaches the server log. A value the
        # database refuses (PostgreSQL: a NUL in text, a string over its column) is the
        # request's fault.
        if not _data_exception(exc):
            log.error(
                "database error on %s %s: %s",
                request.method,
                request.url.path,
                type(exc.orig).__name__,
            )
            return JSONResponse(error_body("internal_error", "internal error"), status_code=500)
        log.warning(
            "refused a value the database cannot store on %s %s", request.method, request.url.path
        )
        message = "a value cannot be stored: it holds a NUL character or is too long"
        return JSONResponse(error_body("invalid_request", message), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return JSONResponse(error_body("internal_error", "internal error"), status_code=500)


# SQLSTATEs that mean the request's own value cannot be stored: a NUL or a character the
# encoding lacks, a string over its column. Other data exceptions (a numeric overflow, a division
# by zero) are the server's fault and stay 500.
UNSTORABLE_VALUE = frozenset({"22021", "22P05", "22001"})


def _data_exception(exc: DBAPIError) -> bool:
    """An unstorable value (see ``UNSTORABLE_VALUE``); asyncpg's adapter does not always map
    these to ``DataError`` (an invalid byte sequence arrives as a plain ``DBAPIError``)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in UNSTORABLE_VALUE
