"""webhook deliveries: one per endpoint and message, whichever API instance enqueues it first

Revision ID: 0017_webhook_message_once
Revises: 0016_command_idempotency
"""

from __future__ import annotations

from alembic import op

revision = "0017_webhook_message_once"
down_revision = "0016_command_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_webhook_deliveries_message", ["webhook_id", "message_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_webhook_deliveries_message", type_="unique")
