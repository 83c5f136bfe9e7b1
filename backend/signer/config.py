"""`signer.toml`: where the signing service dials, who it is, which software keys it signs with.

```toml
name = "signer-1"
urls = ["wss://issuer.example.com/api/v1/issuer/signer"]
identity_key = "npvt…"          # authenticates this service to the hub (its npub is allow-listed)
signing_keys = ["npvt…"]        # the RFE account's validation keys this service signs with
max_qty_napu = 100000000000000  # optional: refuse any Issue above this many napu
tx_types = ["Issue"]            # optional: the only tx types it will sign

[reconnect]                     # optional
min_s = 0.5
max_s = 30
```

The file holds private keys, so it must be private to its owner (0600) and it is never echoed:
every error names the file and the field, never a value.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backend.ndau.keys import NdauKeyError, PrivateKey

KNOWN = {"name", "urls", "identity_key", "signing_keys", "max_qty_napu", "tx_types", "reconnect"}


class SignerConfigError(Exception):
    """signer.toml is missing, too open, or invalid; one line naming file and field."""


@dataclass(frozen=True)
class SignerConfig:
    name: str
    urls: tuple[str, ...]
    identity: PrivateKey = field(repr=False)
    signing_keys: tuple[PrivateKey, ...] = field(repr=False)
    max_qty_napu: int | None = None
    tx_types: frozenset[str] = frozenset({"Issue"})
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    source: str = ""


def load_signer_config(path: Path, *, require_urls: bool = True) -> SignerConfig:
    where = str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SignerConfigError(f"signer config {where} does not exist") from None
    except OSError as exc:
        raise SignerConfigError(f"signer config {where}: cannot read ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SignerConfigError(
            f"signer config {where} holds private keys but its permissions are "
            f"{stat.filemode(mode)}; run `chmod 600 {where}`"
        )
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError):
        raise SignerConfigError(f"signer config {where}: cannot be read as UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries only a position, never file content.
        raise SignerConfigError(f"signer config {where}: not valid TOML ({exc})") from None
    return parse_signer_config(data, where, require_urls=require_urls)


def parse_signer_config(
    data: dict[str, Any], where: str = "signer config", *, require_urls: bool = True
) -> SignerConfig:
    unknown = sorted(set(data) - KNOWN)
    if unknown:
        raise SignerConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    urls = data.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise SignerConfigError(f"{where}: urls must be a list of ws:// or wss:// URLs")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise SignerConfigError(f"{where}: urls: {url!r} is not a ws:// or wss:// URL")
    if require_urls and not urls:
        raise SignerConfigError(f"{where}: urls is empty; give the issuer's signer endpoint(s)")
    identity = _key(data.get("identity_key"), where, "identity_key")
    raw_keys = data.get("signing_keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise SignerConfigError(f"{where}: signing_keys must be a non-empty list of npvt keys")
    keys = tuple(_key(k, where, f"signing_keys[{i}]") for i, k in enumerate(raw_keys))
    max_qty = data.get("max_qty_napu")
    if max_qty is not None and (isinstance(max_qty, bool) or not isinstance(max_qty, int)):
        raise SignerConfigError(f"{where}: max_qty_napu must be a whole number of napu")
    if max_qty is not None and max_qty <= 0:
        raise SignerConfigError(f"{where}: max_qty_napu must be positive")
    tx_types = data.get("tx_types", ["Issue"])
    if not isinstance(tx_types, list) or not all(isinstance(t, str) for t in tx_types):
        raise SignerConfigError(f"{where}: tx_types must be a list of tx type names")
    reconnect = data.get("reconnect", {})
    if not isinstance(reconnect, dict) or set(reconnect) - {"min_s", "max_s"}:
        raise SignerConfigError(f"{where}: [reconnect] takes min_s and max_s only")
    min_s = reconnect.get("min_s", 0.5)
    max_s = reconnect.get("max_s", 30.0)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (min_s, max_s)):
        raise SignerConfigError(f"{where}: reconnect delays must be numbers of seconds")
    if not 0 < min_s <= max_s <= 3600:
        raise SignerConfigError(f"{where}: need 0 < reconnect.min_s <= reconnect.max_s <= 3600")
    name = data.get("name", "signer")
    if not isinstance(name, str) or not name.strip():
        raise SignerConfigError(f"{where}: name must be a non-empty string")
    return SignerConfig(
        name=name.strip()[:60],
        urls=tuple(urls),
        identity=identity,
        signing_keys=keys,
        max_qty_napu=max_qty,
        tx_types=frozenset(t.lower() for t in tx_types),
        reconnect_min_s=float(min_s),
        reconnect_max_s=float(max_s),
        source=where,
    )


def _key(value: Any, where: str, name: str) -> PrivateKey:
    if not isinstance(value, str):
        raise SignerConfigError(f"{where}: {name} must be an npvt… private key string")
    try:
        return PrivateKey.from_text(value)
    except NdauKeyError as exc:
        raise SignerConfigError(f"{where}: {name}: {exc}") from None


def render_signer_config(
    *,
    name: str,
    urls: list[str],
    identity: PrivateKey,
    signing_keys: list[PrivateKey],
    max_qty_napu: int | None = None,
    reconnect: tuple[float, float] = (0.5, 30.0),
) -> str:
    """The TOML text of a config (for `hashinsight demo` and tests)."""
    lines = [
        "# hashinsight signing service: holds private keys, keep it 0600",
        f'name = "{name}"',
        "urls = [" + ", ".join(f'"{u}"' for u in urls) + "]",
        f'identity_key = "{identity.to_text()}"',
        "signing_keys = [" + ", ".join(f'"{k.to_text()}"' for k in signing_keys) + "]",
    ]
    if max_qty_napu is not None:
        lines.append(f"max_qty_napu = {max_qty_napu}")
    lines += ["", "[reconnect]", f"min_s = {reconnect[0]}", f"max_s = {reconnect[1]}", ""]
    return "\n".join(lines)


def write_signer_config(path: Path, text: str) -> Path:
    """Write a config with 0600 permissions from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
