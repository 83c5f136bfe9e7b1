"""partial indexes for the open-alert and approval queries; drop the unused issuer_leases

Joins the capability branches (it touches fleet and issuer tables). The partial indexes hold
only the few rows the hot queries ask for, so those queries stop scanning history:
`fleet_alerts` not cleared (loaded by every poller at start) and `fleet_commands` waiting for
approval, newest first (the Approvals screen). `issuer_leases` was replaced by the `issuer` row
of `leases` (0008_scale_out); the downgrade creates it again, empty.

Revision ID: 0012_partial_indexes
Revises: 0003_fleet, 0005_notary_wallet, 0006_partners, 0007_issuer, 0008_scale_out,
    0011_market_samples
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_partial_indexes"
down_revision = (
    "0003_fleet",
    "0005_notary_wallet",
    "0006_partners",
    "0007_issuer",
    "0008_scale_out",
    "0011_market_samples",
)
branch_labels = None
depends_on = None

OPEN_ALERTS = "state != 'cleared'"
PENDING_COMMANDS = "state = 'pending_approval'"


def upgrade() -> None:
    op.create_index(
        "ix_fleet_alerts_open",
        "fleet_alerts",
        ["miner_id"],
        sqlite_where=sa.text(OPEN_ALERTS),
        postgresql_where=sa.text(OPEN_ALERTS),
    )
    op.create_index(
        "ix_fleet_commands_pending",
        "fleet_commands",
        ["created_at"],
        sqlite_where=sa.text(PENDING_COMMANDS),
        postgresql_where=sa.text(PENDING_COMMANDS),
    )
    op.drop_table("issuer_leases")


def downgrade() -> None:
    op.create_table(
        "issuer_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=160), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_issuer_leases")),
    )
    op.drop_index("ix_fleet_commands_pending", table_name="fleet_commands")
    op.drop_index("ix_fleet_alerts_open", table_name="fleet_alerts")
