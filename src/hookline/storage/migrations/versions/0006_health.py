"""the newest events of an organization first (the console's sending domains)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_org_created", "events", ["organization_id", "created_ms"])


def downgrade() -> None:
    op.drop_index("ix_events_org_created", table_name="events")
