"""The storage interface: domain operations, not queries.

One implementation per database (``sqlite.py``, ``postgres.py``), chosen by URL scheme in
``factory.py``. Every implementation passes the same contract suite
(``tests/integration/test_storage_contract.py``).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from typing import Any, Literal

from hookline.core.frozen import frozen
from hookline.core.models import (
    ApiKey,
    Attempt,
    ClaimedDelivery,
    Delivery,
    Event,
    Identity,
    Mailbox,
    Organization,
    PhoneNumber,
    Subscription,
)
from hookline.core.portal import PortalScope
from hookline.core.tasks import Task
from hookline.core.users import ConsoleSession, User

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
    """Deliveries written already leased to this process's worker (see ``NewDeliveries``)."""

    token: str
    until_ms: int
    #: the subscriptions whose new deliveries are leased; the others' are written pending
    subscription_ids: frozenset[str]


@frozen
class NewDeliveries:
    """An event and the deliveries routing made for it, written in one transaction."""

    event: Event
    deliveries: Sequence[Delivery]
    #: hand some deliveries straight to a worker of this process: they are written leased
    #: (as a claim would leave them) and come back, ready to send, in ``Published.leased``
    lease: Lease | None = None


@frozen
class Published:
    event: Event
    deliveries: int
    #: False when the event id was already known: nothing new was written
    created: bool
    #: the deliveries written leased (``NewDeliveries.lease``), with what sending needs
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


class Storage(abc.ABC):
    """Every persistent operation Hookline performs."""

    url: str

    # lifecycle -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent, safe to race)."""

    @abc.abstractmethod
    async def schema_is_current(self) -> bool: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def watch(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call ``wake`` whenever another process makes deliveries due, until ``stop``.
        Databases without notifications rely on the worker's polling instead."""
        await stop.wait()

    async def watch_revocations(
        self,
        revoked: Callable[[str], None],
        stop: asyncio.Event,
        *,
        hearing: Callable[[bool], None],
    ) -> None:
        """Call ``revoked`` with the id of every subscription another process disables or
        deletes, and answer that process once it returns (see revocations.py), until
        ``stop``; ``hearing(True)`` once they are heard, ``hearing(False)`` while they cannot
        be (the listening connection lost). A database with one process only has nothing to
        hear: its service tells the worker itself."""
        del revoked
        hearing(True)
        await stop.wait()

    async def watch_configuration(self, stop: asyncio.Event) -> None:
        """Hear of other processes' configuration changes until ``stop``, so that the
        publish path's reads may be served from memory meanwhile (cached_reads.py). A
        database with one process only has nothing to hear."""
        await stop.wait()

    # organizations and keys ------------------------------------------------------------------
    @abc.abstractmethod
    async def ensure_default_organization(self, org: Organization) -> Organization:
        """The default organization, created from ``org`` when there is none."""

    @abc.abstractmethod
    async def get_organization(self, org_id: str) -> Organization | None: ...

    @abc.abstractmethod
    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None: ...

    @abc.abstractmethod
    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    @abc.abstractmethod
    async def list_api_keys(self, org_id: str) -> list[ApiKey]: ...

    @abc.abstractmethod
    async def api_keys_by_prefix(self, prefix: str, hash_scheme: str) -> list[tuple[ApiKey, str]]:
        """Keys shown as ``prefix`` whose stored hash starts with ``hash_scheme``, each with
        that hash (operator-chosen keys are found this way and verified by the caller)."""

    @abc.abstractmethod
    async def reinstate_api_key(self, key_id: str, *, key_hash: str, prefix: str) -> None:
        """Store a key's hash and prefix anew, and lift its revocation if any."""

    @abc.abstractmethod
    async def revoke_api_key(
        self, org_id: str, key_id: str, now_ms: int, *, keep_an_admin: bool = False
    ) -> bool:
        """Revoke a key at once; False if there is no such active key. With ``keep_an_admin``,
        raise ``Conflict`` rather than revoke the organization's last active admin key."""

    @abc.abstractmethod
    async def count_active_admin_keys(self, org_id: str) -> int: ...

    # owners ----------------------------------------------------------------------------------
    @abc.abstractmethod
    async def insert_identity(self, identity: Identity) -> None:
        """Raise ``Conflict`` when the handle is taken."""

    @abc.abstractmethod
    async def identity_by_handle(self, org_id: str, handle: str) -> Identity | None: ...

    @abc.abstractmethod
    async def identity_by_id(self, org_id: str, identity_id: str) -> Identity | None: ...

    @abc.abstractmethod
    async def list_identities(self, org_id: str, limit: int, offset: int) -> list[Identity]: ...

    @abc.abstractmethod
    async def delete_identity(self, org_id: str, identity_id: str) -> None:
        """Raise ``Conflict`` while channels, subscriptions or keys still refer to it."""

    @abc.abstractmethod
    async def insert_mailbox(self, mailbox: Mailbox) -> None: ...

    @abc.abstractmethod
    async def mailbox_by_address(self, org_id: str, address: str) -> Mailbox | None: ...

    @abc.abstractmethod
    async def mailbox_by_id(self, org_id: str, mailbox_id: str) -> Mailbox | None: ...

    @abc.abstractmethod
    async def list_mailboxes(
        self, org_id: str, limit: int, offset: int, identity_id: str | None = None
    ) -> list[Mailbox]: ...

    @abc.abstractmethod
    async def update_mailbox(
        self, org_id: str, mailbox_id: str, changes: Mapping[str, Any]
    ) -> None:
        """Change the mailbox's columns; a new ``agent_identity_id`` becomes the owner of its
        subscriptions too (``owner_identity_id``), in the same transaction."""

    @abc.abstractmethod
    async def insert_phone_number(self, number: PhoneNumber) -> None: ...

    @abc.abstractmethod
    async def phone_number_by_id(self, org_id: str, number_id: str) -> PhoneNumber | None: ...

    @abc.abstractmethod
    async def phone_number_by_number(self, org_id: str, number: str) -> PhoneNumber | None: ...

    @abc.abstractmethod
    async def list_phone_numbers(
        self, org_id: str, limit: int, offset: int, identity_id: str | None = None
    ) -> list[PhoneNumber]: ...

    @abc.abstractmethod
    async def update_phone_number(
        self, org_id: str, number_id: str, changes: Mapping[str, Any]
    ) -> None:
        """As ``update_mailbox``, for a phone number."""

    # signing keys ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def current_signing_key(self, org_id: str, identity_id: str | None) -> StoredKey | None:
        """The owner's current key."""

    @abc.abstractmethod
    async def put_signing_key(
        self,
        org_id: str,
        identity_id: str | None,
        key_enc: str,
        now_ms: int,
        *,
        only_if_missing: bool,
        key_id: str | None = None,
    ) -> bool:
        """Store a new current key (retiring the old) as row ``key_id`` (a new id when None:
        the caller seals the key for its row, so it usually chooses). With
        ``only_if_missing``, store it only when the owner has none, and say whether it was
        stored."""

    # sealed secrets at large (the master key's check value; rotation) --------------------
    @abc.abstractmethod
    async def secret_check(self) -> str | None:
        """The sealed check value (row ``id`` ``master``), if one was stored."""

    @abc.abstractmethod
    async def put_secret_check(self, check_enc: str, now_ms: int) -> bool:
        """Store the check value unless one exists; say whether this call stored it."""

    @abc.abstractmethod
    async def any_sealed(self) -> SealedRow | None:
        """One row holding a sealed secret (a subscription's or a signing key), if any."""

    @abc.abstractmethod
    async def sealed_rows(self, table: str, after_id: str | None, limit: int) -> list[SealedRow]:
        """Rows of ``table`` (a ``SEALED_COLUMNS`` key) in id order after ``after_id``,
        deleted and retired ones too."""

    @abc.abstractmethod
    async def reseal(
        self,
        table: str,
        row_id: str,
        old: Mapping[str, str | None],
        new: Mapping[str, str | None],
    ) -> bool:
        """Write ``new`` into the row's columns if they still hold ``old`` (a change made
        meanwhile wins); say whether it was written. ``subscriptions`` also accepts
        ``headers`` (the JSON object of names with masked values)."""

    @abc.abstractmethod
    async def plain_headers(self, limit: int) -> list[tuple[str, str]]:
        """``(subscription id, headers JSON)`` of subscriptions whose header values are
        still stored plain (written by an earlier version)."""

    # subscriptions ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def insert_subscription(
        self, sub: Subscription, secrets: SubscriptionSecrets
    ) -> None: ...

    @abc.abstractmethod
    async def get_subscription(self, org_id: str, sub_id: str) -> Subscription | None: ...

    @abc.abstractmethod
    async def subscription_secrets(
        self, org_id: str, sub_id: str
    ) -> SubscriptionSecrets | None: ...

    @abc.abstractmethod
    async def list_subscriptions(
        self, org_id: str, flt: SubscriptionFilter, limit: int, offset: int
    ) -> list[Subscription]: ...

    @abc.abstractmethod
    async def update_subscription(
        self,
        org_id: str,
        sub_id: str,
        changes: Mapping[str, Any],
        now_ms: int,
        secrets: SubscriptionSecrets | None = None,
        *,
        held: HeldAction | None = None,
    ) -> Subscription | None:
        """Apply ``changes`` (domain field names). Disabling makes undelivered deliveries
        ``held`` (kept, unsent); ``held`` sends or drops the held deliveries, in the same
        transaction."""

    @abc.abstractmethod
    async def delete_subscription(self, org_id: str, sub_id: str, now_ms: int) -> bool:
        """Remove it and cancel its undelivered and held deliveries, at once."""

    @abc.abstractmethod
    async def routing_candidates(
        self,
        org_id: str,
        *,
        mailbox_id: str | None,
        phone_number_id: str | None,
        identity_id: str | None,
    ) -> list[Subscription]:
        """Subscriptions (disabled ones too: theirs are held) whose owner could match such an
        event (core decides)."""

    # events and deliveries -------------------------------------------------------------------
    @abc.abstractmethod
    async def insert_events_with_deliveries(
        self, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        """Write each event with its deliveries, atomically. A known event id writes nothing
        and reports the stored event."""

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
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries (pending and due, or with an expired lease),
        oldest due first, skipping the subscriptions in ``exclude_subscriptions``, or with
        ``only_subscription`` only that one's. No two callers ever hold the same delivery's
        lease at once. Pull subscriptions' deliveries are taken only with
        ``only_subscription`` (their consumer's pull), never by the workers' claims."""

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
    async def next_due_ms(self, exclude_subscriptions: Collection[str] = ()) -> int | None:
        """When the earliest undelivered delivery falls due, leaving out those of
        ``exclude_subscriptions`` (None when there is none)."""

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

    # retention ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def count_prunable(self, cutoff_ms: int) -> PruneCounts:
        """What :meth:`prune` would delete of everything older than ``cutoff_ms``: events
        created before it whose deliveries are all final (succeeded, failed, cancelled) and
        last changed before it, with those deliveries and their attempts; and attempts of no
        delivery made before it. An event with a pending, delivering or held delivery is
        kept whole."""

    @abc.abstractmethod
    async def prunable(self, cutoff_ms: int, limit: int) -> PruneBatch:
        """The oldest ``limit`` prunable events, and up to ``limit`` prunable attempts of no
        delivery."""

    @abc.abstractmethod
    async def read_prunable(self, batch: PruneBatch) -> PrunedRows:
        """The rows of ``batch`` (to export them before they are pruned)."""

    @abc.abstractmethod
    async def prune(self, batch: PruneBatch, cutoff_ms: int) -> PruneCounts:
        """Delete ``batch`` in one short transaction, but what is no longer prunable."""

    async def reclaim_space(self) -> None:
        """Give the space of pruned rows back, if the database needs telling (SQLite)."""
        return

    @contextlib.asynccontextmanager
    async def prune_lock(self) -> AsyncIterator[bool]:
        """Whether this process may prune now: with several workers on one database only
        one prunes at a time. Held for the block."""
        yield True

    # background tasks (core/tasks.py) -------------------------------------------------------
    @abc.abstractmethod
    async def insert_task(self, task: Task) -> Task:
        """Store ``task`` with its ``total`` counted now, and answer it; or, when its
        subscription has a queued or running task already, answer that one and store
        nothing."""

    @abc.abstractmethod
    async def get_task(self, org_id: str, task_id: str) -> Task | None: ...

    @abc.abstractmethod
    async def list_tasks(self, org_id: str, flt: TaskFilter, limit: int, offset: int) -> list[Task]:
        """Newest first."""

    @abc.abstractmethod
    async def claim_task(self, now_ms: int, lease_ms: int, token: str) -> Task | None:
        """Lease the oldest queued task, or a running one whose lease ran out, to the worker
        ``token`` names, until ``now_ms + lease_ms``; None when there is none."""

    @abc.abstractmethod
    async def replay_batch(
        self, task_id: str, token: str, now_ms: int, lease_ms: int, limit: int
    ) -> Task | None:
        """One batch of a replay, in one transaction, only while ``token`` holds the task's
        lease: make the next ``limit`` matching deliveries after the task's cursor pending
        (due now, a fresh retry schedule), but those of a type the subscription no longer
        takes (skipped), move the cursor past them and the counters on, renew the lease;
        the task has succeeded when fewer than ``limit`` were left, failed when the
        subscription is gone. Answers the task as it is now; None (nothing written) when the
        lease is no longer ``token``'s."""

    @abc.abstractmethod
    async def release_task(self, task_id: str, token: str, now_ms: int) -> None:
        """Let go of the lease (a worker stopping): another worker may take the task now."""

    # console users and sessions ------------------------------------------------------------
    @abc.abstractmethod
    async def insert_user(self, user: User, password_hash: str) -> None:
        """Raise ``Conflict`` when the organization has a user of that email."""

    @abc.abstractmethod
    async def user_by_id(self, org_id: str, user_id: str) -> User | None: ...

    @abc.abstractmethod
    async def user_credentials(self, org_id: str, email: str) -> tuple[User, str] | None:
        """The user of that (lower-case) email and its password hash."""

    @abc.abstractmethod
    async def list_users(self, org_id: str, limit: int, offset: int) -> list[User]: ...

    @abc.abstractmethod
    async def count_users(self, org_id: str) -> int: ...

    @abc.abstractmethod
    async def set_user_password(
        self, org_id: str, user_id: str, password_hash: str, now_ms: int
    ) -> bool:
        """Store a new hash and revoke the user's sessions, together. False: no such user."""

    @abc.abstractmethod
    async def disable_user(self, org_id: str, user_id: str, now_ms: int) -> bool:
        """Disable the user and revoke its sessions, together. False: no such user."""

    @abc.abstractmethod
    async def insert_console_session(self, session: ConsoleSession) -> None: ...

    @abc.abstractmethod
    async def console_session(self, session_id: str) -> tuple[ConsoleSession, User] | None:
        """The session (revoked or expired ones too: the caller judges) and its user."""

    @abc.abstractmethod
    async def touch_console_session(self, session_id: str, now_ms: int) -> None: ...

    @abc.abstractmethod
    async def revoke_console_sessions(
        self, now_ms: int, *, session_id: str | None = None, user_id: str | None = None
    ) -> int:
        """Revoke one session, or every live session of a user. Returns how many."""

    @abc.abstractmethod
    async def insert_setup_token(
        self, org_id: str, token_hash: str, now_ms: int, expires_ms: int
    ) -> None: ...

    @abc.abstractmethod
    async def redeem_setup_token(
        self, token_hash: str, now_ms: int, user: User, password_hash: str
    ) -> bool:
        """Mark an unused, unexpired token of ``user``'s organization used and insert ``user``,
        in one transaction, only while that organization has no user. False otherwise."""

    @abc.abstractmethod
    async def insert_password_token(
        self, token_hash: str, user_id: str, now_ms: int, expires_ms: int
    ) -> None: ...

    @abc.abstractmethod
    async def redeem_password_token(
        self, token_hash: str, now_ms: int, password_hash: str
    ) -> User | None:
        """Use the one-time link: set its user's password and end their sessions, at once;
        None (and nothing written) when it is unknown, used or expired."""

    # portal links and their sessions ----------------------------------------------------------
    @abc.abstractmethod
    async def insert_portal_link(
        self, token_hash: str, scope: PortalScope, now_ms: int, expires_ms: int
    ) -> None: ...

    @abc.abstractmethod
    async def redeem_portal_link(
        self, token_hash: str, now_ms: int, session: ConsoleSession
    ) -> PortalScope | None:
        """Mark the link used and start ``session`` with its scope, atomically; None (and
        nothing written) when the link is unknown, used or expired."""

    @abc.abstractmethod
    async def portal_session(self, session_id: str) -> tuple[ConsoleSession, PortalScope] | None:
        """A portal session (revoked or expired ones too: the service decides) and its scope."""

    @abc.abstractmethod
    async def touch_portal_session(self, session_id: str, now_ms: int) -> None: ...

    @abc.abstractmethod
    async def revoke_portal_session(self, session_id: str, now_ms: int) -> None: ...
