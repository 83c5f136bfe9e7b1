"""The one settings object: defaults, then the TOML file, then the environment.

Every value is validated once at start. A bad value produces one line that names the key and where
it
came from (`SettingsError`), which the CLI prints before exiting with status 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from backend.fleet.config import FleetTable, MinerEntry  # --- fleet ---

APP_NAME = "hashinsight"
ENV_PREFIX = "HASHINSIGHT_"
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_AUTHORITY_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$")

# Environment names of the original deployment, honoured as they are.
LEGACY_ENV: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "BASE_L2_RPC": "base_l2_rpc",
    "BLOCKCHAIN_PRIVATE_KEY": "blockchain_private_key",
    "PINATA_JWT": "pinata_jwt",
    "BLOCKCHAIN_DISABLE_IPFS": "blockchain_disable_ipfs",
    "GMAIL_USER": "gmail_user",
    "GMAIL_PASSWORD": "gmail_password",
    "COINGECKO_API_KEY": "coingecko_api_key",
    "SESSION_SECRET": "session_secret",
    "ANKR_RPC_URL": "bitcoin_rpc_url",
}


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming the key and its source."""


class ConsoleSettings(BaseModel):
    """How the console looks and behaves for this user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    api_key: SecretStr | None = None
    theme: str = "textual-dark"
    refresh_s: float = Field(default=5.0, ge=0.5, le=3600)
    keymap: dict[str, str] = Field(default_factory=dict)
    read_only: bool = False


class Settings(BaseModel):
    """Effective settings of one installation. Secrets are `SecretStr` so they never print."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_dir: Path
    data_dir: Path
    config_file: Path

    # Backend and API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8765, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    database_url: str | None = None
    redis_url: str | None = None
    shutdown_timeout_s: float = Field(default=5.0, gt=0, le=60)
    health_check_interval_s: float = Field(default=15.0, ge=1, le=3600)
    ws_queue_size: int = Field(default=1000, ge=10, le=100_000)
    ws_heartbeat_s: float = Field(default=15.0, ge=1, le=300)
    ws_auth_timeout_s: float = Field(default=10.0, ge=1, le=120)
    operator_token_ttl_h: float = Field(default=24.0, gt=0, le=24 * 30)
    http_timeout_s: float = Field(default=10.0, gt=0, le=120)
    http_retries: int = Field(default=2, ge=0, le=10)
    breaker_failures: int = Field(default=5, ge=1, le=100)
    breaker_cooldown_s: float = Field(default=60.0, gt=0, le=3600)
    # Untrusted input (backend.core.untrusted): the largest request body the API reads (larger:
    # 413 before any parsing) and the deepest JSON nesting it parses (bodies, WebSocket frames).
    api_max_body_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    json_max_depth: int = Field(default=64, ge=8, le=512)

    # Secrets (env or 0600 files in the data dir; see backend.core.secrets)
    pepper: SecretStr | None = None
    fernet_key: SecretStr | None = None
    session_secret: SecretStr | None = None
    operator_key: SecretStr | None = None
    # Argon2id cost of API-key hashes (RFC 9106 low-memory profile by default). Stored hashes
    # carry their own parameters, so changing these affects new keys only.
    key_hash_time_cost: int = Field(default=3, ge=1, le=20)
    key_hash_memory_kib: int = Field(default=65_536, ge=1_024, le=4_194_304)

    # Integrations (later capabilities read these)
    base_l2_rpc: str | None = None
    blockchain_private_key: SecretStr | None = None
    pinata_jwt: SecretStr | None = None
    blockchain_disable_ipfs: bool = False
    gmail_user: str | None = None
    gmail_password: SecretStr | None = None
    coingecko_api_key: SecretStr | None = None
    bitcoin_rpc_url: SecretStr | None = None

    # --- fleet ---
    # Miners: HASHINSIGHT_MINERS="10.0.1.0/24, 10.0.2.7:4029, miner-a.lan" or, in the TOML file,
    # `miners = [...]`, `[[miners]]` tables (address, name, site, rack, position) or `[fleet]`.
    miners: list[str | MinerEntry] = Field(default_factory=list)
    fleet: FleetTable = Field(default_factory=lambda: FleetTable())
    fleet_enabled: bool = True
    fleet_poll_interval_s: float = Field(default=10.0, ge=0.2, le=3600)
    fleet_concurrency: int = Field(default=768, ge=1, le=10_000)
    fleet_connect_timeout_s: float = Field(default=2.0, gt=0, le=60)
    fleet_read_timeout_s: float = Field(default=3.0, gt=0, le=120)
    fleet_backoff_max_s: float = Field(default=300.0, gt=0, le=86_400)
    fleet_identity_refresh_s: float = Field(default=600.0, gt=0, le=86_400)
    fleet_raw_retention_h: float = Field(default=2.0, gt=0, le=24 * 30)
    fleet_rollup_retention_d: float = Field(default=30.0, gt=0, le=3650)
    fleet_power_price_usd_kwh: float = Field(default=0.06, ge=0, le=100)
    fleet_command_concurrency: int = Field(default=32, ge=1, le=1000)
    # After a restart we sent, the miner being dark is expected, not an outage: no offline alert
    # for this long (a stock S19 takes 2-5 min to hash again); still dark after it, it alerts.
    fleet_reboot_grace_s: float = Field(default=600.0, ge=0, le=3600)
    fleet_scan_concurrency: int = Field(default=256, ge=1, le=10_000)
    fleet_scan_timeout_s: float = Field(default=1.0, gt=0, le=60)
    fleet_alert_raise_sweeps: int = Field(default=2, ge=1, le=100)
    fleet_alert_clear_sweeps: int = Field(default=3, ge=1, le=100)
    fleet_alert_hashrate_low_pct: float = Field(default=20.0, gt=0, le=100)
    fleet_alert_reject_pct: float = Field(default=2.0, gt=0, le=100)
    fleet_alert_hw_errors_per_min: float = Field(default=30.0, gt=0)
    # Per-model overrides of chip_max_c, board_max_c, inlet_min_c, fan_min_rpm, boards;
    # key "default" or a model name as the miner reports it (TOML table or JSON in the env).
    fleet_alert_thresholds: dict[str, dict[str, float]] = Field(default_factory=dict)
    fleet_expected_pool_url: str | None = None
    fleet_expected_worker: str | None = None  # "account" or "account.worker"
    fleet_smtp_host: str = "smtp.gmail.com"
    fleet_smtp_port: int = Field(default=587, ge=1, le=65535)
    fleet_smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    fleet_smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)
    fleet_alert_email_to: str = ""  # comma-separated recipients; empty = no email
    fleet_alert_email_from: str | None = None  # default: gmail_user
    fleet_alert_email_min_severity: Literal["critical", "warning", "info"] = "warning"
    # Scale-out (`hashinsight collector`, `serve --no-collect`): a shard's lease lasts this long
    # without renewal; API instances flag a shard's miners stale once its collector's last
    # heartbeat is this old (0: three poll intervals plus 5 s).
    fleet_shard_lease_ttl_s: float = Field(default=30.0, ge=1, le=600)
    fleet_stale_after_s: float = Field(default=0.0, ge=0, le=86_400)

    @field_validator("miners", mode="before")
    @classmethod
    def _split_miners(cls, value: Any) -> Any:
        """Env and TOML may give "a, b/24, c:4029"; entries are checked by the inventory."""
        from backend.fleet.inventory import split_miner_text, validate_entry

        items = split_miner_text(value) if isinstance(value, str) else value
        if isinstance(items, list):
            for item in items:
                validate_entry(item)
        return items

    @field_validator("fleet_alert_thresholds", mode="before")
    @classmethod
    def _thresholds_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            import json

            try:
                return json.loads(value) if value.strip() else {}
            except ValueError:
                raise ValueError('must be JSON such as {"default": {"chip_max_c": 95}}') from None
        return value

    # --- market & chain ---
    market_enabled: bool = True  # poll price, exchange, network and block providers
    coingecko_url: str = "https://api.coingecko.com/api/v3"
    blockchain_info_url: str = "https://blockchain.info"
    mempool_url: str = "https://mempool.space/api"
    okx_url: str = "https://www.okx.com"
    binance_url: str = "https://api.binance.com"
    deribit_url: str = "https://www.deribit.com/api/v2"
    bybit_url: str = "https://api.bybit.com"
    price_sources: list[Literal["coingecko", "blockchain_info", "mempool"]] = Field(
        default_factory=lambda: ["coingecko", "blockchain_info", "mempool"], min_length=1
    )
    network_sources: list[Literal["blockchain_info", "mempool", "bitcoin_rpc"]] = Field(
        default_factory=lambda: ["blockchain_info", "mempool", "bitcoin_rpc"], min_length=1
    )
    price_poll_s: float = Field(default=30.0, gt=0, le=3600)  # CoinGecko free: 50 calls/min
    exchanges_poll_s: float = Field(default=15.0, gt=0, le=3600)
    network_poll_s: float = Field(default=60.0, gt=0, le=3600)
    blocks_poll_s: float = Field(default=30.0, gt=0, le=3600)
    exchange_timeout_s: float = Field(default=5.0, gt=0, le=60)
    market_retries: int = Field(default=1, ge=0, le=5)
    price_stale_after_s: float = Field(default=180.0, gt=0, le=86400)
    network_stale_after_s: float = Field(default=1800.0, gt=0, le=86400)
    history_cache_s: float = Field(default=300.0, gt=0, le=86400)
    price_max_jump_pct: float = Field(default=25.0, gt=0, le=1000)
    hashrate_max_ratio: float = Field(default=10.0, gt=1, le=1e6)
    guard_reset_after_s: float = Field(default=900.0, gt=0, le=86400)
    fallback_probe_s: float = Field(default=600.0, gt=0, le=86400)  # health of idle fallbacks
    # Our own history: at most one recorded sample per metric this often, kept this long.
    market_record_s: float = Field(default=60.0, ge=0, le=86400)
    market_keep_days: float = Field(default=400.0, gt=0, le=3650)
    # With DATABASE_URL and REDIS_URL one process polls the providers (the `market` lease); a
    # holder that stops renewing is replaced after this long.
    market_lease_ttl_s: float = Field(default=30.0, ge=1, le=600)

    @field_validator("price_sources", "network_sources", mode="before")
    @classmethod
    def _split_sources(cls, value: Any) -> Any:
        """Env and TOML may give the fallback order as "a,b,c"."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # --- notary & wallet ---
    notary_enabled: bool = True
    notary_schedule_utc: str = Field(default="00:10", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    notary_period_h: float = Field(default=24.0, gt=0, le=24 * 31)
    notary_confirmations: int = Field(default=2, ge=1, le=64)
    notary_receipt_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    notary_chain_timeout_s: float = Field(default=20.0, gt=0, le=300)
    notary_max_attempts: int = Field(default=8, ge=1, le=100)
    notary_audit_rows_max: int = Field(default=5000, ge=0, le=100_000)
    pinata_url: str = "https://api.pinata.cloud"
    pinata_gateway_url: str = "https://gateway.pinata.cloud"
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
        return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"

    @field_validator("wallet_siwe_domain")
    @classmethod
    def _siwe_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _AUTHORITY_RE.match(value.strip()):
            raise ValueError("must be host[:port] (no scheme, no path)")
        return value.strip()

    @field_validator("wallet_trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        import ipaddress

        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or network") from None
        return value

    # --- issuer ---
    # Bitmart -> ndau issuer (backend/issuer). Bitmart keys live in files, never in settings:
    # <config dir>/bitmart/*apikey.json, or issuer_bitmart_key_file.
    bitmart_url: str = "https://api-cloud.bitmart.com"
    ndau_node_url: str = "https://mainnet-0.ndau.tech:3030"
    issuer_enabled: bool = True
    issuer_mode: Literal["auto", "semi_auto"] = "semi_auto"
    issuer_symbol: str = "NDAU_USDT"
    issuer_bitmart_key_file: Path | None = None
    issuer_start_at: str | None = None  # first start only: "now" or an ISO-8601 time
    issuer_poll_s: float = Field(default=30.0, ge=0.05, le=3600)
    issuer_settle_s: float = Field(default=10.0, ge=0, le=3600)
    issuer_max_window_s: float = Field(default=86_400.0, ge=1, le=30 * 86_400)
    # Every poll re-reads this much before the cursor: Bitmart can list a trade after a later
    # one, and a sale that shows up late must still be issued (trade ids make it count once).
    issuer_lookback_s: float = Field(default=900.0, ge=0, le=7 * 86_400)
    issuer_lease_ttl_s: float = Field(default=30.0, ge=1, le=600)
    issuer_sign_timeout_s: float = Field(default=30.0, gt=0, le=600)
    issuer_approval_alert_s: float = Field(default=3600.0, gt=0, le=30 * 86_400)
    issuer_signer_keys: str = ""  # allow-listed signer identity keys (npub…), comma separated
    issuer_demo_signer_config: Path | None = None  # demo only: run this signer.toml in-process

    @field_validator("issuer_start_at")
    @classmethod
    def _issuer_start_at(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == "now":
            return None if value is None else "now"
        from datetime import datetime

        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                'must be "now" or an ISO-8601 time such as 2025-01-31T00:00:00Z'
            ) from None
        if parsed.tzinfo is None:
            raise ValueError("needs a timezone (e.g. a trailing Z for UTC)")
        return value.strip()

    # --- api keys, partners & webhooks ---
    # Per-key rate limits: partner tiers are fixed (backend/auth/tiers.py); operator keys get these.
    ratelimit_enabled: bool = True
    ratelimit_operator_per_min: int = Field(default=6000, ge=1, le=10_000_000)
    ratelimit_operator_per_hour: int = Field(default=300_000, ge=1, le=100_000_000)
    api_trusted_proxies: str = ""  # proxies whose X-Forwarded-For names the client (auth throttle)
    auth_fail_window_s: float = Field(default=600.0, ge=1, le=86_400)
    auth_fail_slow_after: int = Field(default=5, ge=1, le=100_000)  # failures before slowing down
    auth_fail_block_after: int = Field(default=30, ge=1, le=1_000_000)  # failures before blocking
    auth_block_s: float = Field(default=900.0, ge=1, le=7 * 86_400)
    auth_slow_max_s: float = Field(default=2.0, ge=0, le=30)
    key_usage_flush_s: float = Field(default=30.0, ge=0.1, le=3600)
    webhooks_enabled: bool = True
    webhooks_allow_private: bool = False  # deliver to private/loopback addresses (tests, labs)
    webhooks_allow_http: bool = False  # plain http targets (otherwise https only)
    webhooks_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhooks_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18_000.0, 36_000.0], max_length=20
    )
    webhooks_disable_after: int = Field(default=20, ge=1, le=10_000)  # consecutive failed tries
    webhooks_concurrency: int = Field(default=8, ge=1, le=256)
    webhooks_max_per_partner: int = Field(default=20, ge=1, le=1000)
    webhooks_price_move_pct: float = Field(default=2.0, gt=0, le=100)
    exports_ttl_h: float = Field(default=24.0, gt=0, le=24 * 30)
    exports_max_concurrent: int = Field(default=2, ge=1, le=32)
    exports_max_rows: int = Field(default=5_000_000, ge=1, le=1_000_000_000)

    @field_validator("webhooks_retry_schedule_s", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        """Env and TOML may give the retry delays as "5,300,1800"."""
        if isinstance(value, str):
            return [float(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_trusted_proxies")
    @classmethod
    def _api_trusted_proxies(cls, value: str) -> str:
        import ipaddress

        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or network") from None
        return value

    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @field_validator("api_host")
    @classmethod
    def _host_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def api_url(self) -> str:
        host = self.api_host if ":" not in self.api_host else f"[{self.api_host}]"
        return f"http://{host}:{self.api_port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return _async_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.data_dir / 'hashinsight.db'}"

    def masked(self) -> dict[str, Any]:
        """Effective settings as plain data with every secret replaced by a mask."""
        return _mask(self.model_dump(mode="python"))


def _async_database_url(url: str) -> str:
    """Accept the usual `postgres://` spellings and pick the async driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return mask_url(value)
    return value


def mask_url(text: str) -> str:
    """A URL cut to its scheme and host[:port]: providers put keys in paths, queries, userinfo.

    Whatever follows the authority (Alchemy/Infura keys in the path, `?apikey=`, `user:pass@`)
    becomes "/…". Applied to every string that looks like a URL, so a new URL setting is masked
    without anyone remembering to list it. Text that is not a URL is returned unchanged.
    """
    scheme, sep, rest = text.partition("://")
    if not sep or not _SCHEME_RE.match(scheme):
        return text
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if not host:  # "sqlite:///path": no host, nothing a provider could hide in an authority
        return text
    base = f"{scheme}://{host}"
    return base if rest in (host, host + "/") else base + "/…"


def default_dirs(environ: Mapping[str, str]) -> tuple[Path, Path]:
    """Config and data dirs: platformdirs (XDG_* on Linux), overridable by env.

    XDG variables are read from the given mapping too, so a caller's environment isolates an
    installation even when it is not the process environment.
    """
    xdg_config = environ.get("XDG_CONFIG_HOME", "").strip()
    xdg_data = environ.get("XDG_DATA_HOME", "").strip()
    config_dir = environ.get(ENV_PREFIX + "CONFIG_DIR") or (
        str(Path(xdg_config) / APP_NAME)
        if xdg_config.startswith("/")
        else platformdirs.user_config_dir(APP_NAME)
    )
    data_dir = environ.get(ENV_PREFIX + "DATA_DIR") or (
        str(Path(xdg_data) / APP_NAME)
        if xdg_data.startswith("/")
        else platformdirs.user_data_dir(APP_NAME)
    )
    return Path(config_dir), Path(data_dir)


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build and validate the settings; raise `SettingsError` with a one-line message."""
    env = dict(os.environ if environ is None else environ)
    config_dir, data_dir = default_dirs(env)
    config_file = Path(env.get(ENV_PREFIX + "CONFIG") or config_dir / "config.toml")

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in _read_toml(config_file).items():
        values[key] = value
        sources[key] = f"{config_file}"
    for key, (value, source) in _read_env(env).items():
        if "." in key:
            section, sub = key.split(".", 1)
            values.setdefault(section, {})
            if not isinstance(values[section], dict):
                values[section] = {}
            values[section][sub] = value
        else:
            values[key] = value
        sources[key] = source
    if overrides:
        values.update(overrides)
        sources.update({k: "command line" for k in overrides})

    values.update(config_dir=config_dir, data_dir=data_dir, config_file=config_file)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, values, sources)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"settings: cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"settings: {path} is not valid TOML: {exc}") from None
    if "config_dir" in data or "data_dir" in data:
        raise SettingsError(
            f"settings: {path}: data_dir/config_dir are set by {ENV_PREFIX}DATA_DIR and "
            f"{ENV_PREFIX}CONFIG_DIR, not in the file"
        )
    return data


def _read_env(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Map environment variables to setting keys ("console.theme" for nested ones)."""
    found: dict[str, tuple[str, str]] = {}
    for name, key in LEGACY_ENV.items():
        if env.get(name):
            found[key] = (env[name], f"env {name}")
    skip = {ENV_PREFIX + s for s in ("CONFIG", "CONFIG_DIR", "DATA_DIR")}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in skip:
            continue
        key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        if key in Settings.model_fields or key.split(".", 1)[0] in Settings.model_fields:
            found[key] = (value, f"env {name}")
    return found


def _describe(exc: ValidationError, values: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) or "?"
    source = sources.get(key) or sources.get(loc[0]) or "defaults"
    secret = any(word in key for word in ("key", "secret", "password", "jwt", "pepper", "token"))
    value = values.get(loc[0]) if loc else None
    if len(loc) > 1 and isinstance(value, dict):
        value = value.get(loc[1])
    shown = "" if secret or value is None else f" = {str(value)[:60]!r}"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"settings: {key}{shown} (from {source}): {message}"


def ensure_dirs(settings: Settings) -> None:
    """Create the config and data dirs (0700); a clear `SettingsError` when that is impossible."""
    for label, path in (("config dir", settings.config_dir), ("data dir", settings.data_dir)):
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SettingsError(
                f"settings: {label} {path} cannot be created: {exc.strerror}"
            ) from None
        if not os.access(path, os.W_OK):
            raise SettingsError(f"settings: {label} {path} is not writable")
