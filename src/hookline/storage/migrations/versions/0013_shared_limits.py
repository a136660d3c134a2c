"""shared limits: subscriptions' max_in_flight and rate limit held across worker processes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_limits",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("tat_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("subscription_id"),
    )
    op.create_table(
        "limit_holds",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("holder", sa.String(length=36), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", "holder"),
    )


def downgrade() -> None:
    op.drop_table("limit_holds")
    op.drop_table("subscription_limits")
