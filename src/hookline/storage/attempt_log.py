"""The attempt log's query, shared by both databases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hookline.storage import tables as t
from hookline.storage.records import AttemptFilter

#: an agent's scope: the ids of the subscriptions it owns and of its phone numbers
Owned = tuple[list[str], list[str]]


def attempts_query(org_id: str, flt: AttemptFilter, owned: Owned | None = None) -> sa.Select[Any]:
    """The log's query: every filter has an index ending with (created_ms, id), the order
    read, so a page is one index range that stops at the limit. With ``owner_identity_id``,
    ``owned`` is that identity's scope (from ``owned_query``)."""
    a = t.attempts
    stmt = sa.select(a).where(a.c.organization_id == org_id)
    if flt.subscription_id is not None:
        stmt = stmt.where(a.c.subscription_id == flt.subscription_id)
    if flt.phone_number_id is not None:
        stmt = stmt.where(a.c.phone_number_id == flt.phone_number_id)
    if flt.event_type is not None:
        stmt = stmt.where(a.c.event_type == flt.event_type)
    if flt.event_id is not None:
        stmt = stmt.where(a.c.event_id == flt.event_id)
    if flt.mailbox_id is not None:
        stmt = stmt.where(a.c.mailbox_id == flt.mailbox_id)
    if flt.agent_identity_id is not None:
        stmt = stmt.where(a.c.agent_identity_id == flt.agent_identity_id)
    if flt.status_code is not None:
        stmt = stmt.where(a.c.response_status == flt.status_code)
    if flt.success is not None:
        # a literal, not a parameter: "failed only" has a partial index (tables.py), which a
        # planner uses only for a condition it can see holds
        stmt = stmt.where(a.c.success == (sa.true() if flt.success else sa.false()))
    if flt.since_ms is not None:
        stmt = stmt.where(a.c.created_ms >= flt.since_ms)
    if flt.until_ms is not None:
        stmt = stmt.where(a.c.created_ms < flt.until_ms)
    if flt.before is not None:
        at_ms, at_id = flt.before
        # the first term is a range on every index of the log; the second breaks ties
        stmt = stmt.where(
            a.c.created_ms <= at_ms,
            sa.or_(a.c.created_ms < at_ms, a.c.id < at_id),
        )
    if flt.owner_identity_id is not None:
        assert owned is not None, "an agent's scope is read first: see owned_query"
        sub_ids, number_ids = owned
        stmt = stmt.where(
            sa.or_(a.c.subscription_id.in_(sub_ids), a.c.phone_number_id.in_(number_ids))
        )
    order = (a.c.created_ms.desc(), a.c.id.desc())
    return stmt.order_by(*order).limit(flt.limit).offset(flt.offset)


def owned_query(org_id: str, identity_id: str) -> sa.CompoundSelect[Any]:
    """The scope of an agent, read before its log: as id lists the log's own indexes serve
    (by subscription, by number), where subqueries had the database scan the organization's
    whole log for an agent that owns little of it. Rows: ("s", id) and ("p", id); deleted
    subscriptions count, as their attempts stay in the log."""
    s, p = t.subscriptions, t.phone_numbers
    return sa.union_all(
        sa.select(sa.literal("s").label("kind"), s.c.id).where(
            s.c.organization_id == org_id, s.c.owner_identity_id == identity_id
        ),
        sa.select(sa.literal("p").label("kind"), p.c.id).where(
            p.c.organization_id == org_id, p.c.agent_identity_id == identity_id
        ),
    )
