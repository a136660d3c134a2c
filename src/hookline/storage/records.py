"""Values the storage interface takes and gives back, besides the domain's own (core/models.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from hookline.core.frozen import frozen
from hookline.core.models import (
    Attempt,
    ClaimedDelivery,
    Delivery,
    Event,
    Subscription,
)
from hookline.core.timefmt import iso_from_ms

#: what enabling a subscription does with its held deliveries: send them (pending, due now)
#: or drop them (cancelled, kept in the log)
HeldAction = Literal["send", "drop"]


@frozen
class SubscriptionSecrets:
    """Encrypted material of a subscription (ciphertexts; the services layer opens them)."""

    auth_token_enc: str | None = None
    secret_enc: str | None = None
    previous_secret_enc: str | None = None
    previous_secret_until_ms: int | None = None
    #: the custom headers' values, one sealed JSON object (None: no headers, or stored plain
    #: by an earlier version in the ``headers`` column)
    headers_enc: str | None = None


#: every column that holds a sealed secret, by table: what a master key rotation rewrites
SEALED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "subscriptions": ("auth_token_enc", "secret_enc", "previous_secret_enc", "headers_enc"),
    "signing_keys": ("key_enc",),
    "secret_checks": ("check_enc",),
}


@frozen
class StoredKey:
    """An owner's signing key as stored."""

    id: str
    key_enc: str
    created_ms: int


#: slack on top of the attempt timeout before another holder may take a held slot back (the
#: holder's answer, and its request giving the slot back): a hold lasts a timeout and this
HOLD_MARGIN_MS = 5_000


@frozen
class LimitGrant:
    """What a worker may start of a subscription with limits shared by every worker."""

    #: attempts that may start now (each holds one of the subscription's max_in_flight slots)
    granted: int
    #: when the rate limit granted fewer than asked for: how long until it grants one more
    rate_wait_ms: int | None = None
    #: whether max_in_flight (over every worker's attempts under way) allowed fewer than asked
    full: bool = False
    #: the slots the asking worker holds now, those just granted included (0: none, or its
    #: hold had expired, and the slots it thought it held may be another worker's)
    held: int = 0


@frozen
class SealedRow:
    """One row's sealed columns (``SEALED_COLUMNS``), ciphertexts or None."""

    table: str
    id: str
    values: Mapping[str, str | None]


@frozen
class SubscriptionFilter:
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    #: restrict to subscriptions owned by this identity or its channels (agent keys)
    owner_identity_id: str | None = None
    url: str | None = None
    event_type: str | None = None
    source: str | None = None


@frozen
class AttemptFilter:
    subscription_id: str | None = None
    phone_number_id: str | None = None
    mailbox_id: str | None = None
    #: the subscription's own ``agent_identity_id`` (an identity-wide subscription)
    agent_identity_id: str | None = None
    event_type: str | None = None
    event_id: str | None = None
    status_code: int | None = None
    success: bool | None = None
    #: made at or after this time (ms since the epoch)
    since_ms: int | None = None
    #: made before this time (ms since the epoch)
    until_ms: int | None = None
    #: the scope of an agent: attempts of its subscriptions and of its numbers' calls
    owner_identity_id: str | None = None
    #: keyset paging: only attempts older than this (created_ms, id), in the log's order
    before: tuple[int, str] | None = None
    limit: int = 50
    offset: int = 0


@frozen
class Lease:
    """A lease taken on new deliveries as they are written: a claim made by the publish
    itself (see ``NewDeliveries``), held by ``token`` until ``until_ms``."""

    token: str
    until_ms: int
    #: the subscriptions whose new deliveries are leased; the others' are written pending
    subscription_ids: frozenset[str]


@frozen
class NewDeliveries:
    """An event and the deliveries routing made for it, written in one transaction."""

    event: Event
    deliveries: Sequence[Delivery]
    #: claim some deliveries as they are written: they are stored leased (as ``claim_due``
    #: would leave them) and come back claimed, ready to send, in ``Published.leased``
    lease: Lease | None = None


@frozen
class Published:
    event: Event
    deliveries: int
    #: False when the event id was already known: nothing new was written
    created: bool
    #: the deliveries written leased (``NewDeliveries.lease``), claimed as ``claim_due``
    #: returns them
    leased: Sequence[ClaimedDelivery] = ()


@frozen
class OutcomeRecord:
    """The result of one attempt, to be written with the delivery's new state."""

    delivery_id: str
    lease_token: str
    attempt: Attempt
    state: str
    next_attempt_at_ms: int | None
    first_attempt_at_ms: int
    #: when set, the subscription is disabled with this reason
    disable_subscription_reason: str | None = None


@frozen
class BatchHealth:
    """What a batch of outcomes says of each subscription's health (``batch_health``)."""

    #: per subscription, its latest outcome in the batch
    last: Mapping[str, OutcomeRecord]
    #: per subscription whose latest outcome failed, the first failure not followed by a success
    failing_from: Mapping[str, int]
    #: when the batch's latest attempt was made
    now_ms: int


def batch_health(outcomes: Sequence[OutcomeRecord]) -> BatchHealth:
    """Each subscription's latest outcome in ``outcomes``, and since when it has been failing
    (within the batch); every backend keeps ``failing_since`` from this."""
    last: dict[str, OutcomeRecord] = {}
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
    now_ms = max(o.attempt.created_at_ms for o in outcomes)
    return BatchHealth(last=last, failing_from=failing_from, now_ms=now_ms)


def failing_reason(since_ms: int, disable_after_ms: int) -> str:
    """Why a subscription failing since ``since_ms`` was disabled."""
    return (
        f"failing continuously since {iso_from_ms(since_ms)} ({disable_after_ms // 1000} s or more)"
    )


@frozen
class Disabled:
    """A subscription that an outcome batch disabled, and why."""

    subscription: Subscription
    reason: str


@frozen
class Recorded:
    #: deliveries whose state changed (the others' leases were lost meanwhile)
    changed: int
    disabled: Sequence[Disabled] = ()


@frozen
class HourCount:
    """A subscription's attempts in one hour: ``hour`` counts hours from the ``since_ms``
    asked for (0 is the hour starting there)."""

    hour: int
    succeeded: int
    failed: int


@frozen
class LastAttempt:
    """The newest attempt of a subscription: its status code, or the error when none came."""

    status: int | None
    error: str | None
    created_at_ms: int


@frozen
class SubscriptionHealth:
    """What the console shows of a subscription's recent attempts."""

    hours: Sequence[HourCount] = ()
    last: LastAttempt | None = None
    #: the first failure of the current run of failures (None: the last attempt succeeded)
    failing_since_ms: int | None = None


@frozen
class PullRecorded:
    """What an acknowledgement of pulled deliveries recorded."""

    #: the deliveries whose outcome was recorded (the others' leases were stale)
    recorded: frozenset[str]
    disabled: Sequence[Disabled] = ()


@frozen
class PruneCounts:
    """How many rows retention pruned (or, for a dry run, would prune)."""

    events: int = 0
    deliveries: int = 0
    attempts: int = 0

    def __add__(self, other: PruneCounts) -> PruneCounts:
        return PruneCounts(
            events=self.events + other.events,
            deliveries=self.deliveries + other.deliveries,
            attempts=self.attempts + other.attempts,
        )

    @property
    def rows(self) -> int:
        return self.events + self.deliveries + self.attempts


@frozen
class PruneBatch:
    """One batch of what retention may prune: events (with their deliveries and attempts)
    by ``(organization_id, id)``, and attempts of no delivery by id."""

    events: tuple[tuple[str, str], ...] = ()
    attempts: tuple[str, ...] = ()


@frozen
class PrunedEvent:
    event: Event
    deliveries: tuple[Delivery, ...]
    attempts: tuple[Attempt, ...]


@frozen
class PrunedRows:
    """A ``PruneBatch``'s rows, as an export writes them."""

    events: tuple[PrunedEvent, ...]
    #: attempts of no delivery (test sends, incoming calls)
    attempts: tuple[Attempt, ...]


@frozen
class TaskFilter:
    """Which tasks to list: each field given must match (the owner fields are the
    subscription's, copied)."""

    subscription_id: str | None = None
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    owner_identity_id: str | None = None
