"""retention: events found by age, so that pruning reads only what it deletes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_created", "events", ["created_ms"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_created", table_name="events")
