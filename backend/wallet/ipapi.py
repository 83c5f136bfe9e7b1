"""IP geolocation with IP-API (``GET {base}/json/{ip}?fields=…``), cached and rate limited.

ip-api.com's free endpoint allows 45 requests a minute per caller and says how many remain in the
``X-Rl`` header and when the window resets in ``X-Ttl`` (seconds); when ``X-Rl`` reaches 0 no call
may be made for ``X-Ttl`` seconds, and going over gives HTTP 429. This client keeps its own
sliding window under the limit, honours ``X-Rl``/``X-Ttl`` and 429, caches answers for a day, and
never sends private, loopback or reserved addresses (they are answered locally as "skipped").
An answer with ``"status": "fail"`` carries ``message`` (private range, reserved range, invalid
query).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from backend.core.cache import TTLCache
from backend.core.client_ip import is_public
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.http import HttpClientFactory, ProviderError, RateLimitedError
from backend.core.sliding_window import SlidingWindow

FIELDS = "status,message,country,countryCode,region,regionName,city,lat,lon,isp,query"
CACHE_TTL_S = 24 * 3600.0
WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Geo:
    status: str  # ok | skipped | failed | rate_limited
    detail: str | None = None
    country: str | None = None
    country_code: str | None = None
    region: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    isp: str | None = None


class IpApiClient:
    def __init__(
        self,
        http: HttpClientFactory,
        base_url: str,
        *,
        per_minute: int = 45,
        timeout_s: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        # no retries: every request counts against IP-API's per-minute allowance
        self._client = http.provider(
            "ip-api", base_url, kind="geolocation", timeout_s=timeout_s, retries=0
        )
        self._clock = clock
        self._window = SlidingWindow(per_minute, WINDOW_S, clock)
        self._cache: TTLCache[str, Geo] = TTLCache(CACHE_TTL_S, 10_000, clock)
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()
        self.calls = 0

    def wait_s(self) -> float:
        """Seconds before the next call may go out (0 when it may go now)."""
        now = self._clock.monotonic()
        window = self._window.retry_after("ip-api") or 0.0
        return max(window, self._blocked_until - now, 0.0)

    def peek(self, ip: str) -> Geo | None:
        """An answer that needs no call (private address, or cached), else None."""
        if not is_public(ip):
            return Geo("skipped", "private or reserved address: not sent to IP-API")
        return self._cache.get(ip)

    async def locate(self, ip: str, *, wait: bool = True, max_wait_s: float = 120.0) -> Geo:
        """Where `ip` is; waits for the rate limit when `wait` (up to `max_wait_s`)."""
        if not is_public(ip):
            return Geo("skipped", "private or reserved address: not sent to IP-API")
        cached = self._cache.get(ip)
        if cached is not None:
            return cached
        async with self._lock:  # one call at a time keeps the window exact
            cached = self._cache.get(ip)
            if cached is not None:
                return cached
            delay = self.wait_s()
            if delay > 0:
                if not wait or delay > max_wait_s:
                    return Geo("rate_limited", f"IP-API limit reached; retry in {delay:.0f}s")
                await asyncio.sleep(delay)
            geo = await self._call(ip)
        if geo.status in ("ok", "failed"):
            self._cache.set(ip, geo)
        return geo

    async def _call(self, ip: str) -> Geo:
        self._window.hit("ip-api")
        self.calls += 1
        try:
            response = await self._client.request("GET", f"/json/{ip}", params={"fields": FIELDS})
        except RateLimitedError as exc:
            self._blocked_until = self._clock.monotonic() + (exc.retry_after or WINDOW_S)
            return Geo("rate_limited", "IP-API answered 429 (rate limited)")
        except ProviderError as exc:
            return Geo("failed", str(exc)[:200])
        self._honour_headers(response.headers.get("X-Rl"), response.headers.get("X-Ttl"))
        try:
            data = self._client.decode(response)
        except ProviderError as exc:
            return Geo("failed", f"IP-API answer unusable: {exc}"[:200])
        if not isinstance(data, dict):
            return Geo("failed", "IP-API answer is not an object")
        if data.get("status") != "success":
            return Geo("failed", f"IP-API: {data.get('message') or 'lookup failed'}")
        return Geo(
            "ok",
            None,
            country=_text(data.get("country")),
            country_code=_text(data.get("countryCode")),
            region=_text(data.get("regionName") or data.get("region")),
            city=_text(data.get("city")),
            lat=_number(data.get("lat")),
            lon=_number(data.get("lon")),
            isp=_text(data.get("isp")),
        )

    def _honour_headers(self, remaining: str | None, ttl: str | None) -> None:
        try:
            left = int(remaining) if remaining is not None else None
            reset = float(ttl) if ttl is not None else WINDOW_S
        except ValueError:
            return
        if left is not None and left <= 0:
            self._blocked_until = self._clock.monotonic() + max(0.0, min(reset, WINDOW_S * 2))


def _text(value: object) -> str | None:
    return str(value)[:120] if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
