"""Settings of the daily notary (backend.notary): schedule, Base L2 anchoring, IPFS pinning."""

from __future__ import annotations

from pydantic import Field, SecretStr

from backend.core.settings import CoreSettings

LEGACY_ENV: dict[str, str] = {
    "BASE_L2_RPC": "base_l2_rpc",
    "BLOCKCHAIN_PRIVATE_KEY": "blockchain_private_key",
    "PINATA_JWT": "pinata_jwt",
    "BLOCKCHAIN_DISABLE_IPFS": "blockchain_disable_ipfs",
}


class NotarySettings(CoreSettings):
    """When reports are sealed, where they are anchored and pinned, and with which key."""

    base_l2_rpc: str | None = None
    blockchain_private_key: SecretStr | None = None
    pinata_jwt: SecretStr | None = None
    blockchain_disable_ipfs: bool = False
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
