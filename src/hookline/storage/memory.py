"""An in-memory storage of the delivery queue: subscriptions, events, deliveries, attempts.

The worker's unit tests drive the dispatcher with it, where a database would make every test
slow and every lease a matter of wall-clock time. It keeps the same semantics as the SQL
backends (leases and their expiry, due times, held deliveries, disabling after continuous
failure, limits shared by holders) and passes the same contract tests
(``tests/integration/test_storage_*.py``, their ``memory`` parameter) for what it implements:
``Subscriptions`` and ``Deliveries`` whole, and of ``Accounts`` the organizations, owners and
signing keys those tests and the worker need (memory_tables.py).

Every method does its work without awaiting in between: on one event loop each is a
transaction. It is one process's storage: nothing is shared with another process, and
``several_workers`` is False.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from hookline.core import ids, profiles
from hookline.core.errors import EventConflict
from hookline.core.models import ClaimedDelivery, Delivery
from hookline.core.ratelimit import take
from hookline.storage import rows
from hookline.storage.memory_tables import (
    LEASED_STATES,
    UNDELIVERED,
    Reads,
    Row,
    SubscriptionRows,
    refused,
)
from hookline.storage.records import (
    Disabled,
    LimitGrant,
    NewDeliveries,
    OutcomeRecord,
    Published,
    PullRecorded,
    Recorded,
    batch_health,
    failing_reason,
)
from hookline.storage.roles.deliveries import Deliveries


class _Queue(SubscriptionRows):
    """Publish, claim, release and record outcomes."""

    async def insert_events_with_deliveries(
        self, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        # everything is checked before anything is written: the call is all or nothing
        made: dict[tuple[str, str], Row] = {}
        #: per event made, its deliveries: what a later copy of its id in the batch reports
        made_deliveries: dict[tuple[str, str], int] = {}
        new_deliveries: list[Row] = []
        for item in items:
            ev = item.event
            key = (ev.organization_id, ev.id)
            if key in self._events or key in made:
                continue
            self._need_org(ev.organization_id)
            made[key], made_deliveries[key] = rows.event_values(ev), len(item.deliveries)
            lease = item.lease
            for dl in item.deliveries:
                token = None
                if lease is not None and dl.subscription_id in lease.subscription_ids:
                    dl, token = self._leased(dl, lease.until_ms), lease.token
                new_deliveries.append(rows.delivery_values(dl, lease_token=token))
        self._check_keys(new_deliveries)
        out: list[Published] = []
        first: set[tuple[str, str]] = set()
        for n, item in enumerate(items):
            ev = item.event
            key = (ev.organization_id, ev.id)
            if key in made and key not in first:
                first.add(key)
                out.append(Published(event=ev, deliveries=len(item.deliveries), created=True))
                continue
            # an id stored already, or repeated within these items: a repeat if it carries
            # the same content, else a conflict that writes nothing of the whole call
            row = made[key] if key in made else self._events[key]
            differs = rows.event_difference(row, ev)
            if differs is not None:
                raise EventConflict(ev.id, differs=differs, index=n)
            count = made_deliveries[key] if key in made else self._count_of_event(key)
            out.append(Published(event=rows.event(row), deliveries=count, created=False))
        self._events.update(made)
        for d in new_deliveries:
            self._deliveries[d["id"]] = d
        for n, item in enumerate(items):
            if out[n].created and item.lease is not None:
                out[n] = replace(out[n], leased=self._hand_over(item))
        return out

    def _check_keys(self, new_deliveries: list[Row]) -> None:
        """Raise as a database would for a delivery whose subscription is unknown, or whose
        id is taken."""
        fresh: set[str] = set()
        for d in new_deliveries:
            if d["subscription_id"] not in self._subs:
                raise refused(f"no subscription {d['subscription_id']!r}")
            if d["id"] in self._deliveries or d["id"] in fresh:
                raise refused(f"delivery {d['id']!r} exists")
            fresh.add(d["id"])

    @staticmethod
    def _leased(dl: Delivery, until_ms: int) -> Delivery:
        if dl.state == "delivering" and dl.next_attempt_at_ms == until_ms:
            return dl
        return replace(dl, state="delivering", next_attempt_at_ms=until_ms)

    def _count_of_event(self, key: tuple[str, str]) -> int:
        return sum(
            1 for d in self._deliveries.values() if (d["organization_id"], d["event_id"]) == key
        )

    def _hand_over(self, item: NewDeliveries) -> tuple[ClaimedDelivery, ...]:
        """The deliveries an item wrote leased, as a claim returns them; those of a
        subscription gone meanwhile are settled instead."""
        lease = item.lease
        assert lease is not None
        mine = [d for d in item.deliveries if d.subscription_id in lease.subscription_ids]
        if not mine:
            return ()
        return tuple(self._claimed([self._deliveries[d.id] for d in mine], mine[0].created_at_ms))

    async def claim_due(
        self,
        now_ms: int,
        limit: int,
        lease_ms: int,
        exclude_subscriptions: Collection[str] = (),
        *,
        only_subscription: str | None = None,
        after_ms: int | None = None,
    ) -> list[ClaimedDelivery]:
        if limit <= 0:
            return []
        after = -1 if after_ms is None or only_subscription is not None else after_ms
        due = [
            d
            for d in self._deliveries.values()
            if d["state"] in UNDELIVERED
            and after < d["next_attempt_ms"] <= now_ms
            and (
                d["subscription_id"] == only_subscription
                if only_subscription is not None
                else not d["pull"] and d["subscription_id"] not in exclude_subscriptions
            )
        ]
        due.sort(key=lambda d: d["next_attempt_ms"])  # stable: oldest row first among ties
        token = ids.new_uuid()
        for d in due[:limit]:
            d.update(
                state="delivering",
                lease_token=token,
                next_attempt_ms=now_ms + lease_ms,
                updated_ms=now_ms,
            )
        return self._claimed(due[:limit], now_ms)

    def _claimed(self, leased: list[Row], now_ms: int) -> list[ClaimedDelivery]:
        """Leased rows with what sending them needs; those of a disabled or deleted
        subscription are settled (held, cancelled) and left out."""
        claimed: list[ClaimedDelivery] = []
        for d in leased:
            s = self._subs[d["subscription_id"]]
            if s["deleted_ms"] is not None or not s["enabled"]:
                gone = s["deleted_ms"] is not None
                d.update(
                    state="cancelled" if gone else "held",
                    lease_token=None,
                    next_attempt_ms=None,
                    last_error="subscription deleted"
                    if gone
                    else s["disabled_reason"] or "subscription disabled",
                    updated_ms=now_ms,
                )
                continue
            sub = rows.subscription(s)
            secrets: tuple[str, ...] = ()
            key_id = None
            if sub.profile == profiles.INKBOX:
                key = self._current_key(sub.organization_id, sub.owner_identity_id)
                secrets, key_id = ((key["key_enc"],), key["id"]) if key else ((), None)
            elif sub.profile in profiles.PER_SUBSCRIPTION_SECRET:
                until = s["previous_secret_until_ms"]
                grace = s["previous_secret_enc"] and until is not None and until > now_ms
                secrets = tuple(
                    x for x in (s["secret_enc"], s["previous_secret_enc"] if grace else None) if x
                )
            claimed.append(
                ClaimedDelivery(
                    delivery=rows.delivery(d),
                    event=rows.event(self._events[(d["organization_id"], d["event_id"])]),
                    subscription=sub,
                    lease_token=d["lease_token"],
                    secret_ciphertexts=secrets,
                    auth_token_ciphertext=s["auth_token_enc"],
                    signing_key_id=key_id,
                    headers_ciphertext=s["headers_enc"],
                )
            )
        return claimed

    async def release(
        self,
        delivery_ids: Sequence[str],
        lease_token: str,
        now_ms: int,
        *,
        due_ms: int | None = None,
    ) -> None:
        for i in delivery_ids:
            d = self._deliveries.get(i)
            if d is not None and (d["lease_token"], d["state"]) == (lease_token, "delivering"):
                d.update(
                    state="pending",
                    lease_token=None,
                    next_attempt_ms=now_ms if due_ms is None else due_ms,
                    updated_ms=now_ms,
                )

    async def record_outcomes(
        self, outcomes: Sequence[OutcomeRecord], disable_after_ms: int | None = None
    ) -> Recorded:
        if not outcomes:
            return Recorded(changed=0)
        if len({o.attempt.id for o in outcomes}) < len(outcomes) or any(
            o.attempt.id in self._attempts for o in outcomes
        ):
            raise refused("attempt exists")
        return self._record(outcomes, disable_after_ms)

    def _record(self, outcomes: Sequence[OutcomeRecord], disable_after_ms: int | None) -> Recorded:
        changed = 0
        for o in outcomes:
            a = o.attempt
            self._attempts[a.id] = rows.attempt_values(a)
            d = self._deliveries.get(o.delivery_id)
            if d is None or d["lease_token"] != o.lease_token or d["state"] not in LEASED_STATES:
                continue
            # a delivery taken away while its attempt was under way (held, cancelled) keeps
            # its state unless the attempt succeeded: as storage/queue_sql.py's RECORD_OUTCOME
            took = d["state"] == "delivering" or o.state == "succeeded"
            d.update(
                state=o.state if took else d["state"],
                attempts=d["attempts"] + 1,
                next_attempt_ms=o.next_attempt_at_ms if d["state"] == "delivering" else None,
                lease_token=None,
                first_attempt_ms=d["first_attempt_ms"] or o.first_attempt_at_ms,
                last_attempt_ms=a.created_at_ms,
                last_status=a.response_status,
                last_error=a.error_detail if took else d["last_error"],
                updated_ms=a.created_at_ms,
            )
            changed += 1
        return Recorded(changed=changed, disabled=self._track_health(outcomes, disable_after_ms))

    def _track_health(
        self, outcomes: Sequence[OutcomeRecord], disable_after_ms: int | None
    ) -> list[Disabled]:
        """Each subscription's ``failing_since``; those failing too long are disabled."""
        health = batch_health(outcomes)
        last, failing_from, now = health.last, health.failing_from, health.now_ms
        reasons: dict[str, str] = {}
        for sid, o in last.items():
            s = self._subs.get(sid)
            if s is None:
                continue
            if o.state == "succeeded":
                s["failing_since_ms"] = None
                continue
            if s["failing_since_ms"] is None:
                s["failing_since_ms"] = failing_from[sid]
            since = s["failing_since_ms"]
            if disable_after_ms is not None and since <= now - disable_after_ms:
                reasons[sid] = failing_reason(since, disable_after_ms)
        for sid, o in last.items():
            if o.disable_subscription_reason:
                reasons[sid] = o.disable_subscription_reason
        disabled: list[Disabled] = []
        for sid, reason in reasons.items():
            s = self._subs.get(sid)
            if s is None or not s["enabled"] or s["deleted_ms"] is not None:
                continue
            s.update(enabled=False, disabled_reason=reason, updated_ms=now)
            self._hold_undelivered(sid, reason, now)
            disabled.append(Disabled(subscription=rows.subscription(s), reason=reason))
        return disabled

    async def record_pulled(
        self,
        sub_id: str,
        leases: Sequence[tuple[str, str]],
        now_ms: int,
        outcome: Callable[[ClaimedDelivery, int], OutcomeRecord],
        disable_after_ms: int | None = None,
    ) -> PullRecorded:
        held: dict[str, Row] = {}
        for delivery_id, token in leases:
            d = self._deliveries.get(delivery_id)
            if (
                d is not None
                and d["subscription_id"] == sub_id
                and d["state"] == "delivering"
                and d["next_attempt_ms"] > now_ms
                and d["lease_token"] == token
            ):
                held[delivery_id] = d
        if not held:
            return PullRecorded(recorded=frozenset())
        sub = rows.subscription(self._subs[sub_id])
        outcomes = [
            # the lease set updated_ms when it was taken, and nothing has changed it since
            outcome(
                ClaimedDelivery(
                    delivery=rows.delivery(d),
                    event=rows.event(self._events[(d["organization_id"], d["event_id"])]),
                    subscription=sub,
                    lease_token=d["lease_token"],
                ),
                d["updated_ms"],
            )
            for d in held.values()
        ]
        recorded = await self.record_outcomes(outcomes, disable_after_ms)
        return PullRecorded(recorded=frozenset(held), disabled=recorded.disabled)


class MemoryStorage(_Queue, Reads, Deliveries):
    """The queue's storage in memory: see the module's docstring."""

    async def requeue_failed(self, org_id: str, sub_id: str, since_ms: int, now_ms: int) -> int:
        found = [
            d
            for d in self._of_subscription(sub_id, ("failed",))
            if d["organization_id"] == org_id and d["created_ms"] >= since_ms
        ]
        for d in found:
            d.update(
                state="pending",
                attempts=0,
                first_attempt_ms=None,
                next_attempt_ms=now_ms,
                lease_token=None,
                updated_ms=now_ms,
            )
        return len(found)

    async def next_due_ms(
        self, exclude_subscriptions: Collection[str] = (), after_ms: int | None = None
    ) -> int | None:
        due = [
            d["next_attempt_ms"]
            for d in self._deliveries.values()
            if d["state"] in UNDELIVERED
            and not d["pull"]
            and d["subscription_id"] not in exclude_subscriptions
            and (after_ms is None or d["next_attempt_ms"] > after_ms)
        ]
        return min(due) if due else None

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
        """As storage/limits_sql.py's transaction, over two dicts."""
        until = now_ms + hold_ms
        mine = self._holds.get((subscription_id, holder))
        held_here = 0
        if mine is not None and mine[1] > now_ms:  # an expired hold is not renewed
            mine[0], mine[1] = max(mine[0] - max(released, 0), 0), until
            held_here = mine[0]
        if wanted <= 0:
            return LimitGrant(granted=0, held=held_here)
        tat = self._tat.setdefault(subscription_id, None)
        room, full = wanted, False
        if max_in_flight is not None:
            of_sub = [k for k in self._holds if k[0] == subscription_id]
            for k in of_sub:  # what dead holders held, and holds of no slots
                if self._holds[k][1] <= now_ms or self._holds[k][0] == 0:
                    del self._holds[k]
            held = sum(v[0] for k, v in self._holds.items() if k[0] == subscription_id)
            room = max(min(wanted, max_in_flight - held), 0)
            full = room < wanted
        granted, rate_wait_ms = room, None
        if rate_per_s is not None and room > 0:
            taken = take(tat, now_ms, rate_per_s, room)
            granted = taken.granted
            if granted < room:
                rate_wait_ms = taken.retry_in_ms
            if granted:
                self._tat[subscription_id] = taken.tat_ms
        if granted and max_in_flight is not None:
            hold = self._holds.setdefault((subscription_id, holder), [0, until])
            hold[0], hold[1] = hold[0] + granted, until
            held_here = hold[0]
        return LimitGrant(granted=granted, rate_wait_ms=rate_wait_ms, full=full, held=held_here)
