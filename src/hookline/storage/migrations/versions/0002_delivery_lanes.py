"""delivery lanes: a due-order index per subscription

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UNDELIVERED = sa.text("state IN ('pending', 'delivering')")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_lane",
            ["subscription_id", "next_attempt_ms"],
            unique=False,
            sqlite_where=_UNDELIVERED,
            postgresql_where=_UNDELIVERED,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deliveries_lane", sqlite_where=_UNDELIVERED, postgresql_where=_UNDELIVERED
        )
