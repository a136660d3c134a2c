"""log search: attempt columns for the mailbox, the identity, success and the headers, and an
index for every filter of the attempt log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: every index ends with (created_ms, id): the log's order, so a filtered page (and the page
#: after a cursor) is read straight off the index and stops at the limit
_INDEXES = {
    "ix_attempts_org_created": ["organization_id", "created_ms", "id"],
    "ix_attempts_subscription": ["subscription_id", "created_ms", "id"],
    "ix_attempts_phone": ["organization_id", "phone_number_id", "created_ms", "id"],
    "ix_attempts_mailbox": ["organization_id", "mailbox_id", "created_ms", "id"],
    "ix_attempts_identity": ["organization_id", "agent_identity_id", "created_ms", "id"],
    "ix_attempts_event": ["organization_id", "event_id", "created_ms", "id"],
    "ix_attempts_type": ["organization_id", "event_type", "created_ms", "id"],
    "ix_attempts_status": ["organization_id", "response_status", "created_ms", "id"],
    "ix_attempts_success": ["organization_id", "success", "created_ms", "id"],
}
_OLD = {
    "ix_attempts_org_created": ["organization_id", "created_ms"],
    "ix_attempts_subscription": ["subscription_id", "created_ms"],
}


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mailbox_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("agent_identity_id", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("success", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("request_headers", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("response_headers", sa.Text(), nullable=True))
    # the owner of a subscription never changes, so it is copied onto its attempts once
    op.execute(
        "UPDATE attempts SET"
        " mailbox_id = (SELECT s.mailbox_id FROM subscriptions s"
        " WHERE s.id = attempts.subscription_id),"
        " agent_identity_id = (SELECT s.agent_identity_id FROM subscriptions s"
        " WHERE s.id = attempts.subscription_id),"
        " success = (response_status IS NOT NULL"
        " AND response_status >= 200 AND response_status < 300)"
        " WHERE subscription_id IS NOT NULL OR response_status IS NOT NULL"
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.alter_column("success", server_default=None)
        for name in _OLD:
            batch_op.drop_index(name)
        for name, columns in _INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        for name in _INDEXES:
            batch_op.drop_index(name)
        for name, columns in _OLD.items():
            batch_op.create_index(name, columns, unique=False)
        for column in (
            "response_headers",
            "request_headers",
            "success",
            "agent_identity_id",
            "mailbox_id",
        ):
            batch_op.drop_column(column)
