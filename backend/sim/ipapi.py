"""Loopback simulator of IP-API's JSON endpoint (``GET /json/{query}?fields=…``).

Same wire format as ip-api.com: ``{"status": "success", "country", "countryCode", "region",
"regionName", "city", "zip", "lat", "lon", "timezone", "isp", "org", "as", "query"}``, or
``{"status": "fail", "message": "private range" | "reserved range" | "invalid query", "query"}``;
``fields`` (comma-separated names) selects what is returned; every answer carries ``X-Rl``
(requests left in the window) and ``X-Ttl`` (seconds until it resets), and a caller over the
limit (45 a minute) gets HTTP 429. 24.48.0.1 answers exactly ip-api's documented example; other
public addresses get a location picked deterministically from a small table.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.asgi import LoopbackAsgiServer

DOCUMENTED_EXAMPLE: dict[str, Any] = {
    "query": "24.48.0.1",
    "status": "success",
    "country": "Canada",
    "countryCode": "CA",
    "region": "QC",
    "regionName": "Quebec",
    "city": "Montreal",
    "zip": "H1K",
    "lat": 45.6085,
    "lon": -73.5493,
    "timezone": "America/Toronto",
    "isp": "Le Groupe Videotron Ltee",
    "org": "Videotron Ltee",
    "as": "AS5769 Videotron Ltee",
}
PLACES: tuple[tuple[str, str, str, str, str, str, float, float, str], ...] = (
    ("United States", "US", "TX", "Texas", "Austin", "78701", 30.2672, -97.7431, "America/Chicago"),
    (
        "Iceland",
        "IS",
        "1",
        "Capital Region",
        "Reykjavik",
        "101",
        64.1466,
        -21.9426,
        "Atlantic/Reykjavik",
    ),
    ("Norway", "NO", "46", "Vestland", "Bergen", "5003", 60.3913, 5.3221, "Europe/Oslo"),
    ("Kazakhstan", "KZ", "ALA", "Almaty", "Almaty", "050000", 43.2389, 76.8897, "Asia/Almaty"),
    (
        "Paraguay",
        "PY",
        "ASU",
        "Asuncion",
        "Asuncion",
        "1209",
        -25.2637,
        -57.5759,
        "America/Asuncion",
    ),
    (
        "Germany",
        "DE",
        "HE",
        "Hesse",
        "Frankfurt am Main",
        "60313",
        50.1109,
        8.6821,
        "Europe/Berlin",
    ),
)
WINDOW_S = 60.0


def lookup(query: str) -> dict[str, Any]:
    """The full answer ip-api would give for `query` (before `fields` filtering)."""
    try:
        ip = ipaddress.ip_address(query)
    except ValueError:
        return {"status": "fail", "message": "invalid query", "query": query}
    if (
        ip.is_loopback
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or (ip.is_link_local)
    ):
        return {"status": "fail", "message": "reserved range", "query": query}
    if ip.is_private or not ip.is_global:
        return {"status": "fail", "message": "private range", "query": query}
    if query == DOCUMENTED_EXAMPLE["query"]:
        return dict(DOCUMENTED_EXAMPLE)
    digest = hashlib.sha256(ip.packed).digest()
    country, code, region, region_name, city, zip_code, lat, lon, tz = PLACES[
        digest[0] % len(PLACES)
    ]
    asn = 1000 + int.from_bytes(digest[1:3], "big") % 60000
    return {
        "query": query,
        "status": "success",
        "country": country,
        "countryCode": code,
        "region": region,
        "regionName": region_name,
        "city": city,
        "zip": zip_code,
        "lat": lat,
        "lon": lon,
        "timezone": tz,
        "isp": f"Simulated ISP {asn}",
        "org": f"Simulated Org {asn}",
        "as": f"AS{asn} Simulated ISP {asn}",
    }


class IpApiSimulator:
    def __init__(self, per_minute: int = 45) -> None:
        self.per_minute = per_minute
        self.requests: list[str] = []  # every query received, in order
        self.port: int | None = None
        self._hits: dict[str, deque[float]] = {}
        self._http: LoopbackAsgiServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/json/{query:path}", self._json, methods=["GET"])])

    def _window(self, caller: str) -> tuple[int, int]:
        """(requests left after this one, seconds until the window resets); -1 left = over."""
        now = time.monotonic()
        hits = self._hits.setdefault(caller, deque())
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return -1, max(1, int(hits[0] + WINDOW_S - now + 0.999))
        hits.append(now)
        return self.per_minute - len(hits), max(1, int(hits[0] + WINDOW_S - now + 0.999))

    async def _json(self, request: Request) -> Response:
        caller = request.client.host if request.client else "?"
        left, ttl = self._window(caller)
        headers = {"X-Rl": str(max(left, 0)), "X-Ttl": str(ttl)}
        if left < 0:
            return Response("", status_code=429, headers=headers)
        query = request.path_params["query"]
        self.requests.append(query)
        answer = lookup(query)
        fields = request.query_params.get("fields")
        if fields and not fields.isdigit():
            wanted = {name.strip() for name in fields.split(",")}
            answer = {k: v for k, v in answer.items() if k in wanted}
        return JSONResponse(answer, headers=headers)

    async def start(self) -> None:
        self._http = LoopbackAsgiServer(self.app(), "sim-ipapi")
        await self._http.start()
        self.port = self._http.port

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()

    def settings_overrides(self) -> dict[str, Any]:
        return {"ipapi_url": self.url}

    def describe(self) -> list[str]:
        return [f"ip-api        {self.url}  (GET /json/<ip>)"]
