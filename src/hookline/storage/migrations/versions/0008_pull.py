"""pull subscriptions: a subscription's mode, and deliveries that only a consumer takes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_UNDELIVERED = sa.text("state IN ('pending', 'delivering')")
_DUE = sa.text("state IN ('pending', 'delivering') AND NOT pull")


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=8), server_default="push", nullable=False)
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pull", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_index("ix_deliveries_due", sqlite_where=_UNDELIVERED)
        batch_op.create_index(
            "ix_deliveries_due",
            ["next_attempt_ms"],
            unique=False,
            sqlite_where=_DUE,
            postgresql_where=_DUE,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due", sqlite_where=_DUE)
        batch_op.create_index(
            "ix_deliveries_due",
            ["next_attempt_ms"],
            unique=False,
            sqlite_where=_UNDELIVERED,
            postgresql_where=_UNDELIVERED,
        )
        batch_op.drop_column("pull")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("mode")
