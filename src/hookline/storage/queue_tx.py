"""The delivery queue's write transactions: publish, claim, release, record outcomes.

Each is a plain function of one synchronous SQLAlchemy connection, run whole by
``SqlStorage._transact``: on SQLite inline on the event loop (the statements take
microseconds; a trip to a driver thread per statement took far longer under load), on
PostgreSQL through ``AsyncConnection.run_sync`` over asyncpg. The same code serves both.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import sqlalchemy as sa

from hookline.core import ids, profiles
from hookline.core.errors import EventConflict
from hookline.core.models import ClaimedDelivery, Delivery, Event, Subscription
from hookline.core.routing import signing_key_owner
from hookline.core.timefmt import iso_from_ms
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.records import (
    Disabled,
    NewDeliveries,
    OutcomeRecord,
    Published,
    PullRecorded,
    Recorded,
)

UNDELIVERED = ("pending", "delivering")

#: where an attempt's outcome may still land: under way, or taken away (held or cancelled)
#: by the subscription's disabling or deletion while the attempt was under way; either way the
#: delivery still carries the lease token of the attempt
LEASED_STATES = ("delivering", "held", "cancelled")

_d = t.deliveries
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

_e, _s = t.events, t.subscriptions
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
#: whether it is gone (_gone and _subscription_secrets read these) and its version
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
_INSERTS = {t.deliveries.name: _d.insert(), t.attempts.name: t.attempts.insert()}
Row = Mapping[Any, Any]

#: (dialect, statement) -> the statement's SQL, and per parameter position either the name of a
#: caller's parameter or, for a literal of the statement itself, its value
_Slot = tuple[bool, Any]
_COMPILED: dict[tuple[str, int], tuple[str, tuple[_Slot, ...]]] = {}


def execute_many(
    conn: sa.Connection, stmt: sa.Insert | sa.Update, params: Sequence[Mapping[str, Any]]
) -> sa.CursorResult[Any]:
    """``executemany`` of a module-level statement, compiled once per dialect and handed to
    the driver as plain tuples: SQLAlchemy's per-row parameter processing cost more than
    SQLite's own work on these rows. Only for statements whose columns need no conversion
    (text, integers, booleans)."""
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


class QueueTransactions(abc.ABC):
    """The queue's transactions; the dialect supplies the statements that differ."""

    # -- dialect hooks ------------------------------------------------------------------------
    @abc.abstractmethod
    def _insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that skips rows whose key exists (``ON CONFLICT DO NOTHING``)."""

    #: the dialect's claim statements (see sqlite.py, postgres.py): all due rows but the
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
    ) -> list[str]:
        """Lease due deliveries to ``token`` (only ``only``'s when given); return their ids."""
        params = {"token": token, "until": now_ms + lease_ms, "now": now_ms, "limit": limit}
        if only is not None:
            res = conn.execute(self._CLAIM_LANE, {**params, "only": only})
        else:
            res = conn.execute(self._CLAIM, {**params, "exclude": list(exclude)})
        return [r[0] for r in res.all()]

    def _claimed(
        self, conn: sa.Connection, delivery_ids: list[str], until_ms: int, now_ms: int
    ) -> list[tuple[Delivery, Event]]:
        """The deliveries just leased (until ``until_ms``, at ``now_ms``), each with its event:
        one object per event, as a fan-out's batch is one event many times over."""
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

    def _known_subscriptions(
        self, conn: sa.Connection, sub_ids: Collection[str]
    ) -> dict[str, tuple[Subscription, Row]]:
        """Of ``sub_ids``, those this process holds in memory exactly as stored now, each with
        its ``SIGNING_COLUMNS`` read in ``conn`` (see _attach_leased); none unless the dialect
        keeps them."""
        del conn, sub_ids
        return {}

    def _insert_rows(
        self, conn: sa.Connection, table: sa.Table, values: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert many rows of the deliveries or attempts table."""
        execute_many(conn, _INSERTS[table.name], values)

    def _insert_deliveries(
        self, conn: sa.Connection, made: Sequence[tuple[Delivery, str | None]]
    ) -> None:
        """Insert new deliveries, each with its lease token (None: not leased)."""
        self._insert_rows(
            conn, t.deliveries, [rows.delivery_values(d, lease_token=tok) for d, tok in made]
        )

    def _insert_new_events(
        self, conn: sa.Connection, items: Sequence[NewDeliveries]
    ) -> set[tuple[str, str]]:
        """Store the events whose (organization, id) is new; return those keys."""
        e = t.events
        inserted = conn.execute(
            self._insert_ignore(e).returning(e.c.organization_id, e.c.id),
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

    def _announce_due(self, conn: sa.Connection) -> None:
        """Tell other processes that deliveries fell due (PostgreSQL: NOTIFY). SQLite has
        none to tell: the publisher wakes its own worker."""
        del conn

    def _announce_config(self, conn: sa.Connection) -> None:
        """Tell other processes that configuration changed, so that they drop their cached
        reads (PostgreSQL: NOTIFY, see cached_reads.py). SQLite has no other process."""
        del conn

    def _announce_revoked(self, conn: sa.Connection, sub_id: str) -> frozenset[str]:
        """Tell every worker that the subscription was disabled or deleted, so that none
        starts another attempt of it (PostgreSQL: NOTIFY, see revocations.py); return the
        workers listening, whose acknowledgement the caller may wait for. SQLite's one worker
        is told in the process (SubscriptionService)."""
        del conn, sub_id
        return frozenset()

    # -- publish ------------------------------------------------------------------------------
    def _insert_events_tx(
        self, conn: sa.Connection, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        out: list[Published | None] = [None] * len(items)
        created = self._insert_new_events(conn, items)
        made: list[tuple[Delivery, str | None]] = []
        leased: dict[int, list[Delivery]] = {}
        pending = False
        for n, item in enumerate(items):
            key = (item.event.organization_id, item.event.id)
            if key not in created:
                continue
            created.discard(key)  # a later copy of the id in this batch is a repeat
            lease = item.lease
            for dl in item.deliveries:
                if lease is not None and dl.subscription_id in lease.subscription_ids:
                    if dl.state != "delivering" or dl.next_attempt_at_ms != lease.until_ms:
                        dl = replace(dl, state="delivering", next_attempt_at_ms=lease.until_ms)
                    leased.setdefault(n, []).append(dl)
                    made.append((dl, lease.token))
                else:
                    pending = pending or dl.state == "pending"
                    made.append((dl, None))
            out[n] = Published(event=item.event, deliveries=len(item.deliveries), created=True)
        if made:
            self._insert_deliveries(conn, made)
        if pending:
            self._announce_due(conn)
        if leased:
            self._attach_leased(conn, items, out, leased)
        for n, item in enumerate(items):
            if out[n] is None:
                # an id stored already, or repeated within these items: a repeat if it carries
                # the same content, else a conflict that rolls the whole transaction back
                out[n] = _stored(conn, item.event, n)
        return [p for p in out if p is not None]

    def _attach_leased(
        self,
        conn: sa.Connection,
        items: Sequence[NewDeliveries],
        out: list[Published | None],
        leased: dict[int, list[Delivery]],
    ) -> None:
        """The leased deliveries as a claim returns them: with their signing material.

        A fan-out to many subscriptions the publish routed from memory reads only what the
        subscriptions do not carry (secrets, deletion) when the dialect knows them exactly as
        stored; any whose version moved since is read and decoded whole, as a claim does."""
        sub_ids = list({dl.subscription_id for dls in leased.values() for dl in dls})
        known = self._known_subscriptions(conn, sub_ids)
        subs = {sid: sub for sid, (sub, _) in known.items()}
        sub_rows = {sid: row for sid, (_, row) in known.items()}
        unread = [sid for sid in sub_ids if sid not in subs]
        for r in self._subscription_rows(conn, unread) if unread else ():
            sub_rows[r["id"]], subs[r["id"]] = r, rows.subscription(r)
        claimed: list[ClaimedDelivery] = []
        owner: list[int] = []
        stale: list[tuple[str, str, str]] = []
        for n, dls in leased.items():
            item = items[n]
            assert item.lease is not None
            for dl in dls:
                sub_row = sub_rows[dl.subscription_id]
                # routed from memory an instant before the subscription went: as a claim would
                gone = _gone(sub_row)
                if gone is not None:
                    stale.append((dl.id, *gone))
                    continue
                claimed.append(
                    ClaimedDelivery(
                        delivery=dl,
                        event=item.event,
                        subscription=subs[dl.subscription_id],
                        lease_token=item.lease.token,
                        secret_ciphertexts=_subscription_secrets(sub_row, dl.created_at_ms),
                        auth_token_ciphertext=sub_row["auth_token_enc"],
                        headers_ciphertext=sub_row["headers_enc"],
                    )
                )
                owner.append(n)
        for n, dls in leased.items():
            lease = items[n].lease
            assert lease is not None
            mine = {dl.id for dl in dls}
            _settle(conn, [x for x in stale if x[0] in mine], lease.token, dls[0].created_at_ms)
        _attach_signing_keys(conn, claimed)
        for n in leased:
            published = out[n]
            assert published is not None
            out[n] = replace(
                published, leased=tuple(c for c, o in zip(claimed, owner, strict=True) if o == n)
            )

    # -- claim and release --------------------------------------------------------------------
    def _claim_tx(
        self,
        conn: sa.Connection,
        now_ms: int,
        limit: int,
        lease_ms: int,
        exclude: Collection[str],
        only: str | None,
    ) -> list[ClaimedDelivery]:
        token = ids.new_uuid()
        leased_ids = self._claim_ids(conn, now_ms, limit, lease_ms, token, sorted(exclude), only)
        if not leased_ids:
            return []
        found = self._claimed(conn, leased_ids, now_ms + lease_ms, now_ms)
        # a batch usually spans few subscriptions: load and decode each once
        sub_ids = list({d.subscription_id for d, _ in found})
        sub_rows = {r["id"]: r for r in self._subscription_rows(conn, sub_ids)}
        gone = {sid: g for sid, r in sub_rows.items() if (g := _gone(r)) is not None}
        subs = {
            sid: (
                rows.subscription(r),
                _subscription_secrets(r, now_ms),
                r["auth_token_enc"],
                r["headers_enc"],
            )
            for sid, r in sub_rows.items()
            if sid not in gone
        }
        claimed: list[ClaimedDelivery] = []
        stale: list[tuple[str, str, str]] = []
        for delivery, event in found:
            known = subs.get(delivery.subscription_id)
            if known is None:
                stale.append((delivery.id, *gone[delivery.subscription_id]))
                continue
            sub, secrets, auth, headers = known
            claimed.append(
                ClaimedDelivery(
                    delivery=delivery,
                    event=event,
                    subscription=sub,
                    lease_token=token,
                    secret_ciphertexts=secrets,
                    auth_token_ciphertext=auth,
                    headers_ciphertext=headers,
                )
            )
        _settle(conn, stale, token, now_ms)
        _attach_signing_keys(conn, claimed)
        return claimed

    def _release_tx(
        self,
        conn: sa.Connection,
        delivery_ids: Sequence[str],
        lease_token: str,
        now_ms: int,
        due_ms: int | None,
    ) -> None:
        d = t.deliveries
        conn.execute(
            d.update()
            .where(
                d.c.id.in_(list(delivery_ids)),
                d.c.lease_token == lease_token,
                d.c.state == "delivering",
            )
            .values(
                state="pending",
                lease_token=None,
                next_attempt_ms=now_ms if due_ms is None else due_ms,
                updated_ms=now_ms,
            )
        )

    # -- outcomes -----------------------------------------------------------------------------
    def _record_outcomes_tx(
        self,
        conn: sa.Connection,
        outcomes: Sequence[OutcomeRecord],
        disable_after_ms: int | None,
    ) -> Recorded:
        self._insert_rows(conn, t.attempts, [rows.attempt_values(o.attempt) for o in outcomes])
        changed = self._apply_outcomes(
            conn,
            [
                {
                    "b_id": o.delivery_id,
                    "b_token": o.lease_token,
                    "b_state": o.state,
                    "b_next": o.next_attempt_at_ms,
                    "b_first": o.first_attempt_at_ms,
                    "b_at": o.attempt.created_at_ms,
                    "b_status": o.attempt.response_status,
                    "b_error": o.attempt.error_detail,
                }
                for o in outcomes
            ],
        )
        disabled = _track_health(conn, outcomes, disable_after_ms, self._clear_failing)
        if disabled:
            self._announce_config(conn)  # their deliveries are held from now on
            for d in disabled:
                self._announce_revoked(conn, d.subscription.id)
        return Recorded(changed=changed, disabled=disabled)

    def _record_pulled_tx(
        self,
        conn: sa.Connection,
        sub_id: str,
        leases: Sequence[tuple[str, str]],
        now_ms: int,
        outcome: Callable[[ClaimedDelivery, int], OutcomeRecord],
        disable_after_ms: int | None,
    ) -> PullRecorded:
        d = t.deliveries
        # locked to the end of the transaction (PostgreSQL; SQLite has one writer): two
        # acknowledgements of one lease cannot both find it held
        held = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                sa.select(d.c.id, d.c.lease_token, d.c.updated_ms)
                .where(
                    d.c.id.in_(sorted({i for i, _ in leases})),
                    d.c.subscription_id == sub_id,
                    d.c.state == "delivering",
                    d.c.next_attempt_ms > now_ms,
                )
                .with_for_update()
            ).all()
        }
        tokens: dict[str, str] = {}
        for delivery_id, token in leases:
            found = held.get(delivery_id)
            if found is not None and found[0] == token:
                tokens.setdefault(delivery_id, token)  # a repeat in one call counts once
        if not tokens:
            return PullRecorded(recorded=frozenset())
        sub_row = self._subscription_rows(conn, [sub_id])[0]
        sub = rows.subscription(sub_row)
        outcomes = [
            # the lease set updated_ms when it was taken, and nothing has changed it since
            outcome(
                ClaimedDelivery(
                    delivery=delivery,
                    event=event,
                    subscription=sub,
                    lease_token=tokens[delivery.id],
                ),
                held[delivery.id][1],
            )
            for delivery, event in self._claimed(conn, list(tokens), now_ms, now_ms)
        ]
        recorded = self._record_outcomes_tx(conn, outcomes, disable_after_ms)
        return PullRecorded(recorded=frozenset(tokens), disabled=recorded.disabled)


def _subscription_secrets(sub_row: Mapping[Any, Any], now_ms: int) -> tuple[str, ...]:
    """The secrets that sign a subscription's deliveries now (the previous one during its
    grace period). ``inkbox`` deliveries get their owner's key instead, later."""
    if sub_row["profile"] not in profiles.PER_SUBSCRIPTION_SECRET:
        return ()
    secrets: list[str] = []
    if sub_row["secret_enc"]:
        secrets.append(sub_row["secret_enc"])
    until = sub_row["previous_secret_until_ms"]
    if sub_row["previous_secret_enc"] and until is not None and until > now_ms:
        secrets.append(sub_row["previous_secret_enc"])
    return tuple(secrets)


def _gone(sub_row: Mapping[Any, Any]) -> tuple[str, str] | None:
    """The state and reason for a delivery of a deleted or disabled subscription, if it is:
    cancelled, or held until the subscription is enabled again."""
    if sub_row["deleted_ms"] is not None:
        return "cancelled", "subscription deleted"
    if not sub_row["enabled"]:
        return "held", sub_row["disabled_reason"] or "subscription disabled"
    return None


def _settle(
    conn: sa.Connection, stale: Sequence[tuple[str, str, str]], token: str, now_ms: int
) -> None:
    """Give leased deliveries of gone subscriptions their final state instead of an attempt."""
    d = t.deliveries
    for delivery_id, state, reason in stale:
        conn.execute(
            d.update()
            .where(d.c.id == delivery_id, d.c.lease_token == token)
            .values(
                state=state,
                lease_token=None,
                next_attempt_ms=None,
                last_error=reason,
                updated_ms=now_ms,
            )
        )


def _stored(conn: sa.Connection, ev: Event, index: int) -> Published:
    """The stored event of a repeated id, and how many deliveries it has; ``EventConflict``
    if ``ev`` (``index`` among the items) is not the same event."""
    e, d = t.events, t.deliveries
    row = (
        conn.execute(sa.select(e).where(e.c.organization_id == ev.organization_id, e.c.id == ev.id))
        .mappings()
        .one()
    )
    differs = rows.event_difference(row, ev)
    if differs is not None:
        raise EventConflict(ev.id, differs=differs, index=index)
    count = conn.execute(
        sa.select(sa.func.count()).where(
            d.c.organization_id == ev.organization_id, d.c.event_id == ev.id
        )
    ).scalar_one()
    return Published(event=rows.event(row), deliveries=int(count), created=False)


def _attach_signing_keys(conn: sa.Connection, claimed: list[ClaimedDelivery]) -> None:
    """Give ``inkbox`` deliveries their owner's current signing key, in place."""
    wanted = {
        (c.subscription.organization_id, signing_key_owner(c.subscription))
        for c in claimed
        if c.subscription.profile == profiles.INKBOX
    }
    if not wanted:
        return
    k = t.signing_keys
    keys: dict[tuple[str, str | None], tuple[str, str]] = {}
    for org_id, ident in wanted:
        row = conn.execute(
            sa.select(k.c.key_enc, k.c.id)
            .where(k.c.organization_id == org_id, key_owner(ident), k.c.retired_ms.is_(None))
            .order_by(k.c.created_ms.desc())
            .limit(1)
        ).first()
        if row is not None:
            keys[(org_id, ident)] = (row[0], row[1])
    for i, c in enumerate(claimed):
        if c.subscription.profile == profiles.INKBOX:
            key = keys.get((c.subscription.organization_id, signing_key_owner(c.subscription)))
            claimed[i] = ClaimedDelivery(
                delivery=c.delivery,
                event=c.event,
                subscription=c.subscription,
                lease_token=c.lease_token,
                secret_ciphertexts=(key[0],) if key else (),
                auth_token_ciphertext=c.auth_token_ciphertext,
                signing_key_id=key[1] if key else None,
                headers_ciphertext=c.headers_ciphertext,
            )


_CLEAR_FAILING = (
    t.subscriptions.update()
    .where(
        t.subscriptions.c.id.in_(sa.bindparam("ids", expanding=True)),
        t.subscriptions.c.failing_since_ms.is_not(None),
    )
    .values(failing_since_ms=None)
)


def _track_health(
    conn: sa.Connection,
    outcomes: Sequence[OutcomeRecord],
    disable_after_ms: int | None,
    clear_failing: Callable[[sa.Connection, list[str]], None],
) -> list[Disabled]:
    """Keep each subscription's ``failing_since``; disable those failing too long."""
    s = t.subscriptions
    last: dict[str, OutcomeRecord] = {}
    #: per subscription, the first failure of the batch not followed by a success
    failing_from: dict[str, int] = {}
    for o in sorted(outcomes, key=lambda o: o.attempt.created_at_ms):
        sid = o.attempt.subscription_id
        if not sid:
            continue
        last[sid] = o
        if o.state == "succeeded":
            failing_from.pop(sid, None)
        else:
            failing_from.setdefault(sid, o.attempt.created_at_ms)
    now = max(o.attempt.created_at_ms for o in outcomes)
    healthy = [sid for sid, o in last.items() if o.state == "succeeded"]
    failing = [sid for sid, o in last.items() if o.state != "succeeded"]
    if healthy:
        clear_failing(conn, healthy)
    reasons: dict[str, str] = {}
    if failing:
        for sid in failing:
            conn.execute(
                s.update()
                .where(s.c.id == sid, s.c.failing_since_ms.is_(None))
                .values(failing_since_ms=failing_from[sid])
            )
        if disable_after_ms is not None:
            stale = conn.execute(
                sa.select(s.c.id, s.c.failing_since_ms).where(
                    s.c.id.in_(failing),
                    s.c.enabled.is_(True),
                    s.c.deleted_ms.is_(None),
                    s.c.failing_since_ms <= now - disable_after_ms,
                )
            )
            for sid, since in stale.all():
                reasons[sid] = (
                    f"failing continuously since {iso_from_ms(since)} "
                    f"({disable_after_ms // 1000} s or more)"
                )
    for sid, o in last.items():
        if o.disable_subscription_reason:
            reasons[sid] = o.disable_subscription_reason
    disabled: list[Disabled] = []
    for sid, reason in reasons.items():
        res = conn.execute(
            s.update()
            .where(s.c.id == sid, s.c.enabled.is_(True), s.c.deleted_ms.is_(None))
            .values(enabled=False, disabled_reason=reason, updated_ms=now)
        )
        if res.rowcount == 0:
            continue
        hold_undelivered(conn, sid, reason, now)
        row = conn.execute(sa.select(s).where(s.c.id == sid)).mappings().one()
        disabled.append(Disabled(subscription=rows.subscription(row), reason=reason))
    return disabled


def hold_undelivered(conn: sa.Connection, sub_id: str, reason: str, now_ms: int) -> None:
    """Keep a disabled subscription's undelivered deliveries, held, until it is enabled
    again: a receiver that was down for a while loses nothing. A leased one keeps its lease
    token: the outcome of an attempt under way is still written (RECORD_OUTCOME), while no
    claim or release can take it."""
    d = t.deliveries
    conn.execute(
        d.update()
        .where(d.c.subscription_id == sub_id, d.c.state.in_(UNDELIVERED))
        .values(
            state="held",
            next_attempt_ms=None,
            last_error=reason,
            updated_ms=now_ms,
        )
    )
