"""Subscriptions' limits shared by every worker process: the SQL, the same on both databases.

Each worker keeps its own lanes (delivery/lanes.py), but a subscription's ``max_in_flight`` and
``rate_limit_per_second`` bound the whole deployment. A worker asks here before it starts
attempts of a subscription that sets either: one short transaction locks the subscription's
row of ``subscription_limits`` (so that askers of one subscription go one at a time and
askers of different ones never wait on each other), gives back the slots the worker's ended
attempts held, counts the live slots of every worker in ``limit_holds`` and takes what the
cap and the rate limiter (its state is the row's ``tat_ms``) allow now.

A slot is held by a row per (subscription, worker) with an expiry, renewed by each of the
worker's requests: a worker that dies holding slots loses them once the expiry passes, and
the expiry is later than any attempt it holds a slot for can last (see shared_limits.py).
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa

from hookline.core.ratelimit import take
from hookline.storage.records import LimitGrant
from hookline.storage.sql_base import SqlBase

T = TypeVar("T")

# an upsert that locks the subscription's row until the transaction ends (PostgreSQL; SQLite
# has one writer at a time) and reads the rate limiter's state
_LOCK = sa.text(
    """
    INSERT INTO subscription_limits (subscription_id, tat_ms) VALUES (:sid, NULL)
    ON CONFLICT (subscription_id) DO UPDATE SET tat_ms = subscription_limits.tat_ms
    RETURNING tat_ms
    """
)
# gives back ``n`` slots and renews the rest, unless the hold has expired: then another
# worker may have its slots already, and the holder is told it holds none
_GIVE_BACK = sa.text(
    """
    UPDATE limit_holds
       SET slots = CASE WHEN slots > :n THEN slots - :n ELSE 0 END, expires_ms = :until
     WHERE subscription_id = :sid AND holder = :holder AND expires_ms > :now
    RETURNING slots
    """
)
# what dead workers held, and rows of no slots
_FORGET = sa.text(
    """
    DELETE FROM limit_holds
     WHERE subscription_id = :sid AND (expires_ms <= :now OR slots = 0)
    """
)
_HELD = sa.text("SELECT COALESCE(SUM(slots), 0) FROM limit_holds WHERE subscription_id = :sid")
_HOLD = sa.text(
    """
    INSERT INTO limit_holds (subscription_id, holder, slots, expires_ms)
    VALUES (:sid, :holder, :n, :until)
    ON CONFLICT (subscription_id, holder)
    DO UPDATE SET slots = limit_holds.slots + :n, expires_ms = :until
    RETURNING slots
    """
)
_SET_TAT = sa.text("UPDATE subscription_limits SET tat_ms = :tat WHERE subscription_id = :sid")


class SharedLimitsSql(SqlBase):
    """Subscriptions' limits across worker processes."""

    async def take_limits(
        self,
        subscription_id: str,
        holder: str,
        *,
        wanted: int,
        released: int,
        max_in_flight: int | None,
        rate_per_s: float | None,
        now_ms: int,
        hold_ms: int,
    ) -> LimitGrant:
        return await self._transact(
            lambda conn: _take_tx(
                conn,
                subscription_id,
                holder,
                wanted=wanted,
                released=released,
                max_in_flight=max_in_flight,
                rate_per_s=rate_per_s,
                now_ms=now_ms,
                until_ms=now_ms + hold_ms,
            )
        )


def _take_tx(
    conn: sa.Connection,
    sid: str,
    holder: str,
    *,
    wanted: int,
    released: int,
    max_in_flight: int | None,
    rate_per_s: float | None,
    now_ms: int,
    until_ms: int,
) -> LimitGrant:
    key = {"sid": sid, "holder": holder}
    renew = {**key, "n": max(released, 0), "until": until_ms, "now": now_ms}
    if wanted <= 0:
        # giving back or renewing needs no lock: it never raises what is held
        return LimitGrant(granted=0, held=_held(conn.execute(_GIVE_BACK, renew)))
    tat_ms: float | None = conn.execute(_LOCK, key).scalar_one()
    held_here = _held(conn.execute(_GIVE_BACK, renew))
    room, full = wanted, False
    if max_in_flight is not None:
        conn.execute(_FORGET, {"sid": sid, "now": now_ms})
        held = int(conn.execute(_HELD, key).scalar_one())
        room = max(min(wanted, max_in_flight - held), 0)
        full = room < wanted
    granted, rate_wait_ms = room, None
    if rate_per_s is not None and room > 0:
        taken = take(tat_ms, now_ms, rate_per_s, room)
        granted = taken.granted
        if granted < room:
            rate_wait_ms = taken.retry_in_ms
        if granted:
            conn.execute(_SET_TAT, {"sid": sid, "tat": taken.tat_ms})
    if granted and max_in_flight is not None:
        held_here = _held(conn.execute(_HOLD, {**key, "n": granted, "until": until_ms}))
    return LimitGrant(granted=granted, rate_wait_ms=rate_wait_ms, full=full, held=held_here)


def _held(result: sa.CursorResult[Any]) -> int:
    """The holder's slots a statement returned: none when it has no live hold."""
    row = result.first()
    return int(row[0]) if row is not None else 0
