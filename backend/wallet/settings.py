"""Settings of wallet sign-in (backend.wallet): the public origin, SIWE, sessions, throttles."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from backend.core.settings import CoreSettings, check_networks
from backend.wallet.authority import is_authority


class WalletSettings(CoreSettings):
    """How Sign-In with Ethereum names this backend, and how hard a client may try."""

    ipapi_url: str = "http://ip-api.com"
    ipapi_per_minute: int = Field(default=45, ge=1, le=10_000)
    # The origin browsers and wallets use to reach this backend (HASHINSIGHT_PUBLIC_URL), e.g.
    # "https://hashinsight.example.com" behind a TLS proxy. Sign-In with Ethereum messages carry
    # its host as their domain; unset, it is the API's own listen address. Never the Host header.
    public_url: str | None = None
    wallet_siwe_domain: str | None = None  # older, finer override of the domain (host[:port])
    wallet_siwe_uri: str | None = None  # older, finer override of the URI (default: <origin>/login)
    wallet_chain_id: int = Field(default=84532, ge=1)
    wallet_nonce_ttl_s: float = Field(default=300.0, ge=10, le=86_400)
    wallet_session_ttl_h: float = Field(default=12.0, gt=0, le=24 * 30)
    wallet_rate_per_ip_min: int = Field(default=20, ge=1, le=10_000)
    wallet_rate_per_address_min: int = Field(default=10, ge=1, le=10_000)
    wallet_trusted_proxies: str = ""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """An http(s) origin with an optional path prefix: nothing a wallet could not show."""
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError('must be an http(s) URL such as "https://hashinsight.example.com"')
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must not carry credentials, a query or a fragment")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("has an invalid port") from None
        # Its host[:port] is every sign-in message's domain: an RFC 3986 authority, so an
        # international name goes in as punycode (as a browser's address bar shows it).
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("has a host name that is not a valid domain name") from None
        if ":" in host:
            host = f"[{host}]"
        authority = host if parts.port is None else f"{host}:{parts.port}"
        if not is_authority(authority):
            raise ValueError(
                "has a host that cannot be a Sign-In with Ethereum domain (letters, digits, "
                "'.', '-', '_', '~' or an IP address)"
            )
        path = parts.path.rstrip("/")
        if re.search(r"[\s\x00-\x1f\x7f]", path):  # the message's URI is one RFC 3986 token
            raise ValueError("has spaces or control characters in its path (percent-encode them)")
        return f"{parts.scheme}://{authority}{path}"

    @field_validator("wallet_siwe_domain")
    @classmethod
    def _siwe_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not is_authority(value.strip()):
            raise ValueError("must be host[:port] (no scheme, no path)")
        return value.strip()

    @field_validator("wallet_trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        return check_networks(value)
