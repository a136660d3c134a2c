"""Events, their deliveries and attempts: written, claimed, settled and read back."""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Sequence

from hookline.core.models import (
    Attempt,
    ClaimedDelivery,
    Delivery,
    Event,
)
from hookline.storage.records import (
    AttemptFilter,
    LimitGrant,
    NewDeliveries,
    OutcomeRecord,
    Published,
    PullRecorded,
    Recorded,
    SubscriptionHealth,
)


class Deliveries(abc.ABC):
    """Events, their deliveries and attempts: written, claimed, settled and read back."""

    # events and deliveries -------------------------------------------------------------------
    @abc.abstractmethod
    async def insert_events_with_deliveries(
        self, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        """Write each event with its deliveries, atomically. A known event id writes nothing
        and reports the stored event. The deliveries an item's ``lease`` covers are claimed
        as they are written: stored leased, they come back in ``Published.leased``."""

    @abc.abstractmethod
    async def get_event(self, org_id: str, event_id: str) -> Event | None: ...

    @abc.abstractmethod
    async def recent_events(
        self,
        org_id: str,
        limit: int,
        *,
        before: tuple[int, str] | None = None,
        agent_identity_id: str | None = None,
    ) -> list[Event]:
        """At most ``limit`` events, newest first (by ``created_at_ms``, then id); with
        ``before`` (a listed event's ``(created_at_ms, id)``), only those listed after it;
        with ``agent_identity_id``, only that identity's events (agent keys)."""

    @abc.abstractmethod
    async def deliveries_of_event(
        self, org_id: str, event_id: str, owner_identity_id: str | None = None
    ) -> list[Delivery]:
        """The event's deliveries; with ``owner_identity_id``, only those of subscriptions
        (deleted ones included) owned by that identity or its channels (agent keys)."""

    @abc.abstractmethod
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
        """Lease up to ``limit`` due deliveries (pending and due, or with an expired lease),
        oldest due first, skipping the subscriptions in ``exclude_subscriptions``, or with
        ``only_subscription`` only that one's. No two callers ever hold the same delivery's
        lease at once. Pull subscriptions' deliveries are taken only with
        ``only_subscription`` (their consumer's pull), never by the workers' claims. With
        ``after_ms``, only those due after it: a worker's claim soon after one that took all
        it might does not step over what that one left (a full lane's backlog) again."""

    @abc.abstractmethod
    async def release(
        self,
        delivery_ids: Sequence[str],
        lease_token: str,
        now_ms: int,
        *,
        due_ms: int | None = None,
    ) -> None:
        """Give leased deliveries back unsent: pending, and due at ``due_ms`` (default now)."""

    @abc.abstractmethod
    async def record_outcomes(
        self, outcomes: Sequence[OutcomeRecord], disable_after_ms: int | None = None
    ) -> Recorded:
        """Log every attempt; move each delivery whose lease is still held to its new state.

        Tracks when each subscription started failing without a success since; one failing
        for ``disable_after_ms`` or more, or whose outcome asks for it (410), is disabled and
        its undelivered deliveries are held.
        """

    @abc.abstractmethod
    async def record_pulled(
        self,
        sub_id: str,
        leases: Sequence[tuple[str, str]],
        now_ms: int,
        outcome: Callable[[ClaimedDelivery, int], OutcomeRecord],
        disable_after_ms: int | None = None,
    ) -> PullRecorded:
        """``record_outcomes`` for a pull subscription's consumer: of ``leases`` (delivery id,
        lease token), those of ``sub_id``'s deliveries still held and unexpired at ``now_ms``
        get ``outcome(leased delivery, when it was leased)``, in one transaction; nothing at
        all, not even an attempt, is written for the others. ``outcome`` is pure and quick:
        it runs inside the transaction."""

    @abc.abstractmethod
    async def insert_attempt(self, attempt: Attempt) -> None:
        """Log an attempt made outside the queue (test send, replay, incoming call)."""

    @abc.abstractmethod
    async def get_attempt(self, org_id: str, attempt_id: str) -> Attempt | None: ...

    @abc.abstractmethod
    async def requeue_failed(self, org_id: str, sub_id: str, since_ms: int, now_ms: int) -> int:
        """Make a subscription's failed deliveries created since ``since_ms`` pending again,
        with a fresh retry schedule. Returns how many."""

    #: whether several worker processes may work this database at once (PostgreSQL): then a
    #: subscription's limits are kept in the database (``take_limits``), not by each worker
    several_workers: bool = False

    @abc.abstractmethod
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
        """Give back ``released`` of the slots ``holder`` (one worker) holds of the
        subscription's ``max_in_flight``, then take up to ``wanted`` attempts that may start
        now: within ``max_in_flight`` over every holder's live slots and within
        ``rate_per_s`` (core/ratelimit.py, its state kept in the database; either limit None:
        none). Unless its hold has expired, every slot ``holder`` holds then lasts until
        ``now_ms + hold_ms``: a worker that dies loses its slots once that has passed.
        ``wanted`` 0 only gives back and renews. One transaction, serialized per
        subscription when ``wanted`` > 0."""

    @abc.abstractmethod
    async def next_due_ms(
        self, exclude_subscriptions: Collection[str] = (), after_ms: int | None = None
    ) -> int | None:
        """When the earliest undelivered delivery falls due, leaving out those of
        ``exclude_subscriptions``, and with ``after_ms`` those due by then (None when there is
        none). A worker whose claim has just taken all it may of what was due asks only what
        falls due later: the rows its claim left out (full lanes' backlogs) are not stepped
        over again."""

    @abc.abstractmethod
    async def list_attempts(self, org_id: str, flt: AttemptFilter) -> list[Attempt]: ...

    @abc.abstractmethod
    async def subscription_health(
        self, org_id: str, sub_ids: Sequence[str], since_ms: int
    ) -> dict[str, SubscriptionHealth]:
        """Per subscription of ``sub_ids`` (those of other organizations are left out): its
        attempts since ``since_ms`` counted per hour (hours without attempts left out), its
        newest attempt, and since when it has been failing. A few grouped queries, whatever
        the number of subscriptions."""

    @abc.abstractmethod
    async def event_domains(
        self, org_id: str, limit: int, identity_id: str | None = None
    ) -> list[str]:
        """The distinct sending domains the organization's recent events named (with
        ``identity_id``: its events only), the most recently named first, at most ``limit``."""

    @abc.abstractmethod
    async def count_deliveries(self, org_id: str | None = None) -> dict[str, int]:
        """Deliveries by state."""
