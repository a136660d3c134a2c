"""SQLite's own SQL: set-at-a-time statements for the queue's transactions.

Python's SQLite driver lets go of the GIL for every step of a statement: once for every row
an ``executemany`` writes and for every row a ``SELECT`` returns, and it must take the GIL
back before the next. Every write runs on the writer thread (sqlite_writer.py), and while the
event loop is busy, taking the GIL back waits up to a switch interval each time
(docs/perf/2026-12-02-sqlite-queue-transactions.md).

So these statements move many rows in one step each: inserts and updates as multi-row
``VALUES``, id lists in as one JSON parameter (``json_each``), and results out as one row
aggregated by ``json_group_array`` (text and integers only: those cross JSON exactly). The
few subscription rows a claim reads take the common statements (queue_sql.py).
``SqliteStatements`` puts them in the queue's hooks (queue_sql.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hookline.core.models import Delivery, Event
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.queue_sql import QueueStatements
from hookline.storage.records import NewDeliveries

#: SQLite's default bound on ``?`` parameters per statement (since 3.32)
MAX_VARIABLES = 32_766


@functools.lru_cache(maxsize=64)
def _values_sql(head: str, width: int, rows: int) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return head + ",".join([one] * rows)


def _chunks(rows: Sequence[Any], width: int) -> list[Sequence[Any]]:
    per = max(MAX_VARIABLES // width, 1)
    return [rows[at : at + per] for at in range(0, len(rows), per)]


def insert_rows(conn: sa.Connection, table: sa.Table, values: Sequence[Mapping[str, Any]]) -> None:
    """``INSERT`` of many rows (each a mapping of every column it sets), a step per chunk."""
    if values:
        cols = tuple(values[0])
        insert_tuples(conn, table, cols, [tuple([r[c] for c in cols]) for r in values])


def insert_tuples(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """``insert_rows`` of rows given as tuples in ``columns``' order: no mapping per row."""
    if not rows:
        return
    names = ", ".join(columns)
    head = f"INSERT INTO {table.name} ({names}) VALUES "  # noqa: S608 - the schema's own names
    for chunk in _chunks(rows, len(columns)):
        sql = _values_sql(head, len(columns), len(chunk))
        conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))


# the VALUES as a FROM subquery, not a WITH: Python 3.11's driver counts changed rows only for
# statements that begin with INSERT, UPDATE, DELETE or REPLACE
# (as queue_sql.RECORD_OUTCOME: a delivery taken away by a disabling keeps its state but succeeded)
_OUTCOME_HEAD = """
UPDATE deliveries
   SET state = CASE WHEN state = 'delivering' OR o.column3 = 'succeeded' THEN o.column3
                    ELSE state END,
       attempts = attempts + 1,
       next_attempt_ms = CASE WHEN state = 'delivering' THEN o.column4 END,
       lease_token = NULL, first_attempt_ms = COALESCE(first_attempt_ms, o.column5),
       last_attempt_ms = o.column6, last_status = o.column7,
       last_error = CASE WHEN state = 'delivering' OR o.column3 = 'succeeded' THEN o.column8
                         ELSE last_error END,
       updated_ms = o.column6
  FROM (VALUES """
#: o.column1..8: id, lease token, state, next, first, at, status, error
_OUTCOME_TAIL = """) AS o
 WHERE deliveries.id = o.column1 AND deliveries.lease_token = o.column2
   AND deliveries.state IN ('delivering', 'held', 'cancelled')"""


def apply_outcomes(conn: sa.Connection, params: Sequence[Mapping[str, Any]]) -> int:
    """Each delivery whose lease is still held moves to its new state; how many did."""
    keys = ("b_id", "b_token", "b_state", "b_next", "b_first", "b_at", "b_status", "b_error")
    changed = 0
    for chunk in _chunks(params, len(keys)):
        sql = _values_sql(_OUTCOME_HEAD, len(keys), len(chunk)) + _OUTCOME_TAIL
        res = conn.exec_driver_sql(sql, tuple([p[k] for p in chunk for k in keys]))
        changed += max(res.rowcount, 0)
    return changed


_CLEAR_FAILING = """
UPDATE subscriptions SET failing_since_ms = NULL
 WHERE id IN (SELECT value FROM json_each(?)) AND failing_since_ms IS NOT NULL"""


def clear_failing(conn: sa.Connection, sub_ids: Sequence[str]) -> None:
    """These subscriptions' last attempt succeeded: they are failing no more."""
    conn.exec_driver_sql(_CLEAR_FAILING, (json.dumps(list(sub_ids)),))


# pull deliveries are left to their consumers (t.DUE_PREDICATE, the partial index's terms)
_DUE = f"""
SELECT json_group_array(id) FROM (
  SELECT id FROM deliveries
   WHERE {t.DUE_PREDICATE} AND next_attempt_ms <= ? AND next_attempt_ms > ?
     AND subscription_id NOT IN (SELECT value FROM json_each(?))
   ORDER BY next_attempt_ms LIMIT ?)"""  # noqa: S608 - the schema's own predicate, no input
_DUE_LANE = """
SELECT json_group_array(id) FROM (
  SELECT id FROM deliveries
   WHERE subscription_id = ? AND state IN ('pending', 'delivering') AND next_attempt_ms <= ?
   ORDER BY next_attempt_ms LIMIT ?)"""
_LEASE = """
UPDATE deliveries SET state = 'delivering', lease_token = ?, next_attempt_ms = ?, updated_ms = ?
 WHERE id IN (SELECT value FROM json_each(?))"""


def claim_ids(
    conn: sa.Connection,
    now_ms: int,
    limit: int,
    lease_ms: int,
    token: str,
    exclude: Sequence[str],
    only: str | None,
    after: int,
) -> list[str]:
    """Lease the due deliveries (``only``'s, when given) to ``token``; their ids. Two steps
    in the caller's write transaction, which no other writer can interleave."""
    if only is not None:
        found = conn.exec_driver_sql(_DUE_LANE, (only, now_ms, limit)).scalar_one()
    else:
        params = (now_ms, after, json.dumps(list(exclude)), limit)
        found = conn.exec_driver_sql(_DUE, params).scalar_one()
    leased: list[str] = json.loads(found)
    if leased:
        conn.exec_driver_sql(_LEASE, (token, now_ms + lease_ms, now_ms, found))
    return leased


#: what a claim reads of each delivery it just leased: the columns the lease did not set (it
#: set the state, the token, the next attempt's time as the lease's end, and updated_ms), and
#: its event's. The event's data (JSON text) goes in as JSON, not as a string of it: decoded
#: once, with the rest, rather than escaped by SQLite and then decoded twice
_CLAIMED = """
SELECT json_group_array(json_array(
         d.id, d.subscription_id, d.attempts, d.first_attempt_ms, d.last_attempt_ms,
         d.last_status, d.last_error, d.created_ms, d.pull, d.replay,
         e.organization_id, e.id, e.type, e.mailbox_id, e.phone_number_id,
         e.agent_identity_id, e.domain, json(e.data), e.occurred_ms, e.created_ms))
  FROM deliveries AS d
  JOIN events AS e ON e.organization_id = d.organization_id AND e.id = d.event_id
 WHERE d.id IN (SELECT value FROM json_each(?))"""


def claimed(
    conn: sa.Connection, delivery_ids: Sequence[str], until_ms: int, now_ms: int
) -> list[tuple[Delivery, Event]]:
    """The deliveries just leased (by ``_LEASE`` with ``until_ms`` and ``now_ms``), each with
    its event, one object per event: built from the aggregate's positions, with no row
    mapping in between (the claim's Python holds the GIL the event loop needs)."""
    found = conn.exec_driver_sql(_CLAIMED, (json.dumps(list(delivery_ids)),)).scalar_one()
    events: dict[tuple[str, str], Event] = {}
    out: list[tuple[Delivery, Event]] = []
    for r in json.loads(found):  # the positions of _CLAIMED's columns
        event = events.get((r[10], r[11]))
        if event is None:
            event = events[(r[10], r[11])] = Event(
                organization_id=r[10],
                id=r[11],
                type=r[12],
                mailbox_id=r[13],
                phone_number_id=r[14],
                agent_identity_id=r[15],
                domain=r[16],
                data=r[17],
                occurred_at_ms=r[18],
                created_at_ms=r[19],
            )
        delivery = Delivery(
            id=r[0],
            subscription_id=r[1],
            attempts=r[2],
            first_attempt_at_ms=r[3],
            last_attempt_at_ms=r[4],
            last_status=r[5],
            last_error=r[6],
            created_at_ms=r[7],
            pull=bool(r[8]),
            replay=bool(r[9]),
            organization_id=r[10],
            event_id=r[11],
            state="delivering",
            next_attempt_at_ms=until_ms,
            updated_at_ms=now_ms,
        )
        out.append((delivery, event))
    return out


_EXISTING_EVENTS = """
SELECT json_group_array(id) FROM events
 WHERE organization_id = ? AND id IN (SELECT value FROM json_each(?))"""


def existing_event_ids(conn: sa.Connection, org_id: str, event_ids: Sequence[str]) -> set[str]:
    """Which of ``event_ids`` the organization has stored already."""
    found = conn.exec_driver_sql(_EXISTING_EVENTS, (org_id, json.dumps(list(event_ids))))
    return set(json.loads(found.scalar_one()))


class SqliteStatements(QueueStatements):
    """The queue's hooks as the statements above."""

    _claim_ids = staticmethod(claim_ids)
    _claimed = staticmethod(claimed)
    _insert_rows = staticmethod(insert_rows)
    _clear_failing = staticmethod(clear_failing)
    _apply_outcomes = staticmethod(apply_outcomes)

    def _insert_ignore(self, table: sa.Table) -> Any:
        return sqlite_insert(table).on_conflict_do_nothing()

    def _insert_new_events(
        self, conn: sa.Connection, items: Sequence[NewDeliveries]
    ) -> set[tuple[str, str]]:
        # exact without RETURNING: the transaction holds SQLite's write lock (BEGIN IMMEDIATE),
        # so no other writer can store one of these ids between the look-up and the insert
        by_org: dict[str, list[str]] = {}
        for item in items:
            by_org.setdefault(item.event.organization_id, []).append(item.event.id)
        known = {
            (org, event_id)
            for org, event_ids in by_org.items()
            for event_id in existing_event_ids(conn, org, event_ids)
        }
        created: set[tuple[str, str]] = set()
        new_rows: list[tuple[Any, ...]] = []
        for item in items:
            key = (item.event.organization_id, item.event.id)
            if key in known or key in created:
                continue  # stored already, or a later copy within this batch
            created.add(key)
            new_rows.append(rows.event_tuple(item.event))
        insert_tuples(conn, t.events, rows.EVENT_COLUMNS, new_rows)
        return created

    def _insert_deliveries(
        self, conn: sa.Connection, made: Sequence[tuple[Delivery, str | None]]
    ) -> None:
        new_rows = [rows.delivery_tuple(d, token) for d, token in made]
        insert_tuples(conn, t.deliveries, rows.DELIVERY_COLUMNS, new_rows)
