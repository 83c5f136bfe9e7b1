"""market: recorded samples of price, network hashrate, difficulty and hashprice

Revision ID: 0011_market_samples
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_market_samples"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_samples")),
    )
    op.create_index("ix_market_samples_metric_ts", "market_samples", ["metric", "ts"])


def downgrade() -> None:
    op.drop_index("ix_market_samples_metric_ts", table_name="market_samples")
    op.drop_table("market_samples")
