"""Bitmart API keys from `*apikey.json` files, as the original Go tools stored them.

A key file is `{"access": ..., "secret": ..., "memo": ..., "endpoint"?: ...}` in the `bitmart/`
folder of the config dir (or the file named by `issuer_bitmart_key_file`). It must be private to
its owner (0600): a group- or world-readable file is refused, never used. Nothing here ever
puts the secret or the memo in a message, a repr or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from backend.core.untrusted import UntrustedInputError, loads
from backend.issuer.errors import IssuerConfigError

KEY_DIR_NAME = "bitmart"
KEY_SUFFIX = "apikey.json"
KEY_FILE_MAX_BYTES = 64 * 1024
REQUIRED = ("access", "secret", "memo")


@dataclass(frozen=True)
class BitmartApiKey:
    """A loaded key; only a hint of the access key ever appears in its repr."""

    access: str = field(repr=False)
    secret: str = field(repr=False, compare=False)
    memo: str = field(repr=False, compare=False)
    endpoint: str | None = None
    source: str = ""

    def __repr__(self) -> str:
        return f"BitmartApiKey(access={self.access_hint}, source={self.source!r})"

    def sign(self, timestamp: str, body: str) -> str:
        """X-BM-SIGN: hex HMAC-SHA256(secret, timestamp + "#" + memo + "#" + body)."""
        message = f"{timestamp}#{self.memo}#{body}".encode()
        return hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()

    @property
    def access_hint(self) -> str:
        """Enough of the access key to tell keys apart in the console, not enough to use it."""
        return f"{self.access[:4]}…" if len(self.access) > 8 else "…"


def key_dir(config_dir: Path) -> Path:
    return config_dir / KEY_DIR_NAME


def find_key_file(config_dir: Path, explicit: Path | None = None) -> Path:
    """The key file to use: the explicit one, else the only `*apikey.json` in `bitmart/`."""
    if explicit is not None:
        return explicit
    folder = key_dir(config_dir)
    candidates = sorted(p for p in folder.glob(f"*{KEY_SUFFIX}") if p.is_file())
    if not candidates:
        raise IssuerConfigError(
            f"no Bitmart key: put a file named like 'issuer.{KEY_SUFFIX}' (mode 0600) in {folder}"
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise IssuerConfigError(
            f"several Bitmart key files in {folder} ({names}); keep one or set "
            "HASHINSIGHT_ISSUER_BITMART_KEY_FILE"
        )
    return candidates[0]


def load_api_key(path: Path) -> BitmartApiKey:
    """Read and validate one key file; every error names the file and the problem only."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise IssuerConfigError(f"Bitmart key file {path} does not exist") from None
    except OSError as exc:
        raise IssuerConfigError(f"Bitmart key file {path}: cannot read ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IssuerConfigError(
            f"Bitmart key file {path}: permissions {stat.filemode(mode)} let others read it; "
            f"run `chmod 600 {path}`"
        )
    try:
        raw = path.read_bytes()
    except OSError:
        raise IssuerConfigError(f"Bitmart key file {path}: cannot be read") from None
    try:
        data = loads(raw, max_bytes=KEY_FILE_MAX_BYTES, what="key file")
    except UntrustedInputError as exc:
        # The reason names a byte position at most, never the text: it may be part of the secret.
        raise IssuerConfigError(f"Bitmart key file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise IssuerConfigError(f"Bitmart key file {path}: must be a JSON object")
    missing = [name for name in REQUIRED if not isinstance(data.get(name), str) or not data[name]]
    if missing:
        raise IssuerConfigError(
            f"Bitmart key file {path}: missing or empty field(s) {', '.join(missing)} "
            "(needs access, secret, memo; endpoint is optional)"
        )
    unknown = sorted(set(data) - {*REQUIRED, "endpoint"})
    if unknown:
        raise IssuerConfigError(f"Bitmart key file {path}: unknown field(s) {', '.join(unknown)}")
    endpoint = data.get("endpoint")
    if endpoint is not None:
        parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise IssuerConfigError(
                f"Bitmart key file {path}: endpoint must be an http(s) URL such as "
                "https://api-cloud.bitmart.com"
            )
        endpoint = endpoint.rstrip("/")
    return BitmartApiKey(
        access=data["access"].strip(),
        secret=data["secret"].strip(),
        memo=data["memo"],
        endpoint=endpoint,
        source=str(path),
    )
