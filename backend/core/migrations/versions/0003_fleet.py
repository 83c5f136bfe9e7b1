"""fleet: miners and current state, raw samples, 5-minute rollups, alerts, command log

Revision ID: 0003_fleet
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_fleet"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_miners",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("rack", sa.String(length=64), nullable=True),
        sa.Column("position", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("snapshot", sa.Text(), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_miners")),
    )
    with op.batch_alter_table("fleet_miners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fleet_miners_site"), ["site"])

    op.create_table(
        "fleet_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("miner_id", sa.String(length=200), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hashrate_ths", sa.Float(), nullable=True),
        sa.Column("power_w", sa.Float(), nullable=True),
        sa.Column("temp_board_max_c", sa.Float(), nullable=True),
        sa.Column("temp_chip_max_c", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_samples")),
    )
    with op.batch_alter_table("fleet_samples", schema=None) as batch_op:
        batch_op.create_index("ix_fleet_samples_miner_ts", ["miner_id", "ts"])
        batch_op.create_index(batch_op.f("ix_fleet_samples_ts"), ["ts"])

    op.create_table(
        "fleet_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("miner_id", sa.String(length=200), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("online", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hashrate_ths", sa.Float(), nullable=True),
        sa.Column("power_w", sa.Float(), nullable=True),
        sa.Column("temp_board_max_c", sa.Float(), nullable=True),
        sa.Column("temp_chip_max_c", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_rollups")),
    )
    with op.batch_alter_table("fleet_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_fleet_rollups_miner_ts", ["miner_id", "ts"])
        batch_op.create_index(batch_op.f("ix_fleet_rollups_ts"), ["ts"])

    op.create_table(
        "fleet_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("miner_id", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_alerts")),
    )
    with op.batch_alter_table("fleet_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fleet_alerts_miner_id"), ["miner_id"])
        batch_op.create_index(batch_op.f("ix_fleet_alerts_raised_at"), ["raised_at"])
        batch_op.create_index(batch_op.f("ix_fleet_alerts_state"), ["state"])

    op.create_table(
        "fleet_commands",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("miner_id", sa.String(length=200), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requester_key_id", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_commands")),
    )
    with op.batch_alter_table("fleet_commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fleet_commands_created_at"), ["created_at"])
        batch_op.create_index(batch_op.f("ix_fleet_commands_miner_id"), ["miner_id"])
        batch_op.create_index(batch_op.f("ix_fleet_commands_state"), ["state"])


def downgrade() -> None:
    for table in ("fleet_commands", "fleet_alerts", "fleet_rollups", "fleet_samples"):
        op.drop_table(table)
    op.drop_table("fleet_miners")
