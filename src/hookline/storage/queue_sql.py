"""The delivery queue's statements: the portable ones, and the hooks where a dialect has its own.

The queue's transactions (publish_tx.py, claim_tx.py, outcome_tx.py) are plain functions of
one synchronous SQLAlchemy connection, run whole as one write: on SQLite by its one writer
thread, on PostgreSQL through ``AsyncConnection.run_sync`` over asyncpg. They reach the
database through the hooks below, which SQLite's module replaces by set-at-a-time statements
(sqlite_sql.py) and PostgreSQL's by its own claim and outcome statements (postgres.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa

from hookline.core.models import Delivery, Event
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.records import NewDeliveries
from hookline.storage.sql_base import Row, SqlBase

UNDELIVERED = ("pending", "delivering")

#: where an attempt's outcome may still land: under way, or taken away (held or cancelled)
#: by the subscription's disabling or deletion while the attempt was under way; either way the
#: delivery still carries the lease token of the attempt
LEASED_STATES = ("delivering", "held", "cancelled")

_d, _e, _s = t.deliveries, t.events, t.subscriptions
_b_state: sa.BindParameter[str] = sa.bindparam("b_state", type_=sa.String)
_was_delivering = _d.c.state == "delivering"
#: one delivery's new state after an attempt, applied only while its lease is still held. A
#: delivery taken away meanwhile keeps its state (held, cancelled) unless the attempt
#: succeeded: then it is succeeded, as it was delivered, and nothing sends it again
RECORD_OUTCOME = (
    _d.update()
    .where(
        _d.c.id == sa.bindparam("b_id"),
        _d.c.lease_token == sa.bindparam("b_token"),
        _d.c.state.in_(LEASED_STATES),
    )
    .values(
        state=sa.case(
            (_was_delivering, _b_state),
            (_b_state == "succeeded", _b_state),
            else_=_d.c.state,
        ),
        attempts=_d.c.attempts + 1,
        next_attempt_ms=sa.case(
            (_was_delivering, sa.bindparam("b_next", type_=sa.BigInteger)), else_=None
        ),
        lease_token=None,
        first_attempt_ms=sa.func.coalesce(
            _d.c.first_attempt_ms, sa.bindparam("b_first", type_=sa.BigInteger)
        ),
        last_attempt_ms=sa.bindparam("b_at", type_=sa.BigInteger),
        last_status=sa.bindparam("b_status", type_=sa.Integer),
        last_error=sa.case(
            (sa.or_(_was_delivering, _b_state == "succeeded"), sa.bindparam("b_error", sa.Text)),
            else_=_d.c.last_error,  # why it is held or cancelled
        ),
        updated_ms=sa.bindparam("b_at", type_=sa.BigInteger),
    )
)

#: the claimed deliveries with their events
_CLAIMED_ROWS = (
    sa.select(_d, *[c.label("e_" + c.name) for c in _e.c])
    .select_from(
        _d.join(_e, sa.and_(_e.c.organization_id == _d.c.organization_id, _e.c.id == _d.c.event_id))
    )
    .where(_d.c.id.in_(sa.bindparam("ids", expanding=True)))
)
_SUBSCRIPTIONS = sa.select(_s).where(_s.c.id.in_(sa.bindparam("ids", expanding=True)))
#: what a delivery needs of a subscription besides the subscription itself: its secrets,
#: whether it is gone (claim_tx.gone and claim_tx.secrets read these) and its version
SIGNING_COLUMNS = (
    "id",
    "updated_ms",
    "deleted_ms",
    "enabled",
    "disabled_reason",
    "profile",
    "secret_enc",
    "previous_secret_enc",
    "previous_secret_until_ms",
    "auth_token_enc",
    "headers_enc",
)
_SIGNING = sa.select(*[_s.c[c] for c in SIGNING_COLUMNS]).where(
    _s.c.id.in_(sa.bindparam("ids", expanding=True))
)
_INSERTS = {_d.name: _d.insert(), t.attempts.name: t.attempts.insert()}
_CLEAR_FAILING = (
    _s.update()
    .where(_s.c.id.in_(sa.bindparam("ids", expanding=True)), _s.c.failing_since_ms.is_not(None))
    .values(failing_since_ms=None)
)

#: (dialect, statement) -> the statement's SQL, and per parameter position either the name of a
#: caller's parameter or, for a literal of the statement itself, its value
_Slot = tuple[bool, Any]
_COMPILED: dict[tuple[str, int], tuple[str, tuple[_Slot, ...]]] = {}


def execute_many(
    conn: sa.Connection, stmt: sa.Insert | sa.Update, params: Sequence[Mapping[str, Any]]
) -> sa.CursorResult[Any]:
    """``executemany`` of a module-level statement, compiled once per dialect and handed to
    the driver as plain tuples: SQLAlchemy's per-row parameter processing cost more than
    the database's own work on these rows. Only for statements whose columns need no
    conversion (text, integers, booleans)."""
    key = (conn.dialect.name, id(stmt))
    compiled = _COMPILED.get(key)
    if compiled is None:
        c = stmt.compile(dialect=conn.dialect)
        assert c.positiontup is not None, "a positional paramstyle is expected"
        slots = tuple(
            (True, name) if c.binds[name].required else (False, c.params[name])
            for name in c.positiontup
        )
        compiled = _COMPILED[key] = (c.string, slots)
    sql, slots = compiled
    rows_ = [tuple(p[v] if named else v for named, v in slots) for p in params]
    return conn.exec_driver_sql(sql, rows_)


def key_owner(identity_id: str | None) -> Any:
    """The signing-key rows of an identity, or of the organization when None."""
    col = t.signing_keys.c.agent_identity_id
    return col.is_(None) if identity_id is None else col == identity_id


def hold_undelivered(conn: sa.Connection, sub_id: str, reason: str, now_ms: int) -> None:
    """Keep a disabled subscription's undelivered deliveries, held, until it is enabled
    again: a receiver that was down for a while loses nothing. A leased one keeps its lease
    token: the outcome of an attempt under way is still written (RECORD_OUTCOME), while no
    claim or release can take it."""
    conn.execute(
        _d.update()
        .where(_d.c.subscription_id == sub_id, _d.c.state.in_(UNDELIVERED))
        .values(state="held", next_attempt_ms=None, last_error=reason, updated_ms=now_ms)
    )


class QueueStatements(SqlBase):
    """The queue's statements; the dialect replaces those that differ."""

    #: the dialect's claim statements (see sqlite_sql.py, postgres.py): all due rows but the
    #: excluded subscriptions', and one subscription's (a hot lane)
    _CLAIM: ClassVar[sa.TextClause]
    _CLAIM_LANE: ClassVar[sa.TextClause]

    def _claim_ids(
        self,
        conn: sa.Connection,
        now_ms: int,
        limit: int,
        lease_ms: int,
        token: str,
        exclude: Sequence[str],
        only: str | None,
        after: int,
    ) -> list[str]:
        """Lease due deliveries to ``token`` (only ``only``'s when given; else those due after
        ``after``); return their ids."""
        params = {"token": token, "until": now_ms + lease_ms, "now": now_ms, "limit": limit}
        if only is not None:
            res = conn.execute(self._CLAIM_LANE, {**params, "only": only})
        else:
            res = conn.execute(self._CLAIM, {**params, "exclude": list(exclude), "after": after})
        return [r[0] for r in res.all()]

    def _claimed(
        self, conn: sa.Connection, delivery_ids: list[str], until_ms: int, now_ms: int
    ) -> list[tuple[Delivery, Event]]:
        """The deliveries just leased (until ``until_ms``, at ``now_ms``), each with its event:
        one object per event, as a fan-out's batch is one event many times over."""
        del until_ms, now_ms  # read back as stored
        events: dict[tuple[str, str], Event] = {}
        found: list[tuple[Delivery, Event]] = []
        for r in conn.execute(_CLAIMED_ROWS, {"ids": delivery_ids}).mappings():
            key = (r["organization_id"], r["event_id"])
            event = events.get(key)
            if event is None:
                event = events[key] = rows.event(r, prefix="e_")
            found.append((rows.delivery(r), event))
        return found

    def _subscription_rows(self, conn: sa.Connection, sub_ids: list[str]) -> Sequence[Row]:
        return conn.execute(_SUBSCRIPTIONS, {"ids": sub_ids}).mappings().all()

    def _signing_rows(self, conn: sa.Connection, sub_ids: list[str]) -> Sequence[Row]:
        """``SIGNING_COLUMNS`` of each subscription."""
        return conn.execute(_SIGNING, {"ids": sub_ids}).mappings().all()

    def _insert_rows(
        self, conn: sa.Connection, table: sa.Table, values: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert many rows of the deliveries or attempts table."""
        execute_many(conn, _INSERTS[table.name], values)

    def _insert_deliveries(
        self, conn: sa.Connection, made: Sequence[tuple[Delivery, str | None]]
    ) -> None:
        """Insert new deliveries, each with its lease token (None: not leased)."""
        self._insert_rows(conn, _d, [rows.delivery_values(d, lease_token=tok) for d, tok in made])

    def _insert_new_events(
        self, conn: sa.Connection, items: Sequence[NewDeliveries]
    ) -> set[tuple[str, str]]:
        """Store the events whose (organization, id) is new; return those keys."""
        inserted = conn.execute(
            self._insert_ignore(_e).returning(_e.c.organization_id, _e.c.id),
            [rows.event_values(i.event) for i in items],
        )
        return {(r[0], r[1]) for r in inserted.all()}

    def _apply_outcomes(self, conn: sa.Connection, params: list[dict[str, Any]]) -> int:
        """Move each delivery whose lease is still held to its new state; count them."""
        res = execute_many(conn, RECORD_OUTCOME, params)
        return max(res.rowcount, 0)

    def _clear_failing(self, conn: sa.Connection, sub_ids: list[str]) -> None:
        """These subscriptions' last attempt succeeded: they are failing no more."""
        conn.execute(_CLEAR_FAILING, {"ids": sub_ids})
