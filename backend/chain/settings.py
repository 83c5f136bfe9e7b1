"""Settings of the Bitcoin network poller (backend.chain): difficulty, hashrate, blocks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from backend.core.settings import split_names
from backend.providers.settings import ProviderSettings

LEGACY_ENV: dict[str, str] = {"ANKR_RPC_URL": "bitcoin_rpc_url"}


class ChainSettings(ProviderSettings):
    """Network providers in fallback order and how often each is polled."""

    bitcoin_rpc_url: SecretStr | None = None
    network_sources: list[Literal["blockchain_info", "mempool", "bitcoin_rpc"]] = Field(
        default_factory=lambda: ["blockchain_info", "mempool", "bitcoin_rpc"], min_length=1
    )
    network_poll_s: float = Field(default=60.0, gt=0, le=3600)
    blocks_poll_s: float = Field(default=30.0, gt=0, le=3600)
    network_stale_after_s: float = Field(default=1800.0, gt=0, le=86400)

    @field_validator("network_sources", mode="before")
    @classmethod
    def _split_network_sources(cls, value: Any) -> Any:
        """Env and TOML may give the fallback order as "a,b,c"."""
        return split_names(value)
