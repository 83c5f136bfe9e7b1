"""Fleet tables: the miners and their current state, telemetry (raw + 5-minute rollups),
alerts, the command log (with the idempotency keys of its requests) and the control
credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, UtcDateTime


class FleetMinerRow(Base):
    """One known miner: where it is, its imported labels, and its last known state."""

    __tablename__ = "fleet_miners"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(120))
    site: Mapped[str | None] = mapped_column(String(64), index=True)
    rack: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # config | import | scan
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str | None] = mapped_column(String(16))
    snapshot: Mapped[str | None] = mapped_column(Text)  # JSON of the last miner object
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    polled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class FleetSampleRow(Base):
    """One poll of one miner (kept for ``fleet_raw_retention_h``)."""

    __tablename__ = "fleet_samples"
    __table_args__ = (Index("ix_fleet_samples_miner_ts", "miner_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    miner_id: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16))
    hashrate_ths: Mapped[float | None] = mapped_column(Float)
    power_w: Mapped[float | None] = mapped_column(Float)
    temp_board_max_c: Mapped[float | None] = mapped_column(Float)
    temp_chip_max_c: Mapped[float | None] = mapped_column(Float)


class FleetRollupRow(Base):
    """Five minutes of one miner: means of hashrate and power, maxima of temperatures."""

    __tablename__ = "fleet_rollups"
    __table_args__ = (Index("ix_fleet_rollups_miner_ts", "miner_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    miner_id: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)  # bucket start
    samples: Mapped[int] = mapped_column(Integer)
    online: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # last status in the bucket
    hashrate_ths: Mapped[float | None] = mapped_column(Float)
    power_w: Mapped[float | None] = mapped_column(Float)
    temp_board_max_c: Mapped[float | None] = mapped_column(Float)
    temp_chip_max_c: Mapped[float | None] = mapped_column(Float)


def _partial(name: str, column: str, where: str) -> Index:
    """An index of only the rows a hot query asks for (same clause on both engines)."""
    return Index(name, column, sqlite_where=text(where), postgresql_where=text(where))


class FleetAlertRow(Base):
    __tablename__ = "fleet_alerts"
    # Open alerts are few among all ever raised; every poller loads them at start.
    __table_args__ = (_partial("ix_fleet_alerts_open", "miner_id", "state != 'cleared'"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    miner_id: Mapped[str] = mapped_column(String(200), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)  # raised|acknowledged|cleared
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    ack_note: Mapped[str | None] = mapped_column(Text)  # what the acknowledging operator said
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FleetCommandRow(Base):
    """One command for one miner, from request (or approval) to its outcome."""

    __tablename__ = "fleet_commands"
    # The Approvals screen: commands waiting for a second key, newest first.
    __table_args__ = (
        _partial("ix_fleet_commands_pending", "created_at", "state = 'pending_approval'"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    miner_id: Mapped[str] = mapped_column(String(200), index=True)
    command: Mapped[str] = mapped_column(String(32))
    params: Mapped[str] = mapped_column(Text)  # JSON
    state: Mapped[str] = mapped_column(String(24), index=True)
    result: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(120))
    requester_key_id: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    # What the driver read back after sending: "verified: ..." or "sent, not verified: ...".
    verification: Mapped[str | None] = mapped_column(Text)


class FleetCommandRequestRow(Base):
    """A command request made with an ``Idempotency-Key``: a retry of it (the answer was lost,
    the client timed out) gets these commands as they are now instead of running them again."""

    __tablename__ = "fleet_command_requests"
    __table_args__ = (
        UniqueConstraint("requester_key_id", "idempotency_key", name="uq_fleet_command_requests"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_key_id: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # sha256 of the command, its public parameters and the miners: the same key sent with
    # another request is refused rather than answered with this one's commands.
    fingerprint: Mapped[str] = mapped_column(String(64))
    command_ids: Mapped[str] = mapped_column(Text)  # JSON list, in the order asked
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class FleetCredentialRow(Base):
    """Control credentials for one site or one miner and one kind of access.

    ``kind`` is the access path (``web``: stock Antminer CGI; ``luxos``: LuxOS session logon;
    later ``whatsminer`` admin password, ``braiins`` gRPC login). The password is Fernet-encrypted
    like API keys; ``port`` is the port that access uses (the Antminer web port, 80 on real
    miners) and may be set without a password.
    """

    __tablename__ = "fleet_credentials"
    __table_args__ = (UniqueConstraint("scope", "target", "kind", name="uq_fleet_credentials"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))  # site | miner
    target: Mapped[str] = mapped_column(String(200))  # the site name or the miner id
    kind: Mapped[str] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(120))
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    port: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(120))
