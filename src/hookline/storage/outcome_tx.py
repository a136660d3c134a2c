"""Outcomes: every attempt logged, each delivery whose lease still holds moved on, and the
subscriptions' health kept (those failing too long are disabled, their deliveries held)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from hookline.core.models import ClaimedDelivery
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.queue_sql import QueueStatements, hold_undelivered
from hookline.storage.records import (
    Disabled,
    OutcomeRecord,
    PullRecorded,
    Recorded,
    batch_health,
    failing_reason,
)

_s, _d = t.subscriptions, t.deliveries


def _track_health(
    conn: sa.Connection,
    outcomes: Sequence[OutcomeRecord],
    disable_after_ms: int | None,
    clear_failing: Callable[[sa.Connection, list[str]], None],
) -> list[Disabled]:
    """Keep each subscription's ``failing_since``; disable those failing too long."""
    health = batch_health(outcomes)
    last, failing_from, now = health.last, health.failing_from, health.now_ms
    healthy = [sid for sid, o in last.items() if o.state == "succeeded"]
    failing = [sid for sid, o in last.items() if o.state != "succeeded"]
    if healthy:
        clear_failing(conn, healthy)
    reasons: dict[str, str] = {}
    if failing:
        for sid in sorted(failing):  # one order in every worker: none waits on another's
            conn.execute(
                _s.update()
                .where(_s.c.id == sid, _s.c.failing_since_ms.is_(None))
                .values(failing_since_ms=failing_from[sid])
            )
        if disable_after_ms is not None:
            stale = conn.execute(
                sa.select(_s.c.id, _s.c.failing_since_ms).where(
                    _s.c.id.in_(failing),
                    _s.c.enabled.is_(True),
                    _s.c.deleted_ms.is_(None),
                    _s.c.failing_since_ms <= now - disable_after_ms,
                )
            )
            for sid, since in stale.all():
                reasons[sid] = failing_reason(since, disable_after_ms)
    for sid, o in last.items():
        if o.disable_subscription_reason:
            reasons[sid] = o.disable_subscription_reason
    disabled: list[Disabled] = []
    for sid, reason in sorted(reasons.items()):
        res = conn.execute(
            _s.update()
            .where(_s.c.id == sid, _s.c.enabled.is_(True), _s.c.deleted_ms.is_(None))
            .values(enabled=False, disabled_reason=reason, updated_ms=now)
        )
        if res.rowcount == 0:
            continue
        hold_undelivered(conn, sid, reason, now)
        row = conn.execute(sa.select(_s).where(_s.c.id == sid)).mappings().one()
        disabled.append(Disabled(subscription=rows.subscription(row), reason=reason))
    return disabled


class OutcomeTx(QueueStatements):
    """Recording outcomes, the workers' and a pull consumer's."""

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
        # locked to the end of the transaction (PostgreSQL; SQLite has one writer): two
        # acknowledgements of one lease cannot both find it held
        held = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                sa.select(_d.c.id, _d.c.lease_token, _d.c.updated_ms)
                .where(
                    _d.c.id.in_(sorted({i for i, _ in leases})),
                    _d.c.subscription_id == sub_id,
                    _d.c.state == "delivering",
                    _d.c.next_attempt_ms > now_ms,
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
        sub = rows.subscription(self._subscription_rows(conn, [sub_id])[0])
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
