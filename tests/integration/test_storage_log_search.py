"""Storage contract: log search — the filters added for it, keyset paging with cursors (ties in
``created_ms``, attempts arriving between pages), the headers kept per attempt, and the plan of
each filtered page (one index range in the log's order, no sort)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest
import sqlalchemy as sa

from hookline.core.models import Attempt, Organization
from hookline.storage import rows, tables
from hookline.storage.attempt_log import attempts_query
from hookline.storage.base import Storage
from hookline.storage.records import AttemptFilter
from hookline.storage.sql import SqlStorage

from .conftest import (
    NOW_MS,
    add_subscription,
    behind,
    make_attempt,
    make_event,
    make_identity,
    make_mailbox,
    make_subscription,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory


def _newest_first(attempts: list[Attempt]) -> list[Attempt]:
    return sorted(attempts, key=lambda a: (a.created_at_ms, a.id), reverse=True)


async def test_filters_by_mailbox_identity_status_and_time(
    storage: Storage, org: Organization
) -> None:
    ident = make_identity(org.id, "a")
    await storage.insert_identity(ident)
    box = make_mailbox(org.id, identity_id=ident.id)
    await storage.insert_mailbox(box)
    by_box = make_subscription(org.id, mailbox_id=box.id, owner_identity_id=ident.id)
    by_ident = make_subscription(org.id, agent_identity_id=ident.id, owner_identity_id=ident.id)
    org_wide = make_subscription(org.id)
    for sub in (by_box, by_ident, org_wide):
        await add_subscription(storage, sub)
    event = make_event(org.id)
    made = {
        "box500": make_attempt(event, sub=by_box, status=500, at=NOW_MS + 10),
        "box200": make_attempt(event, sub=by_box, status=200, at=NOW_MS + 20),
        "ident500": make_attempt(event, sub=by_ident, status=500, at=NOW_MS + 30),
        "org_none": make_attempt(event, sub=org_wide, status=None, at=NOW_MS + 40),
        "org404": make_attempt(event, sub=org_wide, status=404, at=NOW_MS + 50),
    }
    for attempt in made.values():
        await storage.insert_attempt(attempt)

    async def listed(**fields: object) -> list[str]:
        found = await storage.list_attempts(org.id, AttemptFilter(**fields))  # type: ignore[arg-type]
        names = {a.id: n for n, a in made.items()}
        return [names[a.id] for a in found]

    assert await listed(mailbox_id=box.id) == ["box200", "box500"]
    assert await listed(agent_identity_id=ident.id) == ["ident500"]
    assert await listed(status_code=500) == ["ident500", "box500"]
    assert await listed(status_code=500, mailbox_id=box.id) == ["box500"]
    assert await listed(status_code=302) == []
    assert await listed(success=False) == ["org404", "org_none", "ident500", "box500"]
    assert await listed(success=True) == ["box200"]
    # since is inclusive, until exclusive
    assert await listed(since_ms=NOW_MS + 20, until_ms=NOW_MS + 40) == ["ident500", "box200"]
    assert await listed(since_ms=NOW_MS + 51) == []
    assert await listed(until_ms=NOW_MS + 10) == []
    # the copied owner columns come back on the attempt
    [back] = await storage.list_attempts(org.id, AttemptFilter(mailbox_id=box.id, limit=1))
    assert back.mailbox_id == box.id
    assert back.agent_identity_id is None


async def test_headers_round_trip(storage: Storage, org: Organization) -> None:
    sent = json.dumps({"webhook-id": "evt_1", "Authorization": "********"})
    got = json.dumps({"content-type": "text/plain", "x-trace": "a, b"})
    attempt = make_attempt(make_event(org.id), request_headers=sent, response_headers=got)
    await storage.insert_attempt(attempt)
    back = await storage.get_attempt(org.id, attempt.id)
    assert back is not None
    assert (back.request_headers, back.response_headers) == (sent, got)


async def _page_through(
    storage: Storage, org_id: str, flt: AttemptFilter, between: Callable[[int], object]
) -> list[Attempt]:
    """Every page after the first read from the last row of the one before (as a cursor
    does); ``between(n)`` runs after page ``n`` is read."""
    seen: list[Attempt] = []
    before: tuple[int, str] | None = None
    for page_no in range(1000):
        page = await storage.list_attempts(org_id, replace(flt, before=before))
        seen += page
        if len(page) < flt.limit:
            return seen
        before = (page[-1].created_at_ms, page[-1].id)
        result = between(page_no)
        if result is not None:
            await result  # type: ignore[misc]
    raise AssertionError("paging did not end")


async def test_cursor_pages_over_ties_skip_and_repeat_nothing(
    storage: Storage, org: Organization
) -> None:
    event = make_event(org.id, type="message.bounced")
    # many attempts share their millisecond: only the id orders them
    made = [make_attempt(event, status=500, at=NOW_MS + i // 4) for i in range(23)]
    for attempt in made:
        await storage.insert_attempt(attempt)
    for limit in (1, 3, 4, 5):
        seen = await _page_through(storage, org.id, AttemptFilter(limit=limit), lambda _: None)
        assert seen == _newest_first(made)
    filtered = await _page_through(
        storage,
        org.id,
        AttemptFilter(event_type="message.bounced", status_code=500, limit=3),
        lambda _: None,
    )
    assert filtered == _newest_first(made)


async def test_cursor_pages_ignore_attempts_arriving_meanwhile(
    storage: Storage, org: Organization
) -> None:
    event = make_event(org.id)
    made = [make_attempt(event, at=NOW_MS + i // 2) for i in range(12)]
    for attempt in made:
        await storage.insert_attempt(attempt)
    arrived: list[Attempt] = []

    async def more(page_no: int) -> None:
        # new attempts, newer than any listed, including one in the newest millisecond
        for i in range(3):
            late = make_attempt(event, at=NOW_MS + 5 + page_no + i)
            arrived.append(late)
            await storage.insert_attempt(late)

    seen = await _page_through(storage, org.id, AttemptFilter(limit=5), more)
    assert arrived
    assert seen[:5] == _newest_first(made)[:5]
    # after the first page only older rows follow: nothing skipped, nothing twice
    assert seen == _newest_first(made)
    assert len({a.id for a in seen}) == len(seen)


# -- plans --------------------------------------------------------------------------------------
_PLANS: list[tuple[str, AttemptFilter, str]] = [
    ("all", AttemptFilter(), "ix_attempts_org_created"),
    ("subscription", AttemptFilter(subscription_id="s"), "ix_attempts_subscription"),
    ("phone", AttemptFilter(phone_number_id="p"), "ix_attempts_phone"),
    ("mailbox", AttemptFilter(mailbox_id="m"), "ix_attempts_mailbox"),
    ("identity", AttemptFilter(agent_identity_id="i"), "ix_attempts_identity"),
    ("event", AttemptFilter(event_id="evt_1"), "ix_attempts_event"),
    ("type", AttemptFilter(event_type="message.bounced"), "ix_attempts_type"),
    ("status", AttemptFilter(status_code=500), "ix_attempts_status"),
    ("success", AttemptFilter(success=False), "ix_attempts_success"),
    ("since", AttemptFilter(since_ms=NOW_MS, until_ms=NOW_MS + 9), "ix_attempts_org_created"),
    ("cursor", AttemptFilter(status_code=500, before=(NOW_MS, "z")), "ix_attempts_status"),
]


@pytest.mark.needs_database
@pytest.mark.parametrize(("name", "flt", "index"), _PLANS, ids=[p[0] for p in _PLANS])
async def test_each_filter_reads_its_index_in_order(
    storage: Storage, org: Organization, name: str, flt: AttemptFilter, index: str
) -> None:
    assert isinstance(storage, SqlStorage)
    # a log that mostly succeeded, so that "failed only" is worth its own index to a planner
    # that weighs costs by the table's statistics
    event = make_event(org.id)
    seeded = [rows.attempt_values(make_attempt(event, at=NOW_MS + i)) for i in range(400)]
    async with behind(storage) as conn:
        await conn.execute(tables.attempts.insert(), seeded)
        await conn.exec_driver_sql("ANALYZE attempts")
    async with storage.engine.connect() as conn:
        dialect = conn.dialect
        sql = str(
            attempts_query(org.id, flt).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        if dialect.name == "sqlite":
            found = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            plan = "\n".join(str(r[-1]) for r in found.all())
            assert "TEMP B-TREE" not in plan, plan
        else:
            # an empty table is scanned whole by choice: forbid that to see the index plan
            await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
            found = await conn.exec_driver_sql(f"EXPLAIN {sql}")
            plan = "\n".join(str(r[0]) for r in found.all())
            assert "Sort" not in plan, plan
        assert index in plan, plan
