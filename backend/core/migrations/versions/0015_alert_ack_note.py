"""fleet alerts: the note an operator leaves when acknowledging (what is being done about it)

Revision ID: 0015_alert_ack_note
Revises: 0014_alert_silences
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_alert_ack_note"
down_revision = "0014_alert_silences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fleet_alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ack_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fleet_alerts", schema=None) as batch_op:
        batch_op.drop_column("ack_note")
