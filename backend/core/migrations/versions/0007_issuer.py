"""issuer: issues, their Bitmart trades, the trade cursor and the issuer lease

Revision ID: 0007_issuer
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_issuer"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("qty_napu", sa.BigInteger(), nullable=False),
        sa.Column("trade_count", sa.Integer(), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("window_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_trade_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_trade_ms", sa.BigInteger(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(length=32), nullable=True),
        sa.Column("signed_tx", sa.Text(), nullable=True),
        sa.Column("rfe_address", sa.String(length=80), nullable=True),
        sa.Column("block_height", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("signing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resequenced", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_token", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issues_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_tx_hash"), ["tx_hash"], unique=False)

    op.create_table(
        "issue_trades",
        sa.Column("trade_id", sa.String(length=40), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("price", sa.String(length=64), nullable=False),
        sa.Column("size", sa.String(length=64), nullable=False),
        sa.Column("notional", sa.String(length=64), nullable=True),
        sa.Column("qty_napu", sa.BigInteger(), nullable=False),
        sa.Column("create_time_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_trades_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("trade_id", name=op.f("pk_issue_trades")),
    )
    with op.batch_alter_table("issue_trades", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issue_trades_create_time_ms"), ["create_time_ms"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_issue_trades_issue_id"), ["issue_id"], unique=False)

    op.create_table(
        "issuer_cursor",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("cursor_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_from_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_issuer_cursor")),
    )

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


def downgrade() -> None:
    op.drop_table("issuer_leases")
    op.drop_table("issuer_cursor")
    with op.batch_alter_table("issue_trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_trades_issue_id"))
        batch_op.drop_index(batch_op.f("ix_issue_trades_create_time_ms"))
    op.drop_table("issue_trades")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issues_tx_hash"))
        batch_op.drop_index(batch_op.f("ix_issues_state"))
        batch_op.drop_index(batch_op.f("ix_issues_created_at"))
    op.drop_table("issues")
