"""The FastAPI app factory: routers, error shape, OpenAPI under /api/v1."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from backend import __version__
from backend.api import ws
from backend.api.body_limit import BodyLimitMiddleware
from backend.api.errors import install_error_handlers
from backend.api.ratelimit import RateLimitHeadersMiddleware
from backend.api.routes import health, me
from hashinsight_contract.common import ErrorResponse

if TYPE_CHECKING:
    from backend.api.host import ApiHost

DESCRIPTION = """
HashInsight's API for consoles and partners. Authenticate with `Authorization: Bearer <api key>`
(keys in the query string are refused). Errors are always `{"error": {"code", "message"}}`.
Live data: WebSocket `/ws` (send an `auth` frame, then `subscribe` to channels).
"""

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing, invalid, expired or revoked key"},
    403: {"model": ErrorResponse, "description": "The key lacks the scope this route needs"},
}


# No OpenTelemetry here. FastAPI with native telemetry would otherwise look up the global
# providers (reading the environment) on every request to learn that none is configured.
NO_TELEMETRY: dict[str, bool] = {"tracing": False, "metrics": False, "logs": False}


def telemetry_off() -> dict[str, Any]:
    """FastAPI's `telemetry` argument turning it off, where this FastAPI has one."""
    accepted = "telemetry" in inspect.signature(FastAPI.__init__).parameters
    return {"telemetry": NO_TELEMETRY} if accepted and NO_TELEMETRY else {}


def operation_id(route: APIRoute) -> str:
    return route.name


def create_app(backend: ApiHost) -> FastAPI:
    app = FastAPI(
        title="HashInsight API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        responses=ERROR_RESPONSES,
        # Operation ids are the handlers' names (unique across the API, checked by a test), so a
        # generated client calls `current_price`, not `current_price_api_v1_prices_current_get`.
        generate_unique_id_function=operation_id,
        **telemetry_off(),
    )
    app.state.backend = backend
    install_error_handlers(app)
    routers = (health.router, me.router, ws.router, *backend.routers)
    for router in routers:
        app.include_router(router)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(  # outermost: before routing, auth and any parsing
        BodyLimitMiddleware,
        max_bytes=backend.settings.api_max_body_bytes,
        max_depth=backend.settings.json_max_depth,
    )
    return app
