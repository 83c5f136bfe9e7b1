"""fleet alerts: silences (an open alert out of the on-call count for a while, with a reason)

Revision ID: 0014_alert_silences
Revises: 0013_fleet_control
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_alert_silences"
down_revision = "0013_fleet_control"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_alert_silences",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("miner_id", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("silenced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("silenced_by", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_fleet_alert_silences")),
    )
    with op.batch_alter_table("fleet_alert_silences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fleet_alert_silences_until"), ["until"])


def downgrade() -> None:
    with op.batch_alter_table("fleet_alert_silences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleet_alert_silences_until"))
    op.drop_table("fleet_alert_silences")
