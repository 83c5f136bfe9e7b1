"""fleet commands: the Idempotency-Key of each request, so a retried request never runs twice

Revision ID: 0016_command_idempotency
Revises: 0015_alert_ack_note
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_command_idempotency"
down_revision = "0015_alert_ack_note"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_command_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_key_id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("command_ids", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_command_requests")),
        sa.UniqueConstraint(
            "requester_key_id", "idempotency_key", name="uq_fleet_command_requests"
        ),
    )
    with op.batch_alter_table("fleet_command_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fleet_command_requests_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fleet_command_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleet_command_requests_created_at"))
    op.drop_table("fleet_command_requests")
