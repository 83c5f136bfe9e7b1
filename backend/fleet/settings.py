"""Settings of the miner fleet (backend.fleet): which miners, how they are polled, when they
alert, and where alert email goes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from backend.core.miner_config import FleetTable, MinerEntry, check_miners
from backend.core.settings import CoreSettings

LEGACY_ENV: dict[str, str] = {"GMAIL_USER": "gmail_user", "GMAIL_PASSWORD": "gmail_password"}


class FleetSettings(CoreSettings):
    """The fleet's block of the settings."""

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
    # Alert email (backend/fleet/alert_email.py), sent with the deployment's Gmail account.
    gmail_user: str | None = None
    gmail_password: SecretStr | None = None
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
        """Env and TOML may give "a, b/24, c:4029"; entries are checked at load."""
        return check_miners(value)

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
