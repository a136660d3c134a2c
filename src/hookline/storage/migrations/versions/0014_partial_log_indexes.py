"""partial log indexes: the attempt log's owner indexes hold only the attempts that have that
owner, and "failed only" only the failures

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLUMNS = {
    "ix_attempts_phone": ["organization_id", "phone_number_id", "created_ms", "id"],
    "ix_attempts_mailbox": ["organization_id", "mailbox_id", "created_ms", "id"],
    "ix_attempts_identity": ["organization_id", "agent_identity_id", "created_ms", "id"],
    "ix_attempts_success": ["organization_id", "success", "created_ms", "id"],
}
_WHERE = {
    "ix_attempts_phone": sa.text("phone_number_id IS NOT NULL"),
    "ix_attempts_mailbox": sa.text("mailbox_id IS NOT NULL"),
    "ix_attempts_identity": sa.text("agent_identity_id IS NOT NULL"),
}


def _where(name: str) -> sa.TextClause:
    if name in _WHERE:
        return _WHERE[name]
    # the literal each database's query compiles "success = false" to (attempt_log.py)
    return sa.text(
        "success = false" if op.get_bind().dialect.name == "postgresql" else "success = 0"
    )


def upgrade() -> None:
    for name, columns in _COLUMNS.items():
        op.drop_index(name, table_name="attempts")
        where = _where(name)
        op.create_index(
            name, "attempts", columns, unique=False, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for name, columns in _COLUMNS.items():
        op.drop_index(name, table_name="attempts")
        op.create_index(name, "attempts", columns, unique=False)
