"""Storage contract: the reads on the publish path see every change at once.

Both databases serve API keys, owners and routing candidates from memory (``read_cache.py``,
``cached_reads.py``), PostgreSQL while it listens for other processes' changes; these tests
fill that cache with a read, change the rows, and read again, on both databases, with the
listening on. Other processes' changes: ``test_pg_configuration_cache.py``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, cast

import pytest

from hookline.core.models import Identity, Mailbox, Organization, PhoneNumber, Subscription
from hookline.storage.base import Storage
from hookline.storage.sql import SqlStorage

from .conftest import (
    NOW_MS,
    OTHER_ORG_ID,
    add_organization,
    add_subscription,
    make_api_key,
    make_identity,
    make_mailbox,
    make_org,
    make_outcome,
    make_phone_number,
    make_subscription,
    publish,
    serving_from_memory,
)


@pytest.fixture(autouse=True)
async def listening(storage: Storage) -> None:
    """The storage as an API process runs it: its cache on (PostgreSQL turns it on once it
    listens for other processes' configuration changes, from its first cached read)."""
    await serving_from_memory(storage)


async def _candidates(
    storage: Storage, org_id: str, mailbox_id: str | None = None, *, held: bool = False
) -> set[str]:
    """The enabled candidates (with ``held``: the disabled ones, whose deliveries are held)."""
    subs = await storage.routing_candidates(
        org_id, mailbox_id=mailbox_id, phone_number_id=None, identity_id=None
    )
    return {s.id for s in subs if s.enabled != held}


async def test_a_revoked_key_is_seen_revoked_at_once(storage: Storage, org: Organization) -> None:
    key, key_hash = make_api_key(org.id)
    await storage.insert_api_key(key, key_hash)
    found = await storage.api_key_by_hash(key_hash)
    assert found is not None and found.revoked_at_ms is None

    assert await storage.revoke_api_key(org.id, key.id, NOW_MS + 1)

    again = await storage.api_key_by_hash(key_hash)
    assert again is not None and again.revoked_at_ms == NOW_MS + 1


async def test_an_unknown_key_is_found_once_it_is_added(
    storage: Storage, org: Organization
) -> None:
    key, key_hash = make_api_key(org.id)
    assert await storage.api_key_by_hash(key_hash) is None
    await storage.insert_api_key(key, key_hash)
    assert await storage.api_key_by_hash(key_hash) is not None


async def test_routing_candidates_follow_subscription_changes(
    storage: Storage, org: Organization
) -> None:
    first = await add_subscription(storage, make_subscription(org.id))
    assert await _candidates(storage, org.id) == {first.id}

    second = await add_subscription(storage, make_subscription(org.id, url="https://b.example"))
    assert await _candidates(storage, org.id) == {first.id, second.id}

    await storage.update_subscription(org.id, first.id, {"enabled": False}, NOW_MS + 1)
    assert await _candidates(storage, org.id) == {second.id}
    assert await _candidates(storage, org.id, held=True) == {first.id}

    assert await storage.delete_subscription(org.id, second.id, NOW_MS + 2)
    assert await _candidates(storage, org.id) == set()

    await storage.update_subscription(org.id, first.id, {"enabled": True}, NOW_MS + 3)
    assert await _candidates(storage, org.id) == {first.id}
    assert await _candidates(storage, org.id, held=True) == set()


async def test_routing_candidates_follow_event_type_changes(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id))
    [before] = await storage.routing_candidates(
        org.id, mailbox_id=None, phone_number_id=None, identity_id=None
    )
    assert before.event_types == ("message.received",)
    await storage.update_subscription(
        org.id, sub.id, {"event_types": ("message.bounced",)}, NOW_MS + 1
    )
    [after] = await storage.routing_candidates(
        org.id, mailbox_id=None, phone_number_id=None, identity_id=None
    )
    assert after.event_types == ("message.bounced",)


async def test_a_subscription_disabled_by_its_outcomes_routes_to_be_held(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id))
    await publish(storage, [sub])
    assert await _candidates(storage, org.id) == {sub.id}

    [claimed] = await storage.claim_due(NOW_MS, 1, 60_000)
    recorded = await storage.record_outcomes(
        [
            make_outcome(
                claimed, at=NOW_MS + 1, state="failed", status=410, disable_reason="410 Gone"
            )
        ]
    )
    assert [d.subscription.id for d in recorded.disabled] == [sub.id]
    assert await _candidates(storage, org.id) == set()
    assert await _candidates(storage, org.id, held=True) == {sub.id}


async def test_owner_lookups_follow_changes(storage: Storage, org: Organization) -> None:
    ident = make_identity(org.id, "agent-x")
    assert await storage.identity_by_handle(org.id, "agent-x") is None
    await storage.insert_identity(ident)
    assert await storage.identity_by_handle(org.id, "agent-x") == ident

    box = make_mailbox(org.id, "x@mail.example.com")
    assert await storage.mailbox_by_address(org.id, box.email_address) is None
    await storage.insert_mailbox(box)
    found = await storage.mailbox_by_address(org.id, box.email_address)
    assert found is not None and found.webhook_url is None

    await storage.update_mailbox(org.id, box.id, {"webhook_url": "https://w.example.com"})
    found = await storage.mailbox_by_address(org.id, box.email_address)
    assert found is not None and found.webhook_url == "https://w.example.com"

    owned = await add_subscription(storage, make_subscription(org.id, mailbox_id=box.id))
    assert await _candidates(storage, org.id, mailbox_id=box.id) == {owned.id}


# the routing keys a publish may ask for: no owner, a mailbox (and its agent), another
# mailbox, a phone number, an agent alone
def _routing_keys(
    box: Mailbox, other: Mailbox, phone: PhoneNumber, agent: Identity
) -> list[tuple[str | None, str | None, str | None]]:
    return [
        (None, None, None),
        (box.id, None, agent.id),
        (other.id, None, None),
        (None, phone.id, None),
        (None, None, agent.id),
    ]


async def _routing(
    storage: Storage, org_id: str, key: tuple[str | None, str | None, str | None]
) -> dict[str, Subscription]:
    mailbox_id, phone_number_id, identity_id = key
    subs = await storage.routing_candidates(
        org_id, mailbox_id=mailbox_id, phone_number_id=phone_number_id, identity_id=identity_id
    )
    return {s.id: s for s in subs}


async def _stored_routing(
    storage: Storage, org_id: str, key: tuple[str | None, str | None, str | None]
) -> dict[str, Subscription]:
    """What the database itself answers, past the cache."""
    mailbox_id, phone_number_id, identity_id = key
    subs = await SqlStorage.routing_candidates(
        cast(SqlStorage, storage),
        org_id,
        mailbox_id=mailbox_id,
        phone_number_id=phone_number_id,
        identity_id=identity_id,
    )
    return {s.id: s for s in subs}


async def test_routing_candidates_match_the_database_through_any_subscription_changes(
    storage: Storage, org: Organization
) -> None:
    """Random subscription writes (any owner; created, changed, disabled, enabled, deleted),
    each followed by every routing read a publish may make, from memory, against the
    database's own answer. SQLite brings its cached candidates up to date after each write
    rather than reading them again; a mistake there shows here."""
    agent = make_identity(org.id, "agent-r")
    await storage.insert_identity(agent)
    box = make_mailbox(org.id, "r@mail.example.com", identity_id=agent.id)
    other = make_mailbox(org.id, "s@mail.example.com")
    phone = make_phone_number(org.id, "+14155550142")
    for m in (box, other):
        await storage.insert_mailbox(m)
    await storage.insert_phone_number(phone)
    keys = _routing_keys(box, other, phone, agent)
    owners: list[dict[str, Any]] = [
        {},
        {"mailbox_id": box.id, "owner_identity_id": agent.id},
        {"mailbox_id": other.id},
        {"phone_number_id": phone.id},
        {"agent_identity_id": agent.id, "owner_identity_id": agent.id},
    ]
    rng = random.Random(20261203)
    live: list[str] = []
    for step in range(80):
        at = NOW_MS + step + 1
        action = rng.choice(["add", "add", "change", "disable", "enable", "delete"])
        if action == "add" or not live:
            sub = make_subscription(org.id, at=at, **rng.choice(owners))
            live.append((await add_subscription(storage, sub)).id)
        elif action == "delete":
            gone = live.pop(rng.randrange(len(live)))
            assert await storage.delete_subscription(org.id, gone, at)
        else:
            by_action: dict[str, dict[str, Any]] = {
                "change": {"url": f"https://h{step}.example.com", "event_types": ("a.b",)},
                "disable": {"enabled": False, "disabled_reason": "test"},
                "enable": {"enabled": True},
            }
            changes = by_action[action]
            assert await storage.update_subscription(org.id, rng.choice(live), changes, at)
        for key in keys:
            assert await _routing(storage, org.id, key) == await _stored_routing(
                storage, org.id, key
            ), (step, action, key)
    # another organization's subscription routes for none of these
    await add_organization(storage, make_org(OTHER_ORG_ID, name="Other"))
    await add_subscription(storage, make_subscription(OTHER_ORG_ID))
    for key in keys:
        assert await _routing(storage, org.id, key) == await _stored_routing(storage, org.id, key)


async def test_routing_candidates_match_the_database_after_concurrent_subscription_writes(
    storage: Storage, org: Organization
) -> None:
    """Many subscription writes at once (each waits its turn for the write lock, and SQLite
    updates its cached candidates after each): what is cached is what is stored."""
    subs = [make_subscription(org.id, url=f"https://c{i}.example.com") for i in range(12)]
    for sub in subs[:6]:
        await add_subscription(storage, sub)
    key = (None, None, None)
    assert set(await _routing(storage, org.id, key)) == {s.id for s in subs[:6]}
    writes: list[Coroutine[Any, Any, object]] = [add_subscription(storage, sub) for sub in subs[6:]]
    writes += [
        storage.update_subscription(org.id, subs[0].id, {"enabled": False}, NOW_MS + 1),
        storage.update_subscription(org.id, subs[1].id, {"url": "https://x.example"}, NOW_MS + 1),
        storage.delete_subscription(org.id, subs[2].id, NOW_MS + 1),
        storage.update_subscription(org.id, subs[3].id, {"enabled": False}, NOW_MS + 1),
        storage.update_subscription(org.id, subs[3].id, {"enabled": True}, NOW_MS + 2),
    ]
    await asyncio.gather(*writes)
    assert await _routing(storage, org.id, key) == await _stored_routing(storage, org.id, key)
