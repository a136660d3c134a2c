"""Storage contract: subscriptions, their secrets, filters, updates, deletes and routing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from hookline.core.models import (
    Delivery,
    Identity,
    Mailbox,
    Organization,
    PhoneNumber,
    Subscription,
)
from hookline.storage.base import Storage
from hookline.storage.records import SubscriptionFilter, SubscriptionSecrets

from .conftest import (
    LEASE_MS,
    NOW_MS,
    OTHER_ORG_ID,
    SECOND_MS,
    add_subscription,
    by_id,
    make_identity,
    make_mailbox,
    make_outcome,
    make_phone_number,
    make_subscription,
    publish,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory

U1 = "https://one.example.com/hook"
U2 = "https://two.example.com/hook"
U3 = "https://three.example.com/hook"


@dataclass(frozen=True)
class World:
    """Two identities; A owns a mailbox and a number. Subscriptions of every kind of owner."""

    org_id: str
    a: Identity
    b: Identity
    mailbox: Mailbox
    phone: PhoneNumber
    org_wide: Subscription
    on_mailbox: Subscription
    on_phone: Subscription
    on_a: Subscription
    on_b: Subscription
    deleted: Subscription
    disabled: Subscription

    @property
    def live(self) -> list[Subscription]:
        """Every subscription a list shows, oldest first."""
        return [self.org_wide, self.on_mailbox, self.on_phone, self.on_a, self.on_b, self.disabled]


@pytest.fixture
async def world(storage: Storage, org: Organization) -> World:
    a, b = make_identity(org.id, "agent-a"), make_identity(org.id, "agent-b")
    for ident in (a, b):
        await storage.insert_identity(ident)
    mailbox = make_mailbox(org.id, "a@mail.example.com", identity_id=a.id)
    phone = make_phone_number(org.id, "+14155550100", identity_id=a.id)
    await storage.insert_mailbox(mailbox)
    await storage.insert_phone_number(phone)

    def sub(n: int, **fields: Any) -> Subscription:
        return make_subscription(org.id, at=NOW_MS + n, **fields)

    w = World(
        org_id=org.id,
        a=a,
        b=b,
        mailbox=mailbox,
        phone=phone,
        org_wide=sub(0, url=U1, event_types=("message.received", "message.sent")),
        on_mailbox=sub(1, url=U2, mailbox_id=mailbox.id, owner_identity_id=a.id),
        on_phone=sub(
            2,
            url=U1,
            event_types=("text.received",),
            phone_number_id=phone.id,
            owner_identity_id=a.id,
        ),
        on_a=sub(
            3, url=U3, event_types=("message.sent",), agent_identity_id=a.id, owner_identity_id=a.id
        ),
        on_b=sub(4, url=U2, agent_identity_id=b.id, owner_identity_id=b.id, source="inbox"),
        deleted=sub(5, url=U2, mailbox_id=mailbox.id, owner_identity_id=a.id),
        disabled=sub(
            6,
            url=U3,
            mailbox_id=mailbox.id,
            owner_identity_id=a.id,
            enabled=False,
            disabled_reason="paused",
        ),
    )
    for s in (w.org_wide, w.on_mailbox, w.on_phone, w.on_a, w.on_b, w.deleted, w.disabled):
        await add_subscription(storage, s)
    assert await storage.delete_subscription(org.id, w.deleted.id, NOW_MS + 10)
    return w


# -- insert, get, secrets --------------------------------------------------------------------
async def test_subscription_round_trips_every_field(storage: Storage, org: Organization) -> None:
    ident = make_identity(org.id)
    await storage.insert_identity(ident)
    box = make_mailbox(org.id, identity_id=ident.id)
    await storage.insert_mailbox(box)
    sub = make_subscription(
        org.id,
        url="https://hooks.example.com/full",
        event_types=("message.received", "message.bounced"),
        mailbox_id=box.id,
        owner_identity_id=ident.id,
        name="Full",
        description="every field set",
        enabled=False,
        disabled_reason="paused by hand",
        profile="inbox",
        headers={"X-Team": "mail", "X-Ünïcode": "ä"},
        domains=("example.com", "example.org"),
        retry_schedule=(0, 5, 60),
        max_in_flight=4,
        rate_limit_per_second=2.5,
        source="inbox",
    )
    secrets = SubscriptionSecrets(
        auth_token_enc="enc:token",
        secret_enc="enc:secret",
        previous_secret_enc="enc:old",
        previous_secret_until_ms=NOW_MS + 60 * SECOND_MS,
    )
    await storage.insert_subscription(sub, secrets)

    got = await storage.get_subscription(org.id, sub.id)
    assert got == dataclasses.replace(sub, has_auth_token=True)
    assert await storage.subscription_secrets(org.id, sub.id) == secrets


async def test_subscription_defaults_round_trip(storage: Storage, org: Organization) -> None:
    sub = await add_subscription(storage, make_subscription(org.id))
    got = await storage.get_subscription(org.id, sub.id)
    assert got == sub
    assert got is not None
    assert got.retry_schedule is None
    assert got.has_auth_token is False
    assert await storage.subscription_secrets(org.id, sub.id) == SubscriptionSecrets()


async def test_subscription_is_invisible_to_other_organizations(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id))
    assert await storage.get_subscription(OTHER_ORG_ID, sub.id) is None
    assert await storage.subscription_secrets(OTHER_ORG_ID, sub.id) is None
    assert await storage.list_subscriptions(OTHER_ORG_ID, SubscriptionFilter(), 10, 0) == []
    assert await storage.update_subscription(OTHER_ORG_ID, sub.id, {"name": "x"}, NOW_MS) is None
    assert await storage.delete_subscription(OTHER_ORG_ID, sub.id, NOW_MS) is False
    assert await storage.get_subscription(org.id, sub.id) == sub


async def test_unknown_subscription(storage: Storage, org: Organization) -> None:
    missing = make_subscription(org.id).id
    assert await storage.get_subscription(org.id, missing) is None
    assert await storage.subscription_secrets(org.id, missing) is None
    assert await storage.update_subscription(org.id, missing, {"name": "x"}, NOW_MS) is None
    assert await storage.delete_subscription(org.id, missing, NOW_MS) is False


# -- list filters ----------------------------------------------------------------------------
def _ids(subs: list[Subscription]) -> list[str]:
    return [s.id for s in subs]


async def test_list_subscriptions_without_filter_is_every_live_one_oldest_first(
    storage: Storage, world: World
) -> None:
    listed = await storage.list_subscriptions(world.org_id, SubscriptionFilter(), 50, 0)
    assert listed == world.live


async def test_list_subscriptions_limit_and_offset(storage: Storage, world: World) -> None:
    page = await storage.list_subscriptions(world.org_id, SubscriptionFilter(), 2, 1)
    assert page == world.live[1:3]
    assert await storage.list_subscriptions(world.org_id, SubscriptionFilter(), 5, 6) == []


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (lambda w: SubscriptionFilter(mailbox_id=w.mailbox.id), ["on_mailbox", "disabled"]),
        (lambda w: SubscriptionFilter(phone_number_id=w.phone.id), ["on_phone"]),
        (lambda w: SubscriptionFilter(agent_identity_id=w.a.id), ["on_a"]),
        (lambda w: SubscriptionFilter(agent_identity_id=w.b.id), ["on_b"]),
        (
            lambda w: SubscriptionFilter(owner_identity_id=w.a.id),
            ["on_mailbox", "on_phone", "on_a", "disabled"],
        ),
        (lambda w: SubscriptionFilter(owner_identity_id=w.b.id), ["on_b"]),
        (lambda w: SubscriptionFilter(url=U1), ["org_wide", "on_phone"]),
        (lambda w: SubscriptionFilter(url=U2), ["on_mailbox", "on_b"]),
        (lambda w: SubscriptionFilter(url=U1 + "/"), []),
        (
            lambda w: SubscriptionFilter(event_type="message.received"),
            ["org_wide", "on_mailbox", "on_b", "disabled"],
        ),
        (lambda w: SubscriptionFilter(event_type="message.sent"), ["org_wide", "on_a"]),
        (lambda w: SubscriptionFilter(event_type="text.received"), ["on_phone"]),
        # a prefix or a fragment of a type is no match
        (lambda w: SubscriptionFilter(event_type="message"), []),
        (lambda w: SubscriptionFilter(event_type="message.re"), []),
        (lambda w: SubscriptionFilter(event_type="received"), []),
        (lambda w: SubscriptionFilter(source="inbox"), ["on_b"]),
        (
            lambda w: SubscriptionFilter(source="api"),
            ["org_wide", "on_mailbox", "on_phone", "on_a", "disabled"],
        ),
        # filters combine
        (
            lambda w: SubscriptionFilter(owner_identity_id=w.a.id, event_type="message.received"),
            ["on_mailbox", "disabled"],
        ),
        (
            lambda w: SubscriptionFilter(url=U2, event_type="message.received"),
            ["on_mailbox", "on_b"],
        ),
        (lambda w: SubscriptionFilter(mailbox_id=w.mailbox.id, url=U3), ["disabled"]),
        (lambda w: SubscriptionFilter(owner_identity_id=w.b.id, url=U1), []),
    ],
)
async def test_list_subscriptions_filters(
    storage: Storage,
    world: World,
    flt: Callable[[World], SubscriptionFilter],
    expected: list[str],
) -> None:
    listed = await storage.list_subscriptions(world.org_id, flt(world), 50, 0)
    assert listed == [getattr(world, name) for name in expected]


async def test_list_subscriptions_event_type_is_an_exact_match(
    storage: Storage, org: Organization
) -> None:
    lookalike = await add_subscription(
        storage, make_subscription(org.id, event_types=("text.deliveryXfailed",))
    )
    real = await add_subscription(
        storage, make_subscription(org.id, event_types=("text.delivery_failed",), at=NOW_MS + 1)
    )
    flt = SubscriptionFilter(event_type="text.delivery_failed")
    assert await storage.list_subscriptions(org.id, flt, 10, 0) == [real]
    flt = SubscriptionFilter(event_type="text.deliveryXfailed")
    assert await storage.list_subscriptions(org.id, flt, 10, 0) == [lookalike]


# -- update ----------------------------------------------------------------------------------
async def test_update_subscription_changes_every_mutable_field(
    storage: Storage, world: World
) -> None:
    changes: dict[str, Any] = {
        "url": "https://new.example.com/hook",
        "event_types": ("message.bounced", "message.failed"),
        "name": "renamed",
        "description": "now described",
        "profile": "inboxroad",
        "headers": {"X-New": "1"},
        "domains": ("example.net",),
        "retry_schedule": (1, 2, 3),
        "max_in_flight": 9,
        "rate_limit_per_second": 0.5,
    }
    at = NOW_MS + 100
    updated = await storage.update_subscription(world.org_id, world.on_mailbox.id, changes, at)
    expected = dataclasses.replace(world.on_mailbox, updated_at_ms=at, **changes)
    assert updated == expected
    assert await storage.get_subscription(world.org_id, world.on_mailbox.id) == expected
    # the others are untouched
    assert await storage.get_subscription(world.org_id, world.on_phone.id) == world.on_phone

    cleared = await storage.update_subscription(
        world.org_id,
        world.on_mailbox.id,
        {"retry_schedule": None, "description": None, "max_in_flight": None},
        at + 1,
    )
    assert cleared == dataclasses.replace(
        expected, retry_schedule=None, description=None, max_in_flight=None, updated_at_ms=at + 1
    )


async def test_update_subscription_replaces_secrets(storage: Storage, world: World) -> None:
    sub_id = world.org_wide.id
    new = SubscriptionSecrets(
        auth_token_enc="enc:t2",
        secret_enc="enc:s2",
        previous_secret_enc="enc:s1",
        previous_secret_until_ms=NOW_MS + 5,
    )
    updated = await storage.update_subscription(world.org_id, sub_id, {}, NOW_MS + 1, new)
    assert updated == dataclasses.replace(
        world.org_wide, has_auth_token=True, updated_at_ms=NOW_MS + 1
    )
    assert await storage.subscription_secrets(world.org_id, sub_id) == new

    # without secrets, an update leaves them alone
    await storage.update_subscription(world.org_id, sub_id, {"name": "n"}, NOW_MS + 2)
    assert await storage.subscription_secrets(world.org_id, sub_id) == new

    await storage.update_subscription(
        world.org_id, sub_id, {}, NOW_MS + 3, SubscriptionSecrets(secret_enc="enc:s3")
    )
    assert await storage.subscription_secrets(world.org_id, sub_id) == SubscriptionSecrets(
        secret_enc="enc:s3"
    )
    got = await storage.get_subscription(world.org_id, sub_id)
    assert got is not None
    assert got.has_auth_token is False


async def test_update_of_a_deleted_subscription_is_none(storage: Storage, world: World) -> None:
    assert (
        await storage.update_subscription(world.org_id, world.deleted.id, {"name": "x"}, 1) is None
    )


async def _deliveries_in_every_state(
    storage: Storage, sub: Subscription
) -> tuple[Delivery, Delivery, Delivery]:
    """Three deliveries of ``sub``: succeeded, delivering (leased) and pending (due later)."""
    _, [done] = await publish(storage, [sub], due_ms=NOW_MS)
    _, [leased] = await publish(storage, [sub], due_ms=NOW_MS + 1)
    _, [waiting] = await publish(storage, [sub], due_ms=NOW_MS + 60 * SECOND_MS)
    [c1] = await storage.claim_due(NOW_MS, 1, LEASE_MS)
    assert c1.delivery.id == done.id
    recorded = await storage.record_outcomes(
        [make_outcome(c1, at=NOW_MS, state="succeeded", status=200)]
    )
    assert recorded.changed == 1
    [c2] = await storage.claim_due(NOW_MS + 1, 1, LEASE_MS)
    assert c2.delivery.id == leased.id
    return done, leased, waiting


async def _deliveries(storage: Storage, org_id: str, ds: list[Delivery]) -> dict[str, Delivery]:
    out: list[Delivery] = []
    for d in ds:
        out.extend(await storage.deliveries_of_event(org_id, d.event_id))
    return by_id(out)


async def test_disabling_holds_undelivered_deliveries(storage: Storage, world: World) -> None:
    sub, bystander = world.on_mailbox, world.org_wide
    done, leased, waiting = await _deliveries_in_every_state(storage, sub)
    _, [other] = await publish(storage, [bystander], due_ms=NOW_MS + 60 * SECOND_MS)
    before = await _deliveries(storage, world.org_id, [done, other])
    at = NOW_MS + 2

    updated = await storage.update_subscription(
        world.org_id, sub.id, {"enabled": False, "disabled_reason": "endpoint retired"}, at
    )
    assert updated == dataclasses.replace(
        sub, enabled=False, disabled_reason="endpoint retired", updated_at_ms=at
    )
    after = await _deliveries(storage, world.org_id, [done, leased, waiting, other])
    for d in (leased, waiting):
        assert after[d.id].state == "held"
        assert after[d.id].last_error == "endpoint retired"
        assert after[d.id].next_attempt_at_ms is None
        assert after[d.id].updated_at_ms == at
    # delivered and other subscriptions' deliveries are untouched
    assert after[done.id] == before[done.id]
    assert after[done.id].state == "succeeded"
    assert after[other.id] == before[other.id]
    claimed = await storage.claim_due(at + LEASE_MS * 10, 10, LEASE_MS)
    assert [c.delivery.id for c in claimed] == [other.id]
    assert await storage.count_deliveries(world.org_id) == {
        "succeeded": 1,
        "held": 2,
        "delivering": 1,
    }


async def test_disabling_without_a_reason_says_so(storage: Storage, world: World) -> None:
    _, [pending] = await publish(storage, [world.on_a])
    await storage.update_subscription(world.org_id, world.on_a.id, {"enabled": False}, NOW_MS + 1)
    [d] = await storage.deliveries_of_event(world.org_id, pending.event_id)
    assert (d.state, d.last_error) == ("held", "subscription disabled")


# -- delete ----------------------------------------------------------------------------------
async def test_delete_subscription_cancels_undelivered_deliveries(
    storage: Storage, world: World
) -> None:
    sub = world.on_phone
    done, leased, waiting = await _deliveries_in_every_state(storage, sub)
    before = await _deliveries(storage, world.org_id, [done])
    at = NOW_MS + 3

    assert await storage.delete_subscription(world.org_id, sub.id, at) is True
    assert await storage.get_subscription(world.org_id, sub.id) is None
    assert await storage.subscription_secrets(world.org_id, sub.id) is None
    assert sub not in await storage.list_subscriptions(world.org_id, SubscriptionFilter(), 50, 0)
    assert await storage.delete_subscription(world.org_id, sub.id, at + 1) is False

    after = await _deliveries(storage, world.org_id, [done, leased, waiting])
    for d in (leased, waiting):
        assert after[d.id].state == "cancelled"
        assert after[d.id].last_error == "subscription deleted"
        assert after[d.id].next_attempt_at_ms is None
        assert after[d.id].updated_at_ms == at
    assert after[done.id] == before[done.id]
    assert await storage.count_deliveries(world.org_id) == {"succeeded": 1, "cancelled": 2}


# -- routing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        (lambda w: (None, None, None), ["org_wide"]),
        (lambda w: (w.mailbox.id, None, w.a.id), ["org_wide", "on_mailbox", "on_a", "disabled"]),
        (lambda w: (None, w.phone.id, w.a.id), ["org_wide", "on_phone", "on_a"]),
        (lambda w: (w.mailbox.id, None, None), ["org_wide", "on_mailbox", "disabled"]),
        (lambda w: (None, None, w.b.id), ["org_wide", "on_b"]),
    ],
)
async def test_routing_candidates_are_live_subscriptions_of_the_owner(
    storage: Storage,
    world: World,
    owner: Callable[[World], tuple[str | None, str | None, str | None]],
    expected: list[str],
) -> None:
    # disabled ones too: their deliveries are held
    mailbox_id, phone_id, identity_id = owner(world)
    found = await storage.routing_candidates(
        world.org_id, mailbox_id=mailbox_id, phone_number_id=phone_id, identity_id=identity_id
    )
    want = [getattr(world, name) for name in expected]
    assert sorted(found, key=lambda s: s.id) == sorted(want, key=lambda s: s.id)


async def test_routing_candidates_of_another_organization_are_empty(
    storage: Storage, world: World
) -> None:
    found = await storage.routing_candidates(
        OTHER_ORG_ID, mailbox_id=world.mailbox.id, phone_number_id=None, identity_id=world.a.id
    )
    assert found == []
