"""The in-memory storage's tables (memory.py), and what of it is not the delivery queue:
organizations, owners and signing keys as the queue's tests and the worker need them,
subscriptions, and the reads of events, deliveries and attempts.

Rows are plain dicts with the SQL tables' columns, written and read with ``rows.py``'s own
codecs, so that what goes in comes out as the databases give it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from hookline.core.errors import Conflict
from hookline.core.models import (
    Attempt,
    Delivery,
    Event,
    Identity,
    Mailbox,
    Organization,
    PhoneNumber,
    Subscription,
)
from hookline.storage import rows
from hookline.storage.records import (
    AttemptFilter,
    HeldAction,
    HourCount,
    LastAttempt,
    StoredKey,
    SubscriptionFilter,
    SubscriptionHealth,
    SubscriptionSecrets,
)
from hookline.storage.roles.subscriptions import Subscriptions

Row = dict[str, Any]

UNDELIVERED = ("pending", "delivering")
#: where an attempt's outcome may still land (as storage/queue_sql.py's LEASED_STATES)
LEASED_STATES = ("delivering", "held", "cancelled")
HOUR_MS = 3_600_000
DOMAIN_SCAN_EVENTS = 5000  # as storage/health_sql.py
_SECRET_COLUMNS = (
    "auth_token_enc",
    "secret_enc",
    "previous_secret_enc",
    "previous_secret_until_ms",
    "headers_enc",
)


def refused(what: str) -> sa.exc.IntegrityError:
    """What the databases raise for a broken key: the same error, so callers see no
    difference."""
    return sa.exc.IntegrityError(what, None, Exception(what))


class Tables:
    """The rows, and the owners and signing keys the queue's tests set up."""

    url = "memory://"
    several_workers = False

    def __init__(self) -> None:
        self._orgs: dict[str, tuple[Organization, bool]] = {}
        self._identities: dict[str, Identity] = {}
        self._mailboxes: dict[str, Row] = {}
        self._numbers: dict[str, PhoneNumber] = {}
        self._keys: list[Row] = []
        self._subs: dict[str, Row] = {}
        self._events: dict[tuple[str, str], Row] = {}
        #: in insertion order, which breaks ties of due times as a table scan would
        self._deliveries: dict[str, Row] = {}
        self._attempts: dict[str, Row] = {}
        self._tat: dict[str, float | None] = {}
        self._holds: dict[tuple[str, str], list[int]] = {}  # [slots, expires_ms]

    async def close(self) -> None:
        """Nothing to close; here for the symmetry of the tests' fixtures."""

    # -- organizations, owners, signing keys ---------------------------------------------------
    async def ensure_default_organization(self, org: Organization) -> Organization:
        for found, default in self._orgs.values():
            if default:
                return found
        self._orgs[org.id] = (org, True)
        return org

    async def insert_organization(self, org: Organization) -> None:
        """Another tenant (the interface only ever creates the default one: tests)."""
        self._orgs[org.id] = (org, False)

    async def get_organization(self, org_id: str) -> Organization | None:
        found = self._orgs.get(org_id)
        return found[0] if found else None

    async def insert_identity(self, identity: Identity) -> None:
        self._need_org(identity.organization_id)
        for i in self._identities.values():
            if (i.organization_id, i.agent_handle) == (
                identity.organization_id,
                identity.agent_handle,
            ):
                raise Conflict(f"identity {identity.agent_handle!r} already exists")
        self._identities[identity.id] = identity

    async def identity_by_id(self, org_id: str, identity_id: str) -> Identity | None:
        i = self._identities.get(identity_id)
        return i if i is not None and i.organization_id == org_id else None

    async def insert_mailbox(self, mailbox: Mailbox) -> None:
        self._need_org(mailbox.organization_id)
        if any(m["email_address"] == mailbox.email_address for m in self._mailboxes.values()):
            raise Conflict(f"mailbox {mailbox.email_address!r} already exists")
        self._mailboxes[mailbox.id] = {
            "id": mailbox.id,
            "organization_id": mailbox.organization_id,
            "email_address": mailbox.email_address,
            "agent_identity_id": mailbox.agent_identity_id,
            "webhook_url": mailbox.webhook_url,
            "created_ms": mailbox.created_at_ms,
        }

    async def mailbox_by_id(self, org_id: str, mailbox_id: str) -> Mailbox | None:
        m = self._mailboxes.get(mailbox_id)
        return rows.mailbox(m) if m is not None and m["organization_id"] == org_id else None

    async def insert_phone_number(self, number: PhoneNumber) -> None:
        self._need_org(number.organization_id)
        if any(p.number == number.number for p in self._numbers.values()):
            raise Conflict(f"phone number {number.number!r} already exists")
        self._numbers[number.id] = number

    async def phone_number_by_id(self, org_id: str, number_id: str) -> PhoneNumber | None:
        p = self._numbers.get(number_id)
        return p if p is not None and p.organization_id == org_id else None

    async def current_signing_key(self, org_id: str, identity_id: str | None) -> StoredKey | None:
        k = self._current_key(org_id, identity_id)
        return (
            StoredKey(id=k["id"], key_enc=k["key_enc"], created_ms=k["created_ms"]) if k else None
        )

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
        if only_if_missing and self._current_key(org_id, identity_id) is not None:
            return False
        for k in self._keys:
            if self._is_current(k, org_id, identity_id):
                k["retired_ms"] = now_ms
        self._keys.append(
            {
                "id": key_id or str(uuid.uuid4()),
                "organization_id": org_id,
                "agent_identity_id": identity_id,
                "key_enc": key_enc,
                "created_ms": now_ms,
                "retired_ms": None,
            }
        )
        return True

    @staticmethod
    def _is_current(k: Row, org_id: str, identity_id: str | None) -> bool:
        return (k["organization_id"], k["agent_identity_id"], k["retired_ms"]) == (
            org_id,
            identity_id,
            None,
        )

    def _current_key(self, org_id: str, identity_id: str | None) -> Row | None:
        current = [k for k in self._keys if self._is_current(k, org_id, identity_id)]
        return max(current, key=lambda k: k["created_ms"]) if current else None

    def _need_org(self, org_id: str) -> None:
        if org_id not in self._orgs:
            raise refused(f"no organization {org_id!r}")

    # -- shared by the roles -------------------------------------------------------------------
    def _live(self, org_id: str, sub_id: str) -> Row | None:
        r = self._subs.get(sub_id)
        if r is None or r["organization_id"] != org_id or r["deleted_ms"] is not None:
            return None
        return r

    def _of_subscription(self, sub_id: str, states: Collection[str]) -> Iterable[Row]:
        return [
            d
            for d in self._deliveries.values()
            if d["subscription_id"] == sub_id and d["state"] in states
        ]

    def _hold_undelivered(self, sub_id: str, reason: str, now_ms: int) -> None:
        """As the SQL backends': a leased one keeps its lease token, for the outcome of
        an attempt under way."""
        for d in self._of_subscription(sub_id, UNDELIVERED):
            d.update(state="held", next_attempt_ms=None, last_error=reason, updated_ms=now_ms)


class SubscriptionRows(Tables, Subscriptions):
    async def insert_subscription(self, sub: Subscription, secrets: SubscriptionSecrets) -> None:
        if sub.id in self._subs:
            raise Conflict(f"subscription {sub.id!r} already exists")
        self._need_org(sub.organization_id)
        for owner, table in (
            (sub.mailbox_id, self._mailboxes),
            (sub.phone_number_id, self._numbers),
            (sub.agent_identity_id, self._identities),
        ):
            if owner is not None and owner not in table:
                raise refused(f"no owner {owner!r}")
        row = rows.subscription_values(sub)
        row.update({c: getattr(secrets, c) for c in _SECRET_COLUMNS})
        row.update(deleted_ms=None, failing_since_ms=None)
        self._subs[sub.id] = row

    async def get_subscription(self, org_id: str, sub_id: str) -> Subscription | None:
        r = self._live(org_id, sub_id)
        return rows.subscription(r) if r is not None else None

    async def subscription_secrets(self, org_id: str, sub_id: str) -> SubscriptionSecrets | None:
        r = self._live(org_id, sub_id)
        return SubscriptionSecrets(**{c: r[c] for c in _SECRET_COLUMNS}) if r is not None else None

    async def list_subscriptions(
        self, org_id: str, flt: SubscriptionFilter, limit: int, offset: int
    ) -> list[Subscription]:
        wanted = {
            "mailbox_id": flt.mailbox_id,
            "phone_number_id": flt.phone_number_id,
            "agent_identity_id": flt.agent_identity_id,
            "owner_identity_id": flt.owner_identity_id,
            "url": flt.url,
            "source": flt.source,
        }
        found = [
            rows.subscription(r)
            for r in self._subs.values()
            if r["organization_id"] == org_id
            and r["deleted_ms"] is None
            and all(v is None or r[k] == v for k, v in wanted.items())
        ]
        if flt.event_type is not None:
            found = [s for s in found if flt.event_type in s.event_types]
        found.sort(key=lambda s: (s.created_at_ms, s.id))
        return found[offset : offset + limit]

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
        r = self._live(org_id, sub_id)
        if r is None:
            return None
        for fld, v in changes.items():
            col, enc = rows.SUBSCRIPTION_COLUMNS[fld]
            r[col] = enc(v) if enc else v
        r["updated_ms"] = now_ms
        if secrets is not None:
            r.update({c: getattr(secrets, c) for c in _SECRET_COLUMNS})
        if changes.get("enabled") is True:
            r["failing_since_ms"] = None
        if changes.get("enabled") is False:
            reason = changes.get("disabled_reason") or "subscription disabled"
            self._hold_undelivered(sub_id, reason, now_ms)
        for d in self._of_subscription(sub_id, ("held",)) if held is not None else ():
            if held == "drop":
                d.update(
                    state="cancelled",
                    lease_token=None,
                    next_attempt_ms=None,
                    last_error="held while disabled; dropped on enabling",
                    updated_ms=now_ms,
                )
            else:  # the lease of an attempt under way is void from now
                d.update(
                    state="pending", lease_token=None, next_attempt_ms=now_ms, updated_ms=now_ms
                )
        if "url" in changes:
            self._sync_mailbox_webhook(r, r["url"])
        return rows.subscription(r)

    def _sync_mailbox_webhook(self, sub_row: Row, url: str | None) -> None:
        """A mailbox's ``webhook_url`` is the URL of its ``mailbox``-source subscription."""
        if sub_row["source"] == "mailbox" and sub_row["mailbox_id"] in self._mailboxes:
            self._mailboxes[sub_row["mailbox_id"]]["webhook_url"] = url

    async def delete_subscription(self, org_id: str, sub_id: str, now_ms: int) -> bool:
        r = self._live(org_id, sub_id)
        if r is None:
            return False
        r.update(deleted_ms=now_ms, updated_ms=now_ms, enabled=False)
        self._sync_mailbox_webhook(r, None)
        for d in self._of_subscription(sub_id, (*UNDELIVERED, "held")):
            d.update(
                state="cancelled",
                next_attempt_ms=None,
                last_error="subscription deleted",
                updated_ms=now_ms,
            )
        return True

    async def routing_candidates(
        self,
        org_id: str,
        *,
        mailbox_id: str | None,
        phone_number_id: str | None,
        identity_id: str | None,
    ) -> list[Subscription]:
        def owned(r: Row) -> bool:
            return (
                (r["mailbox_id"], r["phone_number_id"], r["agent_identity_id"])
                == (None, None, None)
                or (mailbox_id is not None and r["mailbox_id"] == mailbox_id)
                or (phone_number_id is not None and r["phone_number_id"] == phone_number_id)
                or (identity_id is not None and r["agent_identity_id"] == identity_id)
            )

        return [
            rows.subscription(r)
            for r in self._subs.values()
            if r["organization_id"] == org_id and r["deleted_ms"] is None and owned(r)
        ]


class Reads(Tables):
    """Events, deliveries and attempts read back."""

    async def get_event(self, org_id: str, event_id: str) -> Event | None:
        r = self._events.get((org_id, event_id))
        return rows.event(r) if r is not None else None

    async def recent_events(
        self,
        org_id: str,
        limit: int,
        *,
        before: tuple[int, str] | None = None,
        agent_identity_id: str | None = None,
    ) -> list[Event]:
        found = [
            r
            for r in self._events.values()
            if r["organization_id"] == org_id
            and (before is None or (r["created_ms"], r["id"]) < before)
            and (agent_identity_id is None or r["agent_identity_id"] == agent_identity_id)
        ]
        found.sort(key=lambda r: (r["created_ms"], r["id"]), reverse=True)
        return [rows.event(r) for r in found[:limit]]

    async def deliveries_of_event(
        self, org_id: str, event_id: str, owner_identity_id: str | None = None
    ) -> list[Delivery]:
        found = [
            d
            for d in self._deliveries.values()
            if (d["organization_id"], d["event_id"]) == (org_id, event_id)
            and (
                owner_identity_id is None
                or self._subs[d["subscription_id"]]["owner_identity_id"] == owner_identity_id
            )
        ]
        found.sort(key=lambda d: (d["created_ms"], d["id"]))
        return [rows.delivery(d) for d in found]

    async def insert_attempt(self, attempt: Attempt) -> None:
        if attempt.id in self._attempts:
            raise refused(f"attempt {attempt.id!r} exists")
        self._attempts[attempt.id] = rows.attempt_values(attempt)

    async def get_attempt(self, org_id: str, attempt_id: str) -> Attempt | None:
        a = self._attempts.get(attempt_id)
        return rows.attempt(a) if a is not None and a["organization_id"] == org_id else None

    async def list_attempts(self, org_id: str, flt: AttemptFilter) -> list[Attempt]:
        equal: dict[str, Any] = {
            "organization_id": org_id,
            "subscription_id": flt.subscription_id,
            "phone_number_id": flt.phone_number_id,
            "event_type": flt.event_type,
            "event_id": flt.event_id,
            "mailbox_id": flt.mailbox_id,
            "agent_identity_id": flt.agent_identity_id,
            "response_status": flt.status_code,
            "success": flt.success,
        }
        since, until, before = flt.since_ms, flt.until_ms, flt.before
        tests: list[Callable[[Row], bool]] = [
            lambda a: all(v is None or a[k] == v for k, v in equal.items())
        ]
        if since is not None:
            tests.append(lambda a: bool(a["created_ms"] >= since))
        if until is not None:
            tests.append(lambda a: bool(a["created_ms"] < until))
        if before is not None:
            tests.append(lambda a: (a["created_ms"], a["id"]) < before)
        if flt.owner_identity_id is not None:
            # deleted subscriptions count: their attempts stay in the log
            subs = {
                i
                for i, s in self._subs.items()
                if (s["organization_id"], s["owner_identity_id"]) == (org_id, flt.owner_identity_id)
            }
            numbers = {
                i
                for i, p in self._numbers.items()
                if (p.organization_id, p.agent_identity_id) == (org_id, flt.owner_identity_id)
            }
            tests.append(lambda a: a["subscription_id"] in subs or a["phone_number_id"] in numbers)
        found = [a for a in self._attempts.values() if all(t(a) for t in tests)]
        found.sort(key=lambda a: (a["created_ms"], a["id"]), reverse=True)
        return [rows.attempt(a) for a in found[flt.offset : flt.offset + flt.limit]]

    async def subscription_health(
        self, org_id: str, sub_ids: Sequence[str], since_ms: int
    ) -> dict[str, SubscriptionHealth]:
        found = [
            i
            for i in dict.fromkeys(sub_ids)
            if self._subs.get(i, {}).get("organization_id") == org_id
        ]
        of: dict[str, list[Row]] = {i: [] for i in found}
        for a in self._attempts.values():
            if a["subscription_id"] in of:
                of[a["subscription_id"]].append(a)
        health: dict[str, SubscriptionHealth] = {}
        for sid, attempts in of.items():
            hours: dict[int, list[int]] = {}
            for a in attempts:
                if a["created_ms"] >= since_ms:
                    hour = hours.setdefault((a["created_ms"] - since_ms) // HOUR_MS, [0, 0])
                    hour[0] += a["success"]
                    hour[1] += 1
            newest = max(attempts, key=lambda a: (a["created_ms"], a["id"]), default=None)
            health[sid] = SubscriptionHealth(
                hours=tuple(
                    HourCount(hour=h, succeeded=ok, failed=n - ok)
                    for h, (ok, n) in sorted(hours.items())
                ),
                last=None
                if newest is None
                else LastAttempt(
                    status=newest["response_status"],
                    error=newest["error_detail"],
                    created_at_ms=newest["created_ms"],
                ),
                failing_since_ms=self._subs[sid]["failing_since_ms"],
            )
        return health

    async def event_domains(
        self, org_id: str, limit: int, identity_id: str | None = None
    ) -> list[str]:
        named = [
            r
            for r in self._events.values()
            if r["organization_id"] == org_id
            and r["domain"] is not None
            and (identity_id is None or r["agent_identity_id"] == identity_id)
        ]
        named.sort(key=lambda r: r["created_ms"], reverse=True)
        latest: dict[str, int] = {}
        for r in named[:DOMAIN_SCAN_EVENTS]:
            latest[r["domain"]] = max(latest.get(r["domain"], r["created_ms"]), r["created_ms"])
        return sorted(latest, key=lambda d: (-latest[d], d))[:limit]

    async def count_deliveries(self, org_id: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self._deliveries.values():
            if org_id is None or d["organization_id"] == org_id:
                counts[d["state"]] = counts.get(d["state"], 0) + 1
        return counts
