"""tasks: background work (bulk replay), and deliveries found by subscription, state and age

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("state IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("mailbox_id", sa.String(length=36), nullable=True),
        sa.Column("phone_number_id", sa.String(length=36), nullable=True),
        sa.Column("agent_identity_id", sa.String(length=36), nullable=True),
        sa.Column("owner_identity_id", sa.String(length=36), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("requeued", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("cursor_ms", sa.BigInteger(), nullable=True),
        sa.Column("cursor_id", sa.String(length=36), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=True),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_tasks_active_subscription",
        "tasks",
        ["subscription_id"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_index("ix_tasks_org", "tasks", ["organization_id", "created_ms", "id"])
    op.create_index("ix_tasks_subscription", "tasks", ["subscription_id", "created_ms", "id"])
    # a replay's batches walk one state of a subscription's deliveries oldest first: the
    # index they had (subscription, state) grows by the order, and so serves both
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_subscription")
        batch_op.create_index(
            "ix_deliveries_subscription",
            ["subscription_id", "state", "created_ms", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_subscription")
        batch_op.create_index(
            "ix_deliveries_subscription", ["subscription_id", "state"], unique=False
        )
    op.drop_index("ix_tasks_subscription", table_name="tasks")
    op.drop_index("ix_tasks_org", table_name="tasks")
    op.drop_index("ux_tasks_active_subscription", table_name="tasks")
    op.drop_table("tasks")
