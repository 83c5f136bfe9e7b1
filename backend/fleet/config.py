"""The shapes of fleet configuration in the settings file: miner entries and the `[fleet]` table.

Kept apart from the inventory logic so the settings module can import them cheaply.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MinerEntry(BaseModel):
    """One `[[miners]]` table: an address (host, host:port or CIDR) and optional labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    name: str | None = Field(default=None, max_length=120)
    site: str | None = Field(default=None, max_length=64)
    rack: str | None = Field(default=None, max_length=64)
    position: str | None = Field(default=None, max_length=64)
    web_port: int | None = Field(default=None, ge=1, le=65535)  # control web UI (default 80)
    grpc_port: int | None = Field(default=None, ge=1, le=65535)  # Braiins OS gRPC (50051)


class FleetTable(BaseModel):
    """The `[fleet]` table: more miners, and labels applied to every miner it lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    miners: list[str | MinerEntry] = Field(default_factory=list)
    site: str | None = Field(default=None, max_length=64)
    port: int = Field(default=4028, ge=1, le=65535)
    web_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("miners", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        from backend.fleet.inventory import split_miner_text, validate_entry

        items = split_miner_text(value) if isinstance(value, str) else value
        if isinstance(items, list):
            for item in items:
                validate_entry(item)
        return items
