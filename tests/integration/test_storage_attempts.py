"""Storage contract: the attempt log — attempts made outside the queue, lookups and filters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from hookline.core.models import Attempt, Identity, Organization, PhoneNumber, Subscription
from hookline.storage.base import Storage
from hookline.storage.records import AttemptFilter

from .conftest import (
    NOW_MS,
    OTHER_ORG_ID,
    add_subscription,
    make_attempt,
    make_event,
    make_identity,
    make_phone_number,
    make_subscription,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory


async def test_attempt_round_trips_every_field(storage: Storage, org: Organization) -> None:
    phone = make_phone_number(org.id)
    await storage.insert_phone_number(phone)
    call = make_event(org.id, type="phone.incoming_call", phone_number_id=phone.id)
    attempt = make_attempt(
        call,
        status=None,
        phone_number_id=phone.id,
        url="https://calls.example.com/in",
        request_payload='{"call_id":"c1","from":"+14155550199","note":"ü"}',
        response_body=None,
        error_detail="timed out after 5 s",
        duration_ms=5003,
        is_replay=True,
        replayable=False,
        replay_unavailable_reason="incoming calls are answered synchronously",
        at=NOW_MS + 7,
    )
    await storage.insert_attempt(attempt)

    assert await storage.get_attempt(org.id, attempt.id) == attempt
    assert await storage.get_attempt(OTHER_ORG_ID, attempt.id) is None
    assert await storage.get_attempt(org.id, make_attempt(call).id) is None


@dataclass(frozen=True)
class Log:
    """Attempts of identity A (its subscription, its number's subscription, a call to its
    number), of identity B, of an organization-wide subscription, and one of another
    organization."""

    org_id: str
    a: Identity
    b: Identity
    phone: PhoneNumber
    sub_a: Subscription
    sub_phone: Subscription
    sub_b: Subscription
    sub_org: Subscription
    attempts: dict[str, Attempt]

    def newest_first(self, *names: str) -> list[Attempt]:
        picked = [self.attempts[n] for n in names]
        return sorted(picked, key=lambda a: (a.created_at_ms, a.id), reverse=True)


@pytest.fixture
async def log(storage: Storage, org: Organization) -> Log:
    a, b = make_identity(org.id, "a"), make_identity(org.id, "b")
    for ident in (a, b):
        await storage.insert_identity(ident)
    phone = make_phone_number(org.id, identity_id=a.id)
    await storage.insert_phone_number(phone)
    sub_a = make_subscription(org.id, agent_identity_id=a.id, owner_identity_id=a.id)
    sub_phone = make_subscription(
        org.id, event_types=("text.received",), phone_number_id=phone.id, owner_identity_id=a.id
    )
    sub_b = make_subscription(org.id, agent_identity_id=b.id, owner_identity_id=b.id)
    sub_org = make_subscription(org.id, event_types=("text.received",))
    for s in (sub_a, sub_phone, sub_b, sub_org):
        await add_subscription(storage, s)

    received = make_event(org.id, type="message.received")
    bounced = make_event(org.id, type="message.bounced")
    text = make_event(org.id, type="text.received", phone_number_id=phone.id)
    call = make_event(org.id, type="phone.incoming_call", phone_number_id=phone.id)
    attempts = {
        "a1": make_attempt(received, sub=sub_a, status=200, at=NOW_MS + 1),
        "a2": make_attempt(bounced, sub=sub_a, status=500, at=NOW_MS + 2),
        "b1": make_attempt(received, sub=sub_b, status=None, at=NOW_MS + 3),
        "o1": make_attempt(text, sub=sub_org, status=302, at=NOW_MS + 4),
        "call": make_attempt(call, status=200, phone_number_id=phone.id, at=NOW_MS + 5),
        "b2": make_attempt(bounced, sub=sub_b, status=204, at=NOW_MS + 5, is_replay=True),
        "p1": make_attempt(text, sub=sub_phone, status=299, at=NOW_MS + 6),
        "p2": make_attempt(text, sub=sub_phone, status=199, at=NOW_MS + 7),
    }
    foreign = make_attempt(make_event(OTHER_ORG_ID), status=200, at=NOW_MS + 8)
    for attempt in [*attempts.values(), foreign]:
        await storage.insert_attempt(attempt)
    return Log(
        org_id=org.id,
        a=a,
        b=b,
        phone=phone,
        sub_a=sub_a,
        sub_phone=sub_phone,
        sub_b=sub_b,
        sub_org=sub_org,
        attempts=attempts,
    )


ALL = ("a1", "a2", "b1", "o1", "call", "b2", "p1", "p2")


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (lambda g: AttemptFilter(), ALL),
        (lambda g: AttemptFilter(subscription_id=g.sub_a.id), ("a1", "a2")),
        (lambda g: AttemptFilter(subscription_id=g.sub_phone.id), ("p1", "p2")),
        (lambda g: AttemptFilter(phone_number_id=g.phone.id), ("call", "p1", "p2")),
        (lambda g: AttemptFilter(event_type="message.received"), ("a1", "b1")),
        (lambda g: AttemptFilter(event_type="phone.incoming_call"), ("call",)),
        (lambda g: AttemptFilter(event_type="message"), ()),
        (lambda g: AttemptFilter(event_id=g.attempts["a2"].event_id), ("a2", "b2")),
        (lambda g: AttemptFilter(success=True), ("a1", "call", "b2", "p1")),
        (lambda g: AttemptFilter(success=False), ("a2", "b1", "o1", "p2")),
        (lambda g: AttemptFilter(owner_identity_id=g.a.id), ("a1", "a2", "call", "p1", "p2")),
        (lambda g: AttemptFilter(owner_identity_id=g.b.id), ("b1", "b2")),
        (lambda g: AttemptFilter(owner_identity_id="nobody"), ()),
        # filters combine
        (lambda g: AttemptFilter(subscription_id=g.sub_a.id, success=False), ("a2",)),
        (
            lambda g: AttemptFilter(owner_identity_id=g.a.id, event_type="text.received"),
            ("p1", "p2"),
        ),
        (lambda g: AttemptFilter(phone_number_id=g.phone.id, success=True), ("call", "p1")),
    ],
)
async def test_list_attempts_filters_newest_first(
    storage: Storage, log: Log, flt: Callable[[Log], AttemptFilter], expected: tuple[str, ...]
) -> None:
    listed = await storage.list_attempts(log.org_id, flt(log))
    assert listed == log.newest_first(*expected)


async def test_list_attempts_limit_and_offset(storage: Storage, log: Log) -> None:
    everything = log.newest_first(*ALL)
    assert [a.created_at_ms for a in everything] == sorted(
        (a.created_at_ms for a in everything), reverse=True
    )

    page = await storage.list_attempts(log.org_id, AttemptFilter(limit=3, offset=2))
    assert page == everything[2:5]
    assert await storage.list_attempts(log.org_id, AttemptFilter(limit=3, offset=7)) == [
        everything[7]
    ]
    assert await storage.list_attempts(log.org_id, AttemptFilter(limit=3, offset=8)) == []
    flt = AttemptFilter(owner_identity_id=log.a.id, limit=2, offset=1)
    assert (
        await storage.list_attempts(log.org_id, flt)
        == log.newest_first("a1", "a2", "call", "p1", "p2")[1:3]
    )


async def test_list_attempts_is_per_organization(storage: Storage, log: Log) -> None:
    [foreign] = await storage.list_attempts(OTHER_ORG_ID, AttemptFilter())
    assert foreign.organization_id == OTHER_ORG_ID
    assert foreign not in await storage.list_attempts(log.org_id, AttemptFilter(limit=100))


async def test_attempts_of_a_deleted_subscription_stay_listed(storage: Storage, log: Log) -> None:
    assert await storage.delete_subscription(log.org_id, log.sub_b.id, NOW_MS + 100)
    listed = await storage.list_attempts(log.org_id, AttemptFilter(subscription_id=log.sub_b.id))
    assert listed == log.newest_first("b1", "b2")
    by_owner = await storage.list_attempts(log.org_id, AttemptFilter(owner_identity_id=log.b.id))
    assert by_owner == listed
    assert listed[0].is_replay is True
