"""fleet control: credentials per site or miner, and the verification of each command

Revision ID: 0013_fleet_control
Revises: 0012_partial_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_fleet_control"
down_revision = "0012_partial_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=120), nullable=True),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_credentials")),
        sa.UniqueConstraint("scope", "target", "kind", name="uq_fleet_credentials"),
    )
    with op.batch_alter_table("fleet_commands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verification", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fleet_commands", schema=None) as batch_op:
        batch_op.drop_column("verification")
    op.drop_table("fleet_credentials")
