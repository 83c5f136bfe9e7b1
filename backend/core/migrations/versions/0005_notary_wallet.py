"""notary and wallet: notarizations, SIWE nonces, wallet sessions, wallet login log

Revision ID: 0005_notary_wallet
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_notary_wallet"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notarizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("hash_hex", sa.String(length=66), nullable=True),
        sa.Column("signature", sa.String(length=140), nullable=True),
        sa.Column("signer", sa.String(length=42), nullable=True),
        sa.Column("cid", sa.String(length=100), nullable=True),
        sa.Column("pin_provider", sa.String(length=16), nullable=True),
        sa.Column("pin_size", sa.Integer(), nullable=True),
        sa.Column("chain", sa.String(length=40), nullable=True),
        sa.Column("chain_id", sa.String(length=24), nullable=True),
        sa.Column("chain_genesis", sa.String(length=66), nullable=True),
        sa.Column("anchor_nonce", sa.Integer(), nullable=True),
        sa.Column("anchor_raw_tx", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notarizations")),
    )
    with op.batch_alter_table("notarizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notarizations_created_at"), ["created_at"])
        batch_op.create_index(batch_op.f("ix_notarizations_status"), ["status"])
        batch_op.create_index(batch_op.f("ix_notarizations_tx_hash"), ["tx_hash"])

    op.create_table(
        "wallet_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_nonces")),
        sa.UniqueConstraint("nonce", name=op.f("uq_wallet_nonces_nonce")),
    )
    with op.batch_alter_table("wallet_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_nonces_address"), ["address"])
        batch_op.create_index(batch_op.f("ix_wallet_nonces_expires_at"), ["expires_at"])

    op.create_table(
        "wallet_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_wallet_sessions_token_hash")),
    )
    with op.batch_alter_table("wallet_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_sessions_address"), ["address"])

    op.create_table(
        "wallet_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("geo_status", sa.String(length=16), nullable=False),
        sa.Column("geo_detail", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=80), nullable=True),
        sa.Column("country_code", sa.String(length=4), nullable=True),
        sa.Column("region", sa.String(length=80), nullable=True),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("isp", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_logins")),
    )
    with op.batch_alter_table("wallet_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_logins_address"), ["address"])
        batch_op.create_index(batch_op.f("ix_wallet_logins_at"), ["at"])
        batch_op.create_index(batch_op.f("ix_wallet_logins_outcome"), ["outcome"])


def downgrade() -> None:
    for table, indexes in (
        (
            "wallet_logins",
            ("ix_wallet_logins_outcome", "ix_wallet_logins_at", "ix_wallet_logins_address"),
        ),
        ("wallet_sessions", ("ix_wallet_sessions_address",)),
        ("wallet_nonces", ("ix_wallet_nonces_expires_at", "ix_wallet_nonces_address")),
        (
            "notarizations",
            ("ix_notarizations_tx_hash", "ix_notarizations_status", "ix_notarizations_created_at"),
        ),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
